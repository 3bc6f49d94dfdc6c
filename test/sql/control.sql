-- Sync control from psql: start_sync(), stop_sync(), status(), skip(), and
-- the errors that say what to do.
\set VERBOSITY default
SELECT walbridge.start_sync('{b}');				-- not a node yet
SELECT walbridge.create_node('a');
SELECT walbridge.start_sync(NULL);
SELECT walbridge.start_sync('{a}');				-- itself
SELECT walbridge.start_sync('{b, b}');
SELECT walbridge.start_sync('{"bad name"}');
SELECT walbridge.start_sync('{b}', conflict => 'newest');
CREATE TABLE keyless (x integer);
CREATE TABLE keyed (id integer PRIMARY KEY);
SELECT walbridge.start_sync('{b}', tables => '{keyless}');
\set VERBOSITY terse

-- Publishing only, then with peers and a table list.
SELECT walbridge.start_sync('{}');
SELECT running, peers, tables, conflict, snapshot FROM walbridge.sync;
SELECT walbridge.start_sync('{b, c}', tables => '{keyed}', conflict => 'keep_local');
SELECT running, peers, tables, conflict, snapshot FROM walbridge.sync;
SELECT roname FROM pg_replication_origin ORDER BY 1;
SELECT direction, peer, state, kafka_offset, conflicts FROM walbridge.status();

-- skip() needs a paused peer.
SELECT walbridge.skip('zz');
SELECT walbridge.skip('b');
UPDATE walbridge.apply_progress SET paused_offset = 41, last_error = 'column "v" of table public.t is missing' WHERE peer = 'b';
SELECT direction, peer, state, last_error FROM walbridge.status() WHERE peer = 'b';
SELECT walbridge.skip('b');
SELECT peer, kafka_offset, error FROM walbridge.skipped;
SELECT skip_offset FROM walbridge.apply_progress WHERE peer = 'b';

-- stop_sync(): stopped in status(); with drop_slot an idle slot goes at once.
SELECT 'slot' FROM pg_create_logical_replication_slot(walbridge.slot_name('a'), 'walbridge');
SELECT walbridge.stop_sync(drop_slot => true);
SELECT count(*) AS slots_left FROM pg_replication_slots;
SELECT direction, peer, state FROM walbridge.status();

-- clean up for later tests
DELETE FROM walbridge.sync; DELETE FROM walbridge.apply_progress; DELETE FROM walbridge.skipped;
DELETE FROM walbridge.node;
SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin;
