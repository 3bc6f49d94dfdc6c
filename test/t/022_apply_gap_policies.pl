# A gap in a peer's topic stops that peer with an error saying how to
# resynchronise, never a jump ahead; a new peer whose topic lost its
# beginning is applied from its end and asked for a copy; and the conflict
# policies other than last_writer_wins: keep_local keeps what this node
# wrote, error pauses.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalbridgeTest;

my $broker = start_broker('walbridge.a', 'walbridge.b', 'walbridge.old');
my $a = walbridge_node('pa');
my $b = walbridge_node('pb');
for my $n ($a, $b)
{
	$n->safe_psql('postgres', q{CREATE TABLE t (id integer PRIMARY KEY, v text)});
}

# ---- a gap: the mock broker keeps only the newest ~5 MiB of a partition,
# like retention would.  Node "old" published 8 MiB before b ever read it.
my $filler = join("\n", map { 'x' x 1000 } 1 .. 8192) . "\n";
my ($out, $err);
IPC::Run::run([ 'kcat', '-b', $broker->bootstraps, '-t', 'walbridge.old', '-p', '0', '-P',
	  '-H', 'wb.kind=message', '-H', 'wb.format=1' ], '<', \$filler, '>', \$out, '2>', \$err)
  or die "kcat: $err";
$b->safe_psql('postgres', q{SELECT walbridge.create_node('b'); SELECT walbridge.start_sync('{old}')});
# b applied offset 0 before: offset 1 is next, and gone
$b->safe_psql('postgres', q{UPDATE walbridge.apply_progress SET kafka_offset = 0 WHERE peer = 'old'});
my $wb = start_walbridged($b, $broker);
ok($b->poll_query_until('postgres', q{SELECT state = 'paused' FROM walbridge.status() WHERE peer = 'old'}),
	'an offset gone from the topic stops apply for that peer');
like($b->safe_psql('postgres', q{SELECT last_error FROM walbridge.status() WHERE peer = 'old'}),
	qr/offset 1 is no longer in Kafka.*gap.*SELECT walbridge\.resync\('old'\)|the next offset is 1 but offset \d+ is the first Kafka still has.*gap.*SELECT walbridge\.resync\('old'\)/,
	'the error says there is a gap and how to resynchronise');
is($b->safe_psql('postgres', q{SELECT kafka_offset FROM walbridge.apply_progress WHERE peer = 'old'}), '0',
	'it did not jump ahead');

# A new peer (nothing applied yet) whose topic no longer starts at 0: its
# initial copy is gone, so b starts at the end and asks it for a copy.
$b->safe_psql('postgres', q{UPDATE walbridge.apply_progress SET kafka_offset = NULL, paused_offset = NULL, last_error = NULL WHERE peer = 'old'});
$b->safe_psql('postgres', q{SELECT walbridge.start_sync('{old}')});
ok($b->poll_query_until('postgres', q{SELECT resync_state = 'requested' AND kafka_offset IS NOT NULL FROM walbridge.apply_progress WHERE peer = 'old'}),
	'a new peer whose topic lost its beginning is applied from the end, with a copy asked for');
ok($wb->wait_for_log(qr/topic walbridge\.old starts at offset \d+, not 0.*asking it for a copy/), 'b says why');
cmp_ok($b->safe_psql('postgres', q{SELECT kafka_offset FROM walbridge.apply_progress WHERE peer = 'old'}), '>', 0,
	'it starts at the end');
is($b->safe_psql('postgres', q{SELECT state FROM walbridge.status() WHERE peer = 'old'}), 'running', 'nothing paused');
$wb->stop;

# ---- keep_local: rows b wrote stay as b wrote them
$a->safe_psql('postgres', q{SELECT walbridge.create_node('a'); SELECT walbridge.start_sync('{}')});
$b->safe_psql('postgres', q{SELECT walbridge.start_sync('{a}', conflict => 'keep_local', snapshot => false)});
my $wa = start_walbridged($a, $broker);
$wb = start_walbridged($b, $broker);
$a->poll_query_until('postgres', 'SELECT snapshot_lsn IS NOT NULL FROM walbridge.node') or die;
sleep 2;
$b->safe_psql('postgres', q{INSERT INTO t VALUES (1, 'b wrote this')});
$a->safe_psql('postgres', q{INSERT INTO t VALUES (1, 'a wrote this'), (2, 'only a')});
ok($b->poll_query_until('postgres', q{SELECT count(*) = 2 FROM t}), 'a\'s other row arrives');
is($b->safe_psql('postgres', q{SELECT v FROM t WHERE id = 1}), 'b wrote this', 'keep_local keeps b\'s row');
is($b->safe_psql('postgres', q{SELECT kind || ' ' || decision FROM walbridge.conflicts}), 'insert_exists keep_local',
	'the conflict is recorded with the decision');
is($b->safe_psql('postgres', q{SELECT local_row->>'v' || ' / ' || (remote_row->>'v') FROM walbridge.conflicts}),
	'b wrote this / a wrote this', 'with both versions of the row');

# ---- error: the same conflict pauses apply
$b->safe_psql('postgres', q{SELECT walbridge.start_sync('{a}', conflict => 'error', snapshot => false)});
sleep 2;
$b->safe_psql('postgres', q{INSERT INTO t VALUES (3, 'b again')});
$a->safe_psql('postgres', q{INSERT INTO t VALUES (3, 'a again')});
ok($b->poll_query_until('postgres', q{SELECT state = 'paused' FROM walbridge.status() WHERE peer = 'a'}),
	'conflict policy error pauses apply');
like($b->safe_psql('postgres', q{SELECT last_error FROM walbridge.status() WHERE peer = 'a'}),
	qr/conflict: a row with the same key exists in public\.t \(conflict policy "error"\)/, 'naming the conflict');

$wa->stop;
$wb->stop;
$broker->stop;
done_testing();
