# Schema changes in the stream (start_sync(..., ddl => true), the default).
# One way, a -> m: a column added while rows stream (its values arrive), a
# table made and filled in one transaction, a column renamed, a type
# changed, an enum made and extended, an index made CONCURRENTLY, a table
# dropped: m follows at each change's place.  A change that fails on a peer
# pauses it with the error until it is fixed, or skip() passes it.  Three nodes a, b, c in a
# mesh, changes made on two of them: different columns added at the same
# time converge, the same column added on both is recognised, a table
# made on b is synced everywhere from its first row, and a table and a
# column renamed while another node writes them under the old names.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WalbridgeTest;

my @names = qw(a b c m);
my $broker = start_broker(map { "walbridge.$_" } @names);
my %node = map { $_ => walbridge_node("ddl_$_") } @names;
my ($a, $b, $c, $m) = @node{qw(a b c m)};
my ($wa, $wm, %wb);
# whatever happens, no walbridged or broker is left behind
END
{
	local $?;
	$_ && $_->alive && $_->kill9 for $wa, $wm, values %wb;
	$broker->{h}->kill_kill if $broker && $broker->{h} && $broker->{h}->pumpable;
}

my $schema = q{
	CREATE TABLE items (id integer PRIMARY KEY, v integer NOT NULL);
	CREATE TABLE shared (id integer PRIMARY KEY, v text);
};
$_->safe_psql('postgres', $schema) for values %node;
$a->safe_psql('postgres', q{INSERT INTO items SELECT g, g FROM generate_series(1, 100) g});
$m->safe_psql('postgres', q{INSERT INTO items SELECT g, g FROM generate_series(1, 100) g});

sub columns
{
	my ($n, $table) = @_;
	return $n->safe_psql('postgres', qq{
		SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attname)
		  FROM pg_attribute WHERE attrelid = to_regclass('$table') AND attnum > 0 AND NOT attisdropped});
}

# tables_converge(), once every table is there (a table made by a
# schema change arrives with it).
sub converge_made
{
	my ($what, $nodes, $tables, $timeout) = @_;
	for my $n (@$nodes)
	{
		$n->poll_query_until('postgres', "SELECT to_regclass('$_') IS NOT NULL") or return 0 for @$tables;
	}
	return tables_converge($what, $nodes, $tables, $timeout);
}

# Wait until $sql gives the same answer on every node; columns added on
# different nodes come in different orders, so the query names them.
sub query_converges
{
	my ($what, $sql, @nodes) = @_;
	my ($first, @others) = @nodes;
	for (1 .. 600)
	{
		my $want = $first->safe_psql('postgres', $sql);
		return 1 unless grep { $_->safe_psql('postgres', $sql) ne $want } @others;
		usleep(100_000);
	}
	is($_->safe_psql('postgres', $sql), $first->safe_psql('postgres', $sql), "$what: same on " . $_->name) for @others;
	return 0;
}

sub same_shape
{
	my ($what, $table, @nodes) = @_;
	my ($first, @others) = @nodes;
	for (1 .. 600)
	{
		return 1 unless grep { columns($_, $table) ne columns($first, $table) } @others;
		usleep(100_000);
	}
	is(columns($_, $table), columns($first, $table), "$what: $table has the same columns on " . $_->name)
	  for @others;
	return 0;
}

# ---- one way: a publishes, m applies a
$a->safe_psql('postgres', q{SELECT walbridge.create_node('a'); SELECT walbridge.start_sync('{}', snapshot => false)});
$m->safe_psql('postgres',
	q{SELECT walbridge.create_node('m'); SELECT walbridge.start_sync('{a}', snapshot => false, full_rows => false)});
$wa = start_walbridged($a, $broker);
$wm = start_walbridged($m, $broker);
$_->poll_query_until('postgres', 'SELECT snapshot_lsn IS NOT NULL FROM walbridge.node') or die for ($a, $m);
sleep 2;

# a column added while a writer streams rows; its later rows fill it
my $writer = IPC::Run::start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $a->connstr('postgres'), '-c', q{
	DO $$ BEGIN
		FOR i IN 1001 .. 1600 LOOP
			INSERT INTO items (id, v) VALUES (i, i);
			UPDATE items SET v = v + 1 WHERE id = 1 + i % 100;
			COMMIT;
			IF i % 100 = 0 THEN PERFORM pg_sleep(0.05); END IF;
		END LOOP;
	END $$} ], '>', \my $wout, '2>', \my $werr);
