-- format=json writes the same JSON that walbridge.decode() gives for the
-- msgpack record, and format=text one readable line per record.
SET synchronous_commit = on;
SELECT 'init' FROM walbridge.create_slot('regression_slot');

CREATE TABLE fmt (id integer PRIMARY KEY, t text, f float8, b bytea, ok boolean, big text);
ALTER TABLE fmt ALTER big SET STORAGE EXTERNAL;
INSERT INTO fmt VALUES (1, 'it''s "quoted"', 'NaN', '\x00ff', true, repeat('b', 5000));
UPDATE fmt SET id = 2, f = 1.5;
SELECT 'msg' FROM pg_logical_emit_message(true, 'p', 'hello');
DELETE FROM fmt;
TRUNCATE fmt;

-- The same records, the same JSON.
SELECT (SELECT array_agg(data::jsonb) FROM pg_logical_slot_peek_changes('regression_slot', NULL, NULL, 'format', 'json'))
	 = (SELECT array_agg(walbridge.decode(data)) FROM pg_logical_slot_peek_binary_changes('regression_slot', NULL, NULL))
	AS json_equals_decode;
SELECT count(*) AS records FROM pg_logical_slot_peek_changes('regression_slot', NULL, NULL, 'format', 'json');

-- The text lines, with what varies from run to run masked.
SELECT regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(data,
		   '(BEGIN|COMMIT) \d+', '\1 XID'),
		   '\d+/[0-9A-F]+', 'LSN', 'g'),
		   'commit_time [^ ]+ [^ ]+', 'commit_time T', 'g'),
		   'relid \d+', 'relid R'), 'b{100,}', 'b...')
  FROM pg_logical_slot_get_changes('regression_slot', NULL, NULL, 'format', 'text');

SELECT 'stop' FROM pg_drop_replication_slot('regression_slot');
