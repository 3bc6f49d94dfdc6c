# Source identity: every message carries who published it (wb.system_id,
# wb.timeline, wb.incarnation), and apply compares it with what it applied
# before.  A peer rebuilt under its name (a new cluster) or restored from a
# base backup onto a new timeline publishes commit LSNs that go back:
# compared with the old ones, its transactions would be passed over as
# duplicates.  Apply pauses at its first message instead, naming what
# changed, and walbridge.resync() accepts the new incarnation: everything
# it published through its stream is then applied, once.
#
# What resync() also asks for, a fresh copy of the peer's tables, may or
# may not be served: nothing here depends on it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WalbridgeTest;

my $broker = start_broker('walbridge.a', 'walbridge.b', 'walbridge-resync', { mock => 1 });

# t: insert-only rows with unique keys.  counter: one row per incarnation,
# updated one step per transaction; B logs every value its apply writes
# (an ALWAYS trigger fires under session_replication_role = replica), and
# as a mirror (apply_remote) it writes a transaction applied twice again.
my $schema = q{
	CREATE TABLE t (id integer PRIMARY KEY, who text NOT NULL);
	CREATE TABLE counter (id integer PRIMARY KEY, n integer NOT NULL);
};

sub source_node
{
	my ($cluster) = @_;
	my $node = walbridge_node($cluster);
	$node->safe_psql('postgres', $schema);
	$node->safe_psql('postgres', q{SELECT walbridge.create_node('a')});
	return $node;
}

my $a = source_node('a');
my $b = walbridge_node('b');
$b->safe_psql('postgres', $schema . q{
	CREATE TABLE seen (id integer, n integer);
	CREATE FUNCTION log_counter() RETURNS trigger LANGUAGE plpgsql AS
	  $$BEGIN INSERT INTO public.seen VALUES (NEW.id, NEW.n); RETURN NEW; END$$;
	CREATE TRIGGER log_counter AFTER INSERT OR UPDATE ON counter FOR EACH ROW EXECUTE FUNCTION log_counter();
	ALTER TABLE counter ENABLE ALWAYS TRIGGER log_counter;
});
$a->safe_psql('postgres', q{SELECT walbridge.start_sync('{}')});
$b->safe_psql('postgres', q{SELECT walbridge.create_node('b');
	SELECT walbridge.start_sync('{a}', conflict => 'apply_remote')});
my $wa = start_walbridged($a, $broker);
my $wb = start_walbridged($b, $broker);

# Old a's last commit LSN lies segments ahead, beyond where a new cluster's
# or a restored one's commits start: compared with it, they would all be
# passed over as already applied.
$a->safe_psql('postgres', q{INSERT INTO t SELECT g, 'old a' FROM generate_series(1, 20) g});
$a->safe_psql('postgres', q{SELECT pg_switch_wal()}) for 1 .. 3;
$a->safe_psql('postgres', q{INSERT INTO t VALUES (21, 'old a'); INSERT INTO counter VALUES (1, 1)});
ok($b->poll_query_until('postgres', q{SELECT count(*) = 21 FROM t}), 'B applies a');

# ---- every message carries who published it
my $system_id = $a->safe_psql('postgres', q{SELECT system_identifier FROM pg_control_system()});
my $incarnation = $a->safe_psql('postgres', q{SELECT incarnation FROM walbridge.node});
like($incarnation, qr/^[0-9a-f]{16}$/, 'walbridged made an incarnation with its slot');
my $messages = dump_topic($broker, 'walbridge.a', 1);
my @kinds = map { $_->{headers}{'wb.kind'} } @$messages;
ok((grep { $_ eq 'snapshot' } @kinds) && (grep { $_ eq 'txn' } @kinds),
	'the topic holds the initial copy and transactions');
