-- The SQL side of resync(): a table read in key ranges, the deleted keys
-- of a range, the rows of a range another node no longer has, and the
-- request itself.
SET client_min_messages = warning;

CREATE SCHEMA rs;
CREATE TABLE rs.accounts (region text COLLATE "C", id int, name text, body text,
	PRIMARY KEY (region, id));
ALTER TABLE rs.accounts ALTER body SET STORAGE EXTERNAL;
INSERT INTO rs.accounts SELECT CASE WHEN i % 2 = 0 THEN 'eu' ELSE 'us' END, i, 'n' || i, NULL
  FROM generate_series(1, 7) AS i;
UPDATE rs.accounts SET body = repeat('x', 5000) WHERE id = 3;
CREATE TABLE rs.events (id bigint, at date, note text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE rs.events_1 PARTITION OF rs.events FOR VALUES FROM ('2026-01-01') TO ('2026-07-01');
CREATE TABLE rs.events_2 (note text, at date NOT NULL, id bigint NOT NULL);
ALTER TABLE rs.events ATTACH PARTITION rs.events_2 FOR VALUES FROM ('2026-07-01') TO ('2027-01-01');
INSERT INTO rs.events VALUES (1, '2026-02-01', 'a'), (2, '2026-08-01', 'b'), (3, '2026-03-01', 'c');

-- Chunks in key order: the RELATION first (key NULL), then rows after the key given.
SELECT key, (walbridge.decode(record)->>'kind') AS kind
  FROM walbridge.resync_chunk('rs.accounts', NULL, 3);
SELECT key, walbridge.decode(record)->'new'->>2 AS name
  FROM walbridge.resync_chunk('rs.accounts', '["eu", 6]', 3) WHERE key IS NOT NULL;
-- the large value is whole in the copy
SELECT length(walbridge.decode(record)->'new'->>3) AS body_length
  FROM walbridge.resync_chunk('rs.accounts', '["us", 1]', 1) WHERE key IS NOT NULL;
-- the copied row carries the commit time of its version
SELECT (walbridge.decode(record)->>'commit_time') IS NOT NULL AS has_time
  FROM walbridge.resync_chunk('rs.accounts', NULL, 1) WHERE key IS NOT NULL;
-- a partitioned table is read as itself, in its own columns
SELECT key, walbridge.decode(record)->'new' AS row
  FROM walbridge.resync_chunk('rs.events', NULL, 10) WHERE key IS NOT NULL;
SELECT count(*) FROM walbridge.resync_chunk('rs.events', '["3", "2026-03-01"]', 10) WHERE key IS NOT NULL;

-- Tombstones of a range: keys deleted and not back.
SELECT walbridge.track_deletes('rs.accounts') IS NOT NULL AS tracked;
DELETE FROM rs.accounts WHERE id IN (5, 6);
INSERT INTO rs.accounts VALUES ('eu', 6, 'back', NULL);
SELECT key, deleted_at IS NOT NULL AS timed FROM walbridge.resync_tombstones('rs.accounts', NULL, NULL);
SELECT count(*) FROM walbridge.resync_tombstones('rs.accounts', '["us", 5]', NULL);
SELECT count(*) FROM walbridge.resync_tombstones('rs.events', NULL, NULL);

-- Prune: in (after, through], the rows not among keys.
CREATE TABLE rs.mirror (id int PRIMARY KEY, v text);
INSERT INTO rs.mirror SELECT i, 'v' || i FROM generate_series(1, 10) AS i;
SELECT walbridge.resync_prune('rs.mirror', 'a', '["2"]', '["6"]', '[["3"], ["5"]]', 'all');
SELECT array_agg(id ORDER BY id) FROM rs.mirror;
-- unbounded on both sides, no keys: everything goes
SELECT walbridge.resync_prune('rs.mirror', 'a', '["8"]', NULL, '[]', 'all');
SELECT array_agg(id ORDER BY id) FROM rs.mirror;
-- under last writer wins only rows the peer wrote last: none here (this node wrote them)
SELECT walbridge.resync_prune('rs.mirror', 'a', NULL, NULL, '[]', 'peer_rows');
SELECT walbridge.resync_prune('rs.mirror', 'a', NULL, NULL, '[]', 'everything');
-- keys are written by one node's jsonb and read by another's casts
SET datestyle = 'SQL, DMY';
SELECT key FROM walbridge.resync_chunk('rs.events', '[1, "2026-02-01"]', 10) WHERE key IS NOT NULL;
RESET datestyle;

-- rows the peer wrote last (applied under its origin) go
SELECT pg_replication_origin_create('walbridge_a') > 0 AS origin;
SELECT pg_replication_origin_session_setup('walbridge_a');
BEGIN;
SELECT pg_replication_origin_xact_setup('0/0', '2026-01-01 00:00:00+00');
INSERT INTO rs.mirror VALUES (20, 'from a'), (21, 'from a');
COMMIT;
SELECT pg_replication_origin_session_reset();
INSERT INTO rs.mirror VALUES (30, 'mine');
SELECT walbridge.resync_prune('rs.mirror', 'a', NULL, NULL, '[["21"]]', 'peer_rows');
SELECT array_agg(id ORDER BY id) FROM rs.mirror;

-- Hostile names and values: quoted, cast, never run.
CREATE TABLE rs."we""ird; DROP TABLE rs.mirror; --" ("k'ey" text PRIMARY KEY);
INSERT INTO rs."we""ird; DROP TABLE rs.mirror; --" VALUES ('a''); DROP TABLE rs.mirror; --'), ('b');
SELECT key FROM walbridge.resync_chunk('rs."we""ird; DROP TABLE rs.mirror; --"', NULL, 5) WHERE key IS NOT NULL;
SELECT walbridge.resync_prune('rs."we""ird; DROP TABLE rs.mirror; --"', 'a', NULL, NULL,
	'[["a''); DROP TABLE rs.mirror; --"]]', 'all');
SELECT count(*) FROM rs.mirror;
SELECT walbridge.resync_chunk('rs.mirror', '["not a number"]', 1);

-- Keys of any type come back from their text forms: arrays, composites, json.
CREATE TABLE rs.arr (k int[] PRIMARY KEY);
INSERT INTO rs.arr VALUES ('{1,2}'), ('{1,3}'), ('{2}');
SELECT key FROM walbridge.resync_chunk('rs.arr', '["{1,2}"]', 5) WHERE key IS NOT NULL;
CREATE TYPE rs.pair AS (a int, b text);
CREATE TABLE rs.comp (k rs.pair PRIMARY KEY, j jsonb);
INSERT INTO rs.comp VALUES (ROW(1, 'x'), '"b"'), (ROW(2, 'y, z'), '{}');
SELECT key FROM walbridge.resync_chunk('rs.comp', '["(1,x)"]', 5) WHERE key IS NOT NULL;
SELECT walbridge.resync_prune('rs.arr', 'a', '["{1,2}"]', NULL, '[["{2}"]]', 'all');
SELECT string_agg(k::text, ' ' ORDER BY k) FROM rs.arr;

-- A chunk this node orders otherwise (a collation, an enum's labels) is refused, nothing deleted.
CREATE TABLE rs.coll (k text COLLATE "C" PRIMARY KEY);
INSERT INTO rs.coll VALUES ('B'), ('a'), ('b');
-- in the peer's order (say en_US) 'a' < 'B' < 'b'; here (C) 'B' < 'a'
SELECT walbridge.resync_prune('rs.coll', 'a', NULL, '["B"]', '[["a"], ["B"]]', 'all');
SELECT walbridge.resync_prune('rs.coll', 'a', '["a"]', '["b"]', '[["B"], ["b"]]', 'all');
SELECT walbridge.resync_prune('rs.coll', 'a', '["b"]', '["a"]', '[]', 'all');
SELECT array_agg(k ORDER BY k) FROM rs.coll;
-- the key's columns must be the same, in the same order
SELECT walbridge.resync_prune('rs.accounts', 'a', NULL, NULL, '[]', 'all', '["id", "region"]');
SELECT walbridge.resync_prune('rs.coll', 'a', NULL, NULL, '[["B"], ["a"], ["b"]]', 'all', '["k"]');

-- Row-level security never makes a copy lack rows: it is an error.
CREATE TABLE rs.secret (id int PRIMARY KEY, owner text);
INSERT INTO rs.secret VALUES (1, 'x'), (2, 'y');
ALTER TABLE rs.secret ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_x ON rs.secret USING (owner = 'x');
CREATE ROLE rs_reader;
GRANT USAGE ON SCHEMA rs, walbridge TO rs_reader;
GRANT SELECT, DELETE ON rs.secret TO rs_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA walbridge TO rs_reader;
GRANT EXECUTE ON FUNCTION walbridge.resync_chunk(regclass, jsonb, integer),
	walbridge.resync_prune(regclass, text, jsonb, jsonb, jsonb, text, jsonb),
	walbridge.relation_record(regclass), walbridge.row_record(regclass, record, timestamptz),
	walbridge.key_sql(regclass, integer, text), walbridge.synced_tables(), walbridge.row_writer(xid),
	walbridge.writer_node(oid) TO rs_reader;
SET ROLE rs_reader;
SELECT count(*) FROM walbridge.resync_chunk('rs.secret', NULL, 10);
SELECT walbridge.resync_prune('rs.secret', 'a', NULL, NULL, '[[1]]', 'all');
RESET ROLE;
REVOKE ALL ON SCHEMA rs, walbridge FROM rs_reader;
REVOKE ALL ON rs.secret FROM rs_reader;
REVOKE ALL ON ALL TABLES IN SCHEMA walbridge FROM rs_reader;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA walbridge FROM rs_reader;
DROP OWNED BY rs_reader;
DROP ROLE rs_reader;

-- resync() names a peer this node applies
SELECT walbridge.resync('nobody');
SELECT walbridge.create_node('rs_node') IS NOT NULL AS node;
SELECT walbridge.start_sync('{a}', '{rs.mirror}', snapshot => false, full_rows => false);
-- the prune's deletes leave no tombstone (they are nobody's write at this
-- time); an ordinary delete does
INSERT INTO rs.mirror VALUES (40, 'x'), (41, 'y');
SELECT walbridge.resync_prune('rs.mirror', 'a', '["39"]', NULL, '[["41"]]', 'all');
DELETE FROM rs.mirror WHERE id = 41;
SELECT tombstones AS mirror_tombstones FROM walbridge.tombstone_tables WHERE tbl = 'rs.mirror'::regclass \gset
SELECT id FROM :mirror_tombstones WHERE id >= 40;
-- a table not synced here is never pruned
SELECT walbridge.resync_prune('rs.coll', 'a', NULL, NULL, '[]', 'all');
-- A peer's tombstones, one delete time per transaction stamped with it:
-- a row older than the delete goes (its tombstone, of the delete's time,
-- stays), a newer one stays, a key with no row gets a tombstone of that
-- time; applied again, nothing changes.
INSERT INTO rs.mirror VALUES (60, 'mine, now'), (61, 'mine, now');
SELECT pg_replication_origin_session_setup('walbridge_a');
BEGIN;
SELECT pg_replication_origin_xact_setup('0/0', '2999-01-01 00:00:00+00');
SELECT walbridge.resync_apply_tombstones('rs.mirror', 'a', '[[["60"], "2999-01-01T00:00:00+00:00"],
	[["62"], "2999-01-01T00:00:00+00:00"], [["61"], "2001-01-01T00:00:00+00:00"]]', '2999-01-01 00:00:00+00') AS late;
COMMIT;
BEGIN;
SELECT pg_replication_origin_xact_setup('0/0', '2001-01-01 00:00:00+00');
SELECT walbridge.resync_apply_tombstones('rs.mirror', 'a', '[[["60"], "2999-01-01T00:00:00+00:00"],
	[["62"], "2999-01-01T00:00:00+00:00"], [["61"], "2001-01-01T00:00:00+00:00"]]', '2001-01-01 00:00:00+00') AS early;
COMMIT;
BEGIN;
SELECT pg_replication_origin_xact_setup('0/0', '2999-01-01 00:00:00+00');
SELECT walbridge.resync_apply_tombstones('rs.mirror', 'a', '[[["60"], "2999-01-01T00:00:00+00:00"],
	[["62"], "2999-01-01T00:00:00+00:00"]]', '2999-01-01 00:00:00+00') AS again;
COMMIT;
SELECT pg_replication_origin_session_reset();
-- the same delete again from another node's copy (another origin, the
-- same time): the tombstone stays as it was, a's
SELECT pg_replication_origin_create('walbridge_b') > 0 AS origin_b;
SELECT pg_replication_origin_session_setup('walbridge_b');
BEGIN;
SELECT pg_replication_origin_xact_setup('0/0', '2999-01-01 00:00:00+00');
SELECT walbridge.resync_apply_tombstones('rs.mirror', 'b', '[[["60"], "2999-01-01T00:00:00+00:00"]]',
	'2999-01-01 00:00:00+00') AS from_b;
