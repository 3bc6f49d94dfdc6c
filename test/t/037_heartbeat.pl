# Heartbeats.  Each walbridged publishes one every heartbeat_interval, a
# transaction holding a walbridge.heartbeat message:
# - a peer that writes nothing no longer holds back purge_tombstones():
#   its heartbeats move its applied commit time on, past the deletes;
# - a one-way mirror's sequences follow the source's (the heartbeat
#   carries their last values), so after a failover nextval() on the
#   mirror hands out no value the source used;
# - status() shows each peer's clock skew from its newest heartbeat, and
#   walbridged warns when it exceeds max_clock_skew.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WalbridgeTest;

my $broker = start_broker(map { "walbridge.$_" } qw(a b m));
my %node = map { $_ => walbridge_node("hb_$_") } qw(a b m);
my %peers = (a => '{b}', b => '{a}', m => '{a}');
for my $me (qw(a b m))
{
	$node{$me}->safe_psql('postgres', qq{
		SET client_min_messages = error;
		CREATE TABLE t (id integer PRIMARY KEY, v text);
		CREATE TABLE ledger (id bigserial PRIMARY KEY, v text);
		SELECT walbridge.create_node('$me');
		SELECT walbridge.start_sync('$peers{$me}', snapshot => false);});
}
my %settings = (heartbeat_interval => 500, purge_interval => 1000);
my %wb = (a => start_walbridged($node{a}, $broker, %settings),
	b => start_walbridged($node{b}, $broker, %settings),
	# m measures its source's clock with a bound no delivery can meet
	m => start_walbridged($node{m}, $broker, %settings, max_clock_skew => 1));
$node{$_}->poll_query_until('postgres', 'SELECT snapshot_lsn IS NOT NULL FROM walbridge.node')
  or die "walbridged on $_ did not start" for qw(a b m);

# b never writes; a writes, deletes (tombstones on a, and on b as it applies them)
$node{a}->safe_psql('postgres', q{
	INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 10) g;
	INSERT INTO ledger (v) SELECT 'l' || g FROM generate_series(1, 100) g;});
$node{a}->safe_psql('postgres', q{DELETE FROM t WHERE id <= 4});
ok(tables_converge('a to b', [ $node{a}, $node{b}, $node{m} ], ['t', 'ledger']), 'a\'s rows reach b and m');
my $deleted_at = $node{a}->safe_psql('postgres', 'SELECT now()');
my $tombstones = $node{a}->safe_psql('postgres', q{SELECT tombstones FROM walbridge.tombstone_tables WHERE tbl = 't'::regclass});
is($node{a}->safe_psql('postgres', "SELECT count(*) FROM $tombstones"), '4', 'a remembers the 4 deleted keys');

# ---- the idle peer's progress moves on
ok($node{a}->poll_query_until('postgres',
		qq{SELECT source_commit_time > '$deleted_at' FROM walbridge.apply_progress WHERE peer = 'b'}),
	'a has applied b (which wrote nothing) past the deletes: b\'s heartbeats');

# ---- the mirror's sequence follows the source
ok($node{m}->poll_query_until('postgres', q{SELECT last_value >= 100 AND is_called FROM ledger_id_seq}),
	'm\'s ledger sequence has followed a\'s to 100');
$node{a}->safe_psql('postgres', q{INSERT INTO ledger (v) SELECT 'more' || g FROM generate_series(1, 50) g});
ok($node{m}->poll_query_until('postgres', q{SELECT last_value >= 150 FROM ledger_id_seq}),
	'and on to 150 as a goes on');
# failover: a is gone, m takes the writes
$wb{a}->stop;
my $a_max = $node{a}->safe_psql('postgres', 'SELECT max(id) FROM ledger');
$node{a}->stop;
my $m_id = $node{m}->safe_psql('postgres', q{INSERT INTO ledger (v) VALUES ('after failover') RETURNING id});
cmp_ok($m_id, '>', $a_max, "after a failover m hands out $m_id, above the $a_max a used");
is($node{m}->safe_psql('postgres', q{SELECT count(*) FROM ledger}), '151', 'no key of a was reused');
$node{a}->start;
$wb{a} = start_walbridged($node{a}, $broker, %settings);

# ---- clocks
for my $me (qw(a b))
{
	my ($peer) = grep { $_ ne $me } qw(a b);
	ok($node{$me}->poll_query_until('postgres',
			qq{SELECT clock_skew_seconds IS NOT NULL FROM walbridge.status() WHERE peer = '$peer'}),
		"$me: status() shows ${peer}'s clock skew");
	my $skew = $node{$me}->safe_psql('postgres', qq{SELECT clock_skew_seconds FROM walbridge.status() WHERE peer = '$peer'});
	cmp_ok(abs($skew), '<', 2, "$me: one machine, one clock: $peer is ${skew}s off (delivery delay included)");
	is($node{$me}->safe_psql('postgres', q{SELECT count(*) FROM walbridge.status() WHERE direction = 'publish' AND clock_skew_seconds IS NOT NULL}),
		'0', "$me: none for publishing");
}
# one machine: a reads behind by its delivery delay, which is no warning
unlike($wb{$_}->log_contents, qr/the clock of node/, "$_ does not warn about a delivery delay") for qw(a b m);

# ---- purge: the tombstones go once b's heartbeats are a minute past them
ok($node{a}->poll_query_until('postgres', "SELECT count(*) = 0 FROM $tombstones"),
	'a purged its tombstones although b wrote nothing');
$tombstones = $node{b}->safe_psql('postgres', q{SELECT tombstones FROM walbridge.tombstone_tables WHERE tbl = 't'::regclass});
ok($node{b}->poll_query_until('postgres', "SELECT count(*) = 0 FROM $tombstones"), 'and so did b');
ok(tables_converge('at the end', [ $node{a}, $node{b} ], ['t']), 'a and b still identical');

# heartbeats are not the node's transactions: topic_transactions() leaves them out
my @all = @{ dump_topic($broker, 'walbridge.b', 1) };
ok(scalar(grep { WalbridgeTest::is_heartbeat($_) } @all) > 10, 'b\'s topic holds its heartbeats');
is(scalar(@{ topic_transactions(dump_topic($broker, 'walbridge.b')) }), 0, 'and nothing else');

# A peer whose clock is ahead: with a stopped (no more heartbeats), m's
# record of a's last one is moved as a clock 10 s ahead would have made it.
$wb{a}->stop;
my $applied = $node{m}->safe_psql('postgres', q{SELECT kafka_offset FROM walbridge.apply_progress WHERE peer = 'a'});
for (1 .. 30)	# its last heartbeats, still on their way, applied
{
	sleep 1;
	my $now = $node{m}->safe_psql('postgres', q{SELECT kafka_offset FROM walbridge.apply_progress WHERE peer = 'a'});
	last if $now eq $applied;
	$applied = $now;
}
$node{m}->safe_psql('postgres', q{UPDATE walbridge.apply_progress
	SET heartbeat_commit_time = heartbeat_received_at + interval '10 s' WHERE peer = 'a'});
ok($wb{m}->wait_for_log(qr/WARNING.*the clock of node "a" is ahead of this node's by 10\.[0-9]+ seconds at least.*max_clock_skew is 0\.001 s/, 30),
	'm warns about a clock ahead');
sleep 6;	# two more checks
my $warnings = () = $wb{m}->log_contents =~ /the clock of node "a" is ahead/g;
is($warnings, 1, 'once (at most once a minute)');

$_->stop for grep { $_->alive } values %wb;
$broker->stop;
done_testing();