usleep(300_000);
$a->safe_psql('postgres', q{ALTER TABLE items ADD COLUMN note text DEFAULT 'before'});
$a->safe_psql('postgres', q{ALTER TABLE items ALTER note SET DEFAULT 'after'});
$writer->finish;
$a->safe_psql('postgres', q{INSERT INTO items (id, v, note) SELECT g, g, 'new ' || g FROM generate_series(2001, 2050) g});
ok(tables_converge('column added while rows stream', [ $a, $m ], ['items']), 'm has the new column and its values');
is($m->safe_psql('postgres', q{SELECT count(*) FROM items WHERE note LIKE 'new %'}), '50',
	'values written into the new column arrived');
is($m->safe_psql('postgres', q{SELECT column_default FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'note'}),
	q{'after'::text}, 'SET DEFAULT arrived');

# a table made and filled in one transaction
$a->safe_psql('postgres', q{
	BEGIN;
	CREATE TABLE fresh (id integer PRIMARY KEY, label text NOT NULL, body text);
	INSERT INTO fresh SELECT g, 'row ' || g, repeat(md5(g::text), 300) FROM generate_series(1, 200) g;
	COMMIT;
	INSERT INTO fresh VALUES (201, 'later', NULL);});
ok(converge_made('table made and filled in one transaction', [ $a, $m ], ['fresh']),
	'm has the new table with every row, the creating transaction\'s too');

# rename, type change, NOT NULL, constraint, enum, index CONCURRENTLY
$a->safe_psql('postgres', q{ALTER TABLE fresh RENAME COLUMN label TO title});
$a->safe_psql('postgres', q{INSERT INTO fresh (id, title) VALUES (202, 'renamed')});
$a->safe_psql('postgres', q{ALTER TABLE items ALTER v TYPE bigint});
$a->safe_psql('postgres', q{UPDATE items SET v = v + 5000000000 WHERE id = 1});
$a->safe_psql('postgres', q{UPDATE items SET note = 'none' WHERE note IS NULL; ALTER TABLE items ALTER note SET NOT NULL});
$a->safe_psql('postgres', q{ALTER TABLE items ADD CONSTRAINT v_positive CHECK (v > 0)});
$a->safe_psql('postgres', q{CREATE TYPE stage AS ENUM ('draft', 'live')});
$a->safe_psql('postgres', q{ALTER TABLE fresh ADD COLUMN stage stage NOT NULL DEFAULT 'draft'});
$a->safe_psql('postgres', q{ALTER TYPE stage ADD VALUE 'archived'});
$a->safe_psql('postgres', q{UPDATE fresh SET stage = 'archived' WHERE id <= 10});
$a->safe_psql('postgres', q{CREATE INDEX CONCURRENTLY fresh_title ON fresh (title)});
$a->safe_psql('postgres', q{INSERT INTO fresh (id, title, stage) VALUES (203, 'after the index', 'live')});
ok(tables_converge('rename, type, enum, index', [ $a, $m ], [ 'items', 'fresh' ]), 'm follows each change with its rows');
ok(same_shape('rename, type, enum', 'fresh', $a, $m) && same_shape('type change', 'items', $a, $m),
	'the tables have the same columns and types');
is($m->safe_psql('postgres', q{SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('fresh_title')}), 't',
	'the index made CONCURRENTLY is there, valid');
like($wm->log_contents, qr/ran CREATE INDEX CONCURRENTLY fresh_title ON fresh \(title\) outside a transaction/,
	'and was run outside a transaction');
is($m->safe_psql('postgres', q{SELECT count(*) FROM pg_constraint WHERE conname = 'v_positive'}), '1', 'the constraint arrived');
is($m->safe_psql('postgres', q{SELECT relowner::regrole = (SELECT relowner::regrole FROM pg_class WHERE relname = 'items') FROM pg_class WHERE relname = 'fresh'}),
	't', 'the new table has the owner it has on a');

# through the extended protocol (as JDBC, npgsql, psycopg 3 send them)
my $script = $a->basedir . '/extended.sql';
open my $fh, '>', $script or die;
print $fh "CREATE TABLE via_extended (id integer PRIMARY KEY, v text);\n",
  "CREATE INDEX via_extended_v ON via_extended (v);\n",
  "INSERT INTO via_extended VALUES (1, 'extended');\n";
close $fh;
$a->command_ok([ 'pgbench', '-n', '-t', '1', '-M', 'extended', '-f', $script, '-d', $a->connstr('postgres') ],
	'schema changes sent with the extended protocol');
ok(converge_made('extended protocol', [ $a, $m ], ['via_extended']), 'm has the table and its row');
is($m->safe_psql('postgres', q{SELECT to_regclass('via_extended_v') IS NOT NULL}), 't', 'and the index');

