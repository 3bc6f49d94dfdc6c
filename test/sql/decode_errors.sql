-- walbridge.decode() on malformed input: a clear error naming the record,
-- the byte and the field; never a crash.
\set VERBOSITY default
SELECT walbridge.decode('\x');
SELECT walbridge.decode('\xc1');
SELECT walbridge.decode('\x01');
SELECT walbridge.decode('\x90');
SELECT walbridge.decode('\x9158');
SELECT walbridge.decode('\x9142');
SELECT walbridge.decode('\x93490102');
SELECT walbridge.decode('\x9349cd');
SELECT walbridge.decode('\x934901919190');
SELECT walbridge.decode('\x93490191c70002');
SELECT walbridge.decode('\x93490190ff');
SELECT walbridge.decode('\x934901dc');
-- An origin id that is not 16 bits is refused.
SELECT walbridge.decode('\x984201010203ce00010000a17805');
-- A BEGIN from a newer format version.
SELECT walbridge.decode('\x984202010203c0c0c0');
\set VERBOSITY terse
-- A well-formed one decodes.
SELECT walbridge.decode('\x9842010102030ba17805') - 'commit_time';
SELECT walbridge.decode('\x93490192c0c70001');
-- Every prefix of a real record is rejected cleanly.
CREATE TABLE prefixes AS
	SELECT '\x954301cd0102cd0203d3000000000000000a'::bytea AS rec;
SELECT walbridge.decode(rec) - 'commit_time' FROM prefixes;
DO $$
DECLARE
	rec bytea := (SELECT rec FROM prefixes);
	failures integer := 0;
BEGIN
	FOR n IN 0 .. length(rec) - 1 LOOP
		BEGIN
			PERFORM walbridge.decode(substring(rec FROM 1 FOR n));
		EXCEPTION WHEN invalid_binary_representation THEN
			failures := failures + 1;
		END;
	END LOOP;
	RAISE NOTICE '% of % prefixes rejected', failures, length(rec);
END $$;
