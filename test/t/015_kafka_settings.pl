# kafka.* settings pass to librdkafka as they are, except those that would
# weaken delivery: apply drops a transaction whose commit LSN is not above
# the last one applied, so a message lost or reordered would be a
# transaction lost.  acks other than all, enable.idempotence or
# enable.gapless.guarantee off, more than 5 requests in flight: refused at
# start with the setting named and why, and on SIGHUP the configuration in
# force stays.  min_insync_replicas above replication_factor is refused too.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalbridgeTest;

my $dir = PostgreSQL::Test::Utils::tempdir;

# Run walbridged on a file of these lines: its exit status and stderr.
sub run_with
{
	my ($lines) = @_;
	my $conf = "$dir/walbridged.conf";
	open my $fh, '>', $conf or die "$conf: $!";
	print $fh "conninfo = 'dbname=nowhere host=/nonexistent'\nbrokers = '127.0.0.1:1'\n$lines";
	close $fh;
	my ($out, $err);
	IPC::Run::run([ 'walbridged', '-c', $conf ], '>', \$out, '2>', \$err, IPC::Run::timeout(30));
	return ($? >> 8, $err);
}

my @refused = (
	[ "kafka.acks = 1", 'kafka.acks', qr/before every in-sync replica has it.*acks = all/ ],
	[ "kafka.acks = 0", 'kafka.acks', qr/acks = all/ ],
	[ "kafka.request.required.acks = 1", 'kafka.request.required.acks', qr/acks = all/ ],
	[ "kafka.enable.idempotence = false", 'kafka.enable.idempotence',
		qr/twice or out of order.*enable\.idempotence = true/ ],
	[ "kafka.enable.gapless.guarantee = false", 'kafka.enable.gapless.guarantee',
		qr/leave a gap.*enable\.gapless\.guarantee = true/ ],
	[ "kafka.max.in.flight.requests.per.connection = 6", 'kafka.max.in.flight.requests.per.connection',
		qr/at most 5 requests in flight/ ],
	[ "kafka.max.in.flight = 1000", 'kafka.max.in.flight', qr/at most 5 requests in flight/ ],);
for my $case (@refused)
{
	my ($line, $key, $why) = @$case;
	my ($status, $err) = run_with("log_level = info\n$line\n");
	is($status, 1, "$line: walbridged exits 1");
	like($err, qr/walbridged\.conf:4: "\Q$key\E" = "[^"]*" is refused: /, "$line: the file, line and setting are named");
	like($err, $why, "$line: with why");
	like($err, qr/apply's duplicate detection relies on it/, "$line: and what relies on it");
}

my ($status, $err) = run_with("replication_factor = 2\nmin_insync_replicas = 3\n");
is($status, 1, 'min_insync_replicas above replication_factor: exits 1');
like($err, qr/min_insync_replicas 3 is above replication_factor 2/, 'and says so');
($status, $err) = run_with("min_insync_replicas = 0\n");
is($status, 1, 'min_insync_replicas 0 is not a value');
like($err, qr/invalid value for "min_insync_replicas": "0"/, 'and says so');

# What keeps delivery as it is, or only tunes it, is taken, and publishing works.
my $broker = start_broker('walbridge.a', { mock => 1 });
my $a = walbridge_node('a');
$a->safe_psql('postgres', q{CREATE TABLE t (id integer PRIMARY KEY, v text);
	SELECT walbridge.create_node('a'); SELECT walbridge.start_sync('{}');});
my $wa = start_walbridged($a, $broker, 'kafka.acks' => '-1', 'kafka.enable.idempotence' => 'true',
	'kafka.enable.gapless.guarantee' => 'true', 'kafka.max.in.flight.requests.per.connection' => '5',
	'kafka.linger.ms' => '1', min_insync_replicas => '-1', replication_factor => '1');
$a->safe_psql('postgres', q{INSERT INTO t VALUES (1, 'one')});
ok(wait_slot_caught_up($a, 'walbridge_a'), 'acks = -1, idempotence, gapless, 5 in flight: walbridged publishes');

# SIGHUP with a weakening setting: refused, the configuration in force stays.
my $conf = $a->basedir . '/walbridged.conf';
PostgreSQL::Test::Utils::append_to_file($conf, "kafka.acks = '1'\n");
kill 'HUP', $wa->pid;
ok($wa->wait_for_log(qr/"kafka\.acks" = "1" is refused: .*\n.*keeping the previous configuration/),
	'SIGHUP: acks = 1 is refused, the previous configuration stays');
ok($wa->alive, 'and walbridged keeps running');
$a->safe_psql('postgres', q{INSERT INTO t VALUES (2, 'two')});
ok(wait_slot_caught_up($a, 'walbridge_a'), 'and publishing');

is($wa->stop, 0, 'walbridged stops cleanly');
$broker->stop;
done_testing();