# a table dropped
$a->safe_psql('postgres', q{CREATE TABLE doomed (id integer PRIMARY KEY); INSERT INTO doomed VALUES (1)});
ok($m->poll_query_until('postgres', q{SELECT count(*) = 1 FROM doomed}), 'a table to drop arrived');
$a->safe_psql('postgres', q{DROP TABLE doomed; INSERT INTO items (id, v, note) VALUES (3000, 3000, 'after drop')});
ok($m->poll_query_until('postgres', q{SELECT to_regclass('doomed') IS NULL AND EXISTS (SELECT FROM items WHERE id = 3000)}),
	'DROP TABLE arrived, and what follows it');

# a table made on m by hand, differently: a's CREATE TABLE is passed over
# (the table exists), and its first row pauses m, the missing column
# named in status(), until the table is fixed
$m->safe_psql('postgres', q{SET walbridge.bookkeeping = on; CREATE TABLE clash (id integer PRIMARY KEY, other text)});
$a->safe_psql('postgres', q{CREATE TABLE clash (id integer PRIMARY KEY, v text); INSERT INTO clash VALUES (1, 'one')});
$a->safe_psql('postgres', q{INSERT INTO items (id, v, note) VALUES (3001, 3001, 'after the clash')});
ok($m->poll_query_until('postgres', q{SELECT state = 'paused' FROM walbridge.status() WHERE peer = 'a'}),
	'a row that does not fit the table made here pauses apply');
like($m->safe_psql('postgres', q{SELECT last_error FROM walbridge.status() WHERE peer = 'a'}),
	qr/column "v" of table public\.clash does not exist on this node/,
	'status() gives the error: the table made here lacks a column of the peer\'s');
is($m->safe_psql('postgres', q{SELECT count(*) FROM items WHERE id = 3001}), '0', 'nothing after it is applied');
$m->safe_psql('postgres', q{SET walbridge.bookkeeping = on; DROP TABLE clash; CREATE TABLE clash (id integer PRIMARY KEY, v text)});
ok(converge_made('after the fix', [ $a, $m ], [ 'items', 'clash' ], 60), 'after the fix apply resumes by itself');
is(sync_problems($m), '', 'm runs without errors');

# a table made by hand on both nodes alike is recognised; a column added
# with another type pauses m, and skip() passes over that transaction
$m->safe_psql('postgres', q{SET walbridge.bookkeeping = on; CREATE TABLE by_hand (id integer PRIMARY KEY, v text)});
$a->safe_psql('postgres', q{CREATE TABLE by_hand (id integer PRIMARY KEY, v text); INSERT INTO by_hand VALUES (1, 'one')});
ok(converge_made('a table made on both', [ $a, $m ], ['by_hand']), 'the same table made on both is recognised');
$m->safe_psql('postgres', q{SET walbridge.bookkeeping = on; ALTER TABLE by_hand ADD COLUMN w text});
$a->safe_psql('postgres', q{ALTER TABLE by_hand ADD COLUMN w integer});
ok($m->poll_query_until('postgres',
		q{SELECT last_error LIKE '%column "w" of relation "by_hand" is text on this node, and the peer added it as integer%' FROM walbridge.status() WHERE peer = 'a'}),
	'a column added on both with different types pauses m, both types named');
$m->safe_psql('postgres', q{SELECT walbridge.skip('a')});
$a->safe_psql('postgres', q{INSERT INTO by_hand VALUES (2, 'two', 2)});
ok($m->poll_query_until('postgres', q{SELECT w = '2' FROM by_hand WHERE id = 2}), 'skip() passes over it and a\'s rows apply');

