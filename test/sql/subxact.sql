-- Subtransactions: changes rolled back to a savepoint are absent, released
-- ones are kept, in statement order.
SET synchronous_commit = on;
SELECT 'init' FROM walbridge.create_slot('regression_slot');

CREATE TABLE sub (id integer PRIMARY KEY, v text);
BEGIN;
INSERT INTO sub VALUES (1, 'top');
SAVEPOINT a;
INSERT INTO sub VALUES (2, 'rolled back');
SAVEPOINT b;
INSERT INTO sub VALUES (3, 'rolled back with a');
ROLLBACK TO SAVEPOINT a;
INSERT INTO sub VALUES (4, 'after rollback');
SAVEPOINT c;
UPDATE sub SET v = 'released' WHERE id = 1;
RELEASE SAVEPOINT c;
SAVEPOINT d;
DELETE FROM sub WHERE id = 4;
ROLLBACK TO SAVEPOINT d;
COMMIT;
-- A transaction whose every change was rolled back sends nothing.
BEGIN;
SAVEPOINT only;
INSERT INTO sub VALUES (5, 'gone');
ROLLBACK TO SAVEPOINT only;
COMMIT;

SELECT * FROM stable_records('regression_slot');
SELECT 'stop' FROM pg_drop_replication_slot('regression_slot');
