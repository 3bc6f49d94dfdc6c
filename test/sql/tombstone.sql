-- Tombstones: track_deletes() remembers deleted keys, with the deleting
-- transaction as the tombstone's xmin; purge_tombstones() drops those no
-- peer can still need.
\set VERBOSITY terse
CREATE TABLE tracked (a integer, b text COLLATE "C", v text, PRIMARY KEY (a, b));
CREATE TABLE untracked (id integer PRIMARY KEY);
CREATE TABLE tomb_keyless (x integer);
INSERT INTO tracked SELECT i, 'k' || i, 'v' FROM generate_series(1, 5) AS i;

SELECT walbridge.track_deletes('tomb_keyless');
SELECT walbridge.track_deletes('tracked') = walbridge.track_deletes('tracked') AS once;
SELECT tbl, tombstones::text ~ '^walbridge\.tombstones_\d+$' AS named
  FROM walbridge.tombstone_tables;
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attcollation::regcollation, a.attnotnull
  FROM walbridge.tombstone_tables t JOIN pg_attribute a ON a.attrelid = t.tombstones AND a.attnum > 0
 ORDER BY a.attnum;

-- a delete leaves the key; an update that keeps the key does not; a key change leaves the old key
DELETE FROM tracked WHERE a = 1;
UPDATE tracked SET v = 'w' WHERE a = 2;
UPDATE tracked SET a = a, b = b, v = 'x' WHERE a = 2;		-- as apply does: the key set to itself
UPDATE tracked SET b = 'changed' WHERE a = 3;
CREATE FUNCTION tombstones() RETURNS TABLE (a integer, b text, same_txn_as_delete boolean)
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format('SELECT a, b, xmin = pg_current_xact_id()::xid FROM %s ORDER BY a',
		(SELECT t.tombstones FROM walbridge.tombstone_tables t WHERE t.tbl = 'tracked'::regclass));
END $$;
SELECT a, b FROM tombstones();

-- deleted again: the tombstone takes the newer transaction
BEGIN;
INSERT INTO tracked VALUES (1, 'k1', 'back');
DELETE FROM tracked WHERE a = 1;
SELECT * FROM tombstones() WHERE a = 1;
COMMIT;

-- whoever may delete a row records its tombstone, with no privilege on walbridge's tables
CREATE ROLE tomb_writer;
GRANT SELECT, DELETE ON tracked TO tomb_writer;
SET ROLE tomb_writer;
DELETE FROM tracked WHERE a = 4;
RESET ROLE;
SELECT a, b FROM tombstones();

-- also with session_replication_role = replica (the trigger is ENABLE ALWAYS)
SET session_replication_role = replica;
DELETE FROM tracked WHERE a = 5;
RESET session_replication_role;
SELECT a, b FROM tombstones();

-- called otherwise, it says how it is meant to be used
SELECT walbridge.record_tombstone();
CREATE TRIGGER misused BEFORE DELETE ON untracked FOR EACH ROW EXECUTE FUNCTION walbridge.record_tombstone();
INSERT INTO untracked VALUES (1);
DELETE FROM untracked;
DROP TRIGGER misused ON untracked;

-- a partitioned table: the delete trigger is per row, so that it is cloned
-- onto every partition (one with its own column numbers, one attached
-- later) and sees deletes from a partition itself and rows an update moves
CREATE TABLE tomb_parts (a integer PRIMARY KEY, b text) PARTITION BY RANGE (a);
CREATE TABLE tomb_parts_1 PARTITION OF tomb_parts FOR VALUES FROM (0) TO (100);
CREATE TABLE tomb_parts_2 (gone integer, b text, a integer NOT NULL);
ALTER TABLE tomb_parts_2 DROP COLUMN gone;
ALTER TABLE tomb_parts ATTACH PARTITION tomb_parts_2 FOR VALUES FROM (100) TO (200);
SELECT walbridge.track_deletes('tomb_parts') IS NOT NULL AS tracked;
CREATE TABLE tomb_parts_3 PARTITION OF tomb_parts FOR VALUES FROM (200) TO (300);
SELECT tgrelid::regclass, tgname, tgenabled, tgparentid <> 0 AS cloned
  FROM pg_trigger WHERE tgrelid::regclass::text LIKE 'tomb_parts%' ORDER BY tgrelid::regclass::text COLLATE "C", tgname;
