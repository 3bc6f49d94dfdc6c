# walbridged as a role that is not a superuser: LOGIN REPLICATION plus
# walbridge.grant_walbridged().  A full bidirectional run (initial copy,
# writes on both sides, a conflict, a truncate) works under it, and without
# the grants it fails saying which privilege is missing.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WalbridgeTest;

my $broker = start_broker('walbridge.a', 'walbridge.b');
my $a = walbridge_node('a');
my $b = walbridge_node('b');
for my $node ($a, $b)
{
	$node->safe_psql('postgres', q{
		CREATE ROLE wbd LOGIN REPLICATION;
		CREATE TABLE items (id integer PRIMARY KEY, v text);
		CREATE TABLE notes (id integer PRIMARY KEY, item integer REFERENCES items, n text);
	});
}
$a->safe_psql('postgres', q{INSERT INTO items SELECT g, 'copied ' || g FROM generate_series(1, 100) g});
$a->safe_psql('postgres', q{SELECT walbridge.create_node('a'); SELECT walbridge.start_sync('{b}')});
$b->safe_psql('postgres', q{SELECT walbridge.create_node('b'); SELECT walbridge.start_sync('{a}')});

# Without the grants: refused, with the privilege named.
my $denied = start_walbridged($a, $broker, conninfo => $a->connstr('postgres') . ' user=wbd');
ok($denied->wait_for_log(qr/permission denied for schema walbridge/),
	'without the grants walbridged says which privilege it lacks');
$denied->kill9;
my $denied_log_length = length($denied->log_contents);	# the same file as A's next walbridged

$_->safe_psql('postgres', q{SELECT walbridge.grant_walbridged('wbd')}) for ($a, $b);
is($a->safe_psql('postgres', q{SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = 'wbd'}),
	'f', 'wbd is no superuser and creates nothing');

my $wa = start_walbridged($a, $broker, conninfo => $a->connstr('postgres') . ' user=wbd');
my $wb = start_walbridged($b, $broker, conninfo => $b->connstr('postgres') . ' user=wbd');

sub converged
{
	my ($what) = @_;
	return tables_converge($what, [ $a, $b ], [qw(items notes)]);
}

ok(converged('initial copy'), 'the initial copy arrives under wbd');
is($b->safe_psql('postgres', q{SELECT count(DISTINCT usename) || ' ' || min(usename) FROM pg_stat_activity
	WHERE application_name LIKE 'walbridged%' OR backend_type = 'walsender'}), '1 wbd',
	'every connection of walbridged is wbd');

$a->safe_psql('postgres', q{INSERT INTO notes SELECT g, g, 'from a' FROM generate_series(1, 50) g});
$b->safe_psql('postgres', q{INSERT INTO items SELECT g, 'from b' FROM generate_series(101, 150) g});
$b->safe_psql('postgres', q{UPDATE items SET v = 'b changed' WHERE id <= 10});
ok(converged('writes'), 'writes on both sides converge');

# A conflict (recorded by wbd) and a truncate.
$wb->stop;
$a->safe_psql('postgres', q{UPDATE items SET v = 'a first' WHERE id = 20});
usleep(20_000);
$b->safe_psql('postgres', q{UPDATE items SET v = 'b later' WHERE id = 20});
$wb = start_walbridged($b, $broker, conninfo => $b->connstr('postgres') . ' user=wbd');
ok(converged('conflict'), 'a conflict converges');
is($a->safe_psql('postgres', q{SELECT v FROM items WHERE id = 20}), 'b later', 'the later write won');
# the tables agree as soon as b's later write reached a; b records the
# conflict when a's older one reaches it, which may be a moment later
ok($b->poll_query_until('postgres', q{SELECT count(*) >= 1 FROM walbridge.conflicts}), 'the conflict is recorded');
# a mesh member refuses TRUNCATE of a synced table; one that only
# publishes may, and its mirrors apply it
like(($a->psql('postgres', q{TRUNCATE notes}))[2], qr/TRUNCATE of public\.notes is refused/,
	'a TRUNCATE on a node with peers is refused');
$a->safe_psql('postgres', q{SELECT walbridge.start_sync('{}', snapshot => false)});
$a->safe_psql('postgres', q{TRUNCATE notes});
ok(converged('truncate'), 'a truncate arrives');
is($b->safe_psql('postgres', q{SELECT count(*) FROM notes}), '0', 'notes is empty on B');

$wa->stop;
$wb->stop;
unlike(substr($wa->log_contents, $denied_log_length) . $wb->log_contents, qr/permission denied/,
	'with the grants no permission was missing');
$broker->stop;
done_testing();
