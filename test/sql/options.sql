-- Every invalid option or value is an ERROR that names the option and what
-- is accepted.
SET synchronous_commit = on;
SELECT 'init' FROM walbridge.create_slot('regression_slot');
\set VERBOSITY default

SELECT data FROM pg_logical_slot_peek_binary_changes('regression_slot', NULL, NULL, 'nosuchopt', '42');
SELECT data FROM pg_logical_slot_peek_binary_changes('regression_slot', NULL, NULL, 'format', 'xml');
SELECT data FROM pg_logical_slot_peek_binary_changes('regression_slot', NULL, NULL, 'format', 'msgpack', 'format', 'json');
SELECT data FROM pg_logical_slot_peek_binary_changes('regression_slot', NULL, NULL, 'only_local', 'maybe');
SELECT data FROM pg_logical_slot_peek_binary_changes('regression_slot', NULL, NULL, 'format_version', '2');
SELECT data FROM pg_logical_slot_peek_binary_changes('regression_slot', NULL, NULL, 'format_version', 'one');
SELECT data FROM pg_logical_slot_peek_binary_changes('regression_slot', NULL, NULL, 'include_tables', 'orders');
SELECT data FROM pg_logical_slot_peek_binary_changes('regression_slot', NULL, NULL, 'include_tables', 'a.b.c');
SELECT data FROM pg_logical_slot_peek_binary_changes('regression_slot', NULL, NULL, 'include_tables', 'public.ok, "unterminated');
SELECT data FROM pg_logical_slot_peek_binary_changes('regression_slot', NULL, NULL, 'exclude_tables', '');
-- msgpack is binary: the text functions refuse it (PostgreSQL's own check).
SELECT data FROM pg_logical_slot_peek_changes('regression_slot', NULL, NULL);

-- Valid ones are accepted.
CREATE TABLE opt (id integer PRIMARY KEY);
INSERT INTO opt VALUES (1);
\set VERBOSITY terse
SELECT count(*) FROM pg_logical_slot_peek_binary_changes('regression_slot', NULL, NULL,
	'format', 'msgpack', 'format_version', '1', 'only_local', 'on',
	'include_tables', 'public.*, "Odd Schema"."Odd, Table"', 'exclude_tables', '*.secret');
SELECT count(*) FROM pg_logical_slot_peek_changes('regression_slot', NULL, NULL, 'format', 'text');
SELECT count(*) FROM pg_logical_slot_peek_changes('regression_slot', NULL, NULL, 'format', 'json');

SELECT 'stop' FROM pg_drop_replication_slot('regression_slot');

-- only an unquoted * is a wildcard: a table named "*" is a name
CREATE TABLE "*" (id integer PRIMARY KEY);
CREATE TABLE star_other (id integer PRIMARY KEY);
SELECT 'init' FROM pg_create_logical_replication_slot('star_slot', 'walbridge');
INSERT INTO "*" VALUES (1);
INSERT INTO star_other VALUES (1);
SELECT walbridge.decode(data)->>'table' AS tbl
  FROM pg_logical_slot_get_binary_changes('star_slot', NULL, NULL, 'include_tables', 'public."*"')
 WHERE walbridge.decode(data)->>'kind' = 'relation';
SELECT 'stop' FROM pg_drop_replication_slot('star_slot');
DROP TABLE "*", star_other;
