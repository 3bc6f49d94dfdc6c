-- TRUNCATE of several tables, with CASCADE and RESTART IDENTITY; each
-- table is described (RELATION) before the TRUNCATE names it.
SET synchronous_commit = on;
SELECT 'init' FROM walbridge.create_slot('regression_slot');

CREATE TABLE parent (id serial PRIMARY KEY);
CREATE TABLE child (id integer PRIMARY KEY, parent_id integer REFERENCES parent);
CREATE TABLE other (id integer PRIMARY KEY);
INSERT INTO parent DEFAULT VALUES;
INSERT INTO child VALUES (1, 1);

TRUNCATE other;
TRUNCATE parent CASCADE;
TRUNCATE child, parent, other RESTART IDENTITY;
TRUNCATE parent RESTART IDENTITY CASCADE;

SELECT r FROM stable_records('regression_slot') AS r WHERE r->>'kind' IN ('truncate', 'relation');
SELECT 'stop' FROM pg_drop_replication_slot('regression_slot');
