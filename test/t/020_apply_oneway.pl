# One-way sync A -> B through Kafka: B starts empty while A has rows
# (initial copy), then a mixed workload over tables with foreign keys and
# every type family arrives identical; nothing loops back; stop_sync and
# start_sync on B; bad input pauses B's apply with the error in status()
# until it is fixed or skipped.
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
	CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
	CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, since date);
	CREATE TABLE orders (id bigint PRIMARY KEY, customer_id integer REFERENCES customers,
		total numeric(12,2), placed timestamptz, note text);
	CREATE TABLE kinds (id integer PRIMARY KEY,
		i2 smallint, i8 bigint, f4 real, f8 double precision, n numeric, b boolean,
		t text, vc varchar(10), ch char(3), by bytea, d date, tm time, ts timestamp, tz timestamptz,
		iv interval, u uuid, j json, jb jsonb, ia integer[], ta text[], m mood, inet inet, big text);
	ALTER TABLE kinds ALTER big SET STORAGE EXTERNAL;
};
$a->safe_psql('postgres', $schema);
$b->safe_psql('postgres', $schema);

# A already has rows: B must get them from the initial copy.
$a->safe_psql('postgres', q{
	INSERT INTO customers SELECT g, 'customer ' || g, date '2020-01-01' + g FROM generate_series(1, 300) g;
	INSERT INTO orders SELECT g, 1 + g % 300, g * 1.25, timestamptz '2026-01-01 00:00+00' + g * interval '1 hour', NULL
	  FROM generate_series(1, 1000) g;
});

# ddl => false: this test makes the nodes' schemas differ on purpose, to see
# apply pause on what is missing here (046 has the schema changes)
$a->safe_psql('postgres', q{SELECT walbridge.create_node('a'); SELECT walbridge.start_sync('{}', ddl => false);});
$b->safe_psql('postgres', q{SELECT walbridge.create_node('b'); SELECT walbridge.start_sync('{a}');});
my $wa = start_walbridged($a, $broker);
my $wb = start_walbridged($b, $broker);

