-- Schema changes in the stream: the event trigger's capture (a
-- walbridge.ddl message at the command's place in its transaction), what
-- is propagated and what gets a WARNING, and the apply side's checks
-- (walbridge.run_ddl()).
\set VERBOSITY terse
SET synchronous_commit = on;
SELECT walbridge.create_node('d');
CREATE SCHEMA app;
CREATE SCHEMA other;
CREATE TABLE app.existing (id integer PRIMARY KEY, v text);
SELECT walbridge.start_sync('{}', schemas => '{app}', snapshot => false);
SELECT tables, schemas, ddl FROM walbridge.sync;
SELECT * FROM walbridge.publish_selection();
SELECT 'init' FROM walbridge.create_slot('ddl_slot');

-- The records, with a message's content as JSON (no search_path nor
-- settings: the test's own; the role running the tests as "(me)"), and a
-- relation's columns as names only.
CREATE FUNCTION ddl_records() RETURNS SETOF jsonb LANGUAGE sql AS $$
	SELECT CASE r->>'kind'
		WHEN 'message' THEN jsonb_build_object('message',
			(SELECT m - 'search_path' - 'settings' || jsonb_build_object('role', CASE WHEN m->>'role' = current_user
																	  THEN '(me)' ELSE m->>'role' END)
			   FROM (SELECT convert_from(decode(substr(r->>'content', 3), 'hex'), 'UTF8')::jsonb) AS x(m)))
		WHEN 'relation' THEN jsonb_build_object('relation', r->>'table',
			'columns', (SELECT jsonb_agg(c->>'name') FROM jsonb_array_elements(r->'columns') AS c))
		ELSE jsonb_build_object(r->>'kind', r->>'table')
	END
	FROM stable_records('ddl_slot', 'include_tables', '*.*', 'require_primary_key', 'on',
						'exclude_tables', 'walbridge.*') AS r
	WHERE r->>'kind' NOT IN ('begin', 'commit');
$$;

-- a table made and filled in one transaction: the command first, then its rows
BEGIN;
CREATE TABLE app.orders (id integer PRIMARY KEY, total numeric NOT NULL);
INSERT INTO app.orders VALUES (1, 10), (2, 20);
COMMIT;
SELECT * FROM ddl_records();

-- each statement of a multi-statement query string is sent alone
ALTER TABLE app.orders ADD COLUMN note text \; INSERT INTO app.orders VALUES (3, 30, 'three') \; ALTER TABLE app.orders RENAME COLUMN note TO memo;
SELECT * FROM ddl_records();

-- the kinds propagated
CREATE TYPE app.status AS ENUM ('new', 'paid');
ALTER TYPE app.status ADD VALUE 'shipped';
ALTER TABLE app.orders ADD COLUMN status app.status NOT NULL DEFAULT 'new';
ALTER TABLE app.orders ALTER COLUMN total TYPE numeric(12,2);
ALTER TABLE app.orders ADD CONSTRAINT total_positive CHECK (total > 0);
CREATE INDEX orders_total ON app.orders (total);
DROP INDEX app.orders_total;
CREATE INDEX CONCURRENTLY orders_memo ON app.orders (memo);
DROP INDEX CONCURRENTLY app.orders_memo;
ALTER TABLE app.orders RENAME TO purchases;
COMMENT ON TABLE app.purchases IS 'what was bought';
SELECT r->'message'->>'tag' AS tag, r->'message'->>'command' AS command FROM ddl_records() AS r;
-- the names a rename took away, for a peer's changes still made under them
SELECT relid::regclass, old_schema, old_table, old_column, attnum FROM walbridge.renames ORDER BY id;

-- a table without a primary key: its command goes, its rows do not, until it has one
CREATE TABLE app.keyless (x integer);
INSERT INTO app.keyless VALUES (1);
ALTER TABLE app.keyless ADD PRIMARY KEY (x);
INSERT INTO app.keyless VALUES (2);
SELECT * FROM ddl_records();

