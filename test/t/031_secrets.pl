# Secrets: the password in walbridged's conninfo and kafka.sasl.password
# never appear in its log (even with librdkafka's configuration and
# security debugging on, and while connections fail), in status(), in the
# extension's tables, or in the servers' logs.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalbridgeTest;

my $pg_secret = 'Pg-S3cret-7f3a';
my $kafka_secret = 'Kafka-S3cret-91bc';

my $broker = start_broker('walbridge.a', 'walbridge.b');
my $a = walbridge_node('a');
my $b = walbridge_node('b');
for my $node ($a, $b)
{
	$node->safe_psql('postgres', q{CREATE TABLE t (id integer PRIMARY KEY, v text)});
}
$a->safe_psql('postgres', q{SELECT walbridge.create_node('a'); SELECT walbridge.start_sync('{b}')});
$b->safe_psql('postgres', q{SELECT walbridge.create_node('b'); SELECT walbridge.start_sync('{a}')});

# A: Kafka with SASL, which the mock broker does not speak, so librdkafka
# keeps failing and logging; every debug context that prints settings on.
my $wa = start_walbridged($a, $broker,
	conninfo => $a->connstr('postgres') . " password=$pg_secret",
	'kafka.security.protocol' => 'SASL_PLAINTEXT',
	'kafka.sasl.mechanism' => 'PLAIN',
	'kafka.sasl.username' => 'walbridge',
	'kafka.sasl.password' => $kafka_secret,
	'kafka.debug' => 'conf,security,broker,protocol', log_level => 'debug');
# B: a working setup, a password in its conninfo, applying A.
my $wb = start_walbridged($b, $broker,
	conninfo => $b->connstr('postgres') . " password=$pg_secret");

$a->safe_psql('postgres', q{INSERT INTO t VALUES (1, 'one')});
ok($wa->wait_for_log(qr/SASL|sasl/, 60), 'A logs its SASL trouble (so the log is worth grepping)');
ok($b->poll_query_until('postgres', q{SELECT count(*) = 2 FROM walbridge.status()}),
	'B runs both directions');

# A connection that fails: a wrong port, with the password in it.
my $wfail = start_walbridged($a, $broker,
	conninfo => 'host=127.0.0.1 port=1 dbname=postgres user=nobody password=' . $pg_secret);
ok($wfail->wait_for_log(qr/could not connect|connection/i), 'a failing connection is logged');
$wfail->kill9;

$wa->stop;
$wb->stop;

my %places = (
	'A walbridged log' => $wa->log_contents,
	'B walbridged log' => $wb->log_contents,
	'failing walbridged log' => $wfail->log_contents,
	'A server log' => slurp_file($a->logfile),
	'B server log' => slurp_file($b->logfile),
	'A status()' => $a->safe_psql('postgres', q{SELECT string_agg(s::text, E'\n') FROM walbridge.status() s}),
	'B status()' => $b->safe_psql('postgres', q{SELECT string_agg(s::text, E'\n') FROM walbridge.status() s}),
	'A tables' => $a->safe_psql('postgres', q{SELECT concat_ws(E'\n', (SELECT string_agg(n::text, ' ') FROM walbridge.node n),
		(SELECT string_agg(s::text, ' ') FROM walbridge.sync s), (SELECT string_agg(p::text, ' ') FROM walbridge.apply_progress p),
		(SELECT string_agg(p::text, ' ') FROM walbridge.publish_status p))}),
);
for my $place (sort keys %places)
{
	unlike($places{$place}, qr/\Q$pg_secret\E/, "$place: no PostgreSQL password");
	unlike($places{$place}, qr/\Q$kafka_secret\E/, "$place: no Kafka password");
}
like($places{'A walbridged log'}, qr/password=\*\*\*/, 'the conninfo is logged redacted');

$broker->stop;
done_testing();
