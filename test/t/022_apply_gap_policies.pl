# A gap in a peer's topic stops that peer with an error saying how to
# resynchronise, never a jump ahead; and the conflict policies other than
# last_writer_wins: keep_local keeps what this node wrote, error pauses.
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
my $wb = start_walbridged($b, $broker);
ok($b->poll_query_until('postgres', q{SELECT state = 'paused' FROM walbridge.status() WHERE peer = 'old'}),
	'a topic whose start is gone stops apply for that peer');
like($b->safe_psql('postgres', q{SELECT last_error FROM walbridge.status() WHERE peer = 'old'}),
	qr/offset 0 is no longer in Kafka.*gap.*stop_sync\(drop_slot => true\)|the next offset is 0 but offset \d+ is the first Kafka still has.*gap.*stop_sync\(drop_slot => true\)/,
	'the error says there is a gap and how to resynchronise');
is($b->safe_psql('postgres', q{SELECT kafka_offset FROM walbridge.apply_progress WHERE peer = 'old'}), '',
	'it did not jump ahead');
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