-- a partitioned table and its partitions, a domain: rows are published as the partitioned table
CREATE DOMAIN app.positive AS integer CHECK (VALUE > 0);
CREATE TABLE app.events (id integer, at date, n app.positive, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE app.events_2026 PARTITION OF app.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE app.events_2027 (id integer NOT NULL, at date NOT NULL, n app.positive);
ALTER TABLE app.events ATTACH PARTITION app.events_2027 FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
INSERT INTO app.events VALUES (1, '2026-05-01', 1), (2, '2027-05-01', 2);
SELECT r->'message'->>'command' AS command, r->>'relation' AS relation, r->>'insert' AS insert
  FROM ddl_records() AS r;

-- the settings that decide how literals read go with the command
SET TimeZone = 'Asia/Tokyo';
SET DateStyle = 'SQL, DMY';
ALTER TABLE app.purchases ADD COLUMN since timestamptz DEFAULT '01/02/2026 10:00';
RESET TimeZone;
RESET DateStyle;
SELECT convert_from(decode(substr(r->>'content', 3), 'hex'), 'UTF8')::jsonb->'settings' AS settings
  FROM stable_records('ddl_slot', 'include_tables', 'app.*') AS r WHERE r->>'kind' = 'message';

-- peers read a command with standard_conforming_strings on: a backslash in
-- a literal is sent when the command ran with it on, alone in its query
-- string; otherwise it is not propagated
ALTER TABLE app.purchases ADD CONSTRAINT memo_words CHECK (memo ~ '^\w*$');
SET standard_conforming_strings = off;
SET escape_string_warning = off;
COMMENT ON TABLE app.purchases IS 'it\'s';
ALTER TABLE app.purchases ADD COLUMN slash text DEFAULT 'a\\b';
RESET escape_string_warning;
RESET standard_conforming_strings;
SELECT r->'message'->>'command' AS command FROM ddl_records() AS r WHERE r ? 'message';

-- ADD COLUMN with a default computed where it runs (now(), a sequence)
-- would give each node's existing rows other values: refused, unless the
-- table is empty
ALTER TABLE app.purchases ADD COLUMN stamped timestamptz DEFAULT now();
ALTER TABLE app.purchases ADD COLUMN n serial;
ALTER TABLE app.purchases ADD COLUMN fixed text DEFAULT 'same everywhere';
CREATE TABLE app.empty_one (id integer PRIMARY KEY);
ALTER TABLE app.empty_one ADD COLUMN stamped timestamptz DEFAULT now();
-- a view's columns are each node's own; a synced column dropped by a
-- CASCADE that began elsewhere goes too
CREATE VIEW app.pv AS SELECT id FROM app.purchases;
ALTER VIEW app.pv RENAME COLUMN id TO purchase_id;
CREATE TYPE other.mood AS ENUM ('ok');
ALTER TABLE app.purchases ADD COLUMN mood other.mood;
DROP TYPE other.mood CASCADE;
-- renaming a synced schema, or moving a table out of it: not propagated, said
ALTER TABLE app.empty_one SET SCHEMA other;
ALTER TABLE other.empty_one SET SCHEMA app;
SELECT r->'message'->>'command' AS command FROM ddl_records() AS r WHERE r ? 'message';

-- a message of that prefix from pg_logical_emit_message(), which anyone may
-- call, is not published: only the event trigger's are
SELECT 'forged' FROM pg_logical_emit_message(true, 'walbridge.ddl',
	'{"command": "DROP TABLE app.purchases", "search_path": "app", "role": "postgres"}');
-- a heartbeat neither (one saying this node applied everything would let peers purge tombstones)
SELECT 'forged' FROM pg_logical_emit_message(true, 'walbridge.heartbeat', '{"applied": {"e": "infinity"}}');
SELECT count(*) AS published FROM ddl_records();
-- and the outbox it writes to is nobody else's
SELECT has_table_privilege('public', 'walbridge.outbox', 'INSERT') AS public_may_insert;

-- not propagated: a WARNING, and nothing in the stream
CREATE FUNCTION app.f() RETURNS integer LANGUAGE sql AS 'SELECT 1';
CREATE VIEW app.v AS SELECT 1 AS one;
CREATE TABLE app.copied AS SELECT 1 AS id;
ALTER TABLE app.purchases OWNER TO CURRENT_USER;
GRANT SELECT ON app.purchases TO PUBLIC;
DO $$ BEGIN ALTER TABLE app.purchases ADD COLUMN hidden integer; END $$;
ALTER TABLE app.purchases DISABLE TRIGGER USER;
ALTER TABLE app.purchases ENABLE ROW LEVEL SECURITY;
CREATE TABLE app.placed (id integer PRIMARY KEY) TABLESPACE pg_default;

DROP SCHEMA other;
CREATE SCHEMA other;
SELECT * FROM ddl_records();

-- out of scope: silent
CREATE TABLE other.t (id integer PRIMARY KEY);
CREATE TABLE public.elsewhere (id integer PRIMARY KEY);
DROP TABLE other.t, public.elsewhere;
SELECT count(*) FROM ddl_records();

-- a table made later is given what start_sync() gives (publishing only: no tombstones, no guard)
SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE t.tgname LIKE 'walbridge%' AND c.relnamespace = 'app'::regnamespace;

-- DROP TABLE, and a role without privileges on walbridge's tables making a table
CREATE ROLE ddl_user;
GRANT USAGE, CREATE ON SCHEMA app TO ddl_user;		-- not on tables: no warning
SET ROLE ddl_user;
CREATE TABLE app.mine (id integer PRIMARY KEY);
DROP TABLE app.mine;
-- who may not keep a change from the peers
SET walbridge.bookkeeping = on;
-- nor make walbridge's bookkeeping, run as its owner, read their objects
CREATE TEMP VIEW pg_trigger AS SELECT * FROM pg_catalog.pg_trigger WHERE false;
CREATE TEMP VIEW pg_class AS SELECT * FROM pg_catalog.pg_class WHERE false;
CREATE TABLE app.shadowed (id integer PRIMARY KEY);
DROP VIEW pg_temp.pg_trigger, pg_temp.pg_class;
RESET ROLE;
SELECT count(*) AS shadowed_published FROM ddl_records() AS r WHERE r->'message'->>'command' LIKE '%shadowed%';
DROP TABLE app.keyless;
SELECT r->'message'->>'tag' AS tag, r->'message'->>'command' AS command, r->'message'->>'role' AS role
  FROM ddl_records() AS r WHERE r ? 'message';

-- ddl => false: schema changes are not captured
SELECT walbridge.start_sync('{}', schemas => '{app}', snapshot => false, ddl => false);
ALTER TABLE app.purchases ADD COLUMN quiet integer;
SELECT count(*) FROM ddl_records();

-- start_sync() argument checks
SELECT walbridge.start_sync('{}', tables => '{app.purchases}', schemas => '{app}');
SELECT walbridge.start_sync('{}', schemas => '{nosuch}');
SELECT walbridge.start_sync('{}', schemas => '{walbridge}');
SELECT walbridge.start_sync('{}', ddl => NULL);

-- with peers under last writer wins, a new table gets tombstones and the TRUNCATE guard
SELECT walbridge.start_sync('{e}', schemas => '{app}', snapshot => false);
CREATE TABLE app.meshed (id integer PRIMARY KEY, body text);
SELECT t.tgname FROM pg_trigger t WHERE t.tgrelid = 'app.meshed'::regclass ORDER BY 1;
SELECT relreplident FROM pg_class WHERE oid = 'app.meshed'::regclass;
SELECT count(*) FROM walbridge.tombstone_tables WHERE tbl = 'app.meshed'::regclass;
-- a partition made later is guarded too
CREATE TABLE app.parted (id integer, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE app.parted_2026 PARTITION OF app.parted FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SELECT count(*) AS partition_guarded FROM pg_trigger
 WHERE tgrelid = 'app.parted_2026'::regclass AND tgname = 'walbridge_no_truncate';
-- and its tombstones go with it
SELECT tombstones AS meshed_tombstones FROM walbridge.tombstone_tables WHERE tbl = 'app.meshed'::regclass \gset
DROP TABLE app.meshed;
SELECT count(*) FROM walbridge.tombstone_tables t WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = t.tbl);
SELECT to_regclass(:'meshed_tombstones') IS NULL AS tombstones_dropped;
SELECT r->'message'->>'command' AS command FROM ddl_records() AS r WHERE r ? 'message';

-- Apply: what a peer's message may do here (as apply runs it: replica,
-- where the event trigger does not capture it again).
CREATE TABLE app.target (id integer PRIMARY KEY);
INSERT INTO app.target VALUES (1);
SELECT r->'message'->>'command' AS command FROM ddl_records() AS r WHERE r ? 'message';
SET session_replication_role = replica;
SELECT walbridge.apply_ddl('not json');
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE target ADD COLUMN a integer"}');
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE target ADD COLUMN a integer; DROP TABLE target", "search_path": "app", "role": "ddl_user"}');
SELECT walbridge.apply_ddl('{"command": "CREATE FUNCTION app.evil() RETURNS void LANGUAGE sql AS ''''", "search_path": "app", "role": "ddl_user"}');
SELECT walbridge.apply_ddl('{"command": "ALTER ROLE ddl_user SUPERUSER", "search_path": "app", "role": "ddl_user"}');
SELECT walbridge.apply_ddl('{"command": "CREATE SCHEMA s CREATE VIEW v AS SELECT 1", "search_path": "app", "role": "ddl_user"}');
SELECT walbridge.apply_ddl('{"command": "CREATE TABLE x (id integer)", "search_path": "app", "role": "ddl_user", "settings": {"role": "postgres"}}');
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE target ADD COLUMN a integer", "search_path": "app", "role": "nobody"}');
SELECT walbridge.apply_ddl('{"command": "CREATE INDEX CONCURRENTLY ON target (id)", "search_path": "app", "role": "ddl_user"}');
-- as the role named, under the search_path given
ALTER TABLE app.target OWNER TO ddl_user;
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE target ADD COLUMN a integer", "search_path": "app", "role": "ddl_user"}');
SELECT walbridge.apply_ddl('{"command": "CREATE TABLE made (id integer PRIMARY KEY)", "search_path": "app", "role": "ddl_user"}');
SELECT relowner::regrole FROM pg_class WHERE oid = 'app.made'::regclass;
SELECT count(*) FROM walbridge.tombstone_tables WHERE tbl = 'app.made'::regclass;
-- what the command's code sets does not stay in apply's session
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE target ADD COLUMN z text DEFAULT pg_catalog.set_config(''statement_timeout'', ''1'', false)", "search_path": "app", "role": "ddl_user"}');
SHOW statement_timeout;
-- the settings the command ran with, for it alone
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE target ADD COLUMN since timestamptz DEFAULT ''01/02/2026 10:00''", "search_path": "app", "role": "ddl_user", "settings": {"TimeZone": "Asia/Tokyo", "DateStyle": "SQL, DMY"}}');
SELECT DISTINCT since AT TIME ZONE 'UTC' AS since_utc FROM app.target;
SHOW TimeZone;
-- the command's own code runs as it ran on the peer (not as apply's replica session)
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE target ADD COLUMN srr text DEFAULT current_setting(''session_replication_role'')", "search_path": "app", "role": "ddl_user"}');
SELECT DISTINCT srr FROM app.target;
SHOW session_replication_role;
-- and its text is read with standard_conforming_strings on, whatever apply's session says
SELECT jsonb_build_object('command', 'COMMENT ON TABLE target IS ''a' || chr(92) || 'b''',
						  'search_path', 'app', 'role', 'ddl_user')::text AS backslash_message \gset