COMMIT;
SELECT pg_replication_origin_session_reset();
SELECT pg_replication_origin_drop('walbridge_b');
SELECT array_agg(id ORDER BY id) FROM rs.mirror WHERE id >= 60;
SELECT id, pg_xact_commit_timestamp(xmin), (walbridge.row_writer(xmin)).node
  FROM :mirror_tombstones WHERE id >= 60 ORDER BY id;
SELECT walbridge.resync_apply_tombstones('rs.coll', 'a', '[]', now());
SELECT walbridge.resync_apply_tombstones('rs.mirror', 'nobody', '[]', now());
SELECT length(walbridge.resync('a')) AS id_length;
SELECT resync ~ '^requested .*, not sent yet$' AS shown FROM walbridge.status() WHERE peer = 'a';
SELECT resync_state, resync_sent_at IS NULL AS unsent FROM walbridge.apply_progress WHERE peer = 'a';
-- a pause on a new incarnation is accepted: the identity and LSN are forgotten
UPDATE walbridge.apply_progress SET source_system_id = '1', source_timeline = 1, source_incarnation = 'old',
	source_commit_lsn = '0/100', new_incarnation = 'system 2, timeline 1, incarnation new', paused_offset = 7
 WHERE peer = 'a';
SELECT length(walbridge.resync('a')) AS id_length;
SELECT source_system_id, source_incarnation, source_commit_lsn, new_incarnation,
	source_since > now() - interval '1 hour' AS since_now FROM walbridge.apply_progress WHERE peer = 'a';
