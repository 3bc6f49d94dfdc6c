-- Helpers for the other tests, and the setup checks.
SET client_min_messages = warning;

-- The records a slot holds, decoded, without what changes from run to run
-- (xids, LSNs, times, oids); relids are replaced by table names.
CREATE FUNCTION stable_records(slot name, variadic options text[] DEFAULT '{}')
RETURNS SETOF jsonb LANGUAGE sql AS $$
	SELECT CASE r->>'kind'
		WHEN 'relation' THEN
			(r - 'relid') || jsonb_build_object('columns',
				(SELECT jsonb_agg(CASE WHEN (c->>'type_oid')::oid >= 16384
									   THEN c - 'type_oid' ELSE c END)
				   FROM jsonb_array_elements(r->'columns') AS c))
		WHEN 'truncate' THEN
			(r - 'relids') || jsonb_build_object('tables',
				(SELECT jsonb_agg(rid::oid::regclass::text)
				   FROM jsonb_array_elements_text(r->'relids') AS rid))
		WHEN 'begin' THEN r - 'xid' - 'commit_lsn' - 'commit_time' - 'origin_lsn' - 'origin_id'
		WHEN 'commit' THEN r - 'xid' - 'commit_lsn' - 'end_lsn' - 'commit_time'
		WHEN 'message' THEN r - 'lsn'
		ELSE (r - 'relid') || jsonb_build_object('table', (r->>'relid')::oid::regclass::text)
	END
	FROM (SELECT walbridge.decode(data) AS r
			FROM pg_logical_slot_get_binary_changes(slot, NULL, NULL, VARIADIC options)) AS recs;
$$;

-- The server is set up as walbridge needs it.
SELECT setting, ok, hint FROM walbridge.check_setup();

-- Without walbridge in output_plugin_libraries (PostgreSQL 15.19+), the
-- error says what to run.
SET output_plugin_libraries = 'pgoutput', 'test_decoding';
SELECT setting, ok, hint FROM walbridge.check_setup() WHERE NOT ok;
\set VERBOSITY default
SELECT walbridge.create_slot('not_created');
\set VERBOSITY terse
RESET output_plugin_libraries;

SELECT 'init' FROM walbridge.create_slot('regression_slot');
SELECT slot_name, plugin, slot_type FROM pg_replication_slots;
SELECT 'stop' FROM pg_drop_replication_slot('regression_slot');
