# walbridge.resync(peer), end to end, while the peer keeps writing:
# (a) a one-way mirror that diverged (rows deleted, rows added under the
# source's origin and directly, values changed) ends identical to its
# source; (b) in a two-node mesh under last_writer_wins, rows only one side
# wrote stay and rows the peer deleted go, by tombstone too; (c) a gap in
# the peer's topic pauses apply with the advice to resync, and resync()
# clears it; (d) a node joining a mesh whose topics lost their beginning
# asks each peer for a copy by itself.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WalbridgeTest;

my $broker = start_broker((map { "walbridge.$_" } qw(a b p q r)), 'walbridge-resync', { mock => 1 });

my $schema = q{
	CREATE TABLE items (id integer PRIMARY KEY, v text, n integer);
	-- what fills a topic past the mock broker's ~5 MiB: written, then deleted
	CREATE TABLE filler (id integer PRIMARY KEY, pad text);
	CREATE PROCEDURE work(rounds integer, first_id integer) LANGUAGE plpgsql AS $$
	BEGIN
		FOR i IN first_id .. first_id + rounds - 1 LOOP
			INSERT INTO items VALUES (i, 'new ' || i, i);
			COMMIT;
			UPDATE items SET v = 'upd ' || i, n = n + 1 WHERE id = 1 + (i * 7) % 2000;
			COMMIT;
			IF i % 4 = 0 THEN DELETE FROM items WHERE id = 1 + (i * 13) % 2000; COMMIT; END IF;
			IF i % 20 = 0 THEN PERFORM pg_sleep(0.01); END IF;
		END LOOP;
	END $$;
};

# A background writer on $node: $n rounds of work() from id $first.
sub writer
{
	my ($node, $n, $first) = @_;
	return IPC::Run::start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
		'-c', "CALL work($n, $first)" ], '>', \my $o, '2>', \my $e);
}

# The offset of the last message of a topic.
sub last_offset
{
	my ($topic) = @_;
	my ($out, $err);
	IPC::Run::run([ 'kcat', '-b', $broker->bootstraps, '-C', '-t', $topic, '-p', '0', '-o', '-1',
		'-c', '1', '-e', '-q', '-f', '%o\n' ], '>', \$out, '2>', \$err) or die "kcat: $err";
	chomp $out;
	return $out;
}

