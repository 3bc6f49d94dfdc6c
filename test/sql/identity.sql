-- Replica identity default, full, index and nothing; updates that change
-- the key.  UPDATE and DELETE carry the old key (identity columns only) or,
-- under REPLICA IDENTITY FULL, the whole old row.
SET synchronous_commit = on;
SELECT 'init' FROM walbridge.create_slot('regression_slot');

CREATE TABLE ident_default (id integer PRIMARY KEY, v text);
CREATE TABLE ident_full (id integer, v text, w integer);
ALTER TABLE ident_full REPLICA IDENTITY FULL;
CREATE TABLE ident_index (id integer PRIMARY KEY, code text NOT NULL, v text);
CREATE UNIQUE INDEX ident_index_code ON ident_index (code);
ALTER TABLE ident_index REPLICA IDENTITY USING INDEX ident_index_code;
CREATE TABLE ident_nothing (id integer PRIMARY KEY, v text);
ALTER TABLE ident_nothing REPLICA IDENTITY NOTHING;
CREATE TABLE ident_two_keys (a integer, b text, v text, PRIMARY KEY (b, a));

INSERT INTO ident_default VALUES (1, 'one');
UPDATE ident_default SET v = 'uno' WHERE id = 1;		-- key unchanged: no old
UPDATE ident_default SET id = 10 WHERE id = 1;		-- key changed: old key
DELETE FROM ident_default WHERE id = 10;

INSERT INTO ident_full VALUES (1, 'one', NULL);
UPDATE ident_full SET w = 5;
DELETE FROM ident_full;

INSERT INTO ident_index VALUES (1, 'A', 'one');
UPDATE ident_index SET v = 'uno';					-- identity unchanged
UPDATE ident_index SET code = 'B';					-- identity changed
UPDATE ident_index SET id = 2;						-- pk changes, identity not
DELETE FROM ident_index;

INSERT INTO ident_nothing VALUES (1, 'one');
UPDATE ident_nothing SET id = 2;
DELETE FROM ident_nothing;

INSERT INTO ident_two_keys VALUES (1, 'x', 'v');
UPDATE ident_two_keys SET a = 2, v = 'w';
DELETE FROM ident_two_keys;

SELECT * FROM stable_records('regression_slot');
SELECT 'stop' FROM pg_drop_replication_slot('regression_slot');
