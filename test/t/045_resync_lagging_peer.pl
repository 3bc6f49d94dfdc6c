# A node joins a mesh in which one node lags behind another: a deleted
# rows and updated others, and b has not applied that yet (its apply of a
# is paused on a row it refuses), so b's copy still carries the old rows.
# Whatever order the joining node applies the copies in, it ends with a's
# deletes and a's newer versions: d applies a's copy first, then b's (b's
# old rows must not come back: before issue 14's fix they did, since a's
# tombstones were only compared with rows already there); e applies b's
# first, then a's.  Each copy's tombstones are kept on the joining node
# with the delete's time.  Then b applies a again and all four converge.
# Also: the heartbeats say how far each node applied the others
# (peer_applied, which keeps a tombstone until every other peer has
# applied the delete).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalbridgeTest;

my $broker = start_broker((map { "walbridge.$_" } qw(a b d e)), 'walbridge-resync', { mock => 1 });
my %node = map { $_ => walbridge_node("lag_$_") } qw(a b d e);
my ($a, $b, $d, $e) = @node{qw(a b d e)};
my %conf = (heartbeat_interval => 500);	# the heartbeats are checked at the end

my $schema = q{
	CREATE TABLE items (id integer PRIMARY KEY, v text);
	-- what b refuses (a CHECK only b has): its apply of a pauses there
	CREATE TABLE blocker (id integer PRIMARY KEY, v integer);
};
$_->safe_psql('postgres', $schema) for values %node;
# a and b hold the same rows before they sync (no initial copy: their
# topics begin with transactions, so a joining node asks for copies)
$_->safe_psql('postgres', q{INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 300) g}) for $a, $b;
$b->safe_psql('postgres', q{ALTER TABLE blocker ADD CONSTRAINT small CHECK (v < 100)});
$a->safe_psql('postgres', q{SELECT walbridge.create_node('a'); SELECT walbridge.start_sync('{b}', snapshot => false)});
$b->safe_psql('postgres', q{SELECT walbridge.create_node('b'); SELECT walbridge.start_sync('{a}', snapshot => false)});
my %wb = map { $_ => start_walbridged($node{$_}, $broker, %conf) } qw(a b);
# without the initial copy each applies the other from where its topic
# ends when it starts: what was written before is not applied
for my $pair ([ $a, 'b' ], [ $b, 'a' ])
{
	$pair->[0]->poll_query_until('postgres',
		"SELECT kafka_offset IS NOT NULL FROM walbridge.apply_progress WHERE peer = '$pair->[1]'")
	  or die $pair->[0]->name . " did not start applying $pair->[1]";
}

sub count_of
{
	my ($node, $where) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM items WHERE $where");
}

# b stops applying a; a then deletes and updates
$a->safe_psql('postgres', q{INSERT INTO blocker VALUES (1, 1000)});
ok($b->poll_query_until('postgres', q{SELECT state = 'paused' FROM walbridge.status() WHERE peer = 'a'}),
	'b pauses on the row it refuses');
$a->safe_psql('postgres', q{
	DELETE FROM items WHERE id BETWEEN 1 AND 10;
	UPDATE items SET v = 'a later' WHERE id BETWEEN 11 AND 20;
});
$b->safe_psql('postgres', q{INSERT INTO items VALUES (1001, 'b''s own')});
ok(wait_slot_caught_up($a, 'walbridge_a') && wait_slot_caught_up($b, 'walbridge_b'), 'a and b published');
is(count_of($b, 'id BETWEEN 1 AND 10'), '10', 'b still has the rows a deleted');

