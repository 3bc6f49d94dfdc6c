-- walbridge.remote_wins(): last writer wins for one local row version
\set VERBOSITY terse
CREATE TABLE lww (id integer PRIMARY KEY, v text);
\o /dev/null
SELECT walbridge.create_node('m');
SELECT pg_replication_origin_create('walbridge_p1');
SELECT pg_replication_origin_create('walbridge_p2');
\o
INSERT INTO lww VALUES (1, 'written here');

-- a later remote commit wins, an earlier one loses
SELECT walbridge.remote_wins(xmin, pg_xact_commit_timestamp(xmin) + interval '1 ms',
		pg_replication_origin_oid('walbridge_p1'), 'p1') AS later,
	   walbridge.remote_wins(xmin, pg_xact_commit_timestamp(xmin) - interval '1 ms',
		pg_replication_origin_oid('walbridge_p1'), 'p1') AS earlier
  FROM lww WHERE id = 1;

-- a tie goes to the greater node name (this node's, from walbridge.node)
SELECT walbridge.remote_wins(xmin, pg_xact_commit_timestamp(xmin),
		pg_replication_origin_oid('walbridge_p1'), (SELECT name FROM walbridge.node) || 'z') AS greater_name,
	   walbridge.remote_wins(xmin, pg_xact_commit_timestamp(xmin),
		pg_replication_origin_oid('walbridge_p1'), '') AS smaller_name
  FROM lww WHERE id = 1;

-- a row written in this very transaction has no commit timestamp: overwritten
BEGIN;
INSERT INTO lww VALUES (2, 'not committed');
SELECT walbridge.remote_wins(xmin, '2000-01-01', pg_replication_origin_oid('walbridge_p1'), 'p1') AS uncommitted
  FROM lww WHERE id = 2;
ROLLBACK;

-- a row peer p1 applied, with p1's commit time a day ago
\o /dev/null
SELECT pg_replication_origin_session_setup('walbridge_p1');
BEGIN;
SELECT pg_replication_origin_xact_setup('0/1', '2026-01-01 12:00:00+00');
INSERT INTO lww VALUES (3, 'from p1');
COMMIT;
SELECT pg_replication_origin_session_reset();
\o
SELECT pg_xact_commit_timestamp(xmin) AS p1_commit FROM lww WHERE id = 3;
SELECT walbridge.remote_wins(xmin, '2025-01-01', pg_replication_origin_oid('walbridge_p1'), 'p1') AS same_peer_even_if_older,
	   walbridge.remote_wins(xmin, '2025-01-01', pg_replication_origin_oid('walbridge_p2'), 'p2') AS other_peer_older,
	   walbridge.remote_wins(xmin, '2026-01-01 12:00:00+00', pg_replication_origin_oid('walbridge_p2'), 'p2') AS tie_p2_over_p1,
	   walbridge.remote_wins(xmin, '2026-01-01 12:00:00+00', pg_replication_origin_oid('walbridge_p2'), 'p0') AS tie_p0_under_p1
  FROM lww WHERE id = 3;

-- copy_wins(): a copied version by time alone, the same peer's too
SELECT walbridge.copy_wins(xmin, '2025-01-01', 'p1') AS same_peer_older_copy,
	   walbridge.copy_wins(xmin, '2026-01-01 12:00:00.000001+00', 'p1') AS same_peer_later_copy,
	   walbridge.copy_wins(xmin, '2026-01-01 12:00:00+00', 'p1') AS same_peer_tie,
	   walbridge.copy_wins(xmin, '2026-01-01 12:00:00+00', 'p2') AS tie_p2_over_p1
  FROM lww WHERE id = 3;

DROP TABLE lww;
DELETE FROM walbridge.node;
\o /dev/null
SELECT pg_replication_origin_drop('walbridge_p1');
SELECT pg_replication_origin_drop('walbridge_p2');
\o
