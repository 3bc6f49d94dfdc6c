-- Table selection: include_tables and exclude_tables take schema-qualified
-- names, quoted where needed, with * for any schema or table.
SET synchronous_commit = on;
SELECT 'init' FROM walbridge.create_slot('regression_slot');

CREATE SCHEMA app;
CREATE SCHEMA "Odd Schema";
CREATE TABLE app.orders (id integer PRIMARY KEY);
CREATE TABLE app.secret (id integer PRIMARY KEY);
CREATE TABLE public.plain (id integer PRIMARY KEY);
CREATE TABLE "Odd Schema"."Odd, Table" (id integer PRIMARY KEY);

BEGIN;
INSERT INTO app.orders VALUES (1);
INSERT INTO app.secret VALUES (1);
INSERT INTO public.plain VALUES (1);
INSERT INTO "Odd Schema"."Odd, Table" VALUES (1);
TRUNCATE app.orders, app.secret;
COMMIT;
-- a transaction on unselected tables only is not sent at all
INSERT INTO app.secret VALUES (2);

CREATE FUNCTION tables_seen(VARIADIC options text[])
RETURNS TABLE (kind text, tbl text) LANGUAGE sql AS $$
	SELECT r->>'kind', coalesce((r->>'relid')::oid::regclass::text,
								(SELECT string_agg(x::oid::regclass::text, ', ')
								   FROM jsonb_array_elements_text(r->'relids') x))
	  FROM (SELECT walbridge.decode(data) AS r
			  FROM pg_logical_slot_peek_binary_changes('regression_slot', NULL, NULL,
													   VARIADIC options)) s
	 WHERE r->>'kind' IN ('insert', 'truncate', 'begin');
$$;

SELECT * FROM tables_seen('include_tables', 'app.orders');
SELECT * FROM tables_seen('include_tables', 'app.*', 'exclude_tables', 'app.secret');
SELECT * FROM tables_seen('exclude_tables', '*.secret, public.*');
SELECT * FROM tables_seen('include_tables', '"Odd Schema"."Odd, Table"');
SELECT * FROM tables_seen('include_tables', 'APP.ORDERS');	-- unquoted names fold to lower case
SELECT * FROM tables_seen('include_tables', 'nowhere.*');

SELECT 'stop' FROM pg_drop_replication_slot('regression_slot');