-- rows the old incarnation wrote are no longer evidence of a delete: the
-- peer's row 21 (written 2026-01-01, before the incarnation was accepted) stays
SELECT walbridge.resync_prune('rs.mirror', 'a', NULL, NULL, '[]', 'peer_rows');
SELECT array_agg(id ORDER BY id) FROM rs.mirror;
UPDATE walbridge.apply_progress SET source_since = NULL WHERE peer = 'a';
SELECT walbridge.resync_prune('rs.mirror', 'a', NULL, NULL, '[]', 'peer_rows');
-- not PUBLIC's, even with USAGE on the schema
CREATE ROLE rs_user;
GRANT USAGE ON SCHEMA walbridge TO rs_user;
SELECT 'rs.mirror'::regclass::oid AS mirror_oid \gset
SET ROLE rs_user;
SELECT walbridge.resync('a');
SELECT walbridge.resync_prune(:mirror_oid, 'a', NULL, NULL, '[]', 'all');
SELECT walbridge.resync_chunk(:mirror_oid, NULL, 1);
RESET ROLE;
REVOKE USAGE ON SCHEMA walbridge FROM rs_user;
DROP ROLE rs_user;
SELECT walbridge.stop_sync();
SELECT count(walbridge.untrack_deletes(tbl)) FROM walbridge.tombstone_tables;
DROP SCHEMA rs CASCADE;
SELECT pg_replication_origin_drop('walbridge_a');
DELETE FROM walbridge.apply_progress;
DELETE FROM walbridge.sync;
DELETE FROM walbridge.node;
