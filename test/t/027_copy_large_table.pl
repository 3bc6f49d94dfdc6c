# The initial copy of a table with a million rows: walbridged reports its
# progress while it copies (rows, rows/s, percent of the planner's
# estimate), publishes every row, and its memory stays bounded (the copy
# goes through a cursor, a batch at a time, each message acknowledged
# before the copy counts as done).
#
# On a real Kafka broker (test/run's real-broker stage), a mirror B also
# applies the whole copy: every row arrives, and B's walbridged stays in
# bounded memory too.  The mock broker keeps just the newest ~5 MiB of a
# partition, so there a mirror cannot read the copy back: only the
# publishing side is measured; the realistic-schema test (050) applies
# smaller copies end to end on both brokers.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalbridgeTest;

my $rows = 1_000_000;
my $broker = start_broker('walbridge.a', 'walbridge.b');
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

if ($broker->real)
{
	my $b = walbridge_node('b');
	$b->safe_psql('postgres', q{
		CREATE TABLE big (id integer PRIMARY KEY, label text NOT NULL, amount numeric(12,2));
		SELECT walbridge.create_node('b');
		SELECT walbridge.start_sync('{a}');
	});
	my $wb = start_walbridged($b, $broker);
	my ($peak_b, $count) = (0, 0);
	for (1 .. 3000)
	{
		my $rss = $wb->peak_rss_kb // 0;
		$peak_b = $rss if $rss > $peak_b;
		$count = $b->safe_psql('postgres', 'SELECT count(*) FROM big');
		last if $count == $rows;
		Time::HiRes::usleep(100_000);
	}
	is($count, $rows, 'the mirror applied every row of the copy');
	my $sum = q{SELECT sum(hashtext(t::text)) FROM big t};
	is($b->safe_psql('postgres', $sum), $a->safe_psql('postgres', $sum), 'row for row the same');
	cmp_ok($peak_b, '<', 64 * 1024, "the mirror's walbridged peak RSS stays under 64 MB while it applies (was $peak_b kB)")
	  unless $ENV{WALBRIDGED_SANITIZED};
	is($wb->stop, 0, 'the mirror stops cleanly');
}

is($wa->stop, 0, 'clean stop');
$broker->stop;
done_testing();
