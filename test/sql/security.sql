-- Security: a role with only USAGE on schema walbridge, and a role with
-- exactly walbridged's grants (README: LOGIN REPLICATION, then
-- walbridge.grant_walbridged()), try SQL injection through every argument
-- of every walbridge function and through trigger arguments.  Neither may
-- gain a privilege or change another role's data; the tombstone triggers
-- still work for whoever deletes rows.
\set VERBOSITY terse

-- What PUBLIC may execute: nothing internal.  A function added to the
-- extension shows up here until sql/walbridge.sql decides who may call it.
SELECT p.oid::regprocedure AS public_may_execute
  FROM pg_proc p
 WHERE p.pronamespace = 'walbridge'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text COLLATE "C";
-- SECURITY DEFINER functions, each with a fixed search_path
SELECT p.oid::regprocedure AS security_definer, p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'walbridge'::regnamespace AND p.prosecdef
 ORDER BY p.oid::regprocedure::text COLLATE "C";

-- Roles: sec_usage has USAGE on schema walbridge and nothing else;
-- sec_wbd is walbridged's role as the README makes it; sec_victim owns
-- synced tables.  The attackers each own a schema (their "$user").
CREATE ROLE sec_usage;
GRANT USAGE ON SCHEMA walbridge TO sec_usage;
CREATE ROLE sec_wbd LOGIN REPLICATION;
CREATE ROLE sec_victim;
CREATE SCHEMA sec_usage AUTHORIZATION sec_usage;
CREATE SCHEMA sec_wbd AUTHORIZATION sec_wbd;
CREATE SCHEMA sec_victim AUTHORIZATION sec_victim;
SET ROLE sec_victim;
CREATE TABLE sec_victim.accounts (id integer PRIMARY KEY, holder text NOT NULL, balance integer NOT NULL);
INSERT INTO sec_victim.accounts SELECT i, 'holder ' || i, 100 * i FROM generate_series(1, 6) AS i;
CREATE TABLE sec_victim.private (id integer PRIMARY KEY, secret text);
INSERT INTO sec_victim.private VALUES (1, 'not for you');
-- an unprivileged user who may delete and re-key rows, nothing more
GRANT USAGE ON SCHEMA sec_victim TO sec_usage;
GRANT SELECT, UPDATE, DELETE ON sec_victim.accounts TO sec_usage;
RESET ROLE;
-- sec_usage's own table, with names made to break out of SQL
SET ROLE sec_usage;
CREATE TABLE sec_usage."t""; ALTER ROLE sec_usage SUPERUSER; --" (
	"k'); ALTER ROLE sec_usage SUPERUSER; --" integer,
	"K""" text COLLATE "C",
	v text,
	PRIMARY KEY ("k'); ALTER ROLE sec_usage SUPERUSER; --", "K"""));
INSERT INTO sec_usage."t""; ALTER ROLE sec_usage SUPERUSER; --" VALUES (1, 'a', 'x'), (2, 'b''; DROP TABLE x; --', 'y'), (3, 'c', 'z');
RESET ROLE;

-- As the administrator, hostile arguments are data.
SELECT walbridge.create_node('x''); ALTER ROLE sec_usage SUPERUSER; --');

-- The administrator syncs both users' tables (tracking their deletes, as
-- last_writer_wins with peers does) and grants walbridged's role.
SELECT walbridge.create_node('sec');
SELECT walbridge.start_sync('{peer}',
	tables => ARRAY['sec_victim.accounts', 'sec_usage."t""; ALTER ROLE sec_usage SUPERUSER; --"']::regclass[]);
SELECT tbl FROM walbridge.tombstone_tables ORDER BY tbl::text;
SELECT c.relname, t.tgname, t.tgnargs, t.tgenabled
  FROM walbridge.tombstone_tables w JOIN pg_trigger t ON t.tgrelid = w.tbl JOIN pg_class c ON c.oid = w.tbl
 ORDER BY 1, 2;
SELECT walbridge.grant_walbridged('sec_wbd');
-- what sec_wbd may execute beyond PUBLIC
SELECT p.oid::regprocedure AS sec_wbd_may_execute
  FROM pg_proc p
 WHERE p.pronamespace = 'walbridge'::regnamespace AND has_function_privilege('sec_wbd', p.oid, 'EXECUTE')
   AND NOT has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text COLLATE "C";