SET standard_conforming_strings = off;
SELECT walbridge.apply_ddl(:'backslash_message');
RESET standard_conforming_strings;
SELECT obj_description('app.target'::regclass, 'pg_class') AS comment;
-- a serial column added again is recognised as the integer it is
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE target ADD COLUMN ser serial", "search_path": "app", "role": "ddl_user"}');
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE target ADD COLUMN ser serial", "search_path": "app", "role": "ddl_user"}');
-- the same column added on both nodes: recognised; with another type: an error
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE target ADD COLUMN a integer", "search_path": "app", "role": "ddl_user"}');
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE target ADD COLUMN a text", "search_path": "app", "role": "ddl_user"}');
-- what is already here is passed over: a table, an index, a type, a drop of what is gone
SELECT walbridge.apply_ddl('{"command": "CREATE TABLE target (id integer PRIMARY KEY)", "search_path": "app", "role": "ddl_user"}');
SELECT walbridge.apply_ddl('{"command": "CREATE INDEX target_pkey ON target (id)", "search_path": "app", "role": "ddl_user"}');
SELECT walbridge.apply_ddl(jsonb_build_object('command', 'CREATE TYPE status AS ENUM (''x'')',
											  'search_path', 'app', 'role', current_user)::text);
SELECT walbridge.apply_ddl('{"command": "DROP TABLE nothing_here", "search_path": "app", "role": "ddl_user"}');
SELECT walbridge.apply_ddl('{"command": "ALTER TYPE status ADD VALUE ''shipped''", "search_path": "app", "role": "ddl_user"}');
SELECT walbridge.apply_ddl(jsonb_build_object('command', 'ALTER TYPE status ADD VALUE ''shipped''',
											  'search_path', 'app', 'role', current_user)::text);