sub converged
{
	my ($what, $timeout) = @_;
	my @tables = qw(customers orders kinds);
	push @tables, 'extra' if $b->safe_psql('postgres', q{SELECT to_regclass('extra') IS NOT NULL}) eq 't';
	for (1 .. ($timeout // 60) * 10)
	{
		return 1 unless grep { table_text($a, $_) ne table_text($b, $_) } @tables;
		usleep(100_000);
	}
	for my $t (@tables)
	{
		is(table_text($b, $t), table_text($a, $t), "$what: $t identical");
	}
	return 0;
}

ok(converged('initial copy'), 'B equals A after start_sync: the initial copy arrived');

# A mixed workload on A.
$a->safe_psql('postgres', q{
	INSERT INTO kinds VALUES (1, -32768, 9223372036854775807, 'NaN', '-Infinity', 'NaN', true,
		E'multibyte é 日本 🐘 and ''quotes'' \\ tab\t', 'short', 'ab', '\x00ff00', '4713-01-01 BC', '24:00',
		'infinity', '294276-12-31 23:59:59.999999+00', '1 year 2 mons -3 days 04:05:06.789',
		'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, null]}', '{"k": {"z": 1.50}}',
		'{1,NULL,3}', '{"x y",NULL}', 'happy', '10.0.0.1/8', repeat('big', 10000));
	INSERT INTO kinds (id) VALUES (2);
	INSERT INTO kinds VALUES (3, 0, -9223372036854775808, 1.17549435e-38, 2.2250738585072014e-308,
		'1e-300', false, '', '', '   ', '\x', '2000-02-29', '00:00', '-infinity', '1999-12-31 23:59:59.999999-12',
		'-178000000 years', '00000000-0000-0000-0000-000000000000', '[]', 'null', '{}', '{}', 'sad',
		'::1', 'small');
	UPDATE kinds SET t = 'changed, big untouched' WHERE id = 1;
	UPDATE customers SET name = 'renamed' WHERE id <= 10;
	UPDATE customers SET id = 1000 WHERE id = 300 AND NOT EXISTS (SELECT 1 FROM orders WHERE customer_id = 300);
	DELETE FROM orders WHERE id % 7 = 0;
	BEGIN; INSERT INTO customers VALUES (2000, 'rolled back'); ROLLBACK;
	BEGIN;
	INSERT INTO customers SELECT g, 'bulk ' || g, NULL FROM generate_series(3000, 8000) g;
	INSERT INTO orders SELECT 10000 + g, g, g, now(), repeat('n', 100) FROM generate_series(3000, 8000) g;
	COMMIT;
	UPDATE orders SET total = total * 2 WHERE id > 10000;
});
ok(converged('mixed workload'), 'after a mixed workload B equals A, whole tables compared');
is($b->safe_psql('postgres', q{SELECT length(big) FROM kinds WHERE id = 1}), '30000',
	'an unchanged TOASTed value is left as it is, never NULLed');

# Loop-free: B applied under origin walbridge_a, so B publishes none of it.
my $b_txns = topic_transactions(dump_topic($broker, 'walbridge.b'));
is(scalar(@$b_txns), 0, 'nothing B applied comes back into its own topic');
is($b->safe_psql('postgres', q{SELECT state FROM walbridge.status() WHERE peer = 'a'}), 'running',
	'status() shows applying a as running');
cmp_ok($b->safe_psql('postgres', q{SELECT kafka_offset FROM walbridge.status() WHERE peer = 'a'}), '>', 0,
	'status() shows the Kafka offset applied');

# TRUNCATE travels too.
$a->safe_psql('postgres', q{TRUNCATE orders});
ok(converged('truncate'), 'TRUNCATE applied');

# stop_sync on B: A's writes wait in Kafka, then arrive after start_sync.
$b->safe_psql('postgres', q{SELECT walbridge.stop_sync()});
ok($wb->wait_for_log(qr/sync is stopped/), 'B\'s walbridged follows stop_sync within a second');
$a->safe_psql('postgres', q{INSERT INTO orders SELECT g, 1, g, now(), 'while B stopped' FROM generate_series(1, 50) g});
sleep 1;
is($b->safe_psql('postgres', q{SELECT count(*) FROM orders}), '0', 'nothing is applied while stopped');
$b->safe_psql('postgres', q{SELECT walbridge.start_sync('{a}')});
ok(converged('stop, write, start'), 'writes made while B was stopped arrive after start_sync');

# Bad input: a column missing on B pauses apply at that transaction.
$a->safe_psql('postgres', q{ALTER TABLE orders ADD COLUMN channel text});
$a->safe_psql('postgres', q{INSERT INTO orders VALUES (500, 1, 5, now(), 'needs a new column', 'web')});
$a->safe_psql('postgres', q{INSERT INTO customers VALUES (9999, 'after the bad one', NULL)});
ok($b->poll_query_until('postgres', q{SELECT state = 'paused' FROM walbridge.status() WHERE peer = 'a'}),
	'apply pauses');
like($b->safe_psql('postgres', q{SELECT last_error FROM walbridge.status() WHERE peer = 'a'}),
	qr/column "channel" of table public\.orders does not exist on this node/, 'status() names the problem');
like($wb->log_contents, qr/applying node "a" paused at topic walbridge\.a offset \d+/,
	'the log names topic and offset');
is($b->safe_psql('postgres', q{SELECT count(*) FROM customers WHERE id = 9999}), '0',
	'nothing after it is applied');
$b->safe_psql('postgres', q{ALTER TABLE orders ADD COLUMN channel text});
ok(converged('after the fix', 30), 'after the fix apply resumes by itself and B equals A');
is($b->safe_psql('postgres', q{SELECT state FROM walbridge.status() WHERE peer = 'a'}), 'running',
	'status() is running again');

# Garbage in A's topic: paused with the offset named; skip() passes it.
my ($out, $err);
IPC::Run::run([ 'kcat', '-b', $broker->bootstraps, '-t', 'walbridge.a', '-p', '0', '-P',
	  '-H', 'wb.kind=txn', '-H', 'wb.format=1', '-H', 'wb.xid=1', '-H', 'wb.commit_lsn=FFFF/0',
	  '-H', 'wb.commit_time=0', '-H', 'wb.chunk=0', '-H', 'wb.last=1' ],
	'<', \"not msgpack at all", '>', \$out, '2>', \$err);
ok($b->poll_query_until('postgres', q{SELECT state = 'paused' FROM walbridge.status() WHERE peer = 'a'}),
	'a message that does not decode pauses apply');
like($b->safe_psql('postgres', q{SELECT last_error FROM walbridge.status() WHERE peer = 'a'}),
	qr/does not decode/, 'status() says the message does not decode');
my $skipped = $b->safe_psql('postgres', q{SELECT walbridge.skip('a')});
$a->safe_psql('postgres', q{INSERT INTO customers VALUES (10000, 'after the skip', NULL)});
ok(converged('after skip', 30), 'skip() passes over it and apply goes on');
is($b->safe_psql('postgres', q{SELECT count(*) FROM walbridge.skipped WHERE peer = 'a'}), '1',
	'what was skipped is recorded');

# A table missing on B: paused until it is created.
$a->safe_psql('postgres', q{CREATE TABLE extra (id integer PRIMARY KEY, label varchar(20))});
$a->safe_psql('postgres', q{SELECT walbridge.start_sync('{}', ddl => false)});	# settings changed: walbridged follows
ok($wa->wait_for_log(qr/sync settings changed/), 'A follows start_sync again within a second');
sleep 1;
$a->safe_psql('postgres', q{INSERT INTO extra VALUES (1, 'toolong for B')});
ok($b->poll_query_until('postgres',
		q{SELECT last_error LIKE '%table public.extra does not exist on this node%' FROM walbridge.status() WHERE peer = 'a'}),
	'a table missing here pauses apply, named in status()');
$b->safe_psql('postgres', q{CREATE TABLE extra (id integer PRIMARY KEY, label varchar(5))});

# ...then a value the column rejects (too long for varchar(5)): paused too.
ok($b->poll_query_until('postgres',
		q{SELECT last_error LIKE '%value too long for type character varying(5)%' FROM walbridge.status() WHERE peer = 'a'}),
	'a value the column rejects pauses apply, with PostgreSQL\'s error');
$b->safe_psql('postgres', q{ALTER TABLE extra ALTER label TYPE varchar(20)});
ok($b->poll_query_until('postgres', q{SELECT label = 'toolong for B' FROM extra WHERE id = 1}),
	'after the fix the row arrives by itself');

# An UPDATE whose row is missing here becomes an insert; if a writer here
# (or another peer's applier) makes that key between apply's look and its
# insert, the update is applied to that row, not a pause on the primary key.
# The writer is a trigger firing just before apply's insert.
$a->safe_psql('postgres', q{INSERT INTO extra VALUES (2, 'two')});
ok($b->poll_query_until('postgres', q{SELECT count(*) = 1 FROM extra WHERE id = 2}), 'row 2 arrived');
$b->safe_psql('postgres', q{
	DELETE FROM extra WHERE id = 2;
	CREATE FUNCTION public.extra_taken() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		IF pg_trigger_depth() = 1 THEN
			INSERT INTO public.extra VALUES (NEW.id, 'made here meanwhile');
		END IF;
		RETURN NEW;
	END $$;
	CREATE TRIGGER extra_taken BEFORE INSERT ON extra FOR EACH ROW EXECUTE FUNCTION public.extra_taken();
	ALTER TABLE extra ENABLE ALWAYS TRIGGER extra_taken;});
my $b_log_before = length($wb->log_contents);
$a->safe_psql('postgres', q{UPDATE extra SET label = 'updated on A' WHERE id = 2});
ok($b->poll_query_until('postgres', q{SELECT label = 'updated on A' FROM extra WHERE id = 2}),
	'the update is applied to the row made meanwhile');
unlike(substr($wb->log_contents, $b_log_before), qr/paused/, 'without a pause');
$b->safe_psql('postgres', q{DROP TRIGGER extra_taken ON extra; DROP FUNCTION public.extra_taken()});

is($wa->stop, 0, 'A stops cleanly');
is($wb->stop, 0, 'B stops cleanly');
$broker->stop;
done_testing();
