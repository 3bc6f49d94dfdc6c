/* walbridge extension: the SQL side of the walbridge output plugin */

\echo Use "CREATE EXTENSION walbridge" to load this file. \quit

/*
 * decode(record bytea) renders one msgpack record of a walbridge slot as
 * jsonb (docs/FORMAT.md), e.g.
 *   SELECT walbridge.decode(data)
 *     FROM pg_logical_slot_peek_binary_changes('s', NULL, NULL);
 */
CREATE FUNCTION walbridge.decode(record bytea)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'walbridge_decode'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION walbridge.decode(bytea) IS
	'render one binary walbridge change record as jsonb';

/*
 * The server settings walbridge needs, one row each, with what to do about
 * the ones that are wrong.  Every walbridge function that needs a setting
 * raises the same hint through require_setup().
 */
CREATE FUNCTION walbridge.check_setup(
	OUT setting text, OUT current_value text, OUT ok boolean, OUT hint text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	libs text := current_setting('output_plugin_libraries', true);
	lib_list text[];
BEGIN
	setting := 'wal_level';
	current_value := current_setting('wal_level');
	ok := current_value = 'logical';
	hint := CASE WHEN NOT ok THEN
		'Run ALTER SYSTEM SET wal_level = logical; then restart the server (a reload is not enough).' END;
	RETURN NEXT;

	/*
	 * PostgreSQL 15.19 and later load an output plugin only when it is in
	 * this list; older servers have no such setting and load any plugin.
	 */
	setting := 'output_plugin_libraries';
	current_value := coalesce(libs, '(not present in this server version)');
	/* a list setting: elements separated by commas, possibly quoted */
	SELECT array_agg(coalesce(m[1], m[2])) INTO lib_list
	  FROM regexp_matches(coalesce(libs, ''), '"([^"]*)"|([^,[:space:]]+)', 'g') AS m;
	ok := libs IS NULL OR 'walbridge' = ANY (coalesce(lib_list, '{}'));
	hint := CASE WHEN NOT ok THEN
		format('Run ALTER SYSTEM SET output_plugin_libraries = %s; then SELECT pg_reload_conf(); (a reload suffices, no restart is needed).',
			   (SELECT string_agg(quote_literal(lib), ', ')
				  FROM unnest(coalesce(lib_list, '{}') || 'walbridge'::text) AS lib)) END;
	RETURN NEXT;

	setting := 'track_commit_timestamp';
	current_value := current_setting('track_commit_timestamp');
	ok := current_value = 'on';
	hint := CASE WHEN NOT ok THEN
		'Run ALTER SYSTEM SET track_commit_timestamp = on; then restart the server. Conflict resolution compares commit timestamps.' END;
	RETURN NEXT;

	setting := 'max_replication_slots';
	current_value := current_setting('max_replication_slots');
	ok := current_value::int > 0;
	hint := CASE WHEN NOT ok THEN
		'Run ALTER SYSTEM SET max_replication_slots = 10; then restart the server.' END;
	RETURN NEXT;
END;
$$;

COMMENT ON FUNCTION walbridge.check_setup() IS
	'server settings walbridge needs, and how to fix the wrong ones';

/*
 * Raise the first wrong setting among those named, with its fix as hint.
 */
CREATE FUNCTION walbridge.require_setup(settings text[])
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c record;
BEGIN
	FOR c IN SELECT * FROM walbridge.check_setup() AS s
			 WHERE s.setting = ANY (settings) AND NOT s.ok
	LOOP
		RAISE EXCEPTION 'walbridge needs % to be changed', c.setting
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = format('%s is currently %L.', c.setting, c.current_value),
				  HINT = c.hint;
	END LOOP;
END;
$$;

/*
 * create_slot(slot_name) makes a logical replication slot for the walbridge
 * plugin, after checking that the server can serve it.
 */
CREATE FUNCTION walbridge.create_slot(slot_name name, temporary boolean DEFAULT false)
RETURNS pg_lsn
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	consistent_at pg_lsn;
BEGIN
	PERFORM walbridge.require_setup(ARRAY['wal_level', 'output_plugin_libraries']);
	SELECT s.lsn INTO consistent_at
	  FROM pg_create_logical_replication_slot(slot_name, 'walbridge', temporary) AS s;
	RETURN consistent_at;
END;
$$;

COMMENT ON FUNCTION walbridge.create_slot(name, boolean) IS
	'create a logical replication slot using the walbridge output plugin';

/*
 * snapshot_records(table) returns the table's rows as walbridge records:
 * its RELATION record, then one SNAPSHOT record per row.  walbridged reads
 * it inside a new slot's exported snapshot, through a cursor, to publish
 * the initial copy a new mirror starts from.
 */
CREATE FUNCTION walbridge.snapshot_records(tbl regclass)
RETURNS SETOF bytea
AS 'MODULE_PATHNAME', 'walbridge_snapshot_records'
LANGUAGE C STRICT VOLATILE;

COMMENT ON FUNCTION walbridge.snapshot_records(regclass) IS
	'the rows of a table as walbridge records, for an initial copy';

/*
 * This node's name, unique across the mesh; walbridged reads it at start.
 * One row at most.  snapshot_lsn records that the initial copy for the
 * node's slot was fully published (acknowledged by Kafka).
 */
/*
 * The messages only walbridge publishes (plugin/outbox.h): a schema change
 * (capture_ddl()) or a heartbeat (heartbeat()) is written here as the
 * extension's owner, in its transaction, and deleted at once; the output
 * plugin publishes the insert it decodes as a MESSAGE record of that
 * prefix.  Nobody else may write here, and a logical message of these
 * prefixes sent with pg_logical_emit_message(), which anyone may call, is
 * not published: a peer acts only on what this node's walbridge said.
 */
CREATE TABLE walbridge.outbox (
	prefix text NOT NULL CHECK (prefix IN ('walbridge.ddl', 'walbridge.heartbeat')),
	message text NOT NULL
);

/*
 * The names tables and columns had before a rename, so that a peer's
 * changes made under the old name before the rename reached it still find
 * their table (forwarder/apply/relmap.c): written where a synced table or
 * its column is renamed (capture_ddl()) and where a peer's rename is
 * applied (run_ddl()); a row for a table that is gone goes with it
 * (adopt_tables()).  By relid, which a dump does not keep: these rows are
 * not dumped.  A row is a table's rename (old_schema, old_table) or a
 * column's (old_column, and the column's attnum); the newest row of a name
 * counts.
 */
CREATE TABLE walbridge.renames (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	relid oid NOT NULL,
	old_schema name,
	old_table name,
	old_column name,
	attnum smallint,
	renamed_at timestamptz NOT NULL DEFAULT now(),
	CHECK (CASE WHEN old_column IS NULL
				THEN old_schema IS NOT NULL AND old_table IS NOT NULL AND attnum IS NULL
				ELSE old_schema IS NULL AND old_table IS NULL AND attnum > 0 END)
);
CREATE INDEX ON walbridge.renames (old_schema, old_table);
CREATE INDEX ON walbridge.renames (relid);

/*
 * Old names that no longer lead anywhere: the table is gone (its relid
 * could be another table's one day), or the name is taken again by a new
 * table or column, which the name means from then on, also once that one
 * is gone.  Run after a drop (any drop: capture_ddl()), a rename, and
 * what adopt_tables() follows.
 */
CREATE FUNCTION walbridge.forget_old_names()
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	DELETE FROM walbridge.renames r
	 WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = r.relid AND c.relkind IN ('r', 'p'))
		OR EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
					WHERE n.nspname = r.old_schema AND c.relname = r.old_table)
		OR EXISTS (SELECT FROM pg_attribute a
					WHERE a.attrelid = r.relid AND a.attname = r.old_column AND NOT a.attisdropped)
$$;

CREATE TABLE walbridge.node (
	name text NOT NULL PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
	single boolean NOT NULL DEFAULT true UNIQUE CHECK (single),
	created_at timestamptz NOT NULL DEFAULT now(),
	snapshot_lsn pg_lsn,
	incarnation text				/* made by walbridged with its slot: messages carry it (wb.incarnation) */
);
SELECT pg_catalog.pg_extension_config_dump('walbridge.node', '');