-- CONCURRENTLY runs outside a transaction, once
SELECT walbridge.ddl_outside_transaction('CREATE INDEX CONCURRENTLY target_a ON target (a)', 'app');
CREATE INDEX target_a ON app.target (a);
SELECT walbridge.ddl_outside_transaction('CREATE INDEX CONCURRENTLY target_a ON target (a)', 'app');
SELECT walbridge.ddl_outside_transaction('DROP INDEX CONCURRENTLY target_a', 'app');
SELECT walbridge.ddl_outside_transaction('ALTER TABLE target ADD COLUMN b integer', 'app');
SELECT walbridge.apply_ddl('{"command": "CREATE INDEX CONCURRENTLY target_a ON target (a)", "search_path": "app", "role": "ddl_user"}', ran_outside => true);
-- a rename is remembered; made again (the same rename on two nodes), it is passed over
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE target RENAME COLUMN z TO zed", "search_path": "app", "role": "ddl_user"}');
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE target RENAME COLUMN z TO zed", "search_path": "app", "role": "ddl_user"}');
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE target RENAME TO aim", "search_path": "app", "role": "ddl_user"}');
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE target RENAME TO aim", "search_path": "app", "role": "ddl_user"}');
SELECT relid::regclass, old_schema, old_table, old_column, attnum FROM walbridge.renames
 WHERE relid = 'app.aim'::regclass ORDER BY id;