INSERT INTO tomb_parts SELECT i, 'v' FROM unnest('{1, 2, 3, 4, 101, 102, 103, 201}'::integer[]) AS i;
UPDATE tomb_parts SET a = 11 WHERE a = 1;		-- a key change in tomb_parts_1
UPDATE tomb_parts SET a = 111 WHERE a = 101;	-- in tomb_parts_2, other column numbers
UPDATE tomb_parts SET a = 211 WHERE a = 201;	-- in tomb_parts_3, attached later
UPDATE tomb_parts SET a = 150 WHERE a = 2;		-- moved to another partition
DELETE FROM tomb_parts WHERE a IN (3, 103);	-- through the parent
DELETE FROM tomb_parts_2 WHERE a = 102;		-- from the partition itself
UPDATE tomb_parts_1 SET b = 'w' WHERE a = 4;	-- not a key change
CREATE FUNCTION part_tombstones() RETURNS SETOF integer
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format('SELECT a FROM %s ORDER BY a',
		(SELECT t.tombstones FROM walbridge.tombstone_tables t WHERE t.tbl = 'tomb_parts'::regclass));
END $$;
SELECT part_tombstones();
SELECT walbridge.untrack_deletes('tomb_parts');
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgrelid::regclass::text LIKE 'tomb_parts%';
DROP FUNCTION part_tombstones();
DROP TABLE tomb_parts;

-- purge: only tombstones older than every peer's applied commits (less a minute)
SELECT walbridge.create_node('t');
SELECT walbridge.purge_tombstones() AS no_sync;
INSERT INTO walbridge.sync (running, peers, conflict, snapshot) VALUES (true, '{p1, p2}', 'last_writer_wins', false);
-- a tombstone of a peer's delete (applied under its origin), beside this node's own
SELECT pg_replication_origin_create('walbridge_p1') > 0 AS origin;
SELECT pg_replication_origin_session_setup('walbridge_p1');
DELETE FROM tracked WHERE a = 2;
SELECT pg_replication_origin_session_reset();
-- (peer_applied '{}': the peers apply nobody, only the horizon counts)
INSERT INTO walbridge.apply_progress (peer, source_commit_time, peer_applied) VALUES ('p1', now() + interval '1 hour', '{}');
SELECT walbridge.purge_tombstones() AS p2_never_applied;
INSERT INTO walbridge.apply_progress (peer, source_commit_time, peer_applied) VALUES ('p2', now() + interval '30 seconds', '{}');
SELECT walbridge.purge_tombstones() AS p2_not_a_minute_past;
UPDATE walbridge.apply_progress SET source_commit_time = now() + interval '2 minutes' WHERE peer = 'p2';
-- past the horizon, but p2 has not said how far it applied the others
UPDATE walbridge.apply_progress SET peer_applied = NULL WHERE peer = 'p2';
SELECT walbridge.purge_tombstones() AS p2_has_not_said;

-- a heartbeat says how far its node applied each of its peers: times
-- (never later than the heartbeat), null for none yet or not a time;
-- nothing at all while it waits for a copy, or when a peer is missing
SELECT walbridge.heartbeat_applied('p2', '2030-01-01 00:00:00+00', false,
	'{"peers": ["t", "p1"], "applied": {"t": "2999-01-02 03:04:05+00", "p1": null, "x": "2020-01-01 00:00 Mars/Base", "y": 5, "z": "infinity"}}');