# About 7 MB through $node's topic (more than the mock broker keeps), then
# nothing of it left in the table; in steps of 500 kB, each applied by the
# nodes of @$readers ([node, name of $node there]) before the next, so that
# they never fall behind what the broker keeps.
sub fill_topic
{
	my ($node, $readers) = @_;
	for my $step (1 .. 14)
	{
		$node->safe_psql('postgres', q{
			INSERT INTO filler SELECT g, (SELECT string_agg(md5(random()::text || g || s), '') FROM generate_series(1, 32) s)
			  FROM generate_series(1, 500) g;
		});
		my $target = $node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
		$node->safe_psql('postgres', 'DELETE FROM filler');
		for my $rd (@{ $readers // [] })
		{
			my ($reader, $name) = @$rd;
			$reader->poll_query_until('postgres',
				"SELECT source_commit_lsn >= '$target' FROM walbridge.apply_progress WHERE peer = '$name'")
			  or die $reader->name . " did not keep up with $name";
		}
	}
}

sub resync_counts
{
	my ($node, $peer) = @_;
	my $s = $node->safe_psql('postgres', "SELECT resync FROM walbridge.status() WHERE peer = '$peer'");
	return $s =~ /: (\d+) rows, (\d+) deleted here$/ ? ($1, $2) : (-1, -1);
}

# ---------------------------------------------------------------- (a) mirror
my $a = walbridge_node('rs_a');
my $b = walbridge_node('rs_b');
$_->safe_psql('postgres', $schema) for $a, $b;
$a->safe_psql('postgres', q{INSERT INTO items SELECT g, 'v' || g, g FROM generate_series(1, 2000) g});
$a->safe_psql('postgres', q{SELECT walbridge.create_node('a'); SELECT walbridge.start_sync('{}')});
$b->safe_psql('postgres', q{SELECT walbridge.create_node('b'); SELECT walbridge.start_sync('{a}', conflict => 'apply_remote')});
my $wa = start_walbridged($a, $broker);
my $wb = start_walbridged($b, $broker);
ok(tables_identical('mirror: initial copy', [ $a, $b ], ['items']), 'b mirrors a');

is($wb->stop, 0, 'b: walbridged stops');
$b->safe_psql('postgres', q{
	DELETE FROM items WHERE id % 40 = 0;
	UPDATE items SET v = 'changed on b' WHERE id % 33 = 0;
	SELECT pg_replication_origin_session_setup('walbridge_a');
	INSERT INTO items SELECT g, 'as if from a', 0 FROM generate_series(100001, 100030) g;
	SELECT pg_replication_origin_session_reset();
	SET session_replication_role = replica;
	INSERT INTO items SELECT g, 'direct', 0 FROM generate_series(100031, 100060) g;
	UPDATE items SET n = -1 WHERE id % 51 = 0;
});
isnt(table_md5($b, 'items'), table_md5($a, 'items'), 'b diverged from a');

$wb = start_walbridged($b, $broker);
my $w = writer($a, 400, 3001);
my $id = $b->safe_psql('postgres', q{SELECT walbridge.resync('a')});
like($id, qr/^[0-9a-f-]{36}$/, 'resync() returns the request id');
ok($b->poll_query_until('postgres', q{SELECT resync_sent_at IS NOT NULL FROM walbridge.apply_progress WHERE peer = 'a'}),
	'b sent the request');
ok(wait_resync_done($b, 'a'), 'the copy completes while a writes');
$w->finish;
$a->safe_psql('postgres', q{INSERT INTO items VALUES (99999, 'last', 0)});
ok(tables_identical('mirror: after resync', [ $a, $b ], ['items']), 'b ends identical to a')
  or sync_report([ $a, $wa ], [ $b, $wb ]);
my ($rows, $deleted) = resync_counts($b, 'a');
cmp_ok($rows, '>=', 2000, "status() counts the rows copied ($rows)");
cmp_ok($deleted, '>=', 60, "and the rows only b had, deleted ($deleted)");
like($wb->log_contents, qr/asked node "a" for a copy.*\n(.*\n)*.*copy from node "a" complete/,
	'b logs the request and the end of the copy');
is($b->safe_psql('postgres', q{SELECT last_error FROM walbridge.status() WHERE peer = 'a'}), '', 'no error');

# ------------------------------------------------------------------ (c) gap
is($wb->stop, 0, 'b: walbridged stops');
my $applied = $b->safe_psql('postgres', q{SELECT kafka_offset FROM walbridge.apply_progress WHERE peer = 'a'});
$a->safe_psql('postgres', q{UPDATE items SET v = 'lost in the gap' WHERE id % 10 = 1});
fill_topic($a);
$a->safe_psql('postgres', q{INSERT INTO items VALUES (200001, 'after the gap', 0)});
ok(wait_slot_caught_up($a, 'walbridge_a'), 'a published it all');
$wb = start_walbridged($b, $broker);
ok($b->poll_query_until('postgres', q{SELECT state = 'paused' FROM walbridge.status() WHERE peer = 'a'}),
	'b pauses at the gap');
my $next = $applied + 1;
like($b->safe_psql('postgres', q{SELECT last_error FROM walbridge.status() WHERE peer = 'a'}),
	qr/(offset $next is no longer in Kafka|the next offset is $next but offset \d+ is the first).*gap.*walbridge\.resync\('a'\)/,
	'the error names the gap and the remedy: resync()');
is($b->safe_psql('postgres', q{SELECT kafka_offset FROM walbridge.apply_progress WHERE peer = 'a'}), $applied,
	'b did not jump ahead by itself');
$b->safe_psql('postgres', q{SELECT walbridge.resync('a')});
ok($b->poll_query_until('postgres', q{SELECT state = 'running' FROM walbridge.status() WHERE peer = 'a'}),
	'resync() clears the pause');
ok(wait_resync_done($b, 'a'), 'the copy completes');
ok(tables_identical('gap: after resync', [ $a, $b ], ['items']), 'b converges past the gap')
  or sync_report([ $a, $wa ], [ $b, $wb ]);
like($wb->log_contents, qr/no longer in Kafka \(\d+ lost\); the copy walbridge\.resync\(\) asked for .* covers them/,
	'b says how many offsets it passed over and why');
is($wb->stop, 0, 'b: walbridged stops cleanly');
is($wa->stop, 0, 'a: walbridged stops cleanly');

# --------------------------------------------------- (b) mesh, last writer wins
my %node = map { $_ => walbridge_node("rs_$_") } qw(p q r);
$_->safe_psql('postgres', $schema) for values %node;
my ($p, $q, $r) = @node{qw(p q r)};
$p->safe_psql('postgres', q{INSERT INTO items SELECT g, 'v' || g, g FROM generate_series(1, 2000) g});
$p->safe_psql('postgres', q{SELECT walbridge.create_node('p'); SELECT walbridge.start_sync('{q}')});
$q->safe_psql('postgres', q{SELECT walbridge.create_node('q'); SELECT walbridge.start_sync('{p}')});
my %wb = (p => start_walbridged($p, $broker), q => start_walbridged($q, $broker));
ok(tables_identical('mesh: initial copy', [ $p, $q ], ['items']), 'p and q agree');

is($wb{q}->stop, 0, 'q: walbridged stops');
$q->safe_psql('postgres', q{
	UPDATE items SET v = 'q wrote it before p deleted it' WHERE id BETWEEN 1 AND 10;
	INSERT INTO items SELECT g, 'only q', 0 FROM generate_series(10001, 10020) g;
});
$p->safe_psql('postgres', q{DELETE FROM items WHERE id BETWEEN 1 AND 20});
ok(wait_slot_caught_up($p, 'walbridge_p'), 'p published its deletes');
# q loses them: its progress passes over them, as if they were never there
my $end = last_offset('walbridge.p');
$q->safe_psql('postgres', "UPDATE walbridge.apply_progress SET kafka_offset = $end WHERE peer = 'p'");
$wb{q} = start_walbridged($q, $broker);
$p->safe_psql('postgres', q{INSERT INTO items VALUES (20001, 'after', 0)});
ok($q->poll_query_until('postgres', q{SELECT count(*) = 1 FROM items WHERE id = 20001}), 'q applies p again');
is($q->safe_psql('postgres', q{SELECT count(*) FROM items WHERE id BETWEEN 1 AND 20}), '20',
	'q still has the rows p deleted');

$w = writer($p, 300, 30001);
$q->safe_psql('postgres', q{SELECT walbridge.resync('p')});
ok(wait_resync_done($q, 'p'), 'the copy completes while p writes');
$w->finish;
ok(tables_identical('mesh: after resync', [ $p, $q ], ['items']), 'p and q identical')
  or sync_report([ $p, $wb{p} ], [ $q, $wb{q} ]);
is($q->safe_psql('postgres', q{SELECT count(*) FROM items WHERE id BETWEEN 1 AND 20}), '0',
	'the rows p deleted are gone from q: those p wrote last, and by tombstone those q wrote before the delete');
is($p->safe_psql('postgres', q{SELECT count(*) FROM items WHERE id BETWEEN 10001 AND 10020}), '20',
	'the rows only q wrote stay, and reached p');
(undef, $deleted) = resync_counts($q, 'p');
cmp_ok($deleted, '>=', 20, "status() counts the rows deleted on q ($deleted)");

# ----------------------------------------------------------------- (d) join
# p's and q's topics no longer start at 0: the initial copies are gone.
fill_topic($p, [ [ $q, 'p' ] ]);
fill_topic($q, [ [ $p, 'q' ] ]);
ok(wait_slot_caught_up($p, 'walbridge_p') && wait_slot_caught_up($q, 'walbridge_q'), 'p and q published it');
my @writers = (writer($p, 300, 40001), writer($q, 300, 50001));
$r->safe_psql('postgres', q{SELECT walbridge.create_node('r'); SELECT walbridge.start_sync('{p,q}')});
$p->safe_psql('postgres', q{SELECT walbridge.start_sync('{q,r}')});
$q->safe_psql('postgres', q{SELECT walbridge.start_sync('{p,r}')});
$wb{r} = start_walbridged($r, $broker);
ok($wb{r}->wait_for_log(qr/topic walbridge\.p starts at offset \d+, not 0.*asking it for a copy/),
	'r: p\'s topic lost its beginning, r asks p for a copy');
ok(wait_resync_done($r, 'p') && wait_resync_done($r, 'q'), 'r gets both copies while p and q write');
$_->finish for @writers;
$p->safe_psql('postgres', q{INSERT INTO items VALUES (60001, 'p at the end', 0)});
$q->safe_psql('postgres', q{INSERT INTO items VALUES (60002, 'q at the end', 0)});
ok(tables_identical('join', [ $p, $q, $r ], ['items'], 120), 'p, q and r identical')
  or sync_report(map { [ $node{$_}, $wb{$_} ] } qw(p q r));
is(sync_problems($_), '', $_->name . ': nothing paused, no error') for $p, $q, $r;

is($wb{$_}->stop, 0, "$_: walbridged stops cleanly") for qw(p q r);
$broker->stop;
done_testing();
