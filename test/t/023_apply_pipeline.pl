# Pipelined apply: a message's changes go to the server as one libpq
# pipeline, consecutive changes of the same shape as one statement over
# unnest() of arrays; a change that conflicts (touches no row) or fails
# sends the transaction back to be applied one change at a time, from its
# first message when it spans several, with the conflict resolved and
# recorded exactly as before.  Also: values that need quoting inside an
# array literal, tables that cannot go in bulk, identity columns GENERATED
# ALWAYS, and an error found while preparing a statement is the one
# reported.
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

my $schema = q{
	CREATE TABLE items (id integer PRIMARY KEY, v text);
	CREATE TABLE gen (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
	CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
	CREATE TABLE scalars (id integer PRIMARY KEY, i2 smallint, i8 bigint, f4 real, f8 double precision,
		n numeric(20,5), b boolean, t text, vc varchar(10), ch char(3), by bytea, d date, tm time,
		ts timestamp, tz timestamptz, iv interval, u uuid, j json, jb jsonb, m mood, ip inet, pt point,
		big text);
	ALTER TABLE scalars ALTER big SET STORAGE EXTERNAL;
	CREATE TABLE unbatchable (id integer PRIMARY KEY, a integer[], bx box);
};
$a->safe_psql('postgres', $schema);
$b->safe_psql('postgres', $schema);
$a->safe_psql('postgres', q{SELECT walbridge.create_node('a'); SELECT walbridge.start_sync('{}');});
$b->safe_psql('postgres', q{SELECT walbridge.create_node('b'); SELECT walbridge.start_sync('{a}');});

# Small messages: one source transaction of a few thousand rows spans many.
my $wa = start_walbridged($a, $broker, chunk_size => '16kB');
my $wb = start_walbridged($b, $broker, log_level => 'debug');

my @tables = qw(items gen scalars unbatchable);

sub converged
{
	my ($what) = @_;
	return tables_converge($what, [ $a, $b ], \@tables);
}

sub one_by_one_count
{
	my @lines = $wb->log_contents =~ /one change at a time/g;
	return scalar @lines;
}

# 1. Many changes in one transaction, nothing conflicting: all pipelined.
$a->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO items SELECT g, 'first ' || g FROM generate_series(1, 3000) g;
	UPDATE items SET v = v || ' updated' WHERE id % 3 = 0;
	DELETE FROM items WHERE id % 7 = 0;
	COMMIT;
});
ok(converged('a 3,000-row transaction'), 'a large transaction over many messages arrives');
is(one_by_one_count(), 0, 'nothing conflicted: no change was applied one at a time');
is($b->safe_psql('postgres', q{SELECT count(*) FROM walbridge.conflicts}), '0', 'no conflict recorded');

# Values an array literal must quote, in bulk: inserted, updated, deleted.
$a->safe_psql('postgres', <<'SQL');
	INSERT INTO scalars SELECT g, g - 32768, g * 100000000000, g / 3.0, g / 7.0, g / 9.0, g % 2 = 0,
		CASE g % 6 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'NULL' WHEN 3 THEN E'q"uo\\te,{brace}'
			WHEN 4 THEN E'multibyte é 日本 🐘 ''x''' ELSE ' spaces ' END,
		left('v,' || g, 10), 'c' || (g % 10), ('\x00ff' || lpad(to_hex(g), 4, '0'))::bytea,
		date '2020-01-01' + g, time '10:00' + g * interval '1 s',
		timestamp '2026-01-01' + g * interval '1 min', timestamptz '2026-01-01 00:00+00' + g * interval '1 h',
		g * interval '1 day 2 hours', md5(g::text)::uuid, ('{"k": [' || g || ', "a,b"]}')::json,
		('{"z": "}' || g || '"}')::jsonb, (ARRAY['sad', 'ok', 'happy'])[1 + g % 3]::mood,
		('10.0.' || g % 250 || '.1')::inet, point(g, -g), CASE WHEN g % 50 = 0 THEN repeat('big', 5000) END
	  FROM generate_series(1, 1200) g;
	INSERT INTO unbatchable SELECT g, ARRAY[g, g + 1], box(point(0, 0), point(g, g)) FROM generate_series(1, 50) g;
SQL
$a->safe_psql('postgres', q{
	UPDATE scalars SET t = t || E' "2"\\\\', f8 = -f8 WHERE id % 2 = 0;
	UPDATE unbatchable SET a = a || 0;
	DELETE FROM scalars WHERE id % 5 = 0;
	DELETE FROM unbatchable WHERE id > 40;
});
ok(converged('values in bulk'), 'quoted values, NULLs, unchanged TOAST and tables that cannot go in bulk arrive');
is(one_by_one_count(), 0, 'still nothing applied one change at a time');