-- another rename of a name that is gone is an error, as is one to a name that is taken
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE target RENAME TO goal", "search_path": "app", "role": "ddl_user"}');
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE aim RENAME COLUMN a TO zed", "search_path": "app", "role": "ddl_user"}');
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE aim RENAME TO target", "search_path": "app", "role": "ddl_user"}');
-- the old names of a table go with it
SELECT walbridge.apply_ddl('{"command": "CREATE TABLE brief (id integer PRIMARY KEY)", "search_path": "app", "role": "ddl_user"}');
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE brief RENAME TO short", "search_path": "app", "role": "ddl_user"}');
SELECT count(*) AS brief_renames FROM walbridge.renames WHERE old_table = 'brief';
SELECT walbridge.apply_ddl('{"command": "DROP TABLE short", "search_path": "app", "role": "ddl_user"}');
SELECT count(*) AS brief_renames FROM walbridge.renames WHERE old_table = 'brief';
-- an old name taken again is the new holder's: forgotten, also once that one is gone
SELECT walbridge.apply_ddl('{"command": "CREATE TABLE staging (id integer PRIMARY KEY)", "search_path": "app", "role": "ddl_user"}');
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE staging RENAME TO live", "search_path": "app", "role": "ddl_user"}');
SELECT count(*) AS staging_renames FROM walbridge.renames WHERE old_table = 'staging';
SELECT walbridge.apply_ddl('{"command": "CREATE TABLE staging (id integer PRIMARY KEY, n integer)", "search_path": "app", "role": "ddl_user"}');
SELECT count(*) AS staging_renames FROM walbridge.renames WHERE old_table = 'staging';
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE staging RENAME COLUMN n TO m", "search_path": "app", "role": "ddl_user"}');
SELECT count(*) AS n_renames FROM walbridge.renames WHERE old_column = 'n';
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE staging ADD COLUMN n text", "search_path": "app", "role": "ddl_user"}');
SELECT count(*) AS n_renames FROM walbridge.renames WHERE old_column = 'n';
-- PostgreSQL's other words for renaming a table (ALTER INDEX ... RENAME): remembered too
SELECT walbridge.apply_ddl('{"command": "ALTER INDEX live RENAME TO alive", "search_path": "app", "role": "ddl_user"}');
SELECT relid::regclass, old_table FROM walbridge.renames WHERE old_table = 'live';
SELECT walbridge.apply_ddl('{"command": "DROP TABLE alive, staging", "search_path": "app", "role": "ddl_user"}');
-- a table dropped however (here with walbridge.bookkeeping on, outside what is synced): its old names go with it
SELECT walbridge.apply_ddl(jsonb_build_object('command', 'CREATE TABLE aside (id integer PRIMARY KEY)', 'search_path', 'other', 'role', current_user)::text);
SELECT walbridge.apply_ddl(jsonb_build_object('command', 'ALTER TABLE aside RENAME TO beside', 'search_path', 'other', 'role', current_user)::text);
SELECT count(*) AS aside_renames FROM walbridge.renames WHERE old_table = 'aside';
SET session_replication_role = origin;
SET walbridge.bookkeeping = on;
DROP TABLE other.beside;
RESET walbridge.bookkeeping;
SET session_replication_role = replica;
SELECT count(*) AS aside_renames FROM walbridge.renames WHERE old_table IN ('aside', 'staging', 'live');
-- a role walbridged's role is not a member of
CREATE ROLE ddl_applier;
GRANT USAGE ON SCHEMA walbridge TO ddl_applier;
GRANT EXECUTE ON FUNCTION walbridge.apply_ddl(text, boolean), walbridge.run_ddl(text, text, text, boolean, text[]) TO ddl_applier;
SET ROLE ddl_applier;
SELECT walbridge.apply_ddl('{"command": "ALTER TABLE target ADD COLUMN c integer", "search_path": "app", "role": "ddl_user"}');
RESET ROLE;
RESET session_replication_role;
SELECT count(*) AS published_by_apply FROM ddl_records();

-- clean up for later tests
SELECT 'stop' FROM pg_drop_replication_slot('ddl_slot');
SELECT walbridge.stop_sync(drop_slot => true);
SELECT walbridge.untrack_deletes(tbl) FROM walbridge.tombstone_tables;
DELETE FROM walbridge.sync; DELETE FROM walbridge.apply_progress; DELETE FROM walbridge.node;
SELECT pg_replication_origin_drop('walbridge_e');
DROP SCHEMA app CASCADE;
DROP SCHEMA other;
REVOKE ALL ON SCHEMA walbridge FROM ddl_applier;
REVOKE ALL ON FUNCTION walbridge.apply_ddl(text, boolean), walbridge.run_ddl(text, text, text, boolean, text[]) FROM ddl_applier;
DROP ROLE ddl_user, ddl_applier;
