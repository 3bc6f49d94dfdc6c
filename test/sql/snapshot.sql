-- walbridge.snapshot_records(): a table's RELATION record, then one
-- SNAPSHOT record per row, in the plugin's own encoding.
CREATE TABLE snap (id integer PRIMARY KEY, v text, f float8, b bytea, gen integer GENERATED ALWAYS AS (id * 2) STORED);
INSERT INTO snap VALUES (1, 'one', 'NaN', '\x00'), (2, NULL, 1.5, NULL);
ALTER TABLE snap DROP COLUMN f;

SELECT walbridge.decode(r) - 'relid' FROM walbridge.snapshot_records('snap') AS r;

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
