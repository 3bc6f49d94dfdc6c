-- A partitioned table is published as itself, whichever partition a row is
-- in (like publish_via_partition_root): the RELATION and every change carry
-- the root's relid, name and columns, rows converted to its column order.
SET synchronous_commit = on;
SELECT 'init' FROM walbridge.create_slot('regression_slot');

CREATE TABLE measurements (id integer, at date, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE m2024 PARTITION OF measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
-- created on its own, columns in another order and one dropped, then attached
CREATE TABLE m2025 (v text, junk integer, at date NOT NULL, id integer NOT NULL);
ALTER TABLE m2025 DROP COLUMN junk;
ALTER TABLE measurements ATTACH PARTITION m2025 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
-- partitions of a partition
CREATE TABLE m2026 PARTITION OF measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')
	PARTITION BY HASH (id);
CREATE TABLE m2026_0 PARTITION OF m2026 FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE m2026_1 PARTITION OF m2026 FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE unrelated (id integer PRIMARY KEY);

INSERT INTO measurements VALUES (1, '2024-02-01', 'root 2024'), (2, '2025-02-01', 'root 2025'),
	(3, '2026-02-01', 'root 2026'), (4, '2026-03-01', 'root 2026 too');
INSERT INTO m2025 (id, at, v) VALUES (5, '2025-05-01', 'straight into m2025');
INSERT INTO unrelated VALUES (1);
UPDATE measurements SET v = 'updated in place' WHERE id = 2;
UPDATE measurements SET at = '2025-07-01', v = 'moved 2024 -> 2025' WHERE id = 1;	-- DELETE + INSERT
UPDATE measurements SET at = '2026-07-01', v = 'moved 2025 -> 2026' WHERE id = 5;
DELETE FROM measurements WHERE id = 3;
DELETE FROM m2025 WHERE id = 2;

-- peek: every query below reads the same changes with other options
CREATE FUNCTION part_records(VARIADIC options text[])
RETURNS TABLE (kind text, tbl text, r jsonb) LANGUAGE sql AS $$
	SELECT r->>'kind',
		   coalesce((r->>'relid')::oid::regclass::text,
					(SELECT string_agg(x::oid::regclass::text, ', ')
					   FROM jsonb_array_elements_text(r->'relids') x)),
		   CASE r->>'kind' WHEN 'relation' THEN r - 'relid' - 'kind' - 'schema' - 'table'
				ELSE r - 'relid' - 'kind' - 'relids' END
	  FROM (SELECT walbridge.decode(data) AS r
			  FROM pg_logical_slot_peek_binary_changes('regression_slot', NULL, NULL,
													   VARIADIC options)) s
	 WHERE r->>'kind' NOT IN ('begin', 'commit');
$$;

-- the RELATION is the root's (key from its partitioned primary key), every
-- change is the root's; the moved rows are a delete and an insert
SELECT * FROM part_records('include_tables', 'public.measurements');

-- the text and json formats take the same path
SELECT regexp_replace(data, 'relid \d+', 'relid ...') AS data
  FROM pg_logical_slot_peek_changes('regression_slot', NULL, NULL,
	'format', 'text', 'include_tables', 'public.measurements')
 WHERE data NOT LIKE 'BEGIN%' AND data NOT LIKE 'COMMIT%';
SELECT data::jsonb - 'relid' AS data FROM pg_logical_slot_peek_changes('regression_slot', NULL, NULL,
	'format', 'json', 'include_tables', 'public.measurements')
 WHERE data::jsonb->>'kind' IN ('update', 'delete');

-- a partition selected on its own, with its root not selected, is published
-- as itself, in its own column order
SELECT * FROM part_records('include_tables', 'public.m2025');
-- the topmost selected wins: a partition of a partition under the root
SELECT kind, tbl FROM part_records('include_tables', 'public.m2026, public.measurements');
SELECT kind, tbl FROM part_records('include_tables', 'public.m2026');
-- every table: partitions go as their root
SELECT kind, tbl FROM part_records(VARIADIC '{}');
-- exclude_tables wins, for a partitioned table as a whole
SELECT kind, tbl FROM part_records('exclude_tables', 'public.measurements');
SELECT kind, tbl FROM part_records('include_tables', 'public.m2024, public.measurements', 'exclude_tables', 'public.m2026');
SELECT 'consumed' FROM (SELECT count(*) FROM pg_logical_slot_get_binary_changes('regression_slot', NULL, NULL)) s;

-- TRUNCATE: a partition truncated on its own is not sent (the mirror may
-- partition differently); TRUNCATE of the root is sent as the root
TRUNCATE m2024;
TRUNCATE measurements;
SELECT * FROM part_records('include_tables', 'public.measurements');
-- what decoding gets for the root's: the root, every partitioned table and
-- every leaf below it; partitions selected on their own are sent (m2026_0
-- and m2026_1 as m2026, their topmost selected ancestor)
SELECT kind, tbl FROM part_records('include_tables', 'public.m2024, public.m2025, public.m2026, public.m2026_0, public.m2026_1')
 WHERE kind = 'truncate';
SELECT kind, tbl FROM part_records('include_tables', 'public.m2024');
SELECT 'consumed' FROM (SELECT count(*) FROM pg_logical_slot_get_binary_changes('regression_slot', NULL, NULL)) s;

-- The root changes: a new RELATION, and partitions follow it, whatever
-- their own layout; a partition attached or detached within the stream
INSERT INTO measurements VALUES (10, '2025-01-10', 'before');
ALTER TABLE measurements ADD COLUMN extra integer;
INSERT INTO measurements VALUES (11, '2025-01-11', 'after', 42);
CREATE TABLE m2027 (extra integer, id integer NOT NULL, at date NOT NULL, v text);
INSERT INTO m2027 VALUES (1, 12, '2027-01-12', 'before attach');
ALTER TABLE measurements ATTACH PARTITION m2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
INSERT INTO m2027 VALUES (2, 13, '2027-01-13', 'after attach');
ALTER TABLE measurements DETACH PARTITION m2025;
INSERT INTO m2025 VALUES ('after detach', '2025-01-14', 14, 3);
UPDATE measurements SET extra = 7 WHERE id = 13;
SELECT kind, tbl, CASE WHEN kind = 'relation' THEN jsonb_path_query_array(r, '$.columns[*].name') ELSE r END
  FROM part_records('include_tables', 'public.measurements');

-- Replica identity: the old tuple holds what the partition logged, in the
-- root's columns
ALTER TABLE m2027 REPLICA IDENTITY FULL;
INSERT INTO measurements VALUES (15, '2024-05-05', 'short-lived', 0);
DELETE FROM measurements WHERE id = 13;		-- m2027: full
DELETE FROM measurements WHERE id = 15;		-- m2024: the key
SELECT kind, tbl, r FROM part_records('include_tables', 'public.measurements') WHERE kind = 'delete';

SELECT 'stop' FROM pg_drop_replication_slot('regression_slot');