SELECT peer_applied FROM walbridge.apply_progress WHERE peer = 'p2';
SELECT walbridge.heartbeat_applied('p2', now(), false, '{"peers": ["t"], "applied": {"t": "2020-01-01 00:00:00+00"}}');
SELECT peer_applied FROM walbridge.apply_progress WHERE peer = 'p2';
SELECT walbridge.heartbeat_applied('p2', now(), false, '{"peers": ["t", "p1"], "applied": {"t": "2020-01-01 00:00:00+00"}}');
SELECT peer_applied IS NULL AS a_peer_missing FROM walbridge.apply_progress WHERE peer = 'p2';
SELECT walbridge.heartbeat_applied('p2', now(), false, '{"peers": ["t"], "applied": null}');
SELECT peer_applied IS NULL AS copying FROM walbridge.apply_progress WHERE peer = 'p2';
SELECT walbridge.heartbeat_applied('p2', now(), false, '{"peers": ["t"], "sequences": []}');
SELECT peer_applied IS NULL AS not_said FROM walbridge.apply_progress WHERE peer = 'p2';
-- and this node's own report: each peer's applied time, nothing while a copy is awaited
SELECT walbridge.applied_report() ?& '{p1, p2}' AS both_reported;
UPDATE walbridge.apply_progress SET resync_state = 'requested' WHERE peer = 'p1';
SELECT walbridge.applied_report() IS NULL AS awaiting_a_copy;

-- every tombstone (this node's delete or p1's) waits until every peer
-- has applied every node it applies a minute past it
UPDATE walbridge.apply_progress SET peer_applied = jsonb_build_object('t', now() + interval '2 minutes',
	'p2', now() + interval '2 minutes') WHERE peer = 'p1';
UPDATE walbridge.apply_progress SET peer_applied = jsonb_build_object('t', now() + interval '2 minutes',
	'p1', NULL) WHERE peer = 'p2';
SELECT walbridge.purge_tombstones() AS this_node_awaits_a_copy;
UPDATE walbridge.apply_progress SET resync_state = 'done' WHERE peer = 'p1';
SELECT walbridge.purge_tombstones() AS p2_applied_nothing_of_p1;
UPDATE walbridge.apply_progress SET peer_applied = peer_applied || jsonb_build_object('p1', now() + interval '30 seconds')
 WHERE peer = 'p2';
SELECT walbridge.purge_tombstones() AS p2_not_a_minute_past_p1;
UPDATE walbridge.apply_progress SET peer_applied = peer_applied || jsonb_build_object('p1', now() + interval '2 minutes')
 WHERE peer = 'p2';
UPDATE walbridge.apply_progress SET new_incarnation = 'system 2, timeline 1, incarnation x' WHERE peer = 'p1';
SELECT walbridge.purge_tombstones() AS p1_paused_on_a_new_incarnation;
UPDATE walbridge.apply_progress SET new_incarnation = NULL WHERE peer = 'p1';
SELECT walbridge.purge_tombstones() AS purged;
SELECT count(*) AS left FROM tombstones();
SELECT pg_replication_origin_drop('walbridge_p1');
DELETE FROM walbridge.sync; DELETE FROM walbridge.apply_progress;

-- start_sync() tracks the synced tables' deletes under last_writer_wins with peers
SELECT walbridge.untrack_deletes('tracked');
SELECT count(*) AS tombstone_tables FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'walbridge' AND c.relname LIKE 'tombstones\_%';
SELECT tgname FROM pg_trigger WHERE tgrelid = 'tracked'::regclass;
SELECT walbridge.start_sync('{p1}', tables => '{tracked}', conflict => 'keep_local');
SELECT count(*) AS keep_local FROM walbridge.tombstone_tables;
SELECT walbridge.start_sync('{}', tables => '{tracked}');
SELECT count(*) AS no_peers FROM walbridge.tombstone_tables;
SELECT walbridge.start_sync('{p1}', tables => '{tracked, untracked}');
SELECT tbl FROM walbridge.tombstone_tables ORDER BY tbl::text;
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'tracked'::regclass ORDER BY tgname;

-- clean up for later tests
SELECT walbridge.untrack_deletes(tbl) FROM walbridge.tombstone_tables;
DELETE FROM walbridge.sync; DELETE FROM walbridge.apply_progress; DELETE FROM walbridge.node;
SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin;
DROP FUNCTION tombstones();
DROP TABLE tracked, untracked, tomb_keyless;
DROP ROLE tomb_writer;