# d joins, copying a first, then b
$d->safe_psql('postgres', q{SELECT walbridge.create_node('d'); SELECT walbridge.start_sync('{a}')});
$a->safe_psql('postgres', q{SELECT walbridge.start_sync('{b,d}')});
$wb{d} = start_walbridged($d, $broker, %conf);
ok(wait_resync_done($d, 'a'), 'd: the copy from a is complete');
is(count_of($d, 'id BETWEEN 1 AND 10'), '0', 'd: none of the rows a deleted');
# the tombstones' keys, times and writers, as a node holds them
sub tombstones_of
{
	my ($node) = @_;
	my $tomb = $node->safe_psql('postgres',
		q{SELECT tombstones FROM walbridge.tombstone_tables WHERE tbl = 'items'::regclass});
	return $node->safe_psql('postgres', qq{
		SELECT string_agg(format('%s %s %s', id, pg_xact_commit_timestamp(xmin), (walbridge.row_writer(xmin)).node), ', ' ORDER BY id)
		  FROM $tomb WHERE id BETWEEN 1 AND 10});
}
my $a_tombs = tombstones_of($a);
like($a_tombs, qr/^1 .* a, 2 .*, 10 .* a$/, 'a has tombstones of its deletes');
is(tombstones_of($d), $a_tombs, 'd keeps them: the same keys, the time of a\'s delete, a\'s');
$d->safe_psql('postgres', q{SELECT walbridge.start_sync('{a,b}')});
$b->safe_psql('postgres', q{SELECT walbridge.start_sync('{a,d}')});
ok(wait_resync_done($d, 'b'), 'd: the copy from b is complete');
is(count_of($d, 'id BETWEEN 1 AND 10'), '0', 'd: b\'s copy of the rows a deleted did not bring them back');
is(count_of($d, q{id BETWEEN 11 AND 20 AND v = 'a later'}), '10', 'd: a\'s newer versions stay');
is(count_of($d, 'id = 1001'), '1', 'd: b\'s own row arrived');

# e joins, copying b first, then a
$e->safe_psql('postgres', q{SELECT walbridge.create_node('e'); SELECT walbridge.start_sync('{b}')});
$b->safe_psql('postgres', q{SELECT walbridge.start_sync('{a,d,e}')});
$wb{e} = start_walbridged($e, $broker, %conf);
ok(wait_resync_done($e, 'b'), 'e: the copy from b is complete');
is(count_of($e, 'id BETWEEN 1 AND 10'), '10', 'e: b\'s copy has the rows a deleted');
$e->safe_psql('postgres', q{SELECT walbridge.start_sync('{a,b}')});
$a->safe_psql('postgres', q{SELECT walbridge.start_sync('{b,d,e}')});
ok(wait_resync_done($e, 'a'), 'e: the copy from a is complete');
is(count_of($e, 'id BETWEEN 1 AND 10'), '0', 'e: a\'s tombstones deleted them');
is(count_of($e, q{id BETWEEN 11 AND 20 AND v = 'a later'}), '10', 'e: a\'s newer versions won');

# b applies a again; everyone converges
$b->safe_psql('postgres', q{ALTER TABLE blocker DROP CONSTRAINT small});
$d->safe_psql('postgres', q{SELECT walbridge.start_sync('{a,b,e}')});
$a->safe_psql('postgres', q{INSERT INTO items VALUES (2001, 'a at the end')});
ok(tables_identical('after the joins', [ $a, $b, $d, $e ], [ 'items', 'blocker' ], 120),
	'a, b, d and e identical')
  or sync_report(map { [ $node{$_}, $wb{$_} ] } qw(a b d e));
is(sync_problems($_), '', $_->name . ': nothing paused, no error') for $a, $b, $d, $e;

# heartbeats: a knows how far b, d and e applied it
ok($a->poll_query_until('postgres', q{
	SELECT count(*) = 3 FROM walbridge.apply_progress
	 WHERE peer IN ('b', 'd', 'e') AND (peer_applied->>'a')::timestamptz > now() - interval '1 minute'}),
	'a: every peer\'s heartbeat says how far it applied a');

is($wb{$_}->stop, 0, "$_: walbridged stops cleanly") for qw(a b d e);
$broker->stop;
done_testing();
