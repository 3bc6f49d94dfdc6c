-- Origins: a transaction replayed under a replication origin carries the
-- origin's name and LSN; only_local drops it, so what walbridge applied is
-- never published again.  Changes without an origin are always kept.
SET synchronous_commit = on;
SELECT 'init' FROM walbridge.create_slot('regression_slot');
CREATE TABLE orig (id integer PRIMARY KEY, v text);

INSERT INTO orig VALUES (1, 'local before');

SELECT 'origin' FROM pg_replication_origin_create('x');
SELECT 'setup' FROM pg_replication_origin_session_setup('x');
BEGIN;
SELECT 'xact' FROM pg_replication_origin_xact_setup('0/ABCDEF', '2026-01-02 03:04:05+00');
INSERT INTO orig VALUES (2, 'from origin x');
SELECT 'msg' FROM pg_logical_emit_message(true, 'p', 'from origin x');
COMMIT;
SELECT 'reset' FROM pg_replication_origin_session_reset();

INSERT INTO orig VALUES (3, 'local after');

-- Everything, with the origin named and its LSN given.
SELECT r->>'kind' AS kind, r->'origin' AS origin, r->'origin_lsn' AS origin_lsn,
	   r->'new' AS new
  FROM (SELECT walbridge.decode(data) AS r
		  FROM pg_logical_slot_peek_binary_changes('regression_slot', NULL, NULL)) s
 WHERE r->>'kind' IN ('begin', 'insert', 'message');

-- The same slot with only_local: the origin's transaction is gone.
SELECT r->>'kind' AS kind, r->'origin' AS origin, r->'new' AS new
  FROM (SELECT walbridge.decode(data) AS r
		  FROM pg_logical_slot_peek_binary_changes('regression_slot', NULL, NULL,
												   'only_local', 'true')) s
 WHERE r->>'kind' IN ('begin', 'insert', 'message');

SELECT count(*) AS records_all
  FROM pg_logical_slot_peek_binary_changes('regression_slot', NULL, NULL, 'only_local', 'false');

SELECT 'stop' FROM pg_drop_replication_slot('regression_slot');
SELECT pg_replication_origin_drop('x');