-- The tombstones of a table, read as the administrator.
CREATE FUNCTION sec_tombstones(tbl regclass) RETURNS SETOF text
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format('SELECT t::text FROM %s t ORDER BY 1',
		(SELECT w.tombstones FROM walbridge.tombstone_tables w WHERE w.tbl = sec_tombstones.tbl));
END $$;

-- Each attack runs as the attacker; its error, if any, is shown (with a
-- tombstone table's number left out).
CREATE FUNCTION sec_try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'done';
EXCEPTION WHEN OTHERS THEN
	RETURN regexp_replace(SQLERRM, 'tombstones_\d+', 'tombstones_N', 'g');
END $$;
CREATE TABLE sec_attacks (n integer PRIMARY KEY, sql text NOT NULL);
GRANT SELECT ON sec_attacks TO PUBLIC;
-- the payload, wherever a name or value could be pasted into SQL:
--   ALTER ROLE sec_usage SUPERUSER; ALTER ROLE sec_wbd SUPERUSER; DELETE FROM sec_victim.accounts
INSERT INTO sec_attacks VALUES
(1, $$CREATE TABLE own (id integer PRIMARY KEY)$$),
(2, $$INSERT INTO own VALUES (1), (2)$$),
-- a trigger of one's own calling record_tombstone(), with SQL as its argument
(3, $$CREATE TRIGGER walbridge_tombstone AFTER DELETE ON own REFERENCING OLD TABLE AS d FOR EACH STATEMENT
	EXECUTE FUNCTION walbridge.record_tombstone('own (id) SELECT 1; ALTER ROLE sec_usage SUPERUSER; ALTER ROLE sec_wbd SUPERUSER; DELETE FROM sec_victim.accounts; --')$$),
(4, $$CREATE TRIGGER walbridge_tombstone_key AFTER UPDATE ON own FOR EACH ROW
	EXECUTE FUNCTION walbridge.record_tombstone()$$),
(5, $$DELETE FROM own WHERE id = 2$$),
-- on a table of another role
(6, $$CREATE TRIGGER evil AFTER DELETE ON sec_victim.accounts FOR EACH ROW
	EXECUTE FUNCTION walbridge.record_tombstone('x')$$),
(7, $$SELECT walbridge.record_tombstone()$$),
-- every function, with the payload in its arguments
(10, $$SELECT walbridge.track_deletes('own')$$),
(11, $$SELECT walbridge.track_deletes('sec_victim.private')$$),
(12, $$SELECT walbridge.untrack_deletes('sec_victim.accounts')$$),
(13, $$SELECT walbridge.create_node('x''); ALTER ROLE sec_usage SUPERUSER; ALTER ROLE sec_wbd SUPERUSER; DELETE FROM sec_victim.accounts; --')$$),
(14, $$SELECT walbridge.start_sync('{"x''); ALTER ROLE sec_usage SUPERUSER; ALTER ROLE sec_wbd SUPERUSER; DELETE FROM sec_victim.accounts; --"}', '{own}')$$),
(15, $$SELECT walbridge.stop_sync(true)$$),
(16, $$SELECT walbridge.skip('x''); ALTER ROLE sec_usage SUPERUSER; ALTER ROLE sec_wbd SUPERUSER; DELETE FROM sec_victim.accounts; --')$$),
(17, $$SELECT walbridge.grant_walbridged('sec_usage"; ALTER ROLE sec_usage SUPERUSER; ALTER ROLE sec_wbd SUPERUSER; DELETE FROM sec_victim.accounts; --')$$),
(18, $$SELECT walbridge.grant_walbridged(current_user)$$),
(19, $$SELECT walbridge.purge_tombstones()$$),
(20, $$SELECT count(*) FROM walbridge.snapshot_records('sec_victim.private')$$),
(21, $$SELECT count(*) FROM walbridge.snapshot_records('sec_victim.accounts')$$),
(22, $$SELECT walbridge.remote_wins('1', now(), 0, 'x''); ALTER ROLE sec_usage SUPERUSER; ALTER ROLE sec_wbd SUPERUSER; DELETE FROM sec_victim.accounts; --')$$),
(23, $$SELECT walbridge.row_writer('1')$$),
(24, $$SELECT walbridge.writer_node(0)$$),
(25, $$SELECT count(*) FROM walbridge.synced_tables()$$),
(26, $$SELECT count(*) FROM walbridge.status()$$),
-- (27, 28: check_setup() reads output_plugin_libraries, which only
-- superusers and members of pg_read_all_settings may)
(27, $$SELECT walbridge.create_slot('x''); ALTER ROLE sec_usage SUPERUSER; ALTER ROLE sec_wbd SUPERUSER; DELETE FROM sec_victim.accounts; --')$$),
(28, $$SELECT walbridge.require_setup('{"x''); ALTER ROLE sec_usage SUPERUSER; ALTER ROLE sec_wbd SUPERUSER; DELETE FROM sec_victim.accounts; --"}')$$),
(29, $$SELECT walbridge.slot_name('x''); ALTER ROLE sec_usage SUPERUSER; --') || walbridge.origin_name('x''); ALTER ROLE sec_usage SUPERUSER; --')$$),
-- walbridge's own tables: the registry of tracked tables cannot be forged
(40, $$INSERT INTO walbridge.tombstone_tables VALUES ('own', 'sec_victim.accounts')$$),
(41, $$UPDATE walbridge.tombstone_tables SET tombstones = 'sec_victim.accounts'$$),
(42, $$SELECT walbridge.decode(walbridge.snapshot_records('sec_victim.accounts')) LIMIT 1$$),
(43, $$DELETE FROM walbridge.sync$$),
(44, $$INSERT INTO walbridge.node VALUES ('evil')$$),
-- what to sync is the administrator's: walbridged's role writes only the
-- columns it keeps up to date
(45, $$UPDATE walbridge.sync SET tables = tables || '{pg_catalog.pg_authid}'$$),
(46, $$UPDATE walbridge.sync SET peers = '{sec}'$$),
(47, $$UPDATE walbridge.sync SET drop_slot_requested = false$$),
(48, $$UPDATE walbridge.apply_progress SET kafka_offset = kafka_offset, last_error = NULL$$),
(49, $$UPDATE walbridge.node SET name = 'evil'$$);

SET ROLE sec_usage;
SELECT n, sec_try(sql) AS as_sec_usage FROM sec_attacks ORDER BY n;
RESET ROLE;
SET ROLE sec_wbd;
SELECT n, sec_try(sql) AS as_sec_wbd FROM sec_attacks ORDER BY n;
-- walbridged's role may change this setting, for its apply session
SET session_replication_role = replica;
RESET session_replication_role;
RESET ROLE;
SET ROLE sec_usage;
SET session_replication_role = replica;
RESET ROLE;

-- A trigger record_tombstone() refuses, however it was made (here by a
-- superuser, as if EXECUTE had been granted): with an argument, on a
-- table not tracked, under another name, or BEFORE.
CREATE TRIGGER walbridge_tombstone AFTER DELETE ON sec_usage.own REFERENCING OLD TABLE AS d
	FOR EACH STATEMENT EXECUTE FUNCTION walbridge.record_tombstone(
		'sec_usage.own (id) SELECT 1; ALTER ROLE sec_usage SUPERUSER; --');
SET ROLE sec_usage;
DELETE FROM own WHERE id = 1;
RESET ROLE;
DROP TRIGGER walbridge_tombstone ON sec_usage.own;
CREATE TRIGGER walbridge_tombstone AFTER DELETE ON sec_usage.own REFERENCING OLD TABLE AS d
	FOR EACH STATEMENT EXECUTE FUNCTION walbridge.record_tombstone();
SET ROLE sec_usage;
DELETE FROM own WHERE id = 1;
RESET ROLE;
DROP TRIGGER walbridge_tombstone ON sec_usage.own;
CREATE TRIGGER other AFTER DELETE ON sec_victim.accounts REFERENCING OLD TABLE AS d
	FOR EACH STATEMENT EXECUTE FUNCTION walbridge.record_tombstone();
CREATE TRIGGER walbridge_tombstone_key BEFORE UPDATE ON sec_usage.own
	FOR EACH ROW EXECUTE FUNCTION walbridge.record_tombstone();
SET ROLE sec_usage;
DELETE FROM sec_victim.accounts WHERE id = 6;
UPDATE own SET id = 3;
RESET ROLE;
DROP TRIGGER other ON sec_victim.accounts;
DROP TRIGGER walbridge_tombstone_key ON sec_usage.own;

-- The owner of a tracked table changes its key to a type of its own whose
-- cast to the tombstone column's type would run its function as the
-- definer: refused, the function never runs.
SET ROLE sec_usage;
CREATE TYPE evil AS (v integer);
CREATE FUNCTION evil_int(evil) RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
	ALTER ROLE sec_usage SUPERUSER;
	RETURN ($1).v;
END $$;
CREATE CAST (evil AS integer) WITH FUNCTION evil_int(evil) AS ASSIGNMENT;
DROP TRIGGER walbridge_tombstone_key ON "t""; ALTER ROLE sec_usage SUPERUSER; --";
ALTER TABLE "t""; ALTER ROLE sec_usage SUPERUSER; --"
	ALTER COLUMN "k'); ALTER ROLE sec_usage SUPERUSER; --" TYPE evil USING row("k'); ALTER ROLE sec_usage SUPERUSER; --");
DELETE FROM "t""; ALTER ROLE sec_usage SUPERUSER; --" WHERE v = 'z';
-- its owner may replace walbridge's trigger only with one walbridge would run
DROP TRIGGER walbridge_tombstone ON "t""; ALTER ROLE sec_usage SUPERUSER; --";
CREATE TRIGGER walbridge_tombstone AFTER DELETE ON "t""; ALTER ROLE sec_usage SUPERUSER; --"
	REFERENCING OLD TABLE AS d FOR EACH STATEMENT EXECUTE FUNCTION walbridge.record_tombstone();
RESET ROLE;

SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls,
	   (SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid) AS member_of
  FROM pg_roles r WHERE rolname LIKE 'sec\_%' ORDER BY 1;

-- The real triggers still work for an unprivileged user, without EXECUTE
-- on record_tombstone() (a trigger's function is not checked when it
-- fires), in a statement's delete and in a key change; and with
-- session_replication_role = replica, as walbridged applies.
SELECT has_function_privilege('sec_usage', 'walbridge.record_tombstone()', 'EXECUTE') AS may_execute;
SET ROLE sec_usage;
DELETE FROM sec_victim.accounts WHERE id IN (1, 2);
UPDATE sec_victim.accounts SET id = 30 WHERE id = 3;
RESET ROLE;
SET ROLE sec_wbd;
SET session_replication_role = replica;
DELETE FROM sec_victim.accounts WHERE id = 4;
RESET session_replication_role;
RESET ROLE;
SELECT sec_tombstones('sec_victim.accounts');
-- names that need quoting, deleted and re-keyed by their owner
SELECT walbridge.untrack_deletes('sec_usage."t""; ALTER ROLE sec_usage SUPERUSER; --"');
SET ROLE sec_usage;
ALTER TABLE "t""; ALTER ROLE sec_usage SUPERUSER; --"
	ALTER COLUMN "k'); ALTER ROLE sec_usage SUPERUSER; --" TYPE integer USING ("k'); ALTER ROLE sec_usage SUPERUSER; --").v;
RESET ROLE;
SELECT walbridge.track_deletes('sec_usage."t""; ALTER ROLE sec_usage SUPERUSER; --"') IS NOT NULL AS tracked;
SET ROLE sec_usage;
DELETE FROM "t""; ALTER ROLE sec_usage SUPERUSER; --" WHERE "K""" = 'b''; DROP TABLE x; --';
UPDATE "t""; ALTER ROLE sec_usage SUPERUSER; --" SET "K""" = 'a2' WHERE "K""" = 'a';
RESET ROLE;
SELECT sec_tombstones('sec_usage."t""; ALTER ROLE sec_usage SUPERUSER; --"');

-- As the administrator, hostile arguments are data.
CREATE ROLE "sec_x""; ALTER ROLE sec_usage SUPERUSER; --";
SELECT walbridge.grant_walbridged('sec_x"; ALTER ROLE sec_usage SUPERUSER; --');
SELECT r.rolname, has_function_privilege(r.oid, 'walbridge.purge_tombstones()', 'EXECUTE') AS may_purge
  FROM pg_roles r WHERE r.rolname LIKE 'sec\_%' ORDER BY 1;
SELECT walbridge.skip('x''); ALTER ROLE sec_usage SUPERUSER; --');
SELECT walbridge.start_sync('{"x''); ALTER ROLE sec_usage SUPERUSER; --"}');
SELECT walbridge.create_slot('x''); ALTER ROLE sec_usage SUPERUSER; --');
SELECT walbridge.require_setup('{"x''); ALTER ROLE sec_usage SUPERUSER; --"}');

-- Names stored in walbridge.sync are looked up, never pasted: even a
-- hostile or foreign one put there (only a superuser can) makes
-- grant_walbridged() grant nothing beyond the synced user tables.
CREATE TEMP TABLE "a/**/to/**/sec_wbd;alter/**/role/**/sec_wbd/**/superuser--" ();
UPDATE walbridge.sync SET tables = tables || ARRAY[
	(pg_my_temp_schema()::regnamespace || '.a/**/to/**/sec_wbd;alter/**/role/**/sec_wbd/**/superuser--')::regclass,
	'pg_catalog.pg_authid', 'walbridge.tombstone_tables', 'walbridge.sync']::regclass[];
SELECT walbridge.synced_tables() ORDER BY 1;
SELECT walbridge.grant_walbridged('sec_wbd');
SELECT has_table_privilege('sec_wbd', 'pg_catalog.pg_authid', 'SELECT') AS wbd_reads_authid,
	   has_table_privilege('sec_wbd', 'walbridge.tombstone_tables', 'INSERT') AS wbd_writes_registry,
	   has_column_privilege('sec_wbd', 'walbridge.sync', 'tables', 'UPDATE') AS wbd_writes_tables;
DROP TABLE pg_temp."a/**/to/**/sec_wbd;alter/**/role/**/sec_wbd/**/superuser--";
-- start_sync() refuses them
SELECT sec_try($$SELECT walbridge.start_sync('{peer}', tables => '{walbridge.sync}')$$);
SELECT sec_try($$SELECT walbridge.start_sync('{peer}', tables => '{pg_catalog.pg_authid}')$$);
CREATE TEMP TABLE sec_temp (id integer PRIMARY KEY);
SELECT sec_try($$SELECT walbridge.start_sync('{peer}', tables => '{sec_temp}')$$);
DROP TABLE sec_temp;
-- and the plugin never publishes walbridge's own tables, whatever it is asked
SELECT 'init' FROM walbridge.create_slot('sec_slot');
CREATE TABLE public.sec_seen (id integer PRIMARY KEY);
BEGIN;
UPDATE walbridge.sync SET drop_slot_requested = false;
INSERT INTO public.sec_seen VALUES (1);
COMMIT;
SELECT r->>'kind' AS kind, (r->>'relid')::oid::regclass AS tbl
  FROM (SELECT walbridge.decode(data) AS r
		  FROM pg_logical_slot_get_binary_changes('sec_slot', NULL, NULL, 'include_tables', 'walbridge.*, public.*')) s
 WHERE r->>'kind' IN ('insert', 'update');
DROP TABLE public.sec_seen;
SELECT 'stop' FROM pg_drop_replication_slot('sec_slot');

-- A partitioned table's owner (not a superuser) still adds partitions
-- after its deletes are tracked: the tombstone triggers are cloned.
SET ROLE sec_victim;
CREATE TABLE sec_victim.parts (id integer PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE sec_victim.parts_1 PARTITION OF sec_victim.parts FOR VALUES FROM (0) TO (100);
RESET ROLE;
SELECT walbridge.track_deletes('sec_victim.parts') IS NOT NULL AS tracked;
SET ROLE sec_victim;
CREATE TABLE sec_victim.parts_2 PARTITION OF sec_victim.parts FOR VALUES FROM (100) TO (200);
INSERT INTO sec_victim.parts VALUES (1, 'a'), (150, 'b');
DELETE FROM sec_victim.parts;
RESET ROLE;
SELECT sec_tombstones('sec_victim.parts');
SELECT walbridge.untrack_deletes('sec_victim.parts');

-- Nobody gained a privilege; the victim's rows are as the deletes above left them.
SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls,
	   (SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid) AS member_of
  FROM pg_roles r WHERE rolname LIKE 'sec\_%' ORDER BY 1;
SELECT * FROM sec_victim.accounts ORDER BY id;
SELECT * FROM sec_victim.private;
SELECT name FROM walbridge.node;
SELECT running, peers FROM walbridge.sync;

-- clean up for later tests
SELECT walbridge.untrack_deletes(tbl) FROM walbridge.tombstone_tables;
DELETE FROM walbridge.sync; DELETE FROM walbridge.apply_progress; DELETE FROM walbridge.node;
SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin;
DROP FUNCTION sec_try(text), sec_tombstones(regclass);
DROP TABLE sec_attacks;
DROP CAST (sec_usage.evil AS integer);
DROP OWNED BY sec_usage, sec_wbd, sec_victim, "sec_x""; ALTER ROLE sec_usage SUPERUSER; --";
DROP ROLE sec_usage, sec_wbd, sec_victim, "sec_x""; ALTER ROLE sec_usage SUPERUSER; --";
