# walbridged, publish half: one transaction of more than 200 MB goes
# through in bounded memory.  The slot decodes it with
# logical_decoding_work_mem = 64kB (so it spills to disk), walbridged cuts
# it into chunk_size messages, and the producer queue (64 MB at most,
# queue.buffering.max.kbytes in publish.c) holds reading back while Kafka
# is slower than the slot.  walbridged's peak resident memory (VmHWM) must
# stay near that cap, far below the transaction's size.
#
# The broker answers with 100 ms of added latency, so it is slower than
# decoding and the queue does fill: without it the mock broker takes
# chunks as fast as they come and the cap is never reached.
#
# The mock broker keeps only the newest ~5 MiB of a partition, so the
# whole transaction cannot be read back: what is checked is that the slot
# confirms all of it (walbridged confirms only what Kafka acknowledged) and
# that the topic ends with the transaction's last chunk, whose number says
# how many chunks there were.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use WalbridgeTest;

my $rows = 200_000;
my $chunk_size = 512 * 1024;	# walbridged's default chunk_size

# The bound: the 64 MB producer queue, plus 64 MB for everything else (the
# process itself is about 10 MB; librdkafka's request buffers, libpq's
# input buffer, the message being built, allocator slack).  Measured: about
# 75 MB.  With the queue's cap raised to 1 GB it measured 173 MB; a
# walbridged that held the whole transaction would pass 200 MB.
my $rss_bound_kb = 128 * 1024;

sub lsn
{
	my ($hi, $lo) = split m{/}, $_[0];
	return hex($hi) * 2**32 + hex($lo);
}

my $node = walbridge_node('big');
my $broker = start_broker('walbridge.big');

$node->safe_psql('postgres', q{
	SELECT walbridge.create_node('big'); SELECT walbridge.start_sync('{}');
	CREATE TABLE big (id integer PRIMARY KEY, v text);
});

my $wb = start_walbridged($node, $broker);
$node->poll_query_until('postgres',
	'SELECT snapshot_lsn IS NOT NULL FROM walbridge.node')
  or die 'walbridged did not initialize its slot';
my $rss_before = $wb->peak_rss_kb;
$broker->command('rtt 1 100');

# One transaction, generated in the server: psql never carries the rows.
# Each value is 1,100 characters (34 md5s and a 12-character tail): short
# enough to be stored inline, so neither TOAST nor compression shrinks it.
# Its size is counted before COMMIT, while reading it sets no hint bits
# (which would write every page again to WAL).
my $t0 = time;
my $out = $node->safe_psql('postgres', qq{
	BEGIN;
	INSERT INTO big
		SELECT g, repeat(md5(g::text), 34) || lpad(g::text, 12, '.')
		FROM generate_series(1, $rows) g;
	SELECT txid_current(), sum(octet_length(v) + 4), pg_current_wal_lsn() FROM big;
	COMMIT;
	SELECT pg_current_wal_lsn();
});
my ($summary, $end_lsn) = (split /\n/, $out)[ -2, -1 ];
my ($xid, $txn_bytes, $before_commit_lsn) = split /\|/, $summary;
my $t_committed = time;
cmp_ok($txn_bytes, '>=', 200 * 1024 * 1024, 'the transaction holds at least 200 MB of row data');
note(sprintf('xid %s: %d rows, %.1f MB of row data, committed in %.1f s',
	$xid, $rows, $txn_bytes / 2**20, $t_committed - $t0));

# Until the slot confirms the commit, watch walbridged's memory.
my ($caught_up, $peak_seen) = (0, 0);
my $deadline = time + 600;
while (time < $deadline && $wb->alive)
{
	my $peak = $wb->peak_rss_kb // 0;
	$peak_seen = $peak if $peak > $peak_seen;
	$caught_up = $node->safe_psql('postgres',
		"SELECT coalesce(confirmed_flush_lsn >= '$end_lsn', false) FROM pg_replication_slots WHERE slot_name = 'walbridge_big'"
	) eq 't';
	last if $caught_up;
	usleep(250_000);
}
my $seconds = time - $t_committed;
ok($caught_up, 'the slot confirms the whole transaction: Kafka acknowledged every chunk');
ok($wb->alive, 'walbridged is still running');

my $peak_kb = $wb->peak_rss_kb // 0;
$peak_kb = $peak_seen if $peak_seen > $peak_kb;
diag(sprintf('%.1f MB transaction published in %.1f s after its commit (%.1f MB/s); walbridged peak RSS %.1f MB (%.1f MB before it), bound %d MB',
	$txn_bytes / 2**20, $seconds, $txn_bytes / 2**20 / $seconds,
	$peak_kb / 1024, $rss_before / 1024, $rss_bound_kb / 1024));
cmp_ok($peak_kb, '<', $rss_bound_kb,
	'walbridged\'s peak RSS stays under the producer queue cap plus 64 MB');

# The topic's tail: the newest chunks of the transaction, ending with its
# last.
$broker->command('rtt 1 0');
my $messages = dump_topic($broker, 'walbridge.big');
my @chunks = grep { ($_->{headers}{'wb.xid'} // '') eq $xid } @$messages;
my $last = $messages->[-1];
ok($last && ($last->{headers}{'wb.xid'} // '') eq $xid && $last->{headers}{'wb.last'} eq '1',
	'the topic ends with the transaction\'s last chunk (wb.xid, wb.last = 1)');
is($last->{records}[-1]{tag}, 'COMMIT', 'which ends with its COMMIT');
my $last_end = lsn($last->{headers}{'wb.end_lsn'} // '0/0');
ok($last_end > lsn($before_commit_lsn) && $last_end <= lsn($end_lsn),
	'and names the end LSN of its commit');
my @ids = map { $_->{new}[0] } grep { $_->{tag} eq 'INSERT' } @{ $last->{records} };
is($ids[-1], $rows, 'the last chunk carries the last row');

my $nchunks = $last->{headers}{'wb.chunk'} + 1;
cmp_ok($nchunks, '>=', int($txn_bytes / $chunk_size), "the transaction went out in $nchunks chunks");
my @numbers = map { $_->{headers}{'wb.chunk'} } @chunks;
is_deeply(\@numbers, [ $numbers[0] .. $numbers[-1] ],
	scalar(@chunks) . ' chunks still in the topic, consecutive');
# (the last one may pass it by its COMMIT record)
ok(!grep({ $_->{bytes} > $chunk_size + 1024 } @chunks), 'none is over chunk_size');

is($wb->stop, 0, 'SIGTERM: walbridged exits 0');
$broker->stop;
done_testing();
