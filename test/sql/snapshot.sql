-- walbridge.snapshot_records(): a table's RELATION record, then one
-- SNAPSHOT record per row, in the plugin's own encoding.
CREATE TABLE snap (id integer PRIMARY KEY, v text, f float8, b bytea, gen integer GENERATED ALWAYS AS (id * 2) STORED);
INSERT INTO snap VALUES (1, 'one', 'NaN', '\x00'), (2, NULL, 1.5, NULL);
ALTER TABLE snap DROP COLUMN f;

SELECT walbridge.decode(r) - 'relid' - 'commit_time' FROM walbridge.snapshot_records('snap') AS r;

-- Each row carries when it was committed here (its xmin's commit
-- timestamp), so a node copying it compares it under last writer wins as
-- if it had been streamed; rows of another transaction, another time.
INSERT INTO snap VALUES (3, 'three', NULL);
SELECT (walbridge.decode(r)->'new'->>0)::int AS id,
	   (walbridge.decode(r)->>'commit_time')::timestamptz = pg_xact_commit_timestamp(s.xmin) AS same_time
  FROM walbridge.snapshot_records('snap') AS r
  JOIN snap AS s ON s.id = (walbridge.decode(r)->'new'->>0)::int
 ORDER BY 1;
SELECT count(DISTINCT walbridge.decode(r)->>'commit_time') AS times
  FROM walbridge.snapshot_records('snap') AS r WHERE walbridge.decode(r)->>'kind' = 'snapshot';
DELETE FROM snap WHERE id = 3;

-- Through a cursor, as walbridged reads it: one row per fetch.
BEGIN;
DECLARE c NO SCROLL CURSOR FOR
	SELECT walbridge.decode(r)->>'kind' AS kind, length(r) AS bytes
	  FROM (SELECT walbridge.snapshot_records('snap') AS r) AS s;
FETCH 1 FROM c;
FETCH ALL FROM c;
COMMIT;

-- An empty table still has its RELATION record.
CREATE TABLE snap_empty (id integer PRIMARY KEY);
SELECT walbridge.decode(r)->>'kind' FROM walbridge.snapshot_records('snap_empty') AS r;

-- Not a table; no privilege.
CREATE VIEW snap_view AS SELECT 1 AS x;
SELECT walbridge.snapshot_records('snap_view');
CREATE ROLE snap_nobody;
GRANT USAGE ON SCHEMA walbridge TO snap_nobody;
SET ROLE snap_nobody;
SELECT walbridge.snapshot_records('snap');
RESET ROLE;
REVOKE USAGE ON SCHEMA walbridge FROM snap_nobody;
DROP ROLE snap_nobody;

-- Values stored out of line (TOAST) and compressed inline arrive whole: the
-- copy reads them in its snapshot, where an on-disk pointer is not
-- "unchanged" as it is in decoding.
CREATE TABLE snap_big (id integer PRIMARY KEY, ext text, ext_b bytea, main text, extd text, j jsonb);
ALTER TABLE snap_big ALTER ext SET STORAGE EXTERNAL, ALTER ext_b SET STORAGE EXTERNAL,
	ALTER main SET STORAGE MAIN, ALTER extd SET STORAGE EXTENDED;
INSERT INTO snap_big
SELECT g, string_agg(md5(g::text || i::text), '') , decode(string_agg(md5(i::text || g::text), ''), 'hex'),
	   repeat('compressible ', 1000), repeat('more ', 20000) || g,
	   jsonb_build_object('k', string_agg(md5(i::text), ''))
  FROM generate_series(1, 2) g, generate_series(1, 400) i GROUP BY g;
-- how they are stored: external, external, compressed inline, compressed external
SELECT id, pg_column_size(ext) = octet_length(ext) AS ext_uncompressed,
	   pg_column_size(main) < 1000 AS main_compressed, pg_column_size(extd) < 2000 AS extd_compressed
  FROM snap_big ORDER BY id;
