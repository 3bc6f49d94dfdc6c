-- ALTER TABLE between changes produces a new RELATION record before the
-- next change; changes that alter nothing the reader sees (VACUUM, a new
-- index) do not.
SET synchronous_commit = on;
SELECT 'init' FROM walbridge.create_slot('regression_slot');

CREATE TABLE altered (id integer PRIMARY KEY, a text);
INSERT INTO altered VALUES (1, 'a');
INSERT INTO altered VALUES (2, 'b');
VACUUM altered;
CREATE INDEX altered_a ON altered (a);
INSERT INTO altered VALUES (3, 'c');
ALTER TABLE altered ADD COLUMN b integer DEFAULT 7;
INSERT INTO altered VALUES (4, 'd', 8);
ALTER TABLE altered DROP COLUMN a;
UPDATE altered SET b = 9 WHERE id = 4;
-- within one transaction
BEGIN;
INSERT INTO altered VALUES (5, 10);
ALTER TABLE altered ADD COLUMN c text;
INSERT INTO altered VALUES (6, 11, 'x');
ALTER TABLE altered ALTER COLUMN b TYPE bigint;
INSERT INTO altered VALUES (7, 12, 'y');
COMMIT;
ALTER TABLE altered RENAME TO renamed;
INSERT INTO renamed VALUES (8, 13, 'z');

SELECT * FROM stable_records('regression_slot');
SELECT 'stop' FROM pg_drop_replication_slot('regression_slot');
