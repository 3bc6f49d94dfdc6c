# Against a real Kafka broker (WALBRIDGE_KAFKA=real): retention by size on
# a peer's topic (retention.bytes and segment.bytes of 1 MiB, the
# smallest segment Kafka allows; the broker checks every second).  While
# the consumer keeps up, retention deleting what it has applied changes
# nothing.  A consumer that falls behind, its walbridged stopped while
# the peer writes more than retention keeps, finds the next offset gone:
# apply for that peer pauses with the gap error, naming the offset and
# how to resynchronise, and applies nothing after the gap.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WalbridgeTest;

plan skip_all => 'needs a real Kafka broker: WALBRIDGE_KAFKA=real (test/run runs it so)'
  unless real_kafka();

my $small = 'retention.bytes=1048576,segment.bytes=1048576';
my $broker = start_broker("walbridge.a:$small", 'walbridge.b', { real => 1 });
is_deeply($broker->describe_topic('walbridge.a')->{config},
	{ 'retention.bytes' => 1048576, 'segment.bytes' => 1048576 }, 'walbridge.a keeps about 1 MiB');

my $a = walbridge_node('a');
my $b = walbridge_node('b');
$_->safe_psql('postgres', q{CREATE TABLE t (id integer PRIMARY KEY, v text)}) for $a, $b;
$a->safe_psql('postgres', q{SELECT walbridge.create_node('a'); SELECT walbridge.start_sync('{}');});
$b->safe_psql('postgres', q{SELECT walbridge.create_node('b'); SELECT walbridge.start_sync('{a}');});
my $wa = start_walbridged($a, $broker, chunk_size => '256kB');
my $wb = start_walbridged($b, $broker);

# $mib MiB in transactions of 10 rows of 25 kB each (about a segment in
# four transactions), with the next ids.  The text is not compressible by
# much, and walbridged sends it as it is anyway.
my $next_id = 1;
sub write_mib
{
	my ($mib) = @_;
	for (1 .. $mib * 4)
	{
		$a->safe_psql('postgres', qq{INSERT INTO t SELECT g, repeat(md5(g::text), 800)
			FROM generate_series($next_id, $next_id + 9) g});
		$next_id += 10;
	}
}

# Wait until the topic's first kept offset passes $offset.
sub wait_log_start_above
{
	my ($topic, $offset) = @_;
	for (1 .. 600)
	{
		my ($start) = $broker->offsets($topic);
		return $start if $start > $offset;
		usleep(100_000);
	}
	return undef;
}

# ---- keeping up: retention deletes only what B has applied
write_mib(3);
ok(tables_converge('keeping up', [ $a, $b ], ['t'], 90), 'B applied 3 MiB of A');
my $applied = $b->safe_psql('postgres', q{SELECT kafka_offset FROM walbridge.apply_progress WHERE peer = 'a'});
my $start = wait_log_start_above('walbridge.a', 0);
ok(defined $start, "retention deleted the oldest segments (the topic starts at offset $start now)");
write_mib(1);
ok(tables_converge('after retention', [ $a, $b ], ['t'], 90), 'B goes on applying as retention deletes what it applied');
is($b->safe_psql('postgres', q{SELECT state FROM walbridge.status() WHERE peer = 'a'}), 'running', 'nothing paused');

# ---- falling behind: B stopped while A writes more than retention keeps
is($wb->stop, 0, 'B: walbridged stops');
my $rows_b = $b->safe_psql('postgres', 'SELECT count(*) FROM t');
$applied = $b->safe_psql('postgres', q{SELECT kafka_offset FROM walbridge.apply_progress WHERE peer = 'a'});
write_mib(4);
$start = wait_log_start_above('walbridge.a', $applied + 1);
ok(defined $start, "retention deleted offsets B has not read (B applied up to $applied; the topic starts at $start)");

$wb = start_walbridged($b, $broker);
ok($b->poll_query_until('postgres', q{SELECT state = 'paused' FROM walbridge.status() WHERE peer = 'a'}),
	'B: apply of A pauses');
my $error = $b->safe_psql('postgres', q{SELECT last_error FROM walbridge.status() WHERE peer = 'a'});
my $next = $applied + 1;
like($error,
	qr/offset $next is no longer in Kafka.*gap.*SELECT walbridge\.resync\('a'\)|the next offset is $next but offset \d+ is the first Kafka still has.*gap.*SELECT walbridge\.resync\('a'\)/,
	'the error names the missing offset, the gap, and how to resynchronise');
note("B: $error");
sleep 2;
is($b->safe_psql('postgres', q{SELECT kafka_offset FROM walbridge.apply_progress WHERE peer = 'a'}), $applied,
	'B did not jump ahead');
is($b->safe_psql('postgres', 'SELECT count(*) FROM t'), $rows_b, 'B applied nothing after the gap');
is($b->safe_psql('postgres', q{SELECT state FROM walbridge.status() WHERE direction = 'publish'}), 'running',
	'B publishes its own changes all the same');
ok($wb->alive, 'B: walbridged runs on');

is($wb->stop, 0, 'B: walbridged stops cleanly');
is($wa->stop, 0, 'A: walbridged stops cleanly');
$broker->stop;
done_testing();