# nothing a applies is published again by m, and nothing loops
ok(wait_slot_caught_up($m, 'walbridge_m'), 'm: slot caught up');
is(scalar(@{ topic_transactions(dump_topic($broker, 'walbridge.m')) }), 0, 'm publishes none of what it applied');
my @ddl = grep { ($_->{prefix} // '') eq 'walbridge.ddl' }
  map { @{ $_->{records} } } @{ topic_transactions(dump_topic($broker, 'walbridge.a')) };
cmp_ok(scalar(@ddl), '>=', 14, 'a\'s topic holds its schema changes as walbridge.ddl messages (' . scalar(@ddl) . ')');

$_->stop for ($wa, $wm);

# ---- three nodes: a, b, c in a mesh; changes from a and b
for my $me (qw(b c))
{
	$node{$me}->safe_psql('postgres', "SELECT walbridge.create_node('$me')");
}
for my $me (qw(a b c))
{
	# a's tables of the one-way part, dropped here only
	$node{$me}->safe_psql('postgres',
		q{SET walbridge.bookkeeping = on; DROP TABLE IF EXISTS fresh, clash, items; DROP TYPE IF EXISTS stage})
	  if $me eq 'a';
	my @peers = grep { $_ ne $me } qw(a b c);
	$node{$me}->safe_psql('postgres', "SELECT walbridge.start_sync('{" . join(',', @peers) . "}', snapshot => false)");
}
%wb = map { $_ => start_walbridged($node{$_}, $broker) } qw(a b c);
$node{$_}->poll_query_until('postgres', 'SELECT snapshot_lsn IS NOT NULL FROM walbridge.node') or die for qw(b c);
sleep 2;
$a->safe_psql('postgres', q{INSERT INTO shared SELECT g, 'seed' FROM generate_series(1, 20) g});
ok(tables_converge('seed', [ $a, $b, $c ], ['shared']), 'the mesh runs');

# different columns added on a and b at the same time, each written at once
$wb{$_}->stop for qw(a b);	# so that neither has seen the other's change
$a->safe_psql('postgres', q{ALTER TABLE shared ADD COLUMN from_a integer; UPDATE shared SET from_a = id WHERE id <= 10});
$b->safe_psql('postgres', q{ALTER TABLE shared ADD COLUMN from_b text; UPDATE shared SET from_b = 'b' || id WHERE id > 10});
# the same column added on both, with the same type
$a->safe_psql('postgres', q{ALTER TABLE shared ADD COLUMN both_added boolean});
$b->safe_psql('postgres', q{ALTER TABLE shared ADD COLUMN both_added boolean});
$wb{$_} = start_walbridged($node{$_}, $broker) for qw(a b);
ok(same_shape('columns added on two nodes', 'shared', $a, $b, $c), 'every node has both columns');
ok(query_converges('columns added on two nodes',
		q{SELECT string_agg(format('%s %s %s %s %s', id, v, from_a, from_b, both_added), ', ' ORDER BY id) FROM shared},
		$a, $b, $c), 'and every row has both values');
is($c->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE from_a IS NOT NULL) || ' ' || count(*) FILTER (WHERE from_b IS NOT NULL) FROM shared}),
	'10 10', 'each node\'s values in its own column');
like($b->safe_psql('postgres', q{SELECT string_agg(attname, ',' ORDER BY attname) FROM pg_attribute WHERE attrelid = 'shared'::regclass AND attnum > 0}),
	qr/both_added,from_a,from_b,id,v/, 'the column added on both is there once');
is(join(';', map { sync_problems($node{$_}) } qw(a b c)), ';;', 'no node paused: the same column added twice is recognised');

# a table made on b and written at once, also from c
$b->safe_psql('postgres', q{
	BEGIN;
	CREATE TABLE from_b (id integer PRIMARY KEY, who text NOT NULL);
	INSERT INTO from_b SELECT g, 'b' FROM generate_series(1, 50) g;
	COMMIT;});
ok($c->poll_query_until('postgres', q{SELECT count(*) = 50 FROM from_b}), 'c has b\'s new table with its rows');
$c->safe_psql('postgres', q{INSERT INTO from_b SELECT g, 'c' FROM generate_series(51, 60) g});
ok($a->poll_query_until('postgres', q{SELECT count(*) = 60 FROM from_b}), 'a has the rows from b and c');
$a->safe_psql('postgres', q{ALTER TABLE from_b ADD COLUMN extra integer DEFAULT 7});
$a->safe_psql('postgres', q{UPDATE from_b SET extra = id WHERE id % 2 = 0});
ok(converge_made('a table made on b', [ $a, $b, $c ], ['from_b']), 'rows from b and c and a change from a converge');
is($b->safe_psql('postgres', q{SELECT count(*) || ' ' || sum(extra) FROM from_b}), '60 1140',
	'with a\'s default and a\'s updates');
is($c->safe_psql('postgres', q{SELECT count(*) FROM walbridge.tombstone_tables WHERE tbl = 'from_b'::regclass}), '1',
	'the new table is tracked for deletes on c too');