# The same row changed twice in one transaction: a batch cannot count it
# twice, so that transaction goes one change at a time and ends right.
$a->safe_psql('postgres', q{
	BEGIN;
	UPDATE items SET v = 'twice: first' WHERE id = 1;
	UPDATE items SET v = 'twice: second' WHERE id = 1;
	COMMIT;
});
ok(converged('a row changed twice'), 'a row updated twice in one transaction ends with the second value');
is($b->safe_psql('postgres', q{SELECT v FROM items WHERE id = 1}), 'twice: second', 'the second value');
cmp_ok(one_by_one_count(), '>=', 1, 'that transaction went one change at a time');
is($b->safe_psql('postgres', q{SELECT count(*) FROM walbridge.conflicts}), '0', 'and recorded no conflict');

# 2. A conflict in a late message of a multi-message transaction: B wrote
# key 102900 itself, earlier; A's later insert of the same key wins.
$b->safe_psql('postgres', q{INSERT INTO items VALUES (102900, 'written on b first')});
$a->safe_psql('postgres', q{INSERT INTO items SELECT g, 'second ' || g FROM generate_series(100001, 103000) g});
ok(converged('a conflict in a late message'), 'the transaction with a conflict in a late message arrives whole');
cmp_ok(one_by_one_count(), '>=', 1, 'the conflict sent the transaction back to be applied one change at a time');
like($wb->log_contents, qr/retrying node "a" from offset/, 'it was read again from its first message');
is($b->safe_psql('postgres', q{SELECT kind || ' ' || decision || ' ' || (remote_row->>'v') FROM walbridge.conflicts}),
	'insert_exists apply_remote second 102900', 'the conflict is recorded once, with the later write winning');

# 3. A conflict in a one-message transaction: B's local write is later than
# A's, so it stays; the other row of the same transaction is applied.
$wb->stop;
$a->safe_psql('postgres', q{BEGIN; UPDATE items SET v = 'a wrote 5' WHERE id = 5; UPDATE items SET v = 'a wrote 6' WHERE id = 6; COMMIT;});
usleep(20_000);
$b->safe_psql('postgres', q{UPDATE items SET v = 'b wrote 5 later' WHERE id = 5});
my $before = one_by_one_count();
$wb = start_walbridged($b, $broker, log_level => 'debug');
ok($b->poll_query_until('postgres', q{SELECT v = 'a wrote 6' FROM items WHERE id = 6}),
	'the rest of the transaction is applied');
is($b->safe_psql('postgres', q{SELECT v FROM items WHERE id = 5}), 'b wrote 5 later', 'the later local write is kept');
is($b->safe_psql('postgres', q{SELECT decision FROM walbridge.conflicts WHERE kind = 'update_differs'}),
	'keep_local', 'and the conflict recorded');
cmp_ok(one_by_one_count(), '>', $before, 'that transaction too was applied one change at a time');
$b->safe_psql('postgres', q{UPDATE items SET v = 'a wrote 5' WHERE id = 5});

# 4. Identity columns GENERATED ALWAYS keep the peer's values.
$a->safe_psql('postgres', q{
	INSERT INTO gen (v) SELECT 'gen ' || g FROM generate_series(1, 5) g;
	UPDATE gen SET v = 'changed' WHERE id = 2;
	DELETE FROM gen WHERE id = 3;
});
ok(converged('identity GENERATED ALWAYS'), 'a table with an identity column GENERATED ALWAYS syncs');

# 5. A statement that fails while being prepared: its own error is shown,
# not "current transaction is aborted".  The column is renamed on B alone
# (walbridge.bookkeeping: not captured, so no old name is kept for it).
$b->safe_psql('postgres', q{SET walbridge.bookkeeping = on; ALTER TABLE items RENAME COLUMN v TO w});
$a->safe_psql('postgres', q{INSERT INTO items VALUES (200000, 'after the rename')});
ok($b->poll_query_until('postgres', q{SELECT state = 'paused' FROM walbridge.status() WHERE peer = 'a'}),
	'a column renamed on B pauses apply');
my $error = $b->safe_psql('postgres', q{SELECT last_error FROM walbridge.status() WHERE peer = 'a'});
like($error, qr/column "v"/, 'status() names the column');
unlike($error, qr/current transaction is aborted/, 'the real error, not what followed it');
$b->safe_psql('postgres', q{SET walbridge.bookkeeping = on; ALTER TABLE items RENAME COLUMN w TO v});
ok(converged('after the fix'), 'apply resumes after the fix');

$wa->stop;
$wb->stop;
$broker->stop;
done_testing();
