/*-------------------------------------------------------------------------
 *
 * conflict_sql.c
 *		walbridge.remote_wins(xid, timestamptz, oid, text) RETURNS boolean:
 *		last writer wins, decided for one local row version.
 *
 * walbridged evaluates it for every row a peer's UPDATE or DELETE touches,
 * so it reads the commit timestamp and origin directly (no SQL, no
 * tuplestore of pg_xact_commit_timestamp_origin()); only an exact tie of
 * timestamps needs the writer's node name, looked up then.
 *
 * IDENTIFICATION
 *		plugin/conflict_sql.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/commit_ts.h"
#include "access/transam.h"
#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "replication/origin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(walbridge_remote_wins);
PG_FUNCTION_INFO_V1(walbridge_copy_wins);

#define ORIGIN_PREFIX "walbridge_"

/* The node that wrote under origin (InvalidRepOriginId: this node), or "". */
static char *
writer_node(RepOriginId origin)
{
	char	   *name = NULL;

	if (origin == InvalidRepOriginId)
	{
		MemoryContext caller = CurrentMemoryContext;	/* outlives SPI_finish */

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute("SELECT name FROM walbridge.node", true, 1) == SPI_OK_SELECT &&
			SPI_processed == 1)
		{
			char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			if (value)
				name = MemoryContextStrdup(caller, value);
		}
		SPI_finish();
		return name ? name : "";
	}
	if (!replorigin_by_oid(origin, true, &name) || name == NULL)
		return "";
	if (strncmp(name, ORIGIN_PREFIX, strlen(ORIGIN_PREFIX)) == 0)
		return name + strlen(ORIGIN_PREFIX);
	return name;
}

/*
 * A row version of unknown time (written before track_commit_timestamp,
 * frozen, or older than the timestamps kept) counts as written by this node
 * at the oldest time there is: 1 microsecond past PostgreSQL's epoch, the
 * time walbridged stamps a copied row of unknown time with.  So any change
 * overwrites it, and two such versions of one key (two nodes that held
 * their own before sync started) are settled by node name, alike on every
 * node, instead of each node taking the other's.
 */
#define UNKNOWN_TIME ((TimestampTz) 1)

/*
 * Whether a change from a peer may overwrite the local row whose version
 * is local_xmin.  A row written in this very transaction is overwritten; a
 * row last written by that same peer is simply its next version; otherwise
 * the later commit wins, and on a tie the greater node name, compared byte
 * by byte so every node decides alike whatever its collation.
 */
static bool
wins(TransactionId xmin, TimestampTz remote_time, bool same_peer_follows, Oid remote_origin,
	 text *remote_node)
{
	TimestampTz local_time = 0;
	RepOriginId local_origin = InvalidRepOriginId;

	if (TransactionIdIsCurrentTransactionId(xmin))
		return true;
	if (!TransactionIdIsNormal(xmin) ||
		!TransactionIdGetCommitTsData(xmin, &local_time, &local_origin) ||
		local_time == 0)
	{
		local_time = UNKNOWN_TIME;
		local_origin = InvalidRepOriginId;
	}
	if (same_peer_follows && (Oid) local_origin == remote_origin)
		return true;
	if (local_time != remote_time)
		return local_time < remote_time;
	return strcmp(text_to_cstring(remote_node), writer_node(local_origin)) > 0;
}

Datum
walbridge_remote_wins(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(wins(DatumGetTransactionId(PG_GETARG_DATUM(0)), PG_GETARG_TIMESTAMPTZ(1),
						true, PG_GETARG_OID(2), PG_GETARG_TEXT_PP(3)));
}

/*
 * The same for a copied version (a row or a tombstone of an initial copy
 * or a resync), by time alone: a copy is not the peer's next write.  A
 * peer may send a copy while it is itself still receiving copies, or be a
 * new incarnation whose rows are older than what its old self wrote here:
 * taken for its next version, an older copied row would overwrite a newer
 * one the peer wrote (or its old self did) and that the peer never sends
 * again.
 */
Datum
walbridge_copy_wins(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(wins(DatumGetTransactionId(PG_GETARG_DATUM(0)), PG_GETARG_TIMESTAMPTZ(1),
						false, InvalidOid, PG_GETARG_TEXT_PP(2)));
}
