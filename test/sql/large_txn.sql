-- A transaction far larger than logical_decoding_work_mem (64kB in
-- test/logical.conf) spills to disk and still decodes completely.
SET synchronous_commit = on;
SHOW logical_decoding_work_mem;
SELECT 'init' FROM walbridge.create_slot('regression_slot');

CREATE TABLE big (id integer PRIMARY KEY, payload text);
BEGIN;
INSERT INTO big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 20000) g;
UPDATE big SET payload = 'updated' WHERE id % 2 = 0;
DELETE FROM big WHERE id % 10 = 0;
COMMIT;

SELECT r->>'kind' AS kind, count(*), sum((coalesce(r->'new', r->'old')->>0)::bigint) AS id_sum
  FROM (SELECT walbridge.decode(data) AS r
		  FROM pg_logical_slot_get_binary_changes('regression_slot', NULL, NULL)) s
 GROUP BY 1 ORDER BY 1;
SELECT spill_txns > 0 AS spilled FROM pg_stat_replication_slots
 WHERE slot_name = 'regression_slot';

SELECT 'stop' FROM pg_drop_replication_slot('regression_slot');
