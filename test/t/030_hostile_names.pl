# Names that need quoting (mixed case, spaces, quotes, multibyte
# characters, reserved words, dots and semicolons) sync both ways, in bulk
# and one change at a time; values that look like SQL stay values.
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

my $schema = <<'SQL';
CREATE SCHEMA "Mixed Schema";
CREATE TABLE "Mixed Schema"."Order Items" (
	"Id" integer PRIMARY KEY,
	"select" text,
	"quo""ted" text,
	"naïve 日本 🐘" text,
	"with space" integer,
	"semi;colon.dot" text,
	"tags" text[]);
CREATE TABLE public."user" ("from" integer, "to" text, "Where" integer, PRIMARY KEY ("from", "Where"));
CREATE TABLE "Ünïcode_テーブル" ("ключ" bigint PRIMARY KEY, "值" text);
SQL
$a->safe_psql('postgres', $schema);
$b->safe_psql('postgres', $schema);

$a->safe_psql('postgres', q{SELECT walbridge.create_node('a'); SELECT walbridge.start_sync('{b}');});
$b->safe_psql('postgres', q{SELECT walbridge.create_node('b'); SELECT walbridge.start_sync('{a}');});
my $wa = start_walbridged($a, $broker);
my $wb = start_walbridged($b, $broker);

my @tables = ('"Mixed Schema"."Order Items"', 'public."user"', '"Ünïcode_テーブル"');

sub converged
{
	my ($what) = @_;
	return tables_converge($what, [ $a, $b ], \@tables);
}

ok($wa->wait_for_log(qr/streaming slot "walbridge_a" \(3 tables\)/),
	'start_sync with tables => NULL publishes every table with a primary key');

# On A, in bulk: many rows per transaction.  Values that look like SQL.
$a->safe_psql('postgres', <<'SQL');
INSERT INTO "Mixed Schema"."Order Items"
SELECT g, 'x''); DROP TABLE public."user"; --', E'back\\slash "quote" $1 $$', 'é 日本 🐘 ' || g, g,
	CASE WHEN g % 2 = 0 THEN NULL ELSE 'a;b.c' END, ARRAY['{', '}', ',', 'NULL', NULL]
  FROM generate_series(1, 300) g;
INSERT INTO public."user" SELECT g, 'to ' || g, -g FROM generate_series(1, 300) g;
INSERT INTO "Ünïcode_テーブル" SELECT g, repeat('値', g % 7) FROM generate_series(1, 300) g;
SQL
ok(converged('bulk from A'), 'tables and columns that need quoting arrive on B, in bulk');

# On B, one at a time (separate transactions), and a key change.
$b->safe_psql('postgres', <<'SQL');
UPDATE "Mixed Schema"."Order Items" SET "select" = 'changed on b' WHERE "Id" = 7;
UPDATE public."user" SET "to" = 'moved', "from" = 1000 WHERE "from" = 8 AND "Where" = -8;
DELETE FROM "Ünïcode_テーブル" WHERE "ключ" = 9;
UPDATE "Mixed Schema"."Order Items" SET "quo""ted" = $$it's "fine"$$ WHERE "Id" BETWEEN 20 AND 40;
SQL
ok(converged('changes from B'), 'updates, a key change and a delete come back to A');

# A conflict on such a table goes one change at a time, and is recorded.
$wb->stop;
$a->safe_psql('postgres', q{UPDATE "Mixed Schema"."Order Items" SET "with space" = -1 WHERE "Id" = 1});
usleep(20_000);
$b->safe_psql('postgres', q{UPDATE "Mixed Schema"."Order Items" SET "with space" = -2 WHERE "Id" = 1});
$wb = start_walbridged($b, $broker);
ok(converged('after a conflict'), 'a conflict on a quoted table converges');
is($a->safe_psql('postgres', q{SELECT "with space" FROM "Mixed Schema"."Order Items" WHERE "Id" = 1}), '-2',
	'the later write won on both');
# the tables agree once b's later write reached a; b records the conflict
# when a's older one reaches it, a moment later
$b->poll_query_until('postgres', q{SELECT count(*) > 0 FROM walbridge.conflicts});
like($b->safe_psql('postgres', q{SELECT table_name || ' ' || kind FROM walbridge.conflicts}),
	qr/^Mixed Schema\.Order Items update_differs$/m, 'the conflict names the table');

is($a->safe_psql('postgres', q{SELECT count(*) FROM public."user"}), '300', 'nothing was dropped by a value');

# An explicit table list with such names: only those are published.
$a->safe_psql('postgres', q{SELECT walbridge.start_sync('{b}',
	tables => ARRAY['"Mixed Schema"."Order Items"', '"Ünïcode_テーブル"']::regclass[])});
ok($wa->wait_for_log(qr/streaming slot "walbridge_a" \(2 tables\)/), 'A follows the new table list');
$a->safe_psql('postgres', q{
	INSERT INTO "Mixed Schema"."Order Items" ("Id", "select") VALUES (1000, 'listed');
	INSERT INTO public."user" VALUES (5000, 'not listed', 0);
	INSERT INTO "Ünïcode_テーブル" VALUES (1000, 'listed');
});
ok($b->poll_query_until('postgres', q{SELECT count(*) = 2 FROM (
	SELECT 1 FROM "Mixed Schema"."Order Items" WHERE "Id" = 1000 UNION ALL
	SELECT 1 FROM "Ünïcode_テーブル" WHERE "ключ" = 1000) s}), 'the listed tables arrive');
is($b->safe_psql('postgres', q{SELECT count(*) FROM public."user" WHERE "from" = 5000}), '0',
	'the table left out is not published');

$wa->stop;
$wb->stop;
$broker->stop;
done_testing();