SELECT r->>'kind' AS kind, r->'new'->0 AS id,
	   md5(r->'new'->>1) = md5(b.ext) AS ext, length(r->'new'->>1) AS ext_len,
	   r->'new'->>2 = '\x' || encode(b.ext_b, 'hex') AS ext_b, length(r->'new'->>2) AS ext_b_hex_len,
	   r->'new'->>3 = b.main AS main, r->'new'->>4 = b.extd AS extd, length(r->'new'->>4) AS extd_len,
	   (r->'new'->>5)::jsonb = b.j AS j
  FROM (SELECT walbridge.decode(r) AS r FROM walbridge.snapshot_records('snap_big') AS r) s
  LEFT JOIN snap_big b ON b.id = (s.r->'new'->>0)::integer;

-- A partitioned table is copied as itself: its RELATION (its own relid,
-- name and columns, the key from its partitioned primary key), then the
-- rows of every partition in its column order, whatever the partition's.
CREATE TABLE snap_parts (id integer, at date, label text, big text, PRIMARY KEY (id, at))
	PARTITION BY RANGE (at);
CREATE TABLE snap_parts_2024 PARTITION OF snap_parts FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
-- created on its own, columns in another order and one dropped, then attached
CREATE TABLE snap_parts_2025 (big text, gone integer, label text, at date NOT NULL, id integer NOT NULL);
ALTER TABLE snap_parts_2025 DROP COLUMN gone;
ALTER TABLE snap_parts ATTACH PARTITION snap_parts_2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
-- a partition that is itself partitioned
CREATE TABLE snap_parts_2026 PARTITION OF snap_parts FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')
	PARTITION BY HASH (id);
CREATE TABLE snap_parts_2026_0 PARTITION OF snap_parts_2026 FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE snap_parts_2026_1 PARTITION OF snap_parts_2026 FOR VALUES WITH (MODULUS 2, REMAINDER 1);
ALTER TABLE snap_parts ALTER big SET STORAGE EXTERNAL;
ALTER TABLE snap_parts_2025 ALTER big SET STORAGE EXTERNAL;
INSERT INTO snap_parts VALUES (1, '2024-03-01', 'a', NULL), (2, '2025-03-01', 'b', NULL),
	(3, '2026-03-01', 'c', NULL), (4, '2025-06-01', 'big', repeat('0123456789', 5000)),
	(5, '2026-04-01', 'd', NULL);
SELECT tableoid::regclass, id FROM snap_parts ORDER BY id;
SELECT r->>'kind' AS kind, r->>'table' AS tbl, (r->>'relid')::oid = 'snap_parts'::regclass AS root_relid,
	   r->'columns' AS columns
  FROM (SELECT walbridge.decode(r) AS r FROM walbridge.snapshot_records('snap_parts') AS r) s
 WHERE r->>'kind' = 'relation';
SELECT r->'new'->0 AS id, r->'new'->1 AS at, r->'new'->2 AS label,
	   coalesce(length(r->'new'->>3)::text, 'null') AS big_len, md5(r->'new'->>3) = md5(repeat('0123456789', 5000)) AS big
  FROM (SELECT walbridge.decode(r) AS r FROM walbridge.snapshot_records('snap_parts') AS r) s
 WHERE r->>'kind' = 'snapshot' ORDER BY 1;
-- a partition named directly is copied as itself, in its own column order
SELECT r->>'kind' AS kind, r->>'table' AS tbl, jsonb_path_query_array(r, '$.columns[*].name') AS columns,
	   r->'new' AS new
  FROM (SELECT walbridge.decode(r) AS r FROM walbridge.snapshot_records('snap_parts_2025') AS r) s
 WHERE r->>'kind' = 'relation' OR r->'new'->0 = 'null';
-- an empty partitioned table, and one without partitions
CREATE TABLE snap_parts_none (id integer PRIMARY KEY) PARTITION BY HASH (id);
SELECT walbridge.decode(r)->>'kind' FROM walbridge.snapshot_records('snap_parts_none') AS r;
-- a cursor closed before its end leaves nothing open
BEGIN;
DECLARE c2 NO SCROLL CURSOR FOR SELECT walbridge.decode(walbridge.snapshot_records('snap_parts'))->>'kind';
FETCH 2 FROM c2;
CLOSE c2;
COMMIT;
-- other kinds are refused
CREATE MATERIALIZED VIEW snap_mat AS SELECT 1 AS x;
SELECT walbridge.snapshot_records('snap_mat');
CREATE SEQUENCE snap_seq;
SELECT walbridge.snapshot_records('snap_seq');
