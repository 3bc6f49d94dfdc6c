# Primary key changes in a mesh: an UPDATE that moves a row to another key
# is the delete of the old key and the insert of the new one under last
# writer wins, each decided on its own.  The races that used to leave the
# nodes different for ever, staged with both walbridgeds stopped so that
# neither node sees the other's write first:
#   1. a moves 1 -> 100, then b updates row 1: b's update is newer, so
#      row 1 stays (b's version) and 100 arrives too, on both nodes (b
#      used to drop a's move, never inserting 100);
#   2. a moves 2 -> 200, then b inserts its own 200: b's row is newer, so
#      200 is b's and 2 is gone on both (b used to pause on a duplicate
#      key);
#   3. b deletes 3, then a moves 3 -> 300: a's move is newer, so 300
#      arrives on b although 3 is gone there.
# (Rows updated on one node while the other moved them away are kept
# small here: an update that finds its row missing brings only the values
# it carries, the large-values case of docs/RELIABILITY.md.)
# Each once one change at a time (a transaction of its own) and once in
# bulk (many moves in one transaction, several of them in the way).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WalbridgeTest;

my @names = qw(a b);
my $broker = start_broker(map { "walbridge.$_" } @names);
my %node = map { $_ => walbridge_node("kmove_$_") } @names;
for my $me (@names)
{
	my ($peer) = grep { $_ ne $me } @names;
	$node{$me}->safe_psql('postgres', qq{
		CREATE TABLE item (id integer PRIMARY KEY, v text, body text);
		ALTER TABLE item ALTER COLUMN body SET STORAGE EXTERNAL;
		INSERT INTO item SELECT g, 'seed', CASE WHEN g % 2 = 0 THEN repeat('big', 3000) END
		  FROM generate_series(1, 60) g;
		SELECT walbridge.create_node('$me');
		SELECT walbridge.start_sync('{$peer}', snapshot => false);
		SELECT walbridge.track_deletes('item');});
}
my %wb = map { $_ => start_walbridged($node{$_}, $broker) } @names;
$node{$_}->poll_query_until('postgres', 'SELECT snapshot_lsn IS NOT NULL FROM walbridge.node')
  or die "walbridged on $_ did not start" for @names;
sleep 2;

# Both nodes' rows, large values as their md5.
sub rows_of { return $_[0]->safe_psql('postgres', q{SELECT string_agg(id || ':' || v || ':' || coalesce(md5(body), '-'), ',' ORDER BY id) FROM item}); }
sub converge
{
	my ($what) = @_;
	for (1 .. 600)
	{
		return 1 if rows_of($node{a}) eq rows_of($node{b});
		usleep(100_000);
	}
	is(rows_of($node{b}), rows_of($node{a}), "$what: b's rows are a's");
	return 0;
}

sub pause_both { $_->stop for values %wb; }
sub resume_both { %wb = map { $_ => start_walbridged($node{$_}, $broker) } @names; }

# -- one change at a time ------------------------------------------------
pause_both();
$node{a}->safe_psql('postgres', q{UPDATE item SET id = 100, v = 'moved by a' WHERE id = 1});
$node{a}->safe_psql('postgres', q{UPDATE item SET id = 200, v = 'moved by a' WHERE id = 2});
$node{b}->safe_psql('postgres', q{DELETE FROM item WHERE id = 3});
usleep(20_000);
$node{b}->safe_psql('postgres', q{UPDATE item SET v = 'b later' WHERE id = 1});
$node{b}->safe_psql('postgres', q{INSERT INTO item VALUES (200, 'b later', NULL)});
$node{a}->safe_psql('postgres', q{UPDATE item SET id = 300, v = 'a later' WHERE id = 3});
resume_both();

ok(converge('one at a time'), 'both nodes hold the same rows');
is($node{$_}->safe_psql('postgres',
		q{SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM item WHERE id IN (1, 2, 3, 100, 200, 300)}),
	'1=b later,100=moved by a,200=b later,300=a later', "$_: every race decided by time")
  for @names;
for my $me (@names)
{
	my ($peer) = grep { $_ ne $me } @names;
	is($node{$me}->safe_psql('postgres', qq{SELECT state FROM walbridge.status() WHERE peer = '$peer'}), 'running',
		"$me: applying $peer, not paused");
}
like($node{b}->safe_psql('postgres',
		q{SELECT string_agg(kind || '/' || decision, ',' ORDER BY id) FROM walbridge.conflicts}),
	qr/delete_differs\/keep_local.*insert_exists\/keep_local/, 'b: the lost halves are recorded');