CREATE FUNCTION walbridge.create_node(name text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	existing text;
BEGIN
	SELECT n.name INTO existing FROM walbridge.node AS n;
	IF existing IS NOT NULL THEN
		RAISE EXCEPTION 'this database is already walbridge node "%"', existing
			USING ERRCODE = 'duplicate_object',
				  HINT = 'A database is one node; its name cannot change while peers know it.';
	END IF;
	IF name IS NULL OR name !~ '^[A-Za-z0-9_.-]{1,64}$' THEN
		RAISE EXCEPTION 'invalid node name %', quote_literal(coalesce(name, 'NULL'))
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'The name is part of Kafka topic names and replication origin names.',
				  HINT = 'Use 1 to 64 letters, digits, "_", "." or "-".';
	END IF;
	INSERT INTO walbridge.node (name) VALUES (create_node.name);
	RETURN name;
END;
$$;

COMMENT ON FUNCTION walbridge.create_node(text) IS
	'name this database as a walbridge node, unique across the mesh';

/* ------------------------------------------------------------------------
 * Sync control: start_sync(), stop_sync(), status(), skip().  walbridged
 * LISTENs on channel walbridge_control and follows walbridge.sync within
 * a second.
 * --------------------------------------------------------------------- */

/* What this node does: one row, written only through start/stop_sync. */
CREATE TABLE walbridge.sync (
	single boolean PRIMARY KEY DEFAULT true CHECK (single),
	running boolean NOT NULL,
	peers text[] NOT NULL,			/* nodes whose topics are applied here */
	tables regclass[],				/* these tables (they keep their place through RENAME); */
	schemas name[],					/* or every table with a primary key in these schemas; */
									/* neither: every table with a primary key (synced_tables()) */
	conflict text NOT NULL CHECK (conflict IN ('last_writer_wins', 'apply_remote', 'keep_local', 'error')),
	snapshot boolean NOT NULL,
	full_rows boolean,				/* as start_sync() was given it (NULL: its default) */
	ddl boolean NOT NULL DEFAULT true,	/* schema changes are captured and published (capture_ddl()) */
	drop_slot_requested boolean NOT NULL DEFAULT false,	/* by stop_sync(true) */
	changed_at timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('walbridge.sync', '');

/* Per peer: how far its topic is applied here, and why it is paused. */
CREATE TABLE walbridge.apply_progress (
	peer text PRIMARY KEY,
	kafka_offset bigint,			/* last message applied */
	source_commit_lsn pg_lsn,		/* of the last transaction applied */
	source_commit_time timestamptz,
	applied_at timestamptz,
	topic_end_offset bigint,		/* the topic's end when last seen */
	conflicts bigint NOT NULL DEFAULT 0,
	paused_offset bigint,			/* the message apply stopped at */
	last_error text,
	last_error_at timestamptz,
	skip_offset bigint,				/* set by skip(): pass over this message */
	heartbeat_commit_time timestamptz,	/* the peer's newest heartbeat applied at the topic's end: its commit time, */
	heartbeat_received_at timestamptz,	/* and this node's clock when apply received it (clock_skew_seconds in status()) */
	peer_applied jsonb,				/* as the peer's last heartbeat said: per node it applies, the commit time of
									 * that node's newest transaction applied there (null: none yet); NULL:
									 * not said, or it waited for a copy (purge_tombstones()) */
	/* who the peer is (wb.system_id, wb.timeline, wb.incarnation of the last message applied) */
	source_system_id text,
	source_timeline integer,
	source_incarnation text,
	new_incarnation text,			/* the identity apply paused on, until resync() accepts it */
	source_since timestamptz,		/* when resync() accepted the peer's current incarnation (NULL: always this one) */
	/* resync(): the request, and the copy's progress as the peer's messages tell it */
	resync_id text,
	resync_requested_at timestamptz,
	resync_sent_at timestamptz,		/* walbridged produced the request */
	resync_state text CHECK (resync_state IN ('requested', 'copying', 'done')),
	resync_table text,				/* being copied */
	resync_rows bigint,
	resync_deleted bigint,			/* rows here the copy found gone on the peer */
	resync_finished_at timestamptz
);

/* The publishing side, as walbridged last reported it. */
CREATE TABLE walbridge.publish_status (
	single boolean PRIMARY KEY DEFAULT true CHECK (single),
	state text NOT NULL,
	confirmed_at timestamptz,
	last_error text,
	last_error_at timestamptz,
	updated_at timestamptz NOT NULL DEFAULT now()
);

/* Every conflict walbridge resolved, with both versions of the row. */
CREATE TABLE walbridge.conflicts (
	id bigserial PRIMARY KEY,
	occurred_at timestamptz NOT NULL DEFAULT now(),
	peer text NOT NULL,
	table_name text NOT NULL,
	kind text NOT NULL,				/* insert_exists, sequence_collision, update_missing, update_differs, delete_missing, ... */
	decision text NOT NULL,			/* apply_remote, keep_local, insert_remote, ignore */
	local_row jsonb,
	remote_row jsonb,
	local_commit_time timestamptz,
	remote_commit_time timestamptz,
	remote_commit_lsn pg_lsn
);

/* What skip() passed over, and who asked. */
CREATE TABLE walbridge.skipped (
	id bigserial PRIMARY KEY,
	skipped_at timestamptz NOT NULL DEFAULT now(),
	skipped_by text NOT NULL DEFAULT current_user,
	peer text NOT NULL,
	kafka_offset bigint NOT NULL,
	error text
);

/* The replication origin under which a peer's changes are applied. */
CREATE FUNCTION walbridge.origin_name(peer text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'walbridge_' || peer $$;

/* walbridged's slot name: walbridge_ and the node name folded to [a-z0-9_]. */
CREATE FUNCTION walbridge.slot_name(node text)
RETURNS name LANGUAGE sql IMMUTABLE
AS $$ SELECT ('walbridge_' || regexp_replace(lower(node), '[^a-z0-9]', '_', 'g'))::name $$;

CREATE FUNCTION walbridge.start_sync(peers text[], tables regclass[] DEFAULT NULL,
	conflict text DEFAULT 'last_writer_wins', snapshot boolean DEFAULT true,
	full_rows boolean DEFAULT NULL, schemas name[] DEFAULT NULL, ddl boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	me text := (SELECT n.name FROM walbridge.node AS n);
	p text;
	t regclass;
	names regclass[];
	sch name;
BEGIN
	PERFORM walbridge.require_setup(ARRAY['wal_level', 'output_plugin_libraries', 'track_commit_timestamp']);
	IF me IS NULL THEN
		RAISE EXCEPTION 'this database is not a walbridge node yet'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Run SELECT walbridge.create_node(''<name>'') first, with a name unique across the mesh.';
	END IF;
	IF peers IS NULL THEN
		RAISE EXCEPTION 'peers must not be NULL'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass ''{}'' to publish this node''s changes without applying any peer''s.';
	END IF;
	IF conflict IS NULL OR conflict NOT IN ('last_writer_wins', 'apply_remote', 'keep_local', 'error') THEN
		RAISE EXCEPTION 'unknown conflict policy %', quote_literal(coalesce(conflict, 'NULL'))
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Valid policies are last_writer_wins, apply_remote, keep_local and error.';
	END IF;
	FOREACH p IN ARRAY peers LOOP
		IF p IS NULL OR p !~ '^[A-Za-z0-9_.-]{1,64}$' THEN
			RAISE EXCEPTION 'invalid peer name %', quote_literal(coalesce(p, 'NULL'))
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Peers are other nodes'' names, as they gave them to create_node().';
		END IF;
		IF p = me THEN
			RAISE EXCEPTION 'node "%" cannot be its own peer', me
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'List the other nodes whose changes this node should apply.';
		END IF;
	END LOOP;
	IF cardinality(peers) <> (SELECT count(DISTINCT x) FROM unnest(peers) AS x) THEN
		RAISE EXCEPTION 'a peer is listed twice' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF ddl IS NULL THEN
		RAISE EXCEPTION 'ddl must not be NULL' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF tables IS NOT NULL AND schemas IS NOT NULL THEN
		RAISE EXCEPTION 'give tables or schemas, not both'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'tables names the tables to sync; schemas syncs every table with a primary key in them, those created later too.';
	END IF;
	IF schemas IS NOT NULL THEN
		FOREACH sch IN ARRAY schemas LOOP
			IF sch IS NULL OR NOT EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = sch) THEN
				RAISE EXCEPTION 'schema % does not exist', quote_ident(coalesce(sch, 'NULL'))
					USING ERRCODE = 'invalid_schema_name';
			END IF;
			IF sch IN ('pg_catalog', 'information_schema', 'walbridge') OR sch ~ '^pg_' THEN
				RAISE EXCEPTION 'schema % cannot be synced', quote_ident(sch)
					USING ERRCODE = 'invalid_parameter_value',
						  DETAIL = 'walbridge syncs tables outside the system schemas and its own schema walbridge, whose tables are each node''s own.';
			END IF;
		END LOOP;
	END IF;
	IF tables IS NOT NULL THEN
		FOREACH t IN ARRAY tables LOOP
			/* what may be synced: the rows of user tables that every node has alike */
			IF NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
							WHERE c.oid = t AND c.relkind IN ('r', 'p') AND c.relpersistence = 'p'
							  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'walbridge')
							  AND n.nspname !~ '^pg_') THEN
				RAISE EXCEPTION '% cannot be synced', t
					USING ERRCODE = 'invalid_parameter_value',
						  DETAIL = 'walbridge syncs permanent ordinary and partitioned tables outside the system schemas and its own schema walbridge, whose tables are each node''s own.';
			END IF;
			IF NOT EXISTS (SELECT 1 FROM pg_index WHERE indrelid = t AND indisprimary) THEN
				RAISE EXCEPTION 'table % has no primary key', t
					USING ERRCODE = 'invalid_parameter_value',
						  DETAIL = 'walbridge finds a row on every node by its primary key.',
						  HINT = format('Add one (ALTER TABLE %s ADD PRIMARY KEY (...)), or leave the table out.', t);
			END IF;
			names := names || t;
		END LOOP;
	END IF;

	FOREACH p IN ARRAY peers LOOP
		IF pg_replication_origin_oid(walbridge.origin_name(p)) IS NULL THEN
			PERFORM pg_replication_origin_create(walbridge.origin_name(p));
		END IF;
		INSERT INTO walbridge.apply_progress (peer) VALUES (p) ON CONFLICT DO NOTHING;
	END LOOP;

	INSERT INTO walbridge.sync AS s (running, peers, tables, schemas, conflict, snapshot, full_rows, ddl)
	VALUES (true, peers, names, schemas, conflict, snapshot, full_rows, ddl)
	ON CONFLICT (single) DO UPDATE
	   SET running = true, peers = excluded.peers, tables = excluded.tables, schemas = excluded.schemas,
		   conflict = excluded.conflict, snapshot = excluded.snapshot, full_rows = excluded.full_rows,
		   ddl = excluded.ddl, drop_slot_requested = false, changed_at = now();
	PERFORM walbridge.adopt_tables(true);
	NOTIFY walbridge_control;
END;
$$;

COMMENT ON FUNCTION walbridge.start_sync(text[], regclass[], text, boolean, boolean, name[], boolean) IS
	'publish this node''s changes and apply each peer''s; walbridged follows within a second';

/*
 * What start_sync() gives the synced tables, for those it found and for
 * those made since (walbridge.capture_ddl() and walbridge.run_ddl() call
 * it after a command that made or changed a table, as the extension's
 * owner): under last writer wins, tombstones, so that a peer's update
 * after a delete here is ordered (track_deletes()); the serial-key
 * warning for new tables (created); REPLICA IDENTITY FULL where large
 * values need it (set_full_rows()); the TRUNCATE guard where peers write
 * (guard_truncates()).  The tombstones and old names of a table that is
 * gone go too.
 */
CREATE FUNCTION walbridge.adopt_tables(created boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET walbridge.bookkeeping = on	/* its commands are not captured (capture_ddl()) */
AS $$
DECLARE
	s walbridge.sync;
	gone record;
BEGIN
	PERFORM walbridge.forget_old_names();
	SELECT * INTO s FROM walbridge.sync;
	IF NOT FOUND OR NOT s.running THEN
		RETURN;
	END IF;
	FOR gone IN SELECT t.tbl, t.tombstones FROM walbridge.tombstone_tables t
				 WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.tbl) LOOP
		DELETE FROM walbridge.tombstone_tables t WHERE t.tbl = gone.tbl;
		EXECUTE format('DROP TABLE IF EXISTS %s', gone.tombstones);
	END LOOP;
	/* last writer wins orders a peer's update after a delete here too */
	IF s.conflict = 'last_writer_wins' AND cardinality(s.peers) > 0 THEN
		PERFORM walbridge.track_deletes(x::regclass) FROM walbridge.synced_tables() AS x;
	END IF;
	/* serial and identity keys collide between writers unless partitioned */
	IF created AND cardinality(s.peers) > 0 THEN
		PERFORM walbridge.warn_unpartitioned_sequences();
	END IF;
	/* updates carry the large values they leave alone (see set_full_rows()) */
	IF coalesce(s.full_rows, s.conflict = 'last_writer_wins' AND cardinality(s.peers) > 0) THEN
		PERFORM walbridge.set_full_rows();
	END IF;
	/* where peers write too, a TRUNCATE here would wipe their later rows */
	PERFORM walbridge.guard_truncates(cardinality(s.peers) > 0);
END;
$$;

/*
 * Stop both jobs.  With drop_slot, the slot goes too, so no WAL is
 * retained: at once when no walbridged holds it, else walbridged drops it
 * when it lets go (the request stays in walbridge.sync until then).  The
 * next start_sync() then begins with a new initial copy.
 */
/*
 * The synced tables and every partition under one (each has its own
 * replica identity and its own TRUNCATE), once each.
 */
CREATE FUNCTION walbridge.synced_relations()
RETURNS SETOF regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	/* from pg_inherits, which takes no lock (pg_partition_tree() locks every partition) */
	WITH RECURSIVE tree(r) AS (
		SELECT x::regclass FROM walbridge.synced_tables() AS x
		UNION
		SELECT i.inhrelid::regclass FROM pg_inherits i JOIN tree ON i.inhparent = tree.r)
	SELECT r FROM tree
$$;

/*
 * Large values under last writer wins.  An UPDATE that leaves a value
 * stored out of line (TOAST) alone does not log it, so the change says
 * only "unchanged": a node where that update wins over another writer's
 * version keeps the other writer's value, the writer keeps its own, and
 * the nodes differ; a node where the row is missing cannot insert it
 * whole.  Under REPLICA IDENTITY FULL the server logs the old row with its
 * large values inline, and the output plugin puts a value the update left
 * alone back into the new row: every update carries the whole row, and
 * the later one wins whole, alike everywhere.  So start_sync() (with peers
 * under last_writer_wins, unless full_rows => false) sets REPLICA IDENTITY
 * FULL on each synced table, and on each partition under one, that has
 * the default identity and a column whose values can be stored out of
 * line.  The cost: each UPDATE and DELETE of those tables logs the old row
 * (and the topic carries it); ALTER TABLE takes its ACCESS EXCLUSIVE lock
 * briefly.  A one-way mirror, which writes nothing its source applies,
 * needs none of it: start_sync('{a}', full_rows => false).
 */
CREATE FUNCTION walbridge.set_full_rows()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET walbridge.bookkeeping = on	/* its commands are not captured (capture_ddl()) */
AS $$
DECLARE
	rel regclass;
	done text[];
BEGIN
	FOR rel IN SELECT DISTINCT c.oid::regclass
				 FROM walbridge.synced_relations() AS t(r)
				 JOIN pg_class c ON c.oid = t.r
				WHERE c.relreplident = 'd'
				  AND EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
							   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
								 AND ty.typlen = -1 AND a.attstorage <> 'p') LOOP
		EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', rel);
		done := done || rel::text;
	END LOOP;
	IF done IS NOT NULL THEN
		RAISE NOTICE 'REPLICA IDENTITY FULL set on %', array_to_string(done, ', ')
			USING DETAIL = 'An update then carries the large values it leaves unchanged, so that last writer wins takes whole rows on every node; each update and delete logs the old row.',
				  HINT = 'A one-way mirror needs none of it: start_sync(..., full_rows => false).';
	END IF;
