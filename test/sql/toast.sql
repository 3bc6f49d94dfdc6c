-- An UPDATE that leaves a TOASTed column alone does not log it: the record
-- marks it unchanged, never NULL and never mistaken for NULL.  Under
-- REPLICA IDENTITY FULL the old row carries the value, and the record
-- carries it whole in the new row too.
SET synchronous_commit = on;
SELECT 'init' FROM walbridge.create_slot('regression_slot');

CREATE TABLE toasted (id integer PRIMARY KEY, small text, big text, nothing text);
ALTER TABLE toasted ALTER big SET STORAGE EXTERNAL;
CREATE TABLE toasted_full (id integer PRIMARY KEY, big text);
ALTER TABLE toasted_full ALTER big SET STORAGE EXTERNAL;
ALTER TABLE toasted_full REPLICA IDENTITY FULL;

INSERT INTO toasted VALUES (1, 'a', repeat('x', 100000), NULL);
UPDATE toasted SET small = 'b';						-- big untouched
UPDATE toasted SET big = repeat('y', 90000);		-- big rewritten
UPDATE toasted SET nothing = 'still null before';	-- big untouched again
INSERT INTO toasted_full VALUES (1, repeat('z', 70000));
UPDATE toasted_full SET id = 2;						-- old row in full, new row whole

SELECT r->>'kind' AS kind, (r->>'relid')::oid::regclass AS tbl,
	   CASE WHEN jsonb_typeof(r->'new'->2) = 'string' THEN length(r->'new'->>2)::text
			ELSE (r->'new'->2)::text END AS new_big,
	   r->'new'->3 AS new_nothing,
	   CASE WHEN jsonb_typeof(r->'old'->1) = 'string' THEN length(r->'old'->>1)::text
			ELSE (r->'old'->1)::text END AS old_big,
	   CASE WHEN jsonb_typeof(r->'new'->1) = 'string' AND (r->>'relid')::oid = 'toasted_full'::regclass
			THEN length(r->'new'->>1)::text ELSE (r->'new'->1)::text END AS new_1
  FROM (SELECT walbridge.decode(data) AS r
		  FROM pg_logical_slot_get_binary_changes('regression_slot', NULL, NULL)) s
 WHERE r->>'kind' IN ('insert', 'update');

-- full_old_updates off (walbridged's setting): under FULL, an UPDATE that
-- keeps its primary key carries no old row (the new one holds every value,
-- the untouched large one included); one that changes the key still does,
-- and so does a DELETE.
UPDATE toasted_full SET id = 3;						-- key changed: old row
INSERT INTO toasted_full VALUES (4, repeat('w', 60000));
ALTER TABLE toasted_full ADD COLUMN note text;
UPDATE toasted_full SET note = 'untouched big' WHERE id = 4;	-- key kept: no old row
DELETE FROM toasted_full WHERE id = 4;
SELECT r->>'kind' AS kind, r->>'old_kind' AS old_kind,
	   CASE WHEN jsonb_typeof(r->'old') = 'array' THEN jsonb_array_length(r->'old') END AS old_values,
	   CASE WHEN jsonb_typeof(r->'new'->1) = 'string' THEN length(r->'new'->>1)::text
			ELSE (r->'new'->1)::text END AS new_big
  FROM (SELECT walbridge.decode(data) AS r
		  FROM pg_logical_slot_get_binary_changes('regression_slot', NULL, NULL, 'full_old_updates', 'off')) s
 WHERE r->>'kind' IN ('update', 'delete');

SELECT 'stop' FROM pg_drop_replication_slot('regression_slot');
