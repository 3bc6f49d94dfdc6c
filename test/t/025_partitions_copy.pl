# The initial copy and the stream of partitioned tables and large values,
# A -> B: A's partitioned tables (one partition with its columns in another
# order, one with a dropped column) arrive as the tables the user named, on
# B unpartitioned or partitioned differently; values stored out of line
# (text, jsonb, bytea over 100 kB) arrive whole in the copy and in the
# stream, and an update that does not touch them leaves them as they are.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WalbridgeTest;

my $broker = start_broker('walbridge.a', 'walbridge.b');
my $a = walbridge_node('parts_a');
my $b = walbridge_node('parts_b');

# measurements: three range partitions on A, one table on B.
# events: range partitions on A, hash partitions on B.
# documents: no partitions; large values stored out of line.
$a->safe_psql('postgres', q{
	CREATE TABLE measurements (id integer, at date, v text, doc jsonb, blob bytea, PRIMARY KEY (id, at))
		PARTITION BY RANGE (at);
	CREATE TABLE m2024 PARTITION OF measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
	CREATE TABLE m2025 (blob bytea, doc jsonb, gone text, v text, at date NOT NULL, id integer NOT NULL);
	ALTER TABLE m2025 DROP COLUMN gone;
	ALTER TABLE measurements ATTACH PARTITION m2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
	CREATE TABLE m2026 PARTITION OF measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
	ALTER TABLE measurements ALTER v SET STORAGE EXTERNAL, ALTER blob SET STORAGE EXTERNAL;
	ALTER TABLE m2025 ALTER v SET STORAGE EXTERNAL, ALTER blob SET STORAGE EXTERNAL;

	CREATE TABLE events (id integer, at date, what text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
	CREATE TABLE events_old PARTITION OF events FOR VALUES FROM (MINVALUE) TO ('2025-01-01');
	CREATE TABLE events_new PARTITION OF events FOR VALUES FROM ('2025-01-01') TO (MAXVALUE);

	CREATE TABLE documents (id integer PRIMARY KEY, title text, body text, doc jsonb, blob bytea);
	ALTER TABLE documents ALTER body SET STORAGE EXTERNAL, ALTER blob SET STORAGE EXTERNAL;
});
$b->safe_psql('postgres', q{
	CREATE TABLE measurements (id integer, at date, v text, doc jsonb, blob bytea, PRIMARY KEY (id, at));
	CREATE TABLE events (id integer, at date, what text, PRIMARY KEY (id, at)) PARTITION BY HASH (id);
	CREATE TABLE events_0 PARTITION OF events FOR VALUES WITH (MODULUS 2, REMAINDER 0);
	CREATE TABLE events_1 PARTITION OF events FOR VALUES WITH (MODULUS 2, REMAINDER 1);
	CREATE TABLE documents (id integer PRIMARY KEY, title text, body text, doc jsonb, blob bytea);
});

# Incompressible large values: md5 chains.  big_text(seed, kB).
$a->safe_psql('postgres', q{
	CREATE FUNCTION big_text(seed integer, kb integer) RETURNS text LANGUAGE sql AS
		$$ SELECT string_agg(md5(seed || ':' || g), '') FROM generate_series(1, kb * 32) g $$;
	INSERT INTO measurements (id, at, v, doc)
		SELECT g, date '2024-01-01' + (g * 7) % 1000, 'row ' || g, jsonb_build_object('g', g)
		  FROM generate_series(1, 300) g;
	INSERT INTO measurements VALUES
		(1000, '2024-06-01', big_text(1, 120), jsonb_build_object('big', big_text(2, 60)), decode(big_text(3, 220), 'hex')),
		(1001, '2025-06-01', big_text(4, 120), jsonb_build_object('big', big_text(5, 60)), decode(big_text(6, 220), 'hex')),
		(1002, '2026-06-01', 'compressed', jsonb_build_object('c', repeat('compressible ', 20000)), NULL);
	INSERT INTO m2025 (id, at, v) VALUES (2000, '2025-02-02', 'straight into m2025');
	INSERT INTO events SELECT g, date '2024-06-01' + g, 'event ' || g FROM generate_series(1, 400) g;
	INSERT INTO documents VALUES
		(1, 'big', big_text(7, 110), jsonb_build_object('k', big_text(8, 40)), decode(big_text(9, 220), 'hex')),
		(2, 'small', 'short', '{}', '\x00');
});
is($a->safe_psql('postgres', q{SELECT count(*) FROM m2024}) > 0
	  && $a->safe_psql('postgres', q{SELECT count(*) FROM m2025}) > 0
	  && $a->safe_psql('postgres', q{SELECT count(*) FROM m2026}) > 0 ? 1 : 0, 1,
	'A has rows in every partition');
is($a->safe_psql('postgres', q{SELECT pg_column_size(doc) < 10000 FROM measurements WHERE id = 1002}), 't',
	'a value compressed in place is there too');

$a->safe_psql('postgres', q{SELECT walbridge.create_node('a'); SELECT walbridge.start_sync('{}');});
$b->safe_psql('postgres', q{SELECT walbridge.create_node('b'); SELECT walbridge.start_sync('{a}');});
my $wa = start_walbridged($a, $broker);
my $wb = start_walbridged($b, $broker);

my @tables = qw(measurements events documents);
ok(tables_converge('initial copy', [ $a, $b ], \@tables, 90),
	'the initial copy of partitioned tables and large values arrives identical');
like($wa->log_contents, qr/initial copy of public\.measurements: 304 rows/,
	'a partitioned table is copied once, with the rows of every partition');
unlike($wa->log_contents, qr/initial copy of public\.m20/, 'its partitions are not copied on their own');
is($b->safe_psql('postgres', q{
	SELECT length(v), md5(v), length(doc->>'big'), length(blob), md5(blob) FROM measurements WHERE id = 1001}),
	$a->safe_psql('postgres', q{
	SELECT length(v), md5(v), length(doc->>'big'), length(blob), md5(blob) FROM measurements WHERE id = 1001}),
	'a row of the partition with another column order keeps its large values');
is($b->safe_psql('postgres', q{SELECT length(body) = 110 * 1024 AND length(blob) = 220 * 512 FROM documents WHERE id = 1}),
	't', 'large values of a plain table arrive whole (not NULL)');
is($b->safe_psql('postgres', q{SELECT count(*) FROM events_0}) > 0
	  && $b->safe_psql('postgres', q{SELECT count(*) FROM events_1}) > 0 ? 1 : 0, 1,
	'on B, rows are routed to its own partitions');

# The stream: inserts through the root and into a partition, updates in
# place and across partitions, deletes.
$a->safe_psql('postgres', q{
	INSERT INTO measurements VALUES (3000, '2026-03-03', big_text(10, 100), '{"new": true}', decode(big_text(11, 110), 'hex'));
	INSERT INTO m2024 (id, at, v) VALUES (3001, '2024-03-03', 'straight into m2024');
	INSERT INTO m2025 (v, at, id, blob) VALUES (big_text(12, 105), '2025-03-03', 3002, decode(big_text(13, 101), 'hex'));
	UPDATE measurements SET doc = '{"touched": "not the big ones"}' WHERE id IN (1000, 1001, 3002);
	UPDATE measurements SET at = '2026-01-15' WHERE id = 1000;				-- 2024 -> 2026, with its large values
	UPDATE measurements SET at = at + 365, v = 'moved a year' WHERE id BETWEEN 1 AND 30;
	UPDATE measurements SET at = at + 1 WHERE id = 3001;					-- a key change within m2024
	UPDATE measurements SET v = big_text(14, 130) WHERE id = 1002;
	DELETE FROM measurements WHERE id BETWEEN 100 AND 120;
	DELETE FROM m2025 WHERE id = 2000;
	UPDATE events SET at = at + 400 WHERE id % 10 = 0;
	DELETE FROM events WHERE id % 7 = 0;
	UPDATE documents SET title = 'big, title changed' WHERE id = 1;
});
ok(tables_converge('stream', [ $a, $b ], \@tables, 90),
	'inserts, updates (across partitions too) and deletes arrive identical');
is($b->safe_psql('postgres', q{SELECT at, md5(v), md5(blob), doc FROM measurements WHERE id = 1000}),
	$a->safe_psql('postgres', q{SELECT at, md5(v), md5(blob), doc FROM measurements WHERE id = 1000}),
	'a row moved across partitions keeps its large values');
is($b->safe_psql('postgres', q{SELECT title, length(body), md5(body), length(blob), md5(blob), md5(doc::text) FROM documents WHERE id = 1}),
	$a->safe_psql('postgres', q{SELECT title, length(body), md5(body), length(blob), md5(blob), md5(doc::text) FROM documents WHERE id = 1}),
	'an update that does not touch the large values leaves them whole');
is($b->safe_psql('postgres', q{SELECT length(v), length(blob) FROM measurements WHERE id = 1001}),
	'122880|112640', '... in a partition with another column order too');
is($b->safe_psql('postgres', q{SELECT count(*) FROM measurements WHERE id = 2000}), '0',
	'a delete from a partition arrives');

# TRUNCATE of the root arrives as the table's.
$a->safe_psql('postgres', q{TRUNCATE events});
ok(tables_converge('truncate', [ $a, $b ], ['events'], 60), 'TRUNCATE of the partitioned table arrives');

# Tombstones: track_deletes on a partitioned table (B tracks its synced
# tables under last_writer_wins; A's measurements here explicitly).
is($b->safe_psql('postgres', q{SELECT string_agg(tbl::text, ',' ORDER BY tbl::text) FROM walbridge.tombstone_tables}),
	'documents,events,measurements', 'start_sync() tracks deletes on B, its partitioned table too');
my ($rc, $out, $err) = $a->psql('postgres', q{SELECT walbridge.track_deletes('measurements')});
is($rc, 0, 'track_deletes() on a partitioned table') or diag $err;
($rc, $out, $err) = $a->psql('postgres', q{DELETE FROM measurements WHERE id BETWEEN 200 AND 205});
is($rc, 0, 'deleting from it (rows in several partitions) works') or diag $err;
my $tomb = $a->safe_psql('postgres', q{SELECT tombstones FROM walbridge.tombstone_tables WHERE tbl = 'measurements'::regclass});
is($tomb ne '' ? $a->safe_psql('postgres', "SELECT count(*) FROM $tomb") : 'no tombstone table', '6',
	'each deleted key is remembered');
ok(tables_converge('deletes with tombstones', [ $a, $b ], ['measurements'], 60), 'and the deletes arrive');

is($wa->stop, 0, 'A stops cleanly');
is($wb->stop, 0, 'B stops cleanly');
$broker->stop;
done_testing();
