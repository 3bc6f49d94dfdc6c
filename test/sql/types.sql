-- Every built-in type family round-trips: decode() of the record gives back
-- the inserted value, as a native msgpack value where one exists (integers,
-- floats, bool, bytea) and as the type's text form otherwise.
SET synchronous_commit = on;
SET extra_float_digits = 1;
SELECT 'init' FROM walbridge.create_slot('regression_slot');

CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE DOMAIN shorttext AS text CHECK (length(VALUE) < 100);
CREATE TYPE pair AS (a integer, b text);

CREATE TABLE alltypes (
	id integer PRIMARY KEY,
	c_int2 smallint, c_int4 integer, c_int8 bigint, c_oid oid,
	c_numeric numeric, c_float4 real, c_float8 double precision, c_money money,
	c_bool boolean,
	c_text text, c_varchar varchar(20), c_char char(5), c_name name,
	c_bytea bytea,
	c_date date, c_time time, c_timetz timetz, c_ts timestamp, c_tstz timestamptz,
	c_interval interval,
	c_uuid uuid, c_json json, c_jsonb jsonb,
	c_inet inet, c_cidr cidr, c_macaddr macaddr,
	c_bit bit(4), c_varbit varbit,
	c_point point, c_box box,
	c_int_array integer[], c_text_array text[], c_2d_array float8[][],
	c_enum mood, c_domain posint, c_domain_text shorttext, c_composite pair,
	c_range int4range, c_tsvector tsvector
);

INSERT INTO alltypes VALUES
	(1, -32768, -2147483648, -9223372036854775808, 0,
	 '-123456789012345678901234567890.123456789012345678901234567890', '-3.4028235e+38', '-1.7976931348623157e+308', '-92233720368547758.08',
	 false,
	 '', '', '', '',
	 '\x',
	 '4713-01-01 BC', '00:00', '00:00+1459', '4713-01-01 00:00 BC', '4713-01-01 00:00+00 BC',
	 '-178000000 years',
	 '00000000-0000-0000-0000-000000000000', '[]', '{}',
	 '0.0.0.0', '0.0.0.0/0', '00:00:00:00:00:00',
	 '0000', '',
	 '(0,0)', '(0,0),(0,0)',
	 '{}', '{}', '{}',
	 'sad', 1, '', ROW(NULL, NULL),
	 'empty', ''),
	(2, 32767, 2147483647, 9223372036854775807, 4294967295,
	 '1e1000', '3.4028235e+38', '1.7976931348623157e+308', '92233720368547758.07',
	 true,
	 'multibyte: é ü ß 日本語 🐘, quotes '' " \ and a tab	and
a newline', 'éüß', 'ab', 'a_name',
	 '\x00ff00',
	 '5874897-12-31', '24:00', '23:59:59.999999-1459', '294276-12-31 23:59:59.999999', '294276-12-31 23:59:59.999999+00',
	 '178000000 years 11 mons 30 days 23:59:59.999999',
	 'ffffffff-ffff-ffff-ffff-ffffffffffff', '{"a": [1, 2.5, "x", null, true]}', '{"nested": {"k": [1, 2]}, "u": "é"}',
	 '2001:db8::1/64', '10.1.0.0/16', '08:00:2b:01:02:03',
	 '1010', '110011',
	 '(1.5,-2.25)', '(3,4),(1,2)',
	 '{1,NULL,3}', '{"a b","c,d","\"q\"",NULL}', '{{1.5,NaN},{Infinity,-Infinity}}',
	 'happy', 2147483647, 'domain text', ROW(42, 'x y'),
	 '[1,10)', 'fat:2 cat:1'),
	(3, 0, 0, 0, 16384,
	 'NaN', 'NaN', 'NaN', 0,
	 NULL,
	 'x', 'x', 'x', 'x',
	 '\x0000',
	 'infinity', '12:34:56.789', '12:34:56.789+05:30', 'infinity', 'infinity',
	 '-1 days +02:03:04.5',
	 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '"just a string"', 'null',
	 '192.168.0.1', '192.168.0.0/24', 'ff:ff:ff:ff:ff:ff',
	 '1111', '1',
	 '(-0,0)', '(-1,-1),(1,1)',
	 '{-1}', '{""}', '{{0}}',
	 'ok', 7, NULL, ROW(NULL, 'only b'),
	 '(,)', NULL),
	(4, 1, 1, 1, 1,
	 '0.000000000000000000000000000001', 'Infinity', 'Infinity', 1,
	 true,
	 'y', 'y', 'y', 'y',
	 '\x',
	 '-infinity', '23:59:59.999999', '00:00:00-1459', '-infinity', '-infinity',
	 '0',
	 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', '1e400', '1.5e-10',
	 '::', '::/0', '01:02:03:04:05:06',
	 '0001', '0',
	 '(1e300,-1e-300)', '(0,0),(0,0)',
	 NULL, NULL, NULL,
	 NULL, NULL, NULL, NULL,
	 NULL, NULL),
	(5, -1, -1, -1, NULL,
	 '-0', '-Infinity', '-Infinity', NULL,
	 false,
	 NULL, NULL, NULL, NULL,
	 NULL,
	 NULL, NULL, NULL, NULL, NULL,
	 NULL,
	 NULL, NULL, NULL,
	 NULL, NULL, NULL,
	 NULL, NULL,
	 NULL, NULL,
	 NULL, NULL, NULL,
	 NULL, NULL, NULL, NULL,
	 NULL, NULL),
	(6, NULL, NULL, NULL, NULL,
	 NULL, '1.17549435e-38', '2.2250738585072014e-308', NULL,
	 NULL,
	 NULL, NULL, NULL, NULL,
	 NULL,
	 NULL, NULL, NULL, NULL, NULL,
	 NULL,
	 NULL, NULL, NULL,
	 NULL, NULL, NULL,
	 NULL, NULL,
	 NULL, NULL,
	 NULL, NULL, NULL,
	 NULL, NULL, NULL, NULL,
	 NULL, NULL);