# the rest of a migration, from b and a, while c writes: a column renamed,
# retyped, dropped; a constraint dropped; an index made CONCURRENTLY and
# dropped; a table renamed, another dropped
$b->safe_psql('postgres', q{ALTER TABLE from_b RENAME COLUMN who TO author});
$b->safe_psql('postgres', q{ALTER TABLE from_b ALTER extra TYPE bigint});
$b->safe_psql('postgres', q{CREATE INDEX CONCURRENTLY from_b_author ON from_b (author)});
$a->safe_psql('postgres', q{ALTER TABLE shared DROP COLUMN both_added});
$a->safe_psql('postgres', q{ALTER TABLE shared ADD CONSTRAINT v_set CHECK (v IS NOT NULL)});
$a->safe_psql('postgres', q{ALTER TABLE shared DROP CONSTRAINT v_set});
ok($c->poll_query_until('postgres', q{SELECT to_regclass('from_b_author') IS NOT NULL}), 'c has b\'s index');
$c->safe_psql('postgres', q{INSERT INTO from_b (id, author, extra) VALUES (61, 'c', 6000000000)});
# b renames once c's row is there (the race is below)
ok($b->poll_query_until('postgres', q{SELECT count(*) = 1 FROM from_b WHERE id = 61}), 'b has c\'s row');
$b->safe_psql('postgres', q{DROP INDEX CONCURRENTLY from_b_author});
$b->safe_psql('postgres', q{ALTER TABLE from_b RENAME TO by_b});
$a->safe_psql('postgres', q{CREATE TABLE scratch (id integer PRIMARY KEY); INSERT INTO scratch VALUES (1); DROP TABLE scratch});
$c->safe_psql('postgres', q{UPDATE shared SET v = 'c' WHERE id = 1});
ok(converge_made('the rest of the migration', [ $a, $b, $c ], ['by_b'])
	  && query_converges('the rest of the migration',
		q{SELECT string_agg(format('%s %s %s %s', id, v, from_a, from_b), ', ' ORDER BY id) FROM shared}, $a, $b, $c),
	'renamed, retyped and dropped columns, and the rows written meanwhile, converge');
ok(same_shape('the rest of the migration', 'by_b', $a, $b, $c) && same_shape('the rest of the migration', 'shared', $a, $b, $c),
	'every node has the same columns');
is(join(';', map { $node{$_}->safe_psql('postgres',
	q{SELECT count(*) FROM pg_class WHERE relname IN ('from_b', 'from_b_author', 'scratch', 'v_set')}) } qw(a b c)),
	'0;0;0', 'what was renamed or dropped is gone everywhere');
is(join(';', map { sync_problems($node{$_}) } qw(a b c)), ';;', 'every node runs without errors')
  or sync_report(map { [ $node{$_}, $wb{$_} ] } qw(a b c));

# a rename racing the other nodes' writes under the old names: b renames
# a table and a column while c, which has not seen it, writes them; a
# applies b's rename before c's rows, and b's walbridged had resolved c's
# table under its old name before.  c's rows find the table and the
# column by the names they had (walbridge.renames), and nobody pauses.
$c->safe_psql('postgres', q{UPDATE by_b SET extra = 0 WHERE id = 3});
ok($b->poll_query_until('postgres', q{SELECT extra = 0 FROM by_b WHERE id = 3}), 'b resolved c\'s table by its name');
$wb{$_}->stop for qw(a c);
my $b_log_before = -s $wb{b}{log};
$b->safe_psql('postgres', q{ALTER TABLE by_b RENAME TO racing; ALTER TABLE racing RENAME COLUMN author TO writer});
$c->safe_psql('postgres', q{
	INSERT INTO by_b (id, author, extra) VALUES (62, 'c, before the rename', 62);
	UPDATE by_b SET author = 'c, renamed column' WHERE id = 1;
	DELETE FROM by_b WHERE id = 2;});
$wb{a} = start_walbridged($a, $broker);
ok($a->poll_query_until('postgres', q{SELECT to_regclass('racing') IS NOT NULL}), 'a applied b\'s rename first');
$wb{c} = start_walbridged($c, $broker);
ok(converge_made('a rename racing writes', [ $a, $b, $c ], ['racing']), 'c\'s writes under the old names reach the renamed table');
is(join(';', map { $node{$_}->safe_psql('postgres',
	q{SELECT format('%s %s %s', count(*), count(*) FILTER (WHERE writer LIKE 'c, %'), bool_and(id <> 2)) FROM racing}) } qw(a b c)),
	'61 2 t;61 2 t;61 2 t', 'the insert, the update of the renamed column and the delete are everywhere');
my $b_log = substr(slurp_file($wb{b}{log}), $b_log_before);
unlike($b_log, qr/paused/, 'b\'s walbridged did not pause on names it had resolved before the rename');

is(join(';', map { sync_problems($node{$_}) } qw(a b c)), ';;', 'every node runs without errors after the race')
  or sync_report(map { [ $node{$_}, $wb{$_} ] } qw(a b c));

is($wb{$_}->stop, 0, "$_ stops cleanly") for qw(a b c);
$broker->stop;
done_testing();