END;
$$;

/*
 * TRUNCATE in a mesh.  A TRUNCATE is applied on every peer as it is: it
 * would also remove the rows other nodes wrote after it, by any clock, and
 * no conflict could be recorded.  So on a node that applies peers (a mesh
 * member, or a mirror) a synced table refuses TRUNCATE: a BEFORE TRUNCATE
 * trigger, which (not ENABLE ALWAYS) stays silent in apply's sessions
 * (session_replication_role = replica), so a one-way source's TRUNCATE
 * still reaches its mirrors.  DELETE is replicated row by row and decided
 * by the conflict policy.  start_sync() sets the guards (on every synced
 * table and its partitions while there are peers) or lifts them (a node
 * applying no peer); stop_sync(drop_slot => true) lifts them, nothing being
 * published after.  Setting or lifting a trigger locks its table briefly
 * (SHARE ROW EXCLUSIVE, ACCESS EXCLUSIVE to drop), as any CREATE TRIGGER.
 * A partition made or attached later is guarded by that command while
 * schema changes are captured (adopt_tables()), else at the next
 * start_sync().
 */
CREATE FUNCTION walbridge.refuse_truncate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RAISE EXCEPTION 'TRUNCATE of %.% is refused: walbridge syncs this table with peers', TG_TABLE_SCHEMA, TG_TABLE_NAME
		USING ERRCODE = 'feature_not_supported',
			  DETAIL = 'Peers would apply the TRUNCATE as it is, removing also the rows other nodes wrote after it.',
			  HINT = format('Use DELETE FROM %I.%I: every node applies deletes row by row under the conflict policy.'
							' A node that only publishes (start_sync(''{}'')) may TRUNCATE: its mirrors follow.',
							TG_TABLE_SCHEMA, TG_TABLE_NAME);
END;
$$;

CREATE FUNCTION walbridge.guard_truncates(guard boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET walbridge.bookkeeping = on	/* its commands are not captured (capture_ddl()) */
AS $$
DECLARE
	rel regclass;
	wanted oid[];
BEGIN
	/*
	 * Every synced table and every partition under one: a partition
	 * truncated on its own is not published at all, which would leave its
	 * rows gone here only.
	 */
	IF guard THEN
		SELECT array_agg(r::oid) INTO wanted FROM walbridge.synced_relations() AS r;
	END IF;
	/*
	 * Only walbridge's own guards: a trigger of that name with another
	 * function, or one cloned from a partitioned table's (which cannot be
	 * dropped on its own), is someone else's.
	 */
	FOR rel IN SELECT t.tgrelid::regclass FROM pg_trigger t
				WHERE t.tgname = 'walbridge_no_truncate' AND t.tgparentid = 0
				  AND t.tgfoid = 'walbridge.refuse_truncate()'::regprocedure
				  AND t.tgrelid <> ALL (coalesce(wanted, '{}')) LOOP
		EXECUTE format('DROP TRIGGER IF EXISTS walbridge_no_truncate ON %s', rel);
	END LOOP;
	FOR rel IN SELECT w FROM unnest(wanted) AS w
				WHERE NOT EXISTS (SELECT 1 FROM pg_trigger t
								   WHERE t.tgrelid = w AND t.tgname = 'walbridge_no_truncate'
									 AND t.tgfoid = 'walbridge.refuse_truncate()'::regprocedure) LOOP
		/*
		 * a trigger of that name but another function is not walbridge's
		 * guard; one cloned from a partitioned table is its table's owner's
		 * doing and cannot go on its own: the guard is refused, said
		 */
		IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = rel AND t.tgname = 'walbridge_no_truncate'
					AND t.tgparentid <> 0) THEN
			RAISE WARNING 'table % has a trigger walbridge_no_truncate of its own: TRUNCATE is not guarded there', rel;
			CONTINUE;
		END IF;
		IF EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = rel AND t.tgname = 'walbridge_no_truncate') THEN
			EXECUTE format('DROP TRIGGER walbridge_no_truncate ON %s', rel);
		END IF;
		EXECUTE format('CREATE TRIGGER walbridge_no_truncate BEFORE TRUNCATE ON %s'
					   ' FOR EACH STATEMENT EXECUTE FUNCTION walbridge.refuse_truncate()', rel);
	END LOOP;
END;
$$;

CREATE FUNCTION walbridge.stop_sync(drop_slot boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	slot name := walbridge.slot_name((SELECT n.name FROM walbridge.node AS n));
	holder integer;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM walbridge.sync) THEN
		RAISE EXCEPTION 'sync was never started on this node'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'See walbridge.start_sync().';
	END IF;
	UPDATE walbridge.sync SET running = false, drop_slot_requested = drop_slot, changed_at = now();
	IF drop_slot THEN
		PERFORM walbridge.guard_truncates(false);
		SELECT s.active_pid INTO holder FROM pg_replication_slots AS s WHERE s.slot_name = slot;
		IF FOUND AND holder IS NULL THEN
			PERFORM pg_drop_replication_slot(slot);
			UPDATE walbridge.node SET snapshot_lsn = NULL, incarnation = NULL;
			UPDATE walbridge.sync SET drop_slot_requested = false;
		ELSIF FOUND THEN
			RAISE NOTICE 'walbridged (pid %) will drop slot "%" when it stops, within a second', holder, slot;
		END IF;
	END IF;
	NOTIFY walbridge_control;
END;
$$;

COMMENT ON FUNCTION walbridge.stop_sync(boolean) IS
	'stop publishing and applying; with drop_slot, drop the slot so no WAL is retained';

/*
 * clock_skew_seconds, per peer: the commit time of the peer's newest
 * heartbeat that apply found at the end of its topic, less this node's
 * clock when apply received it.  Positive: the peer's clock is ahead by at
 * least that much; negative: it is behind, or the heartbeat took that long
 * to arrive (delivery through Kafka adds tens of milliseconds, never
 * subtracts).  NULL until such a heartbeat arrived.
 */