is(scalar(grep {
	($_->{headers}{'wb.system_id'} // '') eq $system_id &&
	($_->{headers}{'wb.timeline'} // '') eq '1' &&
	($_->{headers}{'wb.incarnation'} // '') eq $incarnation } @$messages),
	scalar(@$messages), 'every message carries wb.system_id, wb.timeline and wb.incarnation');
is($b->safe_psql('postgres', q{SELECT source_system_id || ' ' || source_timeline || ' ' || source_incarnation
	FROM walbridge.apply_progress WHERE peer = 'a'}), "$system_id 1 $incarnation",
	'B recorded the identity it applied');

# Wait until B is paused on a, then return its error.
sub paused_on_a
{
	$b->poll_query_until('postgres', q{SELECT state = 'paused' FROM walbridge.status() WHERE peer = 'a'})
	  or return '';
	return $b->safe_psql('postgres', q{SELECT last_error FROM walbridge.status() WHERE peer = 'a'});
}

# The counter values B's apply wrote for row $id, in order, as one string.
sub seen
{
	my ($id) = @_;
	return $b->safe_psql('postgres', "SELECT string_agg(n::text, ' ' ORDER BY n) FROM seen WHERE id = $id");
}

# Wait until B has the rows $node has in t of $who, and counter row $id.
sub b_has_all
{
	my ($node, $who, $id) = @_;
	my $q = "SELECT (SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM t WHERE who = '$who')"
	  . " || '/' || coalesce((SELECT n::text FROM counter WHERE id = $id), '-')";
	my $want = $node->safe_psql('postgres', $q);
	for (1 .. 600)
	{
		return 1 if $b->safe_psql('postgres', $q) eq $want;
		usleep(100_000);
	}
	is($b->safe_psql('postgres', $q), $want, "B has what $who wrote");
	return 0;
}

# ---- (a) a rebuilt under the same name: a new cluster, a new slot
$wa->stop;
$a->stop;
my $a2 = source_node('a2');
$a2->safe_psql('postgres', q{INSERT INTO t SELECT g, 'new a' FROM generate_series(101, 105) g});
$a2->safe_psql('postgres', q{SELECT walbridge.start_sync('{}')});
my $wa2 = start_walbridged($a2, $broker);
ok($wa2->wait_for_log(qr/streaming slot/), 'the new a made its slot (the rows before it go in its copy)');
$a2->safe_psql('postgres', q{INSERT INTO t SELECT g, 'new a' FROM generate_series(106, 110) g});
$a2->safe_psql('postgres', q{INSERT INTO counter VALUES (2, 1)});
$a2->safe_psql('postgres', q{UPDATE counter SET n = n + 1 WHERE id = 2}) for 1 .. 4;
my $system_id2 = $a2->safe_psql('postgres', q{SELECT system_identifier FROM pg_control_system()});

like(paused_on_a(),
	qr/node "a" is a new incarnation: a new cluster \(system identifier $system_id2, was $system_id\)\. Run SELECT walbridge\.resync\('a'\) on this node/,
	'B pauses at the rebuilt a, naming the new cluster and what to run');
like($b->safe_psql('postgres', q{SELECT new_incarnation FROM walbridge.apply_progress WHERE peer = 'a'}),
	qr/system identifier $system_id2, timeline 1, incarnation [0-9a-f]{16}/, 'apply_progress holds the identity seen');
sleep 6;	# a retry or two
is($b->safe_psql('postgres', q{SELECT count(*) FROM t WHERE who = 'new a'}) . '/'
	  . $b->safe_psql('postgres', q{SELECT count(*) FROM counter WHERE id = 2}),
	'0/0', 'nothing of the new a is applied while paused');
is($b->safe_psql('postgres', q{SELECT state FROM walbridge.status() WHERE peer = 'a'}), 'paused',
	'still paused: the pause holds until resync()');

$b->safe_psql('postgres', q{SELECT walbridge.resync('a')});
$a2->safe_psql('postgres', q{INSERT INTO t SELECT g, 'new a' FROM generate_series(111, 115) g});
ok(b_has_all($a2, 'new a', 2), 'after resync() B has every row the new a wrote, before and after');
is(seen(2) =~ s/ 5 5$/ 5/r, '1 2 3 4 5', 'each of its transactions applied once');
is($b->safe_psql('postgres', q{SELECT count(*) FROM t WHERE who = 'old a'}), '21',
	'the old rows are still there');
is($b->safe_psql('postgres', q{SELECT source_system_id || ' ' || source_timeline || ' ' || (new_incarnation IS NULL)
	FROM walbridge.apply_progress WHERE peer = 'a'}), "$system_id2 1 true",
	'B records the new identity');

# ---- (b) a restored from a base backup taken earlier: a new timeline
$a2->backup('before');
$a2->safe_psql('postgres', q{INSERT INTO t SELECT g, 'lost' FROM generate_series(201, 205) g});
ok(b_has_all($a2, 'lost', 2), 'B applies what a wrote after the backup');
my $incarnation2 = $a2->safe_psql('postgres', q{SELECT incarnation FROM walbridge.node});
$wa2->stop;
$a2->stop;

my $a3 = PostgreSQL::Test::Cluster->new('a3');
$a3->init_from_backup($a2, 'before');
# recovery from the backup's own WAL only (no archive), promoted at its end
$a3->append_conf('postgresql.conf',
	"restore_command = 'false'\nrecovery_target = 'immediate'\nrecovery_target_action = 'promote'\n");
$a3->set_recovery_mode;
$a3->start;
$a3->poll_query_until('postgres', q{SELECT NOT pg_is_in_recovery()}) or die 'a3 was not promoted';
is($a3->safe_psql('postgres', q{SELECT timeline_id FROM pg_control_checkpoint()}), '2',
	'the restored a is on timeline 2');
is($a3->safe_psql('postgres', q{SELECT count(*) FROM t WHERE who = 'lost'}), '0',
	'the writes after the backup are lost on a');
my $wa3 = start_walbridged($a3, $broker);
ok($wa3->wait_for_log(qr/streaming slot/), 'the restored a made a new slot');
$a3->safe_psql('postgres', q{INSERT INTO t SELECT g, 'restored a' FROM generate_series(301, 305) g});
$a3->safe_psql('postgres', q{INSERT INTO counter VALUES (3, 1)});
$a3->safe_psql('postgres', q{UPDATE counter SET n = n + 1 WHERE id = 3}) for 1 .. 4;

like(paused_on_a(),
	qr/node "a" is a new incarnation: restored from a backup or failed over \(timeline 2, was 1\)\. Run SELECT walbridge\.resync\('a'\)/,
	'B pauses at the restored a, naming the timeline');
isnt($a3->safe_psql('postgres', q{SELECT incarnation FROM walbridge.node}), $incarnation2,
	'the restored a made a new incarnation with its new slot');
is($b->safe_psql('postgres', q{SELECT count(*) FROM t WHERE who = 'restored a'}), '0',
	'nothing of the restored a is applied while paused');

$b->safe_psql('postgres', q{SELECT walbridge.resync('a')});
$a3->safe_psql('postgres', q{INSERT INTO t SELECT g, 'restored a' FROM generate_series(306, 310) g});
ok(b_has_all($a3, 'restored a', 3), 'after resync() B has every row the restored a wrote');
is(seen(3) =~ s/ 5 5$/ 5/r, '1 2 3 4 5', 'each of its transactions applied once');
is($b->safe_psql('postgres', q{SELECT state FROM walbridge.status() WHERE peer = 'a'}), 'running',
	'B applies a again');

sync_report([ $b, $wb ], [ $a3, $wa3 ]) unless Test::More->builder->is_passing;
$wa3->stop;
$wb->stop;
$broker->stop;
done_testing();
