# What Kafka did not take is never confirmed:
#  - SIGTERM while the producer queue is full (a slow broker): every
#    committed transaction is in the topic after a restart;
#  - Kafka down for a long time: walbridged stops reading the slot when
#    its producer queue is full (memory stays bounded), status() says so,
#    and it resumes by itself when Kafka is back;
#  - a row too large for a Kafka message: a clear error naming the
#    transaction and the settings to raise; the slot does not move past it,
#    and once the limit is raised the row is published.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalbridgeTest;

# 80 transactions of 100 rows (about 2.8 MB) into r; their xids.
sub write_load
{
	my ($node) = @_;
	my @xids;
	for my $i (1 .. 80)
	{
		push @xids, (split /\n/, $node->safe_psql('postgres',
				"BEGIN; INSERT INTO r SELECT $i * 1000 + g, repeat(md5(g::text), 11) FROM generate_series(1, 100) g;"
				  . " SELECT txid_current(); COMMIT;"))[-1];
	}
	return @xids;
}

my $broker = start_broker('walbridge.stop', 'walbridge.row', 'walbridge.down');

# ---- SIGTERM under backpressure
my $node = walbridge_node('stop');
$node->safe_psql('postgres', q{
	SELECT walbridge.create_node('stop'); SELECT walbridge.start_sync('{}');
	CREATE TABLE r (id integer PRIMARY KEY, v text);
});
my %tiny_queue = ('kafka.queue.buffering.max.kbytes' => 64);
my $wb = start_walbridged($node, $broker, %tiny_queue);
$node->poll_query_until('postgres', 'SELECT snapshot_lsn IS NOT NULL FROM walbridge.node')
  or die 'walbridged did not start';

$broker->command('rtt 1 1000');
my @xids = write_load($node);
sleep 2;
is($wb->stop, 0, 'SIGTERM with the producer queue full: clean exit');
$broker->command('rtt 1 0');

$wb = start_walbridged($node, $broker, %tiny_queue);
ok(wait_slot_caught_up($node, 'walbridge_stop', 120), 'caught up after the restart');
my %seen = map { $_->{xid} => 1 } @{ topic_transactions(dump_topic($broker, 'walbridge.stop')) };
my @missing = grep { !$seen{$_} } @xids;
is("@missing", '', 'every transaction committed before the stop is in the topic');
$wb->stop;

# ---- Kafka down for a long time
my $down = walbridge_node('down');
$down->safe_psql('postgres', q{
	SELECT walbridge.create_node('down'); SELECT walbridge.start_sync('{}');
	CREATE TABLE r (id integer PRIMARY KEY, v text);
});
$wb = start_walbridged($down, $broker, %tiny_queue);
$down->poll_query_until('postgres', 'SELECT snapshot_lsn IS NOT NULL FROM walbridge.node')
  or die 'walbridged did not start';
$broker->command('down 1');
my @down_xids = write_load($down);
ok($down->poll_query_until('postgres', q{SELECT state = 'waiting' AND last_error LIKE 'waiting: Kafka has not acknowledged%producer queue is full%'
	FROM walbridge.status() WHERE direction = 'publish'}), 'status() says publishing waits for Kafka, and why');
my $end = $down->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
sleep 5;
is($down->safe_psql('postgres',
		"SELECT confirmed_flush_lsn < '$end' FROM pg_replication_slots WHERE slot_name = 'walbridge_down'"),
	't', 'nothing Kafka did not take is confirmed');
my $down_rss = $wb->peak_rss_kb;
ok($down_rss < 64 * 1024, "memory stays bounded while Kafka is down (peak $down_rss kB, bound 64 MB)");
ok($wb->alive, 'walbridged waits, it does not give up');
$broker->command('up 1');
ok(wait_slot_caught_up($down, 'walbridge_down', 120), 'when Kafka is back publishing resumes by itself');
ok($down->poll_query_until('postgres', q{SELECT state = 'running' FROM walbridge.status() WHERE direction = 'publish'}),
	'status() is running again');
my %down_seen = map { $_->{xid} => 1 } @{ topic_transactions(dump_topic($broker, 'walbridge.down')) };
is(join(' ', grep { !$down_seen{$_} } @down_xids), '', 'every transaction written while Kafka was down is in the topic');
$wb->stop;

# ---- a row larger than a Kafka message
my $rows = walbridge_node('row');
$rows->safe_psql('postgres', q{
	SELECT walbridge.create_node('row'); SELECT walbridge.start_sync('{}');
	CREATE TABLE r (id integer PRIMARY KEY, v text);
});
$wb = start_walbridged($rows, $broker);
$rows->poll_query_until('postgres', 'SELECT snapshot_lsn IS NOT NULL FROM walbridge.node')
  or die 'walbridged did not start';
my $big = (split /\n/, $rows->safe_psql('postgres',
		q{BEGIN; INSERT INTO r VALUES (1, repeat('x', 3000000)); SELECT txid_current(); COMMIT;}))[-1];
my $big_end = $rows->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
my $small = (split /\n/, $rows->safe_psql('postgres',
		q{BEGIN; INSERT INTO r VALUES (2, 'small'); SELECT txid_current(); COMMIT;}))[-1];

ok($wb->wait_for_log(qr/message of xid $big .* does not fit Kafka's message size limit.*kafka\.message\.max\.bytes/),
	'the oversized row is refused with the xid and the settings to raise');
sleep 3;
is($rows->safe_psql('postgres',
		"SELECT confirmed_flush_lsn < '$big_end' FROM pg_replication_slots WHERE slot_name = 'walbridge_row'"),
	't', 'the slot does not move past the transaction Kafka did not take');
my %xids_in_topic = map { $_->{xid} => 1 } @{ topic_transactions(dump_topic($broker, 'walbridge.row')) };
ok(!$xids_in_topic{$small}, 'nothing after it is published either: order is kept');

# Raise the producer's limit (the mock broker accepts it): published.
$wb->stop;
$wb = start_walbridged($rows, $broker, 'kafka.message.max.bytes' => 8000000);
ok(wait_slot_caught_up($rows, 'walbridge_row', 60), 'after the fix the slot catches up');
my $txns = topic_transactions(dump_topic($broker, 'walbridge.row'));
is_deeply([ grep { $_ eq $big || $_ eq $small } map { $_->{xid} } @$txns ], [ $big, $small ],
	'the large row, then the one after it');
$wb->stop;

$broker->stop;
done_testing();