CREATE FUNCTION walbridge.status()
RETURNS TABLE (direction text, peer text, state text, confirmed_lsn pg_lsn, current_lsn pg_lsn,
	lag_bytes numeric, lag_seconds double precision, kafka_offset bigint, conflicts bigint,
	last_error text, last_error_at timestamptz, clock_skew_seconds double precision, resync text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT 'publish', NULL::text,
		   CASE WHEN NOT coalesce(s.running, false) THEN 'stopped'
				ELSE coalesce(ps.state, 'starting') END,
		   sl.confirmed_flush_lsn, pg_current_wal_lsn(),
		   pg_wal_lsn_diff(pg_current_wal_lsn(), sl.confirmed_flush_lsn),
		   CASE WHEN sl.confirmed_flush_lsn >= pg_current_wal_lsn() THEN 0
				ELSE extract(epoch FROM now() - ps.confirmed_at)::double precision END,
		   NULL::bigint, NULL::bigint, ps.last_error, ps.last_error_at, NULL::double precision,
		   (SELECT format('copying for %s: %s rows', j.requester, j.rows)
			  FROM walbridge.resync_jobs AS j WHERE j.state = 'copying' ORDER BY j.started_at LIMIT 1)
	  FROM walbridge.node AS n
	  LEFT JOIN walbridge.sync AS s ON true
	  LEFT JOIN walbridge.publish_status AS ps ON true
	  LEFT JOIN pg_replication_slots AS sl ON sl.slot_name = walbridge.slot_name(n.name)
	UNION ALL
	SELECT 'apply', a.peer,
		   CASE WHEN NOT coalesce(s.running, false) OR NOT a.peer = ANY (s.peers) THEN 'stopped'
				WHEN a.paused_offset IS NOT NULL THEN 'paused'
				ELSE 'running' END,
		   a.source_commit_lsn, NULL::pg_lsn, NULL::numeric,
		   CASE WHEN a.topic_end_offset IS NOT NULL AND a.kafka_offset >= a.topic_end_offset - 1 THEN 0
				ELSE extract(epoch FROM now() - a.source_commit_time)::double precision END,
		   a.kafka_offset, a.conflicts, a.last_error, a.last_error_at,
		   extract(epoch FROM a.heartbeat_commit_time - a.heartbeat_received_at)::double precision,
		   CASE a.resync_state
				WHEN 'requested' THEN format('requested %s%s', to_char(a.resync_requested_at, 'YYYY-MM-DD HH24:MI:SS'),
											 CASE WHEN a.resync_sent_at IS NULL THEN ', not sent yet' ELSE '' END)
				WHEN 'copying' THEN format('copying %s: %s rows, %s deleted here', a.resync_table, a.resync_rows, a.resync_deleted)
				WHEN 'done' THEN format('done %s: %s rows, %s deleted here', to_char(a.resync_finished_at, 'YYYY-MM-DD HH24:MI:SS'),
										a.resync_rows, a.resync_deleted)
		   END
	  FROM walbridge.apply_progress AS a
	  LEFT JOIN walbridge.sync AS s ON true
	 ORDER BY 1 DESC, 2;
$$;

COMMENT ON FUNCTION walbridge.status() IS
	'one row per direction: publishing, and applying each peer';

/* Pass over the message a peer's apply is paused at, recording it. */
CREATE FUNCTION walbridge.skip(peer text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	progress walbridge.apply_progress;
BEGIN
	SELECT * INTO progress FROM walbridge.apply_progress AS a WHERE a.peer = skip.peer FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'node "%" is not a peer of this node', peer
			USING ERRCODE = 'undefined_object';
	END IF;
	IF progress.paused_offset IS NULL THEN
		RAISE EXCEPTION 'applying peer "%" is not paused', peer
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'skip() passes over the message apply stopped at; see walbridge.status().';
	END IF;
	INSERT INTO walbridge.skipped (peer, kafka_offset, error)
	VALUES (peer, progress.paused_offset, progress.last_error);
	UPDATE walbridge.apply_progress AS a SET skip_offset = progress.paused_offset WHERE a.peer = skip.peer;
	NOTIFY walbridge_control;
	RETURN progress.paused_offset;
END;
$$;

/* ------------------------------------------------------------------------
 * Resync: a fresh copy of a peer's tables, while everyone writes.
 *
 * walbridge.resync('p') on this node asks node p for a copy: walbridged
 * sends the request through Kafka (the topic resync_topic), p's walbridged
 * reads its synced tables a primary key range at a time and publishes each
 * chunk into its own topic at the place of a watermark message it wrote
 * into its WAL just before reading the chunk: everything p commits after
 * the watermark follows the chunk in the topic, so a change that raced the
 * read is applied after the copied row and wins (docs/RELIABILITY.md,
 * Resync).  No lock beyond a SELECT's, no new slot, and only this node
 * applies the copy: it names the request.
 *
 * With each chunk, rows here inside its key range that the peer no longer
 * has are deleted as the node's policy says: under last_writer_wins those
 * the peer wrote last (it had them, they are gone) and those whose key
 * the peer's tombstone says it deleted later; under apply_remote all of
 * them (a mirror ends identical to its source); keep_local and error keep
 * them.  A pause on a new incarnation of the peer (restored, failed over,
 * rebuilt) is accepted by resync(): its transactions are applied from
 * where apply paused, with their LSNs compared afresh.  A pause on a gap
 * (offsets Kafka no longer has) resumes at the oldest offset Kafka has.
 * --------------------------------------------------------------------- */

/* Ask peer for a fresh copy; returns the request's id.  status() shows its progress. */
CREATE FUNCTION walbridge.resync(peer text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	progress walbridge.apply_progress;
	id text := gen_random_uuid()::text;
BEGIN
	SELECT * INTO progress FROM walbridge.apply_progress AS a WHERE a.peer = resync.peer FOR UPDATE;
	IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM walbridge.sync AS s WHERE resync.peer = ANY (s.peers)) THEN
		RAISE EXCEPTION 'node "%" is not a peer of this node', peer
			USING ERRCODE = 'undefined_object',
				  HINT = 'resync() copies from a node this node applies: see walbridge.start_sync().';
	END IF;
	UPDATE walbridge.apply_progress AS a
	   SET resync_id = id, resync_requested_at = now(), resync_sent_at = NULL,
		   resync_state = 'requested', resync_table = NULL, resync_rows = 0, resync_deleted = 0,
		   resync_finished_at = NULL,
		   /* the peer's new incarnation is accepted: nothing of it is compared with the old */
		   source_system_id = CASE WHEN progress.new_incarnation IS NULL THEN a.source_system_id END,
		   source_timeline = CASE WHEN progress.new_incarnation IS NULL THEN a.source_timeline END,
		   source_incarnation = CASE WHEN progress.new_incarnation IS NULL THEN a.source_incarnation END,
		   source_commit_lsn = CASE WHEN progress.new_incarnation IS NULL THEN a.source_commit_lsn END,
		   source_since = CASE WHEN progress.new_incarnation IS NULL THEN a.source_since ELSE now() END,
		   /* what its old self said it applied is not what the new one holds */
		   peer_applied = CASE WHEN progress.new_incarnation IS NULL THEN a.peer_applied END,
		   new_incarnation = NULL
	 WHERE a.peer = resync.peer;
	IF progress.new_incarnation IS NOT NULL THEN
		RAISE NOTICE 'node "%" is a new incarnation (%): applying it from Kafka offset %, and copying its tables',
			peer, progress.new_incarnation, progress.paused_offset;
	END IF;
	NOTIFY walbridge_control;
	RETURN id;
END;
$$;

COMMENT ON FUNCTION walbridge.resync(text) IS
	'bring this node back to a peer''s current state: the peer publishes a fresh copy, writers keep writing';

/* On the node asked for copies: each request, and how far its copy went. */
CREATE TABLE walbridge.resync_jobs (
	request_id text PRIMARY KEY,
	requester text NOT NULL,		/* the node that asked */
	requested_at timestamptz,
	request_offset bigint NOT NULL,	/* in the resync topic */
	state text NOT NULL CHECK (state IN ('copying', 'done', 'superseded')),
	tables text[],					/* synced tables when the copy began */
	table_index integer NOT NULL DEFAULT 0,	/* in tables: the one being copied (1-based) */
	last_key jsonb,					/* the last key copied of it, acknowledged by Kafka */
	rows bigint NOT NULL DEFAULT 0,
	started_at timestamptz NOT NULL DEFAULT now(),
	finished_at timestamptz
);

/* A table's RELATION record, as the copy's first. */
CREATE FUNCTION walbridge.relation_record(tbl regclass)
RETURNS bytea
AS 'MODULE_PATHNAME', 'walbridge_relation_record'
LANGUAGE C STRICT STABLE;

/* One row (a whole-row value of tbl) as a SNAPSHOT record. */
CREATE FUNCTION walbridge.row_record(tbl regclass, tbl_row record, commit_time timestamptz)
RETURNS bytea
AS 'MODULE_PATHNAME', 'walbridge_row_record'
LANGUAGE C STABLE;

/*
 * The pieces of SQL for tbl's primary key, in key order: the columns of
 * alias, a jsonb array of their text forms, the key a jsonb array
 * parameter $n holds cast back to the columns' types and collations, and
 * the columns' names.  Text forms, not jsonb's own values: an array, a
 * composite or a json key comes back from its text form, not from a JSON
 * array or object.  The functions that use them pin the settings that
 * shape text forms (DateStyle, IntervalStyle, extra_float_digits,
 * bytea_output, TimeZone), so every node writes and reads the same.
 */
CREATE FUNCTION walbridge.key_sql(tbl regclass, param integer, alias text DEFAULT 't',
	OUT cols text, OUT as_json text, OUT from_json text, OUT names jsonb)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT string_agg(format('%I.%I', alias, a.attname), ', ' ORDER BY k.i),
		   'jsonb_build_array(' || string_agg(format('%I.%I::text', alias, a.attname), ', ' ORDER BY k.i) || ')',
		   string_agg(format('($%s->>%s)::%s%s', param, k.i - 1, format_type(a.atttypid, a.atttypmod),
							 CASE WHEN a.attcollation <> 0 THEN ' COLLATE ' || a.attcollation::regcollation::text ELSE '' END),
					  ', ' ORDER BY k.i),
		   jsonb_agg(a.attname ORDER BY k.i)
	  FROM pg_index AS x
	 CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, i)
	  JOIN pg_attribute AS a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
	 WHERE x.indrelid = tbl AND x.indisprimary
$$;

/*
 * The next chunk of tbl for a copy: its RELATION record (key NULL), then
 * up to max_rows rows after the key after (NULL: from the first), in key
 * order, each with its key (text forms) and its SNAPSHOT record.
 * row_security off: a policy that would hide rows from the caller is an
 * error, never a copy that silently lacks them (and a node then deleting
 * what it lacks).
 */
CREATE FUNCTION walbridge.resync_chunk(tbl regclass, after jsonb, max_rows integer)
RETURNS TABLE (key jsonb, record bytea)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET intervalstyle = 'postgres'
SET extra_float_digits = 3
SET bytea_output = 'hex'
SET timezone = 'UTC'
SET row_security = off
AS $$
DECLARE
	k record := walbridge.key_sql(tbl, 1);
BEGIN
	IF k.cols IS NULL THEN
		RAISE EXCEPTION 'table % has no primary key', tbl
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A copy in chunks reads a table in primary key order.';
	END IF;
	RETURN QUERY SELECT NULL::jsonb, walbridge.relation_record(tbl);
	RETURN QUERY EXECUTE format(
		'SELECT %s, walbridge.row_record(%L, t, pg_xact_commit_timestamp(t.xmin)) FROM %s AS t%s ORDER BY %s LIMIT %s',
		k.as_json, tbl, tbl,
		CASE WHEN after IS NOT NULL THEN format(' WHERE (%s) > (%s)', k.cols, k.from_json) ELSE '' END,
		k.cols, max_rows)
	USING after;
END;
$$;

/*
 * The keys of tbl in (after, through] (NULL: unbounded) that this node
 * deleted and has not now, with the delete's commit time: what a copy's
 * chunk carries besides its rows, so that a node still holding one of
 * them deletes it if the delete is later than its row.
 */
CREATE FUNCTION walbridge.resync_tombstones(tbl regclass, after jsonb, through jsonb)
RETURNS TABLE (key jsonb, deleted_at timestamptz)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET intervalstyle = 'postgres'
SET extra_float_digits = 3
SET bytea_output = 'hex'
SET timezone = 'UTC'
SET row_security = off
AS $$
DECLARE
	k1 record := walbridge.key_sql(tbl, 1);
	k2 record := walbridge.key_sql(tbl, 2);
	kl record := walbridge.key_sql(tbl, 1, 'l');
	tomb regclass := (SELECT t.tombstones FROM walbridge.tombstone_tables AS t WHERE t.tbl = resync_tombstones.tbl);
BEGIN
	IF tomb IS NULL THEN
		RETURN;
	END IF;
	/* the tombstone table's columns are the key's, by name */
	RETURN QUERY EXECUTE format(
		'SELECT %s, pg_xact_commit_timestamp(t.xmin) FROM %s AS t WHERE true%s%s'
		' AND NOT EXISTS (SELECT FROM %s AS l WHERE (%s) = (%s))',
		k1.as_json, tomb,
		CASE WHEN after IS NOT NULL THEN format(' AND (%s) > (%s)', k1.cols, k1.from_json) ELSE '' END,
		CASE WHEN through IS NOT NULL THEN format(' AND (%s) <= (%s)', k2.cols, k2.from_json) ELSE '' END,
		tbl, kl.cols, k1.cols)
	USING after, through;
END;
$$;

/*
 * On the node that asked for a copy, in the transaction that applies a
 * chunk of it: delete the rows of tbl in (after, through] whose key is not
 * among keys (the peer's rows in that range when it read them), as rule
 * says: 'all' (apply_remote: the peer's copy is the truth; only where
 * this node applies that one peer, a mirror: in a mesh a row here may be
 * one the peer has not received yet, so 'peer_rows' then) or 'peer_rows'
 * (last_writer_wins: only rows whose last version came from peer, which
 * had them and has them no more; since its current incarnation, when
 * resync() accepted a new one: a peer rebuilt or restored never had the
 * rows its old self wrote after the backup, and their absence says
 * nothing of a delete).  Returns how many rows went.  The peer's
 * tombstones in the range are not applied here but by
 * resync_apply_tombstones(), each in a transaction of the delete's time.
 *
 * The ranges were cut in the peer's order.  They are used here only if
 * this node orders the chunk alike (its keys ascending, inside the range,
 * the range not empty) and the key is the same columns (key_columns, the
 * peer's names in key order): a collation, an enum's order or a key's
 * column order that differs would make a range here cover rows of
 * another, and delete them.  Anything else is an error: the peer pauses
 * here, nothing deleted.
 */
CREATE FUNCTION walbridge.resync_prune(tbl regclass, peer text, after jsonb, through jsonb,
	keys jsonb, rule text, key_columns jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET intervalstyle = 'postgres'
SET extra_float_digits = 3
SET bytea_output = 'hex'
SET timezone = 'UTC'
SET row_security = off
AS $$
DECLARE
	k1 record := walbridge.key_sql(tbl, 1);
	k2 record := walbridge.key_sql(tbl, 2);
	ke record := walbridge.key_sql(tbl, 9);
	gone bigint := 0;
	n bigint;
	misordered boolean;
	tomb regclass;
BEGIN
	IF rule IS NULL OR rule NOT IN ('all', 'peer_rows') THEN
		RAISE EXCEPTION 'unknown rule %', quote_literal(coalesce(rule, 'NULL'))
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF k1.cols IS NULL THEN
		RAISE EXCEPTION 'table % has no primary key', tbl USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT EXISTS (SELECT FROM walbridge.synced_tables() AS x WHERE x::regclass = tbl) THEN
		RAISE EXCEPTION 'table % is not synced here: a copy of it deletes nothing', tbl
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF key_columns IS NOT NULL AND key_columns <> k1.names THEN
		RAISE EXCEPTION 'the primary key of % is % here but % on node "%"', tbl, k1.names, key_columns, peer
			USING ERRCODE = 'datatype_mismatch',
				  HINT = 'A copy is compared by primary key: give the table the same key on every node.';
	END IF;
	IF rule = 'all' AND (SELECT cardinality(s.peers) FROM walbridge.sync AS s) > 1 THEN
		rule := 'peer_rows';
	END IF;
	/* the chunk in this node's order: after < keys[1] < ... < keys[n] <= through */
	EXECUTE format(
		'SELECT coalesce(bool_or(NOT ((%s) > (%s))), false)'
		' FROM (SELECT e.v AS cur, lag(e.v) OVER (ORDER BY e.i) AS prev'
		' FROM jsonb_array_elements($1) WITH ORDINALITY AS e(v, i)) AS c WHERE c.prev IS NOT NULL',
		replace(ke.from_json, '$9', 'c.cur'), replace(ke.from_json, '$9', 'c.prev'))
	INTO misordered USING coalesce(keys, '[]');
	IF NOT misordered AND after IS NOT NULL AND jsonb_array_length(coalesce(keys, '[]')) > 0 THEN
		EXECUTE format('SELECT NOT ((%s) > (%s))', replace(ke.from_json, '$9', '($1->0)'), k2.from_json)
		INTO misordered USING keys, after;
	END IF;
	IF NOT misordered AND through IS NOT NULL AND jsonb_array_length(coalesce(keys, '[]')) > 0 THEN
		EXECUTE format('SELECT NOT ((%s) <= (%s))', replace(ke.from_json, '$9', '($1->-1)'), k2.from_json)
		INTO misordered USING keys, through;
	END IF;
	IF NOT misordered AND after IS NOT NULL AND through IS NOT NULL THEN
		EXECUTE format('SELECT NOT ((%s) > (%s))', k2.from_json, replace(ke.from_json, '$9', '$1'))
		INTO misordered USING after, through;
	END IF;
	IF coalesce(misordered, false) THEN
		RAISE EXCEPTION 'node "%" orders the primary key of % differently from this node: its copy cannot be compared by key ranges', peer, tbl
			USING ERRCODE = 'collation_mismatch',
				  DETAIL = format('Keys after %s through %s: %s', after, through, keys),
				  HINT = 'The key''s collation, an enum''s order of labels or the key''s columns differ between the nodes; make them alike, or skip() this message.';
	END IF;
	/* $9 is each element e of keys: ($9->>0)::type is replaced by (e->>0)::type */
	EXECUTE format(
		'DELETE FROM %s AS t WHERE true%s%s AND (%s) NOT IN (SELECT %s FROM jsonb_array_elements($3) AS e)%s',
		tbl,
		CASE WHEN after IS NOT NULL THEN format(' AND (%s) > (%s)', k1.cols, k1.from_json) ELSE '' END,
		CASE WHEN through IS NOT NULL THEN format(' AND (%s) <= (%s)', k1.cols, k2.from_json) ELSE '' END,
		k1.cols, replace(ke.from_json, '$9', 'e'),
		CASE WHEN rule = 'peer_rows' THEN ' AND (walbridge.row_writer(t.xmin)).node = $4'
			 ' AND (walbridge.row_writer(t.xmin)).commit_time >= $5' ELSE '' END)
	USING after, through, coalesce(keys, '[]'), peer,
		  coalesce((SELECT a.source_since FROM walbridge.apply_progress AS a WHERE a.peer = resync_prune.peer),
				   '-infinity');
	GET DIAGNOSTICS n = ROW_COUNT;
	gone := gone + n;
	/*
	 * These deletes are not this node's writes, nor the peer's at this
	 * time: the tombstones they left (walbridge's trigger, in this
	 * transaction, under the copy's commit time) would claim a delete at
	 * that time, win over writes older than it everywhere this node's
	 * tombstones go (its own copies for others), and the nodes would
	 * differ.  The peer's own tombstones settle the deletes it made
	 * (resync_apply_tombstones()).
	 */
	SELECT w.tombstones INTO tomb FROM walbridge.tombstone_tables AS w WHERE w.tbl = resync_prune.tbl;
	IF gone > 0 AND tomb IS NOT NULL THEN
		EXECUTE format('DELETE FROM %s AS d WHERE d.xmin = ((pg_current_xact_id()::text::numeric %% 4294967296)::text)::xid',
					   tomb);
	END IF;
	RETURN gone;
END;
$$;

/*
 * On the node that asked for a copy, under last_writer_wins: the peer's
 * tombstones of a chunk ([key, deleted_at] pairs) whose delete was
 * committed at deleted_at, applied as the peer's delete of that time
 * would be.  walbridged calls it once per distinct time, in a transaction
 * stamped with that time under the peer's origin, before the chunk's
 * prune: a row here older than the delete goes (its tombstone, left by
 * walbridge's trigger, has the delete's time), and a key with no row here
 * gets a tombstone of that time.  So the delete is remembered here as on
 * the peer, whatever order the copies of several peers arrive in: a copy
 * from another node that had not yet applied the delete, applied before
 * or after this one, cannot bring the row back (its version is older than
 * the tombstone).  Returns how many rows went.
 */
CREATE FUNCTION walbridge.resync_apply_tombstones(tbl regclass, peer text, tombstones jsonb,
	deleted_at timestamptz)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET intervalstyle = 'postgres'
SET extra_float_digits = 3
SET bytea_output = 'hex'
SET timezone = 'UTC'
SET row_security = off
AS $$
DECLARE
	k1 record := walbridge.key_sql(tbl, 1);
	ke record := walbridge.key_sql(tbl, 9);
	tomb regclass := (SELECT w.tombstones FROM walbridge.tombstone_tables AS w WHERE w.tbl = resync_apply_tombstones.tbl);
	cols text := (SELECT string_agg(quote_ident(n), ', ' ORDER BY i)
					FROM jsonb_array_elements_text(k1.names) WITH ORDINALITY AS c(n, i));
	gone bigint;
BEGIN
	IF k1.cols IS NULL THEN
		RAISE EXCEPTION 'table % has no primary key', tbl USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF NOT EXISTS (SELECT FROM walbridge.synced_tables() AS x WHERE x::regclass = tbl) THEN
		RAISE EXCEPTION 'table % is not synced here: a copy of it deletes nothing', tbl
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF pg_replication_origin_oid(walbridge.origin_name(peer)) IS NULL THEN
		RAISE EXCEPTION 'node "%" has no replication origin here', peer
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	/*
	 * Keys with no row here: a tombstone of the delete's time, unless one
	 * as late is there (strictly by time: the same delete coming back in
	 * another node's copy leaves the tombstone, and its origin, as it is).
	 * A table whose deletes are not tracked here (untrack_deletes()) gets
	 * only the deletes.
	 */
	IF tomb IS NOT NULL THEN
		EXECUTE format(
			'INSERT INTO %s AS t (%s) SELECT %s FROM jsonb_array_elements($1) AS e'
			' WHERE (e->>1)::timestamptz = $2 AND NOT EXISTS (SELECT FROM %s AS l WHERE (%s) = (%s))'
			' ON CONFLICT (%s) DO UPDATE SET %I = excluded.%I'
			' WHERE coalesce(pg_xact_commit_timestamp(t.xmin), ''-infinity'') < $2',
			tomb, cols, replace(ke.from_json, '$9', '(e->0)'),
			tbl, (walbridge.key_sql(tbl, 1, 'l')).cols, replace(ke.from_json, '$9', '(e->0)'),
			cols, k1.names->>0, k1.names->>0)
		USING tombstones, deleted_at;
	END IF;
	/* rows here older than the delete: gone, and the trigger keeps their tombstone */
	EXECUTE format(
		'DELETE FROM %s AS t USING jsonb_array_elements($1) AS e'
		' WHERE (e->>1)::timestamptz = $2 AND (%s) = (%s) AND walbridge.copy_wins(t.xmin, $2, $3)',
		tbl, k1.cols, replace(ke.from_json, '$9', '(e->0)'))
	USING tombstones, deleted_at, peer;
	GET DIAGNOSTICS gone = ROW_COUNT;
	RETURN gone;
END;
$$;

/* The node that wrote under a replication origin (0: this node). */
CREATE FUNCTION walbridge.writer_node(origin oid)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN origin = 0 THEN (SELECT name FROM walbridge.node)
		   ELSE (SELECT regexp_replace(roname, '^walbridge_', '')
				   FROM pg_replication_origin WHERE roident = origin) END
$$;

/*
 * Whether a change from a peer may overwrite the local row whose version
 * is local_xmin: last writer wins (the later commit timestamp; a row the
 * same peer wrote last is its next version; on a tie, the greater node
 * name, byte by byte).  walbridged calls it for every row an UPDATE or
 * DELETE from a peer touches: it is C (plugin/conflict_sql.c).
 */
CREATE FUNCTION walbridge.remote_wins(local_xmin xid, remote_time timestamptz,
	remote_origin oid, remote_node text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'walbridge_remote_wins'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;

/*
 * The same for a copied version (a row or tombstone of an initial copy or
 * of resync()), by time alone, on a tie the greater node name: a copy is
 * not the peer's next write (a peer still receiving copies, or a new
 * incarnation, may send versions older than what it, or its old self,
 * wrote here before).  C (plugin/conflict_sql.c).
 */
CREATE FUNCTION walbridge.copy_wins(local_xmin xid, remote_time timestamptz, remote_node text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'walbridge_copy_wins'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;

/* The commit time and writer of a local row version, for conflict records. */
CREATE FUNCTION walbridge.row_writer(local_xmin xid, OUT commit_time timestamptz, OUT node text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.timestamp, walbridge.writer_node(c.roident)
	  FROM pg_xact_commit_timestamp_origin(local_xmin) AS c
$$;

/* ------------------------------------------------------------------------
 * Deleted rows: tombstones.  Under last writer wins, a peer's UPDATE that
 * finds no row must know whether a later DELETE here removed it (the
 * update loses) or the row never came (the update brings it).  Each
 * tracked table gets a tombstone table in this schema, keyed like it, and
 * a trigger (plugin/tombstone.c) that writes the key there when a row is
 * deleted or its key changes, in the deleting transaction: the tombstone's
 * xmin gives the delete's commit time and origin, as a live row's does.
 * walbridged consults it for updates of missing rows and for inserts,
 * records a peer's delete of a row already gone, and purges tombstones
 * once every peer has applied past them.
 * --------------------------------------------------------------------- */

/*
 * The tables start_sync() syncs: those it named, or every table with a
 * primary key; as their quoted qualified names, read from the catalog (a
 * name stored in walbridge.sync is looked up, never used as it is), and
 * only permanent user tables outside the system schemas and walbridge's
 * own: whatever walbridge.sync holds, grant_walbridged() grants nothing
 * else.
 */
CREATE FUNCTION walbridge.synced_tables()
RETURNS SETOF text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT c.oid::regclass::text
	  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p'
	   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'walbridge')
	   AND n.nspname !~ '^pg_'
	   AND CASE WHEN EXISTS (SELECT 1 FROM walbridge.sync s WHERE s.tables IS NOT NULL)
				THEN c.oid IN (SELECT x FROM walbridge.sync s, unnest(s.tables) AS x)
				ELSE NOT c.relispartition
					 AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
					 AND NOT EXISTS (SELECT 1 FROM walbridge.sync s
									  WHERE s.schemas IS NOT NULL AND NOT n.nspname = ANY (s.schemas)) END
$$;

/*
 * What the output plugin is told to publish (walbridged passes it as
 * options): the tables named, or, when the tables are every table with
 * a primary key (in some schemas), a pattern the plugin matches as it
 * decodes, so that a table created later is published from its first row.
 */
CREATE FUNCTION walbridge.publish_selection(OUT include_tables text, OUT exclude_tables text,
											OUT require_primary_key boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN s.tables IS NOT NULL
				THEN coalesce((SELECT string_agg(x, ', ' ORDER BY x) FROM walbridge.synced_tables() AS x),
							  'pg_catalog.*')	/* none: a pattern no decoded table matches */
				WHEN s.schemas IS NOT NULL
				THEN (SELECT string_agg(quote_ident(x) || '.*', ', ' ORDER BY x) FROM unnest(s.schemas) AS x)
				ELSE '*.*' END,
		   CASE WHEN s.tables IS NULL THEN 'walbridge.*, information_schema.*' END,
		   s.tables IS NULL
	  FROM walbridge.sync s
$$;

CREATE TABLE walbridge.tombstone_tables (
	tbl regclass PRIMARY KEY,
	tombstones regclass NOT NULL UNIQUE
);
SELECT pg_catalog.pg_extension_config_dump('walbridge.tombstone_tables', '');

/*
 * The trigger of track_deletes().  SECURITY DEFINER, so that whoever may
 * delete a row records its tombstone; it runs only as the triggers
 * track_deletes() creates, on a table in walbridge.tombstone_tables (or a
 * partition of one), and builds its SQL from the catalogs alone
 * (plugin/tombstone.c).  Not executable by PUBLIC: a trigger's function is
 * checked when the trigger is created, not when it fires.
 */
CREATE FUNCTION walbridge.record_tombstone()
RETURNS trigger
AS 'MODULE_PATHNAME', 'walbridge_record_tombstone'
LANGUAGE C SECURITY DEFINER
SET search_path = pg_catalog, pg_temp;

/*
 * Remember the keys deleted from tbl from now on (start_sync() does it for
 * the tables it syncs under last_writer_wins).  Returns the tombstone
 * table.  The trigger fires ALWAYS: also when rows are deleted by a
 * peer's change, or with session_replication_role = replica.  Runs as its
 * caller, who must be able to create tables in this schema and own tbl:
 * in practice the extension's owner, a superuser.
 */
CREATE FUNCTION walbridge.track_deletes(tbl regclass)
RETURNS regclass
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET walbridge.bookkeeping = on	/* its commands are not captured (capture_ddl()) */
AS $$
DECLARE
	existing regclass;
	tomb text := format('walbridge.%I', 'tombstones_' || tbl::oid);
	cols text;
	old_key text;
	new_key text;
	defs text;
BEGIN
	SELECT t.tombstones INTO existing FROM walbridge.tombstone_tables t WHERE t.tbl = track_deletes.tbl;
	IF existing IS NOT NULL THEN
		RETURN existing;
	END IF;
	SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
		   string_agg('OLD.' || quote_ident(a.attname), ', ' ORDER BY a.attnum),
		   string_agg('NEW.' || quote_ident(a.attname), ', ' ORDER BY a.attnum),
		   string_agg(format('%I %s%s NOT NULL', a.attname, format_type(a.atttypid, a.atttypmod),
							 CASE WHEN a.attcollation <> 0 THEN
								  ' COLLATE ' || a.attcollation::regcollation::text ELSE '' END),
					  ', ' ORDER BY a.attnum)
	  INTO cols, old_key, new_key, defs
	  FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
	 WHERE i.indrelid = tbl AND i.indisprimary;
	IF cols IS NULL THEN
		RAISE EXCEPTION 'table % has no primary key', tbl
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Deleted rows are remembered by their primary key.';
	END IF;
	EXECUTE format('CREATE TABLE %s (%s, PRIMARY KEY (%s))', tomb, defs, cols);
	EXECUTE format('COMMENT ON TABLE %s IS %L', tomb,
				   format('keys deleted from %s, with the deleting transaction as xmin (walbridge.track_deletes)', tbl));
	IF (SELECT c.relkind FROM pg_class c WHERE c.oid = tbl) = 'p' THEN
		/*
		 * per row, cloned onto every partition, present and future: a
		 * statement trigger on the parent misses deletes from a partition
		 * itself and rows an update moves to another partition
		 */
		EXECUTE format('CREATE TRIGGER walbridge_tombstone AFTER DELETE ON %s'
					   ' FOR EACH ROW EXECUTE FUNCTION walbridge.record_tombstone()', tbl);
		/*
		 * Creating or attaching a partition clones these triggers, which
		 * checks EXECUTE on their function for whoever does it: the
		 * table's owner may.  The function itself refuses to run as any
		 * trigger but those of a tracked table (plugin/tombstone.c).
		 */
		EXECUTE format('GRANT EXECUTE ON FUNCTION walbridge.record_tombstone() TO %s',
					   (SELECT c.relowner::regrole FROM pg_class c WHERE c.oid = tbl));
	ELSE
		/* per statement: a bulk delete (as apply's are) records its keys in one insert */
		EXECUTE format('CREATE TRIGGER walbridge_tombstone AFTER DELETE ON %s REFERENCING OLD TABLE AS wb_deleted'
					   ' FOR EACH STATEMENT EXECUTE FUNCTION walbridge.record_tombstone()', tbl);
	END IF;
	/* an update that sets the key to what it was (as apply's do) queues nothing */
	EXECUTE format('CREATE TRIGGER walbridge_tombstone_key AFTER UPDATE OF %s ON %s'
				   ' FOR EACH ROW WHEN ((%s) IS DISTINCT FROM (%s))'
				   ' EXECUTE FUNCTION walbridge.record_tombstone()', cols, tbl, old_key, new_key);
	EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER walbridge_tombstone', tbl);
	EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER walbridge_tombstone_key', tbl);
	INSERT INTO walbridge.tombstone_tables (tbl, tombstones) VALUES (tbl, tomb::regclass);
	RETURN tomb::regclass;
END;
$$;

COMMENT ON FUNCTION walbridge.track_deletes(regclass) IS
	'remember the keys deleted from a table, so that last writer wins also orders deletes';

CREATE FUNCTION walbridge.untrack_deletes(tbl regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET walbridge.bookkeeping = on	/* its commands are not captured (capture_ddl()) */
AS $$
DECLARE
	existing regclass;
BEGIN
	DELETE FROM walbridge.tombstone_tables t WHERE t.tbl = untrack_deletes.tbl
	RETURNING t.tombstones INTO existing;
	IF existing IS NOT NULL THEN
		EXECUTE format('DROP TRIGGER IF EXISTS walbridge_tombstone ON %s', tbl);
		EXECUTE format('DROP TRIGGER IF EXISTS walbridge_tombstone_key ON %s', tbl);
		EXECUTE format('DROP TABLE %s', existing);
	END IF;
END;
$$;

/*
 * Drop the tombstones no peer's change can still lose to: older than what
 * every peer has been applied up to (less a minute: concurrent commits on
 * a peer may reach its WAL slightly out of timestamp order).  A peer never
 * applied yet holds them back; one that writes nothing does not, as its
 * walbridged publishes a heartbeat every heartbeat_interval (heartbeat()
 * below), which moves its progress here on.
 *
 * A tombstone is also what a copy this node sends says of the row:
 * another node that has not yet applied the delete still has the row, its
 * copy for a third node (one joining, or rebuilt) carries it, and only a
 * tombstone, in this node's copy, tells the third node the row is gone.
 * So a tombstone also stays until every peer has applied every node it
 * applies (this one too) past it, less a minute, as their heartbeats say
 * (apply_progress.peer_applied): whichever node deleted, and whatever
 * origin a copy recorded the tombstone under here.  Nothing goes while a
 * peer has not said, says it has applied nothing yet of a node, waits
 * for a copy (its heartbeat says nothing then) or is paused on a new
 * incarnation, nor while this node waits for a copy: the copy's rows may
 * be of any age, and the tombstones here, its own and those copies
 * brought, refuse the older ones.
 *
 * walbridged calls it every minute.  Returns how many went.  SECURITY DEFINER, so
 * that walbridged needs no DELETE on the tombstone tables: it takes no
 * argument, and its only dynamic SQL names a registered tombstone table
 * as regclass (always quoted and schema-qualified) with the horizon as a
 * parameter.
 */
CREATE FUNCTION walbridge.purge_tombstones()
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	horizon timestamptz;
	unsaid boolean;
	everywhere timestamptz;
	tombstones regclass;
	n bigint;
	total bigint := 0;
BEGIN
	SELECT CASE WHEN count(*) > 0 AND count(*) = count(p.source_commit_time)
				THEN min(p.source_commit_time) - interval '1 minute' END,
		   coalesce(bool_or(p.peer_applied IS NULL OR p.new_incarnation IS NOT NULL
							OR coalesce(p.resync_state IN ('requested', 'copying'), false)), true)
	  INTO horizon, unsaid
	  FROM walbridge.sync s CROSS JOIN LATERAL unnest(s.peers) AS peer(name)
	  LEFT JOIN walbridge.apply_progress p ON p.peer = peer.name;
	IF horizon IS NULL OR unsaid THEN
		RETURN 0;
	END IF;
	/* how far every peer applied every node it applies (a JSON null: nothing yet) */
	SELECT coalesce(bool_or(walbridge.timestamptz_or_null(e.value #>> '{}') IS NULL), false),
		   min(walbridge.timestamptz_or_null(e.value #>> '{}')) - interval '1 minute'
	  INTO unsaid, everywhere
	  FROM walbridge.sync s CROSS JOIN LATERAL unnest(s.peers) AS peer(name)
	  JOIN walbridge.apply_progress p ON p.peer = peer.name
	 CROSS JOIN LATERAL jsonb_each(p.peer_applied) AS e;
	IF unsaid THEN
		RETURN 0;
	END IF;
	/* NULL: no peer applies any node (each only publishes): the horizon alone */
	horizon := least(horizon, coalesce(everywhere, 'infinity'));
	FOR tombstones IN SELECT t.tombstones FROM walbridge.tombstone_tables t LOOP
		EXECUTE format('DELETE FROM %s WHERE pg_xact_commit_timestamp(xmin) < $1', tombstones)
		USING horizon;
		GET DIAGNOSTICS n = ROW_COUNT;
		total := total + n;
	END LOOP;
	RETURN total;
END;
$$;

/* ------------------------------------------------------------------------
 * Sequences and identity columns.  Each node's sequences are its own: two
 * nodes writing the same table with a serial or identity key hand out the
 * same values, and last writer wins keeps one of the two rows (recorded
 * as sequence_collision).  partition_sequences() gives each node of a
 * mesh its own values, interleaved: increment = the number of nodes,
 * every value of node i is i modulo that number.  A one-way mirror needs
 * none: the source's heartbeat carries its unpartitioned sequences' last
 * values and the mirror's apply moves its own past them (never back), so
 * that after a failover nextval() hands out no value the source used.
 * --------------------------------------------------------------------- */

/* The sequences partition_sequences() gave this node a share of. */
CREATE TABLE walbridge.sequence_partitions (
	seq regclass PRIMARY KEY,
	node_index integer NOT NULL,	/* this node's values are node_index modulo node_count */
	node_count integer NOT NULL CHECK (node_index BETWEEN 1 AND node_count),
	partitioned_at timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('walbridge.sequence_partitions', '');

/*
 * The sequences the synced tables' columns take their values from: an
 * identity column's own, or one a default calls nextval() on (serial).
 * partitioned: partition_sequences() gave this node a share of it, and
 * its increment is still that share's.
 */
CREATE FUNCTION walbridge.synced_sequences(
	OUT tbl regclass, OUT col name, OUT seq regclass, OUT is_identity boolean, OUT partitioned boolean)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT DISTINCT ON (s.seq) t.oid::regclass, a.attname, s.seq::regclass, a.attidentity <> '',
		   EXISTS (SELECT 1 FROM walbridge.sequence_partitions p JOIN pg_sequence q ON q.seqrelid = p.seq
					WHERE p.seq = s.seq AND q.seqincrement = p.node_count)
	  FROM walbridge.synced_tables() AS x
	  JOIN pg_class t ON t.oid = x::regclass
	  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
	  CROSS JOIN LATERAL (
		SELECT d.objid FROM pg_depend d
		 WHERE a.attidentity <> '' AND d.classid = 'pg_class'::regclass
		   AND d.refclassid = 'pg_class'::regclass AND d.refobjid = t.oid
		   AND d.refobjsubid = a.attnum AND d.deptype = 'i'
		UNION
		SELECT d.refobjid FROM pg_attrdef ad
		  JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
						  AND d.refclassid = 'pg_class'::regclass
		 WHERE ad.adrelid = t.oid AND ad.adnum = a.attnum
		   AND (SELECT c.relkind FROM pg_class c WHERE c.oid = d.refobjid) = 'S'
	  ) AS s(seq)
	 ORDER BY s.seq, t.oid, a.attnum
$$;

/*
 * Give this node its own values of every sequence behind a synced table's
 * column: INCREMENT BY node_count, RESTART WITH the first value above any
 * used here (by the sequence or in the column, rows from peers included)
 * that is node_index modulo node_count.  Without arguments, node_count is
 * the mesh's size (this node and its peers in walbridge.sync) and
 * node_index this node's place among their names in byte order, so every
 * node runs the same SELECT walbridge.partition_sequences(); after its
 * start_sync().  A mesh that will grow can leave room: node_count 8 with
 * each node its own index.  Run it on every node while nobody inserts
 * (values a peer handed out and not yet delivered here are not seen).
 * Identity columns are changed with ALTER TABLE ... ALTER COLUMN, other
 * sequences with ALTER SEQUENCE, as the caller: their owner.
 */
CREATE FUNCTION walbridge.partition_sequences(node_index integer DEFAULT NULL,
	node_count integer DEFAULT NULL)
RETURNS TABLE (table_name regclass, column_name name, sequence_name regclass,
	increment_by integer, restart_with bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET walbridge.bookkeeping = on	/* its commands are not captured (capture_ddl()) */
AS $$
DECLARE
	me text := (SELECT n.name FROM walbridge.node AS n);
	members text[];
	s record;
	used bigint;
	v bigint;
BEGIN
	IF (node_index IS NULL) <> (node_count IS NULL) THEN
		RAISE EXCEPTION 'node_index and node_count go together'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Give both, or neither to take them from the mesh in walbridge.sync.';
	END IF;
	IF node_count IS NULL THEN
		IF me IS NULL OR NOT EXISTS (SELECT 1 FROM walbridge.sync) THEN
			RAISE EXCEPTION 'this node does not know its mesh yet'
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'Run walbridge.start_sync() first, or give node_index and node_count.';
		END IF;
		SELECT array_agg(m.name ORDER BY convert_to(m.name, 'UTF8')) INTO members
		  FROM (SELECT me UNION SELECT unnest(y.peers) FROM walbridge.sync AS y) AS m(name);
		node_count := cardinality(members);
		node_index := array_position(members, me);
	END IF;
	IF node_count < 1 OR node_index < 1 OR node_index > node_count THEN
		RAISE EXCEPTION 'node_index % is not between 1 and node_count %', node_index, node_count
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	FOR s IN SELECT q.*, ps.seqincrement, ps.seqmax
			   FROM walbridge.synced_sequences() AS q JOIN pg_sequence ps ON ps.seqrelid = q.seq
			  ORDER BY q.seq::text
	LOOP
		IF s.seqincrement < 0 THEN
			RAISE EXCEPTION 'sequence % counts down', s.seq
				USING ERRCODE = 'feature_not_supported',
					  DETAIL = 'partition_sequences() partitions ascending sequences.';
		END IF;
		/* the highest value handed out here, or brought by a peer */
		EXECUTE format('SELECT greatest((SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM %s),'
					   ' (SELECT max(%I)::bigint FROM %s))', s.seq, s.col, s.tbl)
		   INTO used;
		v := used + 1 + ((node_index - (used + 1)) % node_count + node_count) % node_count;
		IF v > s.seqmax THEN
			RAISE EXCEPTION 'sequence % has no value left for node %', s.seq, node_index
				USING ERRCODE = 'sequence_generator_limit_exceeded';
		END IF;
		IF s.is_identity THEN
			EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET INCREMENT BY %s RESTART WITH %s',
						   s.tbl, s.col, node_count, v);
		ELSE
			EXECUTE format('ALTER SEQUENCE %s INCREMENT BY %s RESTART WITH %s', s.seq, node_count, v);
		END IF;
		INSERT INTO walbridge.sequence_partitions AS p (seq, node_index, node_count)
		VALUES (s.seq, partition_sequences.node_index, partition_sequences.node_count)
		ON CONFLICT (seq) DO UPDATE
		   SET node_index = excluded.node_index, node_count = excluded.node_count, partitioned_at = now();
		table_name := s.tbl;
		column_name := s.col;
		sequence_name := s.seq;
		increment_by := node_count;
		restart_with := v;
		RETURN NEXT;
	END LOOP;
END;
$$;

COMMENT ON FUNCTION walbridge.partition_sequences(integer, integer) IS
	'give this node its own interleaved values of the synced tables'' sequences and identity columns';

/*
 * start_sync() with peers: a warning per sequence behind a synced table
 * that partition_sequences() has not partitioned.
 */
CREATE FUNCTION walbridge.warn_unpartitioned_sequences()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s record;
BEGIN
	FOR s IN SELECT * FROM walbridge.synced_sequences() AS q WHERE NOT q.partitioned ORDER BY q.seq::text LOOP
		RAISE WARNING 'column % of table % takes its values from sequence %, which is not partitioned between the nodes',
			quote_ident(s.col), s.tbl, s.seq
			USING DETAIL = 'Two nodes inserting into this table hand out the same values: last writer wins keeps one of the two rows and records a sequence_collision.',
				  HINT = 'Run SELECT walbridge.partition_sequences(); on every node after its start_sync(), or use keys that cannot collide (uuid). A one-way mirror needs none: its sequences follow the source.';
	END LOOP;
END;
$$;

/* ------------------------------------------------------------------------
 * Heartbeats.  walbridged's publish half calls heartbeat() every
 * heartbeat_interval: a transaction holding one logical message (prefix
 * walbridge.heartbeat) that travels like any other to the peers, so that
 * their apply progress (and the tombstone horizon of purge_tombstones())
 * moves on while this node writes nothing.  It carries the last values of
 * this node's unpartitioned sequences behind synced tables; each peer's
 * apply passes the message to heartbeat_applied().
 * --------------------------------------------------------------------- */

/*
 * What a heartbeat says of this node's apply: per peer it applies, the
 * commit time of the peer's newest transaction applied here (null: none
 * yet); the peers keep their tombstones until every node has applied the
 * deletes (purge_tombstones()).  Nothing while this node waits for a copy
 * from any peer, as the copy's rows may be of any age and only the peers'
 * tombstones refuse the stale ones.
 */
CREATE FUNCTION walbridge.applied_report()
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE WHEN NOT coalesce(bool_or(p.resync_state IN ('requested', 'copying')), false)
				THEN coalesce(jsonb_object_agg(peer.name, p.source_commit_time), '{}') END
	  FROM walbridge.sync AS s CROSS JOIN LATERAL unnest(s.peers) AS peer(name)
	  LEFT JOIN walbridge.apply_progress AS p ON p.peer = peer.name
$$;

/*
 * Emit this node's heartbeat; returns its LSN.  SECURITY DEFINER: it
 * reads the sequences' last values, which walbridged may not.  It takes
 * no argument and writes only the message.
 */
CREATE FUNCTION walbridge.heartbeat()
RETURNS pg_lsn
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s record;
	last bigint;
	seqs jsonb := '[]';
	row_id tid;
BEGIN
	FOR s IN SELECT q.*, n.nspname, c.relname
			   FROM walbridge.synced_sequences() AS q
			   JOIN pg_class c ON c.oid = q.tbl JOIN pg_namespace n ON n.oid = c.relnamespace
			  WHERE NOT q.partitioned
	LOOP
		EXECUTE format('SELECT CASE WHEN is_called THEN last_value END FROM %s', s.seq) INTO last;
		IF last IS NOT NULL THEN
			seqs := seqs || jsonb_build_object('schema', s.nspname, 'table', s.relname,
											   'column', s.col, 'value', last);
		END IF;
	END LOOP;
	/* by its ctid: a scan of the table would take a predicate lock on all of it */
	INSERT INTO walbridge.outbox (prefix, message)
	VALUES ('walbridge.heartbeat',
			jsonb_build_object('peers', (SELECT to_jsonb(y.peers) FROM walbridge.sync AS y),
							   'sequences', seqs, 'applied', walbridge.applied_report())::text)
	RETURNING ctid INTO row_id;
	DELETE FROM walbridge.outbox WHERE ctid = row_id;
	RETURN pg_current_wal_insert_lsn();
END;
$$;

/*
 * A finite timestamptz from text, NULL when it is not one (a peer's
 * heartbeat is input: any data exception, an unknown time zone or an
 * offset out of range included, is NULL, never an error that would pause
 * apply).
 */
CREATE FUNCTION walbridge.timestamptz_or_null(t text)
RETURNS timestamptz
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v timestamptz;
BEGIN
	v := t::timestamptz;
	RETURN CASE WHEN isfinite(v) THEN v END;
EXCEPTION WHEN data_exception THEN
	RETURN NULL;
END;
$$;

/*
 * A peer's heartbeat, applied here (in apply's transaction).  fresh: it
 * was the newest message of the peer's topic when applied, so that
 * commit_time against this node's clock now is the peers' clock skew,
 * plus the delivery delay (tens of milliseconds): recorded in
 * walbridge.apply_progress and returned (seconds; NULL when not fresh).
 * The sequences it carries move this node's own, for the same table and
 * column, up to the peer's value (to the first value of this sequence's
 * own above it: a sequence stepping by n keeps its residue), never down,
 * and only where this node mirrors the peer one way: not when the peer
 * applies this node too (its peers, in the heartbeat, name this node),
 * as in a mesh both write and each sequence is its node's own, nor for a
 * sequence partition_sequences() partitioned.  SECURITY DEFINER:
 * walbridged has no UPDATE on the sequences; only sequences behind synced
 * tables, upwards.  XXX: a nextval() here between the read and the setval
 * of that one statement would be handed out again; a mirror does not
 * write until it is promoted, when the source's heartbeats have stopped.
 */
CREATE FUNCTION walbridge.heartbeat_applied(peer text, commit_time timestamptz, fresh boolean,
	message text)
RETURNS double precision
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	received timestamptz := clock_timestamp();
	seq regclass;
	v bigint;
	step bigint;
	body jsonb;
BEGIN
	IF fresh THEN
		UPDATE walbridge.apply_progress AS a
		   SET heartbeat_commit_time = heartbeat_applied.commit_time, heartbeat_received_at = received
		 WHERE a.peer = heartbeat_applied.peer;
	END IF;
	BEGIN
		body := message::jsonb;
	EXCEPTION WHEN invalid_text_representation THEN
		body := NULL;
	END;
	/*
	 * How far the peer has applied each node it applies
	 * (purge_tombstones()): per node a time, never later than this
	 * heartbeat (the peer cannot have applied more), or null (none yet, or
	 * not a time); NULL when not said, or when a node among its peers is
	 * missing from it.
	 */
	UPDATE walbridge.apply_progress AS a
	   SET peer_applied = CASE WHEN jsonb_typeof(body -> 'applied') = 'object'
								AND jsonb_typeof(body -> 'peers') = 'array'
								AND NOT EXISTS (SELECT FROM jsonb_array_elements_text(body -> 'peers') AS q(name)
												 WHERE NOT body -> 'applied' ? q.name) THEN
			 (SELECT coalesce(jsonb_object_agg(e.key, CASE WHEN v.t IS NOT NULL THEN least(v.t, heartbeat_applied.commit_time) END), '{}')
				FROM jsonb_each(body -> 'applied') AS e,
					 LATERAL (SELECT walbridge.timestamptz_or_null(e.value #>> '{}') AS t) AS v) END
	 WHERE a.peer = heartbeat_applied.peer;
	IF jsonb_typeof(body) = 'object' AND jsonb_typeof(body -> 'sequences') = 'array'
	   AND NOT coalesce(body -> 'peers' ? (SELECT n.name FROM walbridge.node AS n), false) THEN
		FOR seq, v, step IN
			SELECT q.seq, (e->>'value')::bigint, ps.seqincrement
			  FROM jsonb_array_elements(body -> 'sequences') AS e
			  JOIN pg_namespace n ON n.nspname = e->>'schema'
			  JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = e->>'table'
			  JOIN walbridge.synced_sequences() AS q ON q.tbl = c.oid AND q.col = e->>'column'
			  JOIN pg_sequence ps ON ps.seqrelid = q.seq
			 WHERE NOT q.partitioned AND ps.seqincrement > 0
			   AND jsonb_typeof(e->'value') = 'number' AND e->>'value' ~ '^[0-9]{1,18}$'
			   AND (e->>'value')::bigint <= ps.seqmax - ps.seqincrement
		LOOP
			/* up to v, or the first value above it that is this sequence's own */
			EXECUTE format('SELECT setval($1, $2 + ((last_value - $2) %% $3 + $3) %% $3) FROM %s'
						   ' WHERE CASE WHEN is_called THEN last_value < $2 ELSE last_value <= $2 END',
						   seq)
			USING seq, v, step;
		END LOOP;
	END IF;
	RETURN CASE WHEN fresh THEN extract(epoch FROM commit_time - received)::double precision END;
END;
$$;

/*
 * The least a role running walbridged needs, granted by a superuser after
 * start_sync() (and again when the synced tables change):
 *
 *   CREATE ROLE walbridged LOGIN REPLICATION;   -- the slot, over replication
 *   SELECT walbridge.grant_walbridged('walbridged');
 *
 * It reads the extension's tables and writes its progress, status and
 * conflict records; applies under replication origins (EXECUTE on the
 * three origin functions it calls, revoked from PUBLIC by PostgreSQL) with
 * session_replication_role = replica (SET on that parameter); calls the
 * walbridge functions it needs, which PUBLIC may not (see Privileges
 * below); and reads, copies and changes the synced tables (with USAGE on
 * their schemas).  Nothing else: no superuser, no ownership, no CREATE.
 */
CREATE FUNCTION walbridge.grant_walbridged(role name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET walbridge.bookkeeping = on	/* its grants are this node's (capture_ddl()) */
AS $$
DECLARE
	rel regclass;
BEGIN
	EXECUTE format('GRANT USAGE ON SCHEMA walbridge TO %I', role);
	EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA walbridge TO %I', role);
	/*
	 * Only the columns walbridged writes: what to sync (peers, tables) is
	 * the administrator's, through start_sync(); a role that could write
	 * it would choose what grant_walbridged() grants.
	 */
	EXECUTE format('REVOKE UPDATE ON walbridge.node, walbridge.sync, walbridge.apply_progress FROM %I', role);
	EXECUTE format('GRANT UPDATE (snapshot_lsn, incarnation) ON walbridge.node TO %I', role);
	EXECUTE format('GRANT UPDATE (drop_slot_requested) ON walbridge.sync TO %I', role);
	EXECUTE format('GRANT UPDATE (kafka_offset, applied_at, conflicts, source_commit_lsn, source_commit_time,'
				   ' paused_offset, last_error, last_error_at, skip_offset, source_system_id, source_timeline,'
				   ' source_incarnation, new_incarnation, resync_id, resync_requested_at, resync_sent_at, resync_state, resync_table, resync_rows,'
				   ' resync_deleted, resync_finished_at) ON walbridge.apply_progress TO %I', role);
	EXECUTE format('GRANT INSERT, UPDATE ON walbridge.resync_jobs TO %I', role);
	EXECUTE format('GRANT INSERT, UPDATE ON walbridge.publish_status TO %I', role);
	EXECUTE format('GRANT INSERT ON walbridge.conflicts TO %I', role);
	EXECUTE format('GRANT USAGE ON SEQUENCE walbridge.conflicts_id_seq TO %I', role);
	EXECUTE format('GRANT EXECUTE ON FUNCTION pg_replication_origin_session_setup(text),'
				   ' pg_replication_origin_xact_setup(pg_lsn, timestamptz), pg_replication_origin_xact_reset(),'
				   ' pg_replication_origin_oid(text) TO %I', role);
	EXECUTE format('GRANT SET ON PARAMETER session_replication_role TO %I', role);
	EXECUTE format('GRANT EXECUTE ON FUNCTION walbridge.snapshot_records(regclass),'
				   ' walbridge.remote_wins(xid, timestamptz, oid, text), walbridge.copy_wins(xid, timestamptz, text),'
				   ' walbridge.row_writer(xid), walbridge.writer_node(oid),'
				   ' walbridge.synced_tables(), walbridge.purge_tombstones() TO %I', role);
	EXECUTE format('GRANT EXECUTE ON FUNCTION walbridge.relation_record(regclass),'
				   ' walbridge.row_record(regclass, record, timestamptz), walbridge.key_sql(regclass, integer, text),'
				   ' walbridge.resync_chunk(regclass, jsonb, integer), walbridge.resync_tombstones(regclass, jsonb, jsonb),'
				   ' walbridge.resync_prune(regclass, text, jsonb, jsonb, jsonb, text, jsonb),'
				   ' walbridge.resync_apply_tombstones(regclass, text, jsonb, timestamptz),'
				   ' walbridge.timestamptz_or_null(text) TO %I', role);
	EXECUTE format('GRANT EXECUTE ON FUNCTION walbridge.heartbeat(),'
				   ' walbridge.heartbeat_applied(text, timestamptz, boolean, text) TO %I', role);
	/* a peer's schema change runs as the role that made it, if role is a member of it (run_ddl()) */
	EXECUTE format('GRANT EXECUTE ON FUNCTION walbridge.apply_ddl(text, boolean),'
				   ' walbridge.run_ddl(text, text, text, boolean, text[]), walbridge.ddl_outside_transaction(text, text),'
				   ' walbridge.publish_selection() TO %I', role);
	/* regclass values: printed quoted, whatever the names hold */
	FOR rel IN SELECT x::regclass FROM walbridge.synced_tables() AS x LOOP
		EXECUTE format('GRANT USAGE ON SCHEMA %s TO %I',
					   (SELECT c.relnamespace::regnamespace FROM pg_class c WHERE c.oid = rel), role);
		EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON %s TO %I', rel, role);
	END LOOP;
	/* a delete that finds its row gone here is remembered (delete_missing) */
	FOR rel IN SELECT t.tombstones FROM walbridge.tombstone_tables t LOOP
		/* DELETE: a copy's prune removes the tombstones its deletes left (resync_prune()) */
		EXECUTE format('GRANT INSERT, UPDATE, DELETE ON %s TO %I', rel, role);
	END LOOP;
END
$$;

/* ------------------------------------------------------------------------
 * Schema changes in the stream (start_sync(..., ddl => true), the default).
 * An event trigger captures a command on what walbridge syncs as a
 * transactional logical message (prefix walbridge.ddl) at its place in
 * the transaction (plugin/ddl_capture.c); walbridged runs it on each peer
 * at that place (walbridge.apply_ddl(), plugin/ddl_apply.c).  Which kinds
 * of command: plugin/ddl.c; docs/RELIABILITY.md, Schema changes.
 * --------------------------------------------------------------------- */

/*
 * Whether an object a command made, changed or dropped is one whose
 * changes are propagated: in a synced schema (every schema but the system
 * ones and walbridge's, unless start_sync() named schemas); with a list of
 * tables, those tables, their indexes and constraints, and the types in
 * their schemas.
 */
CREATE FUNCTION walbridge.in_ddl_scope(s walbridge.sync, classid oid, objid oid, object_type text,
									   schema_name text, object_identity text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN sch IS NULL OR sch IN ('pg_catalog', 'information_schema', 'walbridge') OR sch ~ '^pg_' THEN false
		WHEN s.schemas IS NOT NULL THEN sch = ANY (s.schemas)
		WHEN s.tables IS NULL THEN true
		WHEN classid = 'pg_class'::regclass
		THEN objid = ANY (s.tables::oid[])
			 OR EXISTS (SELECT 1 FROM pg_index i WHERE i.indexrelid = objid AND i.indrelid = ANY (s.tables::oid[]))
			 /* an index already gone: by its schema */
			 OR (object_type = 'index' AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = objid)
				 AND sch IN (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
							  WHERE c.oid = ANY (s.tables::oid[])))
		WHEN classid = 'pg_constraint'::regclass
		THEN EXISTS (SELECT 1 FROM pg_constraint k WHERE k.oid = objid AND k.conrelid = ANY (s.tables::oid[]))
		WHEN classid = 'pg_type'::regclass
		THEN sch IN (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
					  WHERE c.oid = ANY (s.tables::oid[]))
		ELSE false END
	  FROM (SELECT coalesce(schema_name, CASE WHEN object_type = 'schema' THEN object_identity END)) AS x(sch)
$$;

/*
 * For walbridge.capture_ddl(), at each event of a command: 'in' when it
 * touched something in scope (in_ddl_scope()), 'local' when that is a
 * view, materialized view or foreign table (each node's own), else 'out';
 * NULL when schema changes are not captured (no sync running, or
 * start_sync(..., ddl => false)).  A DROP counts what it removed by
 * CASCADE too: a synced table's column that went with a type.
 */
CREATE FUNCTION walbridge.ddl_scope(event text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s walbridge.sync;
BEGIN
	SELECT * INTO s FROM walbridge.sync;
	IF NOT FOUND OR NOT s.running OR NOT s.ddl THEN
		RETURN NULL;
	END IF;
	IF event = 'sql_drop' THEN
		RETURN CASE WHEN EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() d
								  WHERE walbridge.in_ddl_scope(s, d.classid, d.objid, d.object_type,
															   d.schema_name, d.object_identity))
					THEN 'in' ELSE 'out' END;
	END IF;
	RETURN CASE
		WHEN EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() c
					  WHERE NOT c.in_extension
						AND walbridge.in_ddl_scope(s, c.classid, c.objid, c.object_type, c.schema_name,
												   c.object_identity)
						AND (c.object_type IN ('view', 'view column', 'materialized view',
											   'materialized view column', 'foreign table',
											   'foreign table column')
							 OR EXISTS (SELECT 1 FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
										 WHERE c.object_type = 'index' AND i.indexrelid = c.objid
										   AND t.relkind IN ('v', 'm', 'f'))))
		THEN 'local'
		WHEN EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() c
					  WHERE NOT c.in_extension
						AND walbridge.in_ddl_scope(s, c.classid, c.objid, c.object_type, c.schema_name,
												   c.object_identity))
		THEN 'in' ELSE 'out' END;
END;
$$;

CREATE FUNCTION walbridge.capture_ddl()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'walbridge_capture_ddl'
LANGUAGE C;

/*
 * Both events: sql_drop says whether a DROP touched something in scope
 * (the objects are gone by ddl_command_end).  Not ENABLE ALWAYS: apply's
 * sessions (session_replication_role = replica) run a peer's command
 * without capturing it again.
 */
CREATE EVENT TRIGGER walbridge_capture_ddl ON ddl_command_end
	EXECUTE FUNCTION walbridge.capture_ddl();
CREATE EVENT TRIGGER walbridge_capture_drop ON sql_drop
	EXECUTE FUNCTION walbridge.capture_ddl();

CREATE FUNCTION walbridge.run_ddl(command text, search_path text, role text, ran_outside boolean,
								  settings text[] DEFAULT '{}')
RETURNS void
AS 'MODULE_PATHNAME', 'walbridge_run_ddl'
LANGUAGE C;

CREATE FUNCTION walbridge.ddl_outside_transaction(command text, search_path text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'walbridge_ddl_outside_transaction'
LANGUAGE C STRICT;

/*
 * A peer's schema change (the content of its walbridge.ddl message), run
 * here by walbridged at its place in the peer's transaction; ran_outside:
 * walbridged ran a CONCURRENTLY command before the transaction.
 */
CREATE FUNCTION walbridge.apply_ddl(message text, ran_outside boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	m jsonb;
BEGIN
	BEGIN
		m := message::jsonb;
	EXCEPTION WHEN invalid_text_representation THEN
		m := NULL;
	END;
	IF jsonb_typeof(m) IS DISTINCT FROM 'object' OR jsonb_typeof(m->'command') IS DISTINCT FROM 'string'
	   OR jsonb_typeof(m->'search_path') IS DISTINCT FROM 'string' OR jsonb_typeof(m->'role') IS DISTINCT FROM 'string' THEN
		RAISE EXCEPTION 'invalid walbridge.ddl message: %', left(message, 200)
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A walbridge.ddl message is a JSON object with the strings command, search_path and role (docs/FORMAT.md).';
	END IF;
	/* the settings that decide how the command's literals read, when given */
	PERFORM walbridge.run_ddl(m->>'command', m->>'search_path', m->>'role', ran_outside,
							  coalesce((SELECT array_agg(kv.x ORDER BY e.o, kv.i)
										  FROM jsonb_each_text(CASE WHEN jsonb_typeof(m->'settings') = 'object'
																	THEN m->'settings' END) WITH ORDINALITY AS e(k, v, o),
											   LATERAL (VALUES (1, e.k), (2, e.v)) AS kv(i, x)), '{}'));
END;
$$;

/* ------------------------------------------------------------------------
 * Privileges.  PUBLIC may execute only the functions that can do nothing
 * their caller could not do without them: decode(), check_setup(),
 * require_setup(), create_slot() (pg_create_logical_replication_slot()
 * requires REPLICATION itself), origin_name(), slot_name() and status()
 * (it reads walbridge's tables as its caller).  Everything else is for the node's administrator (the
 * extension's owner, a superuser: create_node, start_sync, stop_sync,
 * skip, resync, track_deletes, untrack_deletes, grant_walbridged, synced_tables),
 * for walbridged (EXECUTE granted by grant_walbridged()), or for
 * walbridge's own triggers (record_tombstone).  Revoking from all and
 * granting back by name means a function added above is not PUBLIC's
 * until it is listed here; test/sql/security.sql lists what PUBLIC may
 * execute.  See docs/RELIABILITY.md, Security.
 * --------------------------------------------------------------------- */
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA walbridge FROM PUBLIC;
GRANT EXECUTE ON FUNCTION walbridge.decode(bytea), walbridge.check_setup(),
	walbridge.require_setup(text[]), walbridge.create_slot(name, boolean),
	walbridge.origin_name(text), walbridge.slot_name(text), walbridge.status()
	TO PUBLIC;
