# Against a real Kafka broker (WALBRIDGE_KAFKA=real): the broker restarts
# under a steady load of small transactions, once cleanly (SIGTERM) and
# once killed (SIGKILL: an unclean shutdown, its logs recovered at the
# next start), while walbridged goes on.  The idempotent producer retries
# what was in flight and the broker drops what it had already written (it
# checks each producer's sequence numbers, which the mock does not): the
# topic holds every transaction exactly once, in commit order, and the
# peer applies every row, nothing lost or doubled.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalbridgeTest;

plan skip_all => 'needs a real Kafka broker: WALBRIDGE_KAFKA=real (test/run runs it so)'
  unless real_kafka();

my $broker = start_broker('walbridge.a', 'walbridge.b', { real => 1 });
my $a = walbridge_node('a');
my $b = walbridge_node('b');
$_->safe_psql('postgres', q{CREATE TABLE t (id integer PRIMARY KEY, v text)}) for $a, $b;
# the load stops when this goes past 1 (a sequence: never published)
$a->safe_psql('postgres', q{CREATE SEQUENCE load_stop});
$a->safe_psql('postgres', q{SELECT walbridge.create_node('a'); SELECT walbridge.start_sync('{}');});
$b->safe_psql('postgres', q{SELECT walbridge.create_node('b'); SELECT walbridge.start_sync('{a}');});
my $wa = start_walbridged($a, $broker);
my $wb = start_walbridged($b, $broker);
$a->poll_query_until('postgres', 'SELECT snapshot_lsn IS NOT NULL FROM walbridge.node') or die 'A: no initial copy';

# One row per transaction, about a hundred a second, until told to stop.
my ($out, $err) = ('', '');
my $load = IPC::Run::start([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $a->connstr('postgres'), '-c', q{
	DO $$ BEGIN
		FOR i IN 1..1000000 LOOP
			EXIT WHEN (SELECT last_value FROM load_stop) > 1;
			INSERT INTO t VALUES (i, 'row ' || i);
			COMMIT;
			PERFORM pg_sleep(0.01);
		END LOOP;
	END $$} ], '<', \undef, '>', \$out, '2>', \$err);
sub rows_on { return $_[0]->safe_psql('postgres', 'SELECT count(*) FROM t'); }

sleep 3;
my $before = rows_on($a);
$broker->stop;
note("broker stopped cleanly after $before rows");
sleep 2;
$broker->start;
my $during = rows_on($a);
cmp_ok($during, '>', $before, "A committed while the broker was down ($before -> $during rows)");
sleep 3;

$before = rows_on($a);
$broker->kill9;
note("broker killed after $before rows");
sleep 2;
$broker->start;
cmp_ok(rows_on($a), '>', $before, 'A committed while the killed broker was down');
sleep 3;

$a->safe_psql('postgres', q{SELECT setval('load_stop', 2)});
$load->finish or die "load: $err";
my $rows = rows_on($a);
note("A wrote $rows rows, one transaction each");

ok(wait_slot_caught_up($a, 'walbridge_a'), 'A: walbridged published everything and confirmed it');
ok(tables_converge('after two broker restarts', [ $a, $b ], ['t'], 120), 'B applied every row of A');

# The topic: every transaction once, in commit order.
my $txns = topic_transactions(dump_topic($broker, 'walbridge.a'));
my @ids = map { $_->{new}[0] } grep { $_->{tag} eq 'INSERT' } map { @{ $_->{records} } } @$txns;
my %times;
$times{$_}++ for @ids;
is(scalar(@ids), $rows, "the topic has $rows inserts");
is_deeply([ grep { $times{$_} > 1 } keys %times ], [], 'none twice');
is_deeply(\@ids, [ 1 .. $rows ], 'all of them, in commit order');
my %xids;
is(scalar(grep { $xids{ $_->{xid} }++ } @$txns), 0, 'no transaction published twice');

my $log_a = $wa->log_contents;
unlike($log_a, qr/failed for good|retrying in/, 'A: the producer retried by itself: no fatal error, no session restart');
note(join "\n", grep { /WARNING|ERROR/ } split /\n/, $log_a);
is($b->safe_psql('postgres', q{SELECT state FROM walbridge.status() WHERE peer = 'a'}), 'running', 'B: apply of A runs');

is($wa->stop, 0, 'A: walbridged stops cleanly');
is($wb->stop, 0, 'B: walbridged stops cleanly');
$broker->stop;
done_testing();
