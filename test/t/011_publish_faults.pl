# walbridged under faults, during a heavy write load: nothing committed is
# ever missing from the topic.
#  - kill -9 of walbridged, five times, each followed by a restart
#    (duplicates are allowed there: counted and reported);
#  - the broker down for some seconds (mock cluster error injection): the
#    running walbridged recovers by itself;
#  - produce requests failing for good: the messages are sent again;
#  - the PostgreSQL server restarted under walbridged.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WalbridgeTest;

my $node = walbridge_node('faults');
my $broker = start_broker('walbridge.f');

$node->safe_psql('postgres', q{
	SELECT walbridge.create_node('f'); SELECT walbridge.start_sync('{}');
	CREATE TABLE ledger (id bigint PRIMARY KEY, note text);
	CREATE SEQUENCE ledger_ids;
	-- one row per transaction, n transactions
	CREATE PROCEDURE write_ledger(n integer, pause_every integer DEFAULT 0)
	LANGUAGE plpgsql AS $$
	BEGIN
		FOR i IN 1 .. n LOOP
			INSERT INTO ledger VALUES (nextval('ledger_ids'), repeat('x', 20));
			COMMIT;
			IF pause_every > 0 AND i % pause_every = 0 THEN
				PERFORM pg_sleep(0.01);
			END IF;
		END LOOP;
	END $$;
});

# A writer in the background: $n transactions, paced over a few seconds.
sub start_writer
{
	my ($n) = @_;
	my ($out, $err) = ('', '');
	return IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
		  '-c', "CALL write_ledger($n, 50)" ],
		'>', \$out, '2>', \$err);
}

# Every ledger row committed so far must be in the topic at least once.
sub check_complete
{
	my ($what) = @_;
	ok(wait_slot_caught_up($node, 'walbridge_f', 180), "$what: the slot catches up");
	my $txns = topic_transactions(dump_topic($broker, 'walbridge.f'));
	my %seen;
	for my $t (@$txns)
	{
		$seen{ $_->{new}[0] }++ for grep { $_->{tag} eq 'INSERT' } @{ $t->{records} };
	}
	my @committed = split /\n/, $node->safe_psql('postgres', 'SELECT id FROM ledger ORDER BY id');
	my @missing = grep { !$seen{$_} } @committed;
	my $duplicates = grep { $seen{$_} > 1 } keys %seen;
	is(scalar(@missing), 0, "$what: all " . scalar(@committed) . " committed transactions are in the topic")
	  or diag("missing: @missing[0 .. ($#missing < 9 ? $#missing : 9)]");
	note("$what: $duplicates transactions published more than once");
	return $duplicates;
}

# ---- kill -9, five times, during the load
my $wb = start_walbridged($node, $broker);
$node->poll_query_until('postgres', 'SELECT snapshot_lsn IS NOT NULL FROM walbridge.node')
  or die 'walbridged did not start';

my $writer = start_writer(6000);
my $kills = 0;
for my $round (1 .. 5)
{
	usleep(300_000 + int(rand(700_000)));
	$wb->kill9;
	$kills++;
	$wb = start_walbridged($node, $broker);
}
$writer->finish;
is($kills, 5, 'walbridged killed with SIGKILL five times during the load');
my $duplicates = check_complete('after five kill -9');
diag("after five kill -9: $duplicates transactions were published twice (allowed; the apply side drops them)");

# ---- the broker down for five seconds, walbridged left running
$writer = start_writer(3000);
usleep(500_000);
$broker->command('down 1');
sleep 5;
$broker->command('up 1');
$writer->finish;
check_complete('broker down for 5 s');
ok($wb->alive, 'the same walbridged recovered by itself');

# ---- produce requests that fail for good (error 29, authorization): the
# session restarts and publishes the same transactions again.
$writer = start_writer(500);
$broker->command('errors 0 29 3');
$writer->finish;
check_complete('three failed produce requests');
like($wb->log_contents, qr/Kafka did not take|failed for good|could not produce .*authorization/i,
	'the failed deliveries are logged');

# ---- the PostgreSQL server restarted (immediate mode) under walbridged
$writer = start_writer(1000);
usleep(300_000);
$node->stop('immediate');
$writer->finish;
$node->start;
$writer = start_writer(500);
$writer->finish;
check_complete('server restarted in immediate mode');
like($wb->log_contents, qr/retrying in/, 'walbridged reconnected with a backoff');

is($wb->stop, 0, 'clean stop at the end');
$broker->stop;
done_testing();