# -- in bulk: one transaction moving many keys, several in the way -------
pause_both();
$node{a}->safe_psql('postgres', q{UPDATE item SET id = id + 1000, v = 'bulk a' WHERE id BETWEEN 10 AND 40});
usleep(20_000);
$node{b}->safe_psql('postgres', q{
	UPDATE item SET v = 'b newer' WHERE id IN (13, 15);
	INSERT INTO item VALUES (1020, 'b newer', NULL), (1021, 'b newer', NULL);
	DELETE FROM item WHERE id = 31;});
resume_both();

ok(converge('in bulk'), 'both nodes hold the same rows after the bulk moves');
is($node{a}->safe_psql('postgres',
		q{SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM item WHERE id IN (13, 15, 31, 1013, 1015, 1020, 1021, 1031)}),
	'13=b newer,15=b newer,1013=bulk a,1015=bulk a,1020=b newer,1021=b newer,1031=bulk a',
	'a: newer writes of old keys kept, newer rows of new keys kept, every move arrived');
is($node{a}->safe_psql('postgres', q{SELECT count(*) FROM item WHERE id BETWEEN 1010 AND 1040}), '31', 'a: 31 moved rows');
# an unsplit move keeps the large value the UPDATE did not touch
is($node{b}->safe_psql('postgres', q{SELECT length(body) FROM item WHERE id = 1016}), '9000',
	'b: a move nothing was in the way of kept its untouched large value');

# -- split moves: the values left out, identity keys, an identity index --
# moved: a table opted out of REPLICA IDENTITY FULL (updates carry
# "unchanged" for a large value they leave alone); b holds an older row
# at the new key, so the move is split there and the insert takes the
# large value from the row before it goes.  gen: a key GENERATED ALWAYS,
# which an UPDATE cannot set, moved by a (SET id = DEFAULT).  ui: a table
# whose replica identity is another unique index, whose key moves.
pause_both();
# the same start on both nodes, seeded under an origin so it is not published
$node{$_}->safe_psql('postgres', q{
	SELECT pg_replication_origin_create('seed');
	SELECT pg_replication_origin_session_setup('seed');
	CREATE TABLE moved (id integer PRIMARY KEY, v text, body text);
	ALTER TABLE moved ALTER COLUMN body SET STORAGE EXTERNAL;
	INSERT INTO moved VALUES (1, 'seed', repeat('large ', 2000));
	CREATE TABLE gen (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
	INSERT INTO gen (v) VALUES ('one'), ('two'), ('three');
	CREATE TABLE ui (id integer PRIMARY KEY, code integer NOT NULL, v text);
	CREATE UNIQUE INDEX ui_code ON ui (code);
	ALTER TABLE ui REPLICA IDENTITY USING INDEX ui_code;
	INSERT INTO ui VALUES (1, 10, 'ten'), (2, 20, 'twenty');}) for @names;
for my $me (@names)
{
	my ($peer) = grep { $_ ne $me } @names;
	$node{$me}->safe_psql('postgres', qq{
		SELECT walbridge.start_sync('{$peer}', snapshot => false);
		ALTER TABLE moved REPLICA IDENTITY DEFAULT;});
}
$node{b}->safe_psql('postgres', q{INSERT INTO moved VALUES (101, 'older on b', NULL)});
usleep(20_000);
$node{a}->safe_psql('postgres', q{
	UPDATE moved SET id = 101, v = 'moved by a' WHERE id = 1;
	UPDATE gen SET id = DEFAULT, v = 'one moved' WHERE id = 1;
	UPDATE ui SET code = 110, v = 'ten moved' WHERE id = 1;});
resume_both();

for my $t ([ 'moved', q{SELECT string_agg(id || ':' || v || ':' || coalesce(length(body), 0), ',' ORDER BY id) FROM moved} ],
		   [ 'gen', q{SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM gen} ],
		   [ 'ui', q{SELECT string_agg(id || ':' || code || ':' || v, ',' ORDER BY id) FROM ui} ])
{
	my ($table, $query) = @$t;
	my $want = $node{a}->safe_psql('postgres', $query);
	ok($node{b}->poll_query_until('postgres', $query, $want), "$table: b holds a's rows ($want)");
}
is($node{b}->safe_psql('postgres', q{SELECT id || ':' || v || ':' || length(body) FROM moved}), '101:moved by a:12000',
	'b: the split move kept the large value the UPDATE left out');
is($node{b}->safe_psql('postgres', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM gen}), '2,3,4',
	'b: the GENERATED ALWAYS key moved too');
is($node{b}->safe_psql('postgres', q{SELECT count(*) FROM walbridge.conflicts WHERE table_name = 'public.ui'}), '0',
	'b: a move of the identity index found its own row, no conflict');
for my $me (@names)
{
	my ($peer) = grep { $_ ne $me } @names;
	is($node{$me}->safe_psql('postgres', qq{SELECT state FROM walbridge.status() WHERE peer = '$peer'}), 'running',
		"$me: still applying $peer");
}

is($_->stop, 0, 'clean stop') for values %wb;
$broker->stop;
done_testing();
