-- pg_logical_emit_message: transactional messages travel inside their
-- transaction (and vanish with a rollback); non-transactional ones stand
-- alone, whatever becomes of the transaction that sent them.
SET synchronous_commit = on;
SELECT 'init' FROM walbridge.create_slot('regression_slot');

SELECT 'msg' FROM pg_logical_emit_message(true, 'walbridge.test', 'in a transaction');
SELECT 'msg' FROM pg_logical_emit_message(false, 'walbridge.test', 'on its own');
SELECT 'msg' FROM pg_logical_emit_message(true, 'bin', '\x00ff'::bytea);
BEGIN;
SELECT 'msg' FROM pg_logical_emit_message(true, 'walbridge.test', 'rolled back');
SELECT 'msg' FROM pg_logical_emit_message(false, 'walbridge.test', 'kept despite rollback');
ROLLBACK;
-- (a non-transactional message is not flushed by itself; a commit does)
SELECT 'msg' FROM pg_logical_emit_message(true, 'walbridge.test', 'flush');

SELECT * FROM stable_records('regression_slot');
SELECT 'stop' FROM pg_drop_replication_slot('regression_slot');