-- Decode the inserts, and compare every value with the row's own text form.
-- jsonb keeps numbers as numeric, so a float's text may be spelled out in
-- full digits: such a value must then equal the original as its own type.
CREATE TABLE decoded AS
	SELECT r FROM (SELECT walbridge.decode(data) AS r
					 FROM pg_logical_slot_get_binary_changes('regression_slot', NULL, NULL)) s
	 WHERE r->>'kind' IN ('relation', 'insert');

CREATE FUNCTION mismatches(OUT id integer, OUT col text, OUT decoded text, OUT original text)
RETURNS SETOF record LANGUAGE plpgsql AS $$
DECLARE
	rel jsonb := (SELECT r FROM decoded WHERE r->>'kind' = 'relation');
	ins jsonb;
	i integer;
	same boolean;
BEGIN
	FOR ins IN SELECT r FROM decoded WHERE r->>'kind' = 'insert' LOOP
		id := (ins->'new'->>0)::integer;
		FOR i IN 0 .. jsonb_array_length(rel->'columns') - 1 LOOP
			col := rel->'columns'->i->>'name';
			decoded := ins->'new'->>i;
			EXECUTE format('SELECT %I::text FROM alltypes WHERE id = $1', col)
				INTO original USING id;
			IF decoded IS DISTINCT FROM original THEN
				EXECUTE format('SELECT $1::%s = %I FROM alltypes WHERE id = $2',
							   (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
								 WHERE attrelid = 'alltypes'::regclass AND attname = col),
							   col)
					INTO same USING decoded, id;
				IF NOT coalesce(same, false) THEN
					RETURN NEXT;
				END IF;
			END IF;
		END LOOP;
	END LOOP;
END $$;

-- Nothing differs.
SELECT * FROM mismatches();
SELECT count(*) AS values_compared
  FROM decoded, jsonb_array_elements(r->'new') WHERE r->>'kind' = 'insert';

-- The column descriptions, and how each value is carried (row 2).
SELECT c->>'name' AS name, c->>'type' AS type, c->'typmod' AS typmod,
	   jsonb_typeof((SELECT r->'new'->(ord::int - 1) FROM decoded
					  WHERE r->>'kind' = 'insert' AND r->'new'->>0 = '2')) AS json_type
  FROM decoded, jsonb_array_elements(r->'columns') WITH ORDINALITY AS cols(c, ord)
 WHERE r->>'kind' = 'relation'
 ORDER BY ord;

-- Floats keep NaN and the infinities (as strings in JSON, native in msgpack).
SELECT r->'new'->0 AS id, (r->'new'->>6)::real AS float4, (r->'new'->>7)::float8 AS float8,
	   jsonb_typeof(r->'new'->7) AS json_type
  FROM decoded WHERE r->>'kind' = 'insert';

SELECT 'stop' FROM pg_drop_replication_slot('regression_slot');
