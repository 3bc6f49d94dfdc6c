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
SET search_path = pg_catalog
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
SET search_path = pg_catalog
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
SET search_path = pg_catalog
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
CREATE TABLE walbridge.node (
	name text NOT NULL PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
	single boolean NOT NULL DEFAULT true UNIQUE CHECK (single),
	created_at timestamptz NOT NULL DEFAULT now(),
	snapshot_lsn pg_lsn
);
SELECT pg_catalog.pg_extension_config_dump('walbridge.node', '');

CREATE FUNCTION walbridge.create_node(name text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog
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
