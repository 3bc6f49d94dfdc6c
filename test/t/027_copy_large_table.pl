# The initial copy of a table with a million rows: walbridged reports its
# progress while it copies (rows, rows/s, percent of the planner's
# estimate), publishes every row, and its memory stays bounded (the copy
# goes through a cursor, a batch at a time, each message acknowledged
# before the copy counts as done).
#
# Only the publishing side is measured here: the mock broker keeps just
# the newest ~5 MiB of a partition, so a mirror cannot read the whole copy
# back from it; the realistic-schema test (050) applies copies end to end.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalbridgeTest;

my $rows = 1_000_000;
my $broker = start_broker('walbridge.a');
my $a = walbridge_node('a');
$a->safe_psql('postgres', qq{
	CREATE TABLE big (id integer PRIMARY KEY, label text NOT NULL, amount numeric(12,2));
	INSERT INTO big SELECT g, 'row number ' || g, g / 100.0 FROM generate_series(1, $rows) g;
	ANALYZE big;
	SELECT walbridge.create_node('a');
	SELECT walbridge.start_sync('{}');
});

my $wa = start_walbridged($a, $broker, progress_interval => 200);
my $peak = 0;
my $done = 0;
for (1 .. 3000)
{
	my $rss = $wa->peak_rss_kb // 0;
	$peak = $rss if $rss > $peak;
	if ($wa->log_contents =~ /initial copy published and acknowledged/)
	{
		$done = 1;
		last;
	}
	Time::HiRes::usleep(100_000);
}
ok($done, 'the copy of a million rows is published and acknowledged');
like($wa->log_contents, qr/initial copy of public\.big: \d+ rows, \d+ rows\/s, \d+% of about 1000000/,
	'progress is logged while it copies: rows, rate, percent of the estimate');
like($wa->log_contents, qr/initial copy of public\.big: $rows rows in [\d.]+ s/, 'every row is copied');
cmp_ok($peak, '<', 64 * 1024, "walbridged's peak RSS stays under 64 MB during the copy (was $peak kB)")
  unless $ENV{WALBRIDGED_SANITIZED};
is($a->safe_psql('postgres', q{SELECT snapshot_lsn IS NOT NULL FROM walbridge.node}), 't',
	'the copy is recorded as done only after Kafka acknowledged it');

is($wa->stop, 0, 'clean stop');
$broker->stop;
done_testing();
