-- TRUNCATE where peers write too: a synced table refuses it on a node that
-- applies peers (its peers would apply it as it is, also removing rows
-- they wrote after it), and says what to use instead.  Apply's sessions
-- (session_replication_role = replica) still apply a one-way source's
-- TRUNCATE, and a node that only publishes may TRUNCATE.
SELECT walbridge.create_node('mt');
CREATE TABLE mt_items (id integer PRIMARY KEY, v text);
CREATE TABLE mt_parts (id integer PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE mt_parts_1 PARTITION OF mt_parts FOR VALUES FROM (0) TO (100);
CREATE TABLE mt_local (id integer PRIMARY KEY);
INSERT INTO mt_items VALUES (1, 'one');
INSERT INTO mt_parts VALUES (1, 'one');
INSERT INTO mt_local VALUES (1);
SELECT walbridge.start_sync('{b}', tables => '{mt_items, mt_parts}', conflict => 'apply_remote', snapshot => false);
SELECT tgrelid::regclass AS guarded FROM pg_trigger WHERE tgname = 'walbridge_no_truncate' ORDER BY 1;

TRUNCATE mt_items;
TRUNCATE mt_parts;
TRUNCATE mt_parts_1;
TRUNCATE mt_local, mt_items;
TRUNCATE mt_local;
DELETE FROM mt_items;
SELECT (SELECT count(*) FROM mt_parts) AS parts, (SELECT count(*) FROM mt_local) AS local;

-- apply's session
SET session_replication_role = replica;
INSERT INTO mt_items VALUES (2, 'two');
TRUNCATE mt_items, mt_parts;
RESET session_replication_role;
SELECT (SELECT count(*) FROM mt_items) AS items, (SELECT count(*) FROM mt_parts) AS parts;

-- a node that only publishes: its mirrors follow a TRUNCATE
SELECT walbridge.start_sync('{}', tables => '{mt_items, mt_parts}', snapshot => false);
SELECT count(*) AS guarded FROM pg_trigger WHERE tgname = 'walbridge_no_truncate';
INSERT INTO mt_items VALUES (3, 'three');
TRUNCATE mt_items;
SELECT count(*) AS items FROM mt_items;

-- peers again, on fewer tables: only those guarded; stop_sync with its
-- slot dropped lifts the guard (nothing is published after)
SELECT walbridge.start_sync('{b}', tables => '{mt_parts}', conflict => 'apply_remote', snapshot => false);
SELECT walbridge.start_sync('{b}', tables => '{mt_items}', conflict => 'apply_remote', snapshot => false);
SELECT tgrelid::regclass AS guarded FROM pg_trigger WHERE tgname = 'walbridge_no_truncate' ORDER BY 1;
SELECT walbridge.stop_sync(drop_slot => true);
SELECT count(*) AS guarded FROM pg_trigger WHERE tgname = 'walbridge_no_truncate';

-- the trigger function is walbridge's own
SELECT has_function_privilege('public', 'walbridge.refuse_truncate()', 'EXECUTE') AS public_refuse,
	   has_function_privilege('public', 'walbridge.guard_truncates(boolean)', 'EXECUTE') AS public_guard;

-- clean up for later tests
DELETE FROM walbridge.sync; DELETE FROM walbridge.apply_progress; DELETE FROM walbridge.node;
SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin;
DROP TABLE mt_items, mt_parts, mt_local;
