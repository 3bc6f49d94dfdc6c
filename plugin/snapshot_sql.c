/*-------------------------------------------------------------------------
 *
 * snapshot_sql.c
 *		walbridge.snapshot_records(regclass) RETURNS SETOF bytea: a table's
 *		rows as msgpack records, for the initial copy a new mirror starts
 *		from.  The first record is the table's RELATION, then one SNAPSHOT
 *		record per row, encoded by the same writer the output plugin uses.
 *
 * walbridged runs it inside the snapshot a new slot exported, through a
 * cursor: called in the select list it returns one row per call, so a
 * table of any size is copied in bounded memory.
 *
 * A partitioned table is copied as itself, the way its changes are
 * published: its RELATION, then the rows of every partition in its
 * columns.  Values stored out of line are fetched: unlike in decoding, the
 * snapshot sees them as they were.
 *
 * IDENTIFICATION
 *		plugin/snapshot_sql.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/commit_ts.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/sysattr.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "format.h"
#include "writer.h"

PG_FUNCTION_INFO_V1(walbridge_snapshot_records);

typedef struct SnapshotScan
{
	WalbridgeRelation rel;		/* the table named: every row is sent as it */
	TupleDesc	desc;			/* its descriptor */
	List	   *to_scan;		/* oids of the tables still to scan: the table
								 * itself, or a partitioned table's leaf
								 * partitions */
	ListCell   *next;			/* in to_scan */
	Relation	scanned;		/* being scanned, or NULL */
	AttrMap    *to_rel;			/* scanned's columns to rel's; NULL when the
								 * same */
	TableScanDesc scan;
	TupleTableSlot *slot;
	bool		sent_relation;
	MemoryContext multi_call_cxt;
	MemoryContext row_cxt;		/* reset for every row */
} SnapshotScan;

/* A record built in a StringInfo whose first VARHDRSZ bytes are reserved. */
static bytea *
finish_record(StringInfo buf)
{
	SET_VARSIZE(buf->data, buf->len);
	return (bytea *) buf->data;
}

static void
start_record(StringInfo buf)
{
	initStringInfo(buf);
	appendStringInfoSpaces(buf, VARHDRSZ);
}

/*
 * The leaf partitions of a partitioned table, all levels down, locked as a
 * SELECT on it would lock them.  Foreign partitions are left out: their
 * rows are not in this server's WAL, so no change to them is ever
 * published either.
 */
static List *
leaf_partitions(Oid relid)
{
	List	   *leaves = NIL;
	ListCell   *lc;

	foreach(lc, find_all_inheritors(relid, AccessShareLock, NULL))
	{
		Oid			child = lfirst_oid(lc);

		if (get_rel_relkind(child) == RELKIND_RELATION)
			leaves = lappend_oid(leaves, child);
	}
	return leaves;
}

/*
 * The table a copy reads, opened, checked (a table or a partitioned
 * table, readable by the caller) and described as its RELATION record
 * describes it.
 */
static Relation
open_copied_table(Oid relid, WalbridgeRelation *rel, MemoryContext cxt)
{
	Relation	relation = table_open(relid, AccessShareLock);
	WalbridgeOptions defaults = {0};
	AclResult	aclresult;

	if (relation->rd_rel->relkind != RELKIND_RELATION &&
		relation->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(relation)),
				 errdetail("walbridge copies the rows of tables and partitioned tables.")));
	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_TABLE, RelationGetRelationName(relation));
	relcache_describe(rel, relation, &defaults, cxt);
	return relation;
}

static SnapshotScan *
open_scan(FunctionCallInfo fcinfo, MemoryContext multi_call_cxt)
{
	Oid			relid = PG_GETARG_OID(0);
	SnapshotScan *state;
	Relation	relation;
	MemoryContext old = MemoryContextSwitchTo(multi_call_cxt);

	state = palloc0(sizeof(SnapshotScan));
	state->multi_call_cxt = multi_call_cxt;
	relation = open_copied_table(relid, &state->rel, multi_call_cxt);
	state->desc = CreateTupleDescCopy(RelationGetDescr(relation));
	if (relation->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
		state->to_scan = leaf_partitions(relid);
	else
		state->to_scan = list_make1_oid(relid);
	state->next = list_head(state->to_scan);

	/* kept locked until the copy's transaction ends, as by a SELECT */
	table_close(relation, NoLock);

	state->row_cxt = AllocSetContextCreate(multi_call_cxt, "walbridge snapshot row",
										   ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(old);
	return state;
}

static void
end_table_scan(SnapshotScan *state)
{
	if (state->scanned == NULL)
		return;
	ExecDropSingleTupleTableSlot(state->slot);
	table_endscan(state->scan);
	table_close(state->scanned, NoLock);
	if (state->to_rel != NULL)
		free_attrmap(state->to_rel);
	state->scanned = NULL;
	state->to_rel = NULL;
}

/*
 * A cursor closed before the last row (or a LIMIT) ends the query without
 * another call: end the scan then, so nothing is left open.
 */
static void
snapshot_scan_shutdown(Datum arg)
{
	end_table_scan((SnapshotScan *) DatumGetPointer(arg));
}

/* Start scanning the next table of to_scan; false when there is none. */
static bool
begin_next_table_scan(SnapshotScan *state)
{
	MemoryContext old;

	end_table_scan(state);
	if (state->next == NULL)
		return false;

	old = MemoryContextSwitchTo(state->multi_call_cxt);
	state->scanned = table_open(lfirst_oid(state->next), AccessShareLock);
	state->next = lnext(state->to_scan, state->next);

	/*
	 * By name: a partition may order its columns differently, or have
	 * dropped ones, when it was created on its own and then attached.
	 */
	state->to_rel = build_attrmap_by_name_if_req(RelationGetDescr(state->scanned),
												 state->desc);
	state->scan = table_beginscan(state->scanned, GetActiveSnapshot(), 0, NULL);
	state->slot = table_slot_create(state->scanned, NULL);
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * When the row's version was committed here (its xmin's commit timestamp,
 * which for a change applied from a peer is the peer's commit time), so
 * that a node copying it compares it under last writer wins as if it had
 * been streamed.  0 when not known: track_commit_timestamp off, a frozen
 * or bootstrap xmin, or a transaction older than the timestamps kept.
 */
static TimestampTz
row_commit_time(TupleTableSlot *slot)
{
	bool		isnull;
	Datum		xmin;
	TimestampTz ts = 0;
	RepOriginId origin;

	if (!track_commit_timestamp)
		return 0;
	xmin = slot_getsysattr(slot, MinTransactionIdAttributeNumber, &isnull);
	if (isnull || !TransactionIdIsNormal(DatumGetTransactionId(xmin)))
		return 0;
	if (!TransactionIdGetCommitTsData(DatumGetTransactionId(xmin), &ts, &origin))
		return 0;
	return ts;
}

Datum
walbridge_snapshot_records(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	SnapshotScan *state;
	StringInfoData buf;

	if (SRF_IS_FIRSTCALL())
	{
		ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

		funcctx = SRF_FIRSTCALL_INIT();
		state = open_scan(fcinfo, funcctx->multi_call_memory_ctx);
		funcctx->user_fctx = state;
		RegisterExprContextCallback(rsinfo->econtext, snapshot_scan_shutdown,
									PointerGetDatum(state));
	}
	funcctx = SRF_PERCALL_SETUP();
	state = funcctx->user_fctx;

	if (!state->sent_relation)
	{
		state->sent_relation = true;
		start_record(&buf);
		msgpack_writer.relation(&buf, &state->rel);
		SRF_RETURN_NEXT(funcctx, PointerGetDatum(finish_record(&buf)));
	}

	while (state->scanned != NULL || begin_next_table_scan(state))
	{
		TupleTableSlot *slot = state->slot;
		MemoryContext old;
		WalbridgeTuple row;
		WalbridgeTuple tuple;
		WalbridgeChange change = {0};

		if (!table_scan_getnextslot(state->scan, ForwardScanDirection, slot))
		{
			end_table_scan(state);
			continue;
		}

		MemoryContextReset(state->row_cxt);
		old = MemoryContextSwitchTo(state->row_cxt);
		slot_getallattrs(slot);
		row.values = slot->tts_values;
		row.isnull = slot->tts_isnull;
		row.toast_readable = true;	/* fetched in this snapshot */
		if (state->to_rel != NULL)
			relcache_map_tuple(state->to_rel, &row, &tuple);
		else
			tuple = row;
		change.tag = WB_REC_SNAPSHOT;
		change.rel = &state->rel;
		change.new = &tuple;
		change.commit_time = row_commit_time(slot);
		MemoryContextSwitchTo(old);

		/* the record itself outlives the row context: it is returned */
		start_record(&buf);
		old = MemoryContextSwitchTo(state->row_cxt);
		msgpack_writer.change(&buf, &change);
		MemoryContextSwitchTo(old);
		SRF_RETURN_NEXT(funcctx, PointerGetDatum(finish_record(&buf)));
	}

	/* state goes with the multi-call context now */
	UnregisterExprContextCallback(((ReturnSetInfo *) fcinfo->resultinfo)->econtext,
								  snapshot_scan_shutdown, PointerGetDatum(state));
	SRF_RETURN_DONE(funcctx);
}

/* ------------------------------------------------------------------------
 * A copy in chunks, for walbridge.resync(): the publishing walbridged reads
 * a table a key range at a time (walbridge.resync_chunk(), in SQL), and
 * these two encode what it reads exactly as snapshot_records() does.
 * --------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(walbridge_relation_record);
PG_FUNCTION_INFO_V1(walbridge_row_record);

/* walbridge.relation_record(tbl regclass) RETURNS bytea */
Datum
walbridge_relation_record(PG_FUNCTION_ARGS)
{
	WalbridgeRelation rel;
	Relation	relation = open_copied_table(PG_GETARG_OID(0), &rel, CurrentMemoryContext);
	StringInfoData buf;

	start_record(&buf);
	msgpack_writer.relation(&buf, &rel);
	table_close(relation, NoLock);
	PG_RETURN_BYTEA_P(finish_record(&buf));
}

/*
 * walbridge.row_record(tbl regclass, row record, commit_time timestamptz)
 * RETURNS bytea: one row of tbl (a whole-row value of tbl's own row type,
 * as SELECT t FROM tbl t gives it, a partitioned table's rows in its own
 * columns) as a SNAPSHOT record.  A whole-row value holds its large values
 * inline, so they are all there.  commit_time NULL: not known.
 */
Datum
walbridge_row_record(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(1);
	WalbridgeRelation rel;
	Relation	relation = open_copied_table(relid, &rel, CurrentMemoryContext);
	TupleDesc	desc = RelationGetDescr(relation);
	HeapTupleData tuple;
	Datum	   *values;
	bool	   *isnull;
	WalbridgeTuple deformed;
	WalbridgeChange change = {0};
	StringInfoData buf;

	if (HeapTupleHeaderGetTypeId(row) != relation->rd_rel->reltype)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the row passed to walbridge.row_record() is not a row of %s",
						RelationGetRelationName(relation)),
				 errhint("Pass the whole row, as in SELECT walbridge.row_record(tbl, t, ...) FROM tbl t.")));
	tuple.t_len = HeapTupleHeaderGetDatumLength(row);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = row;
	values = palloc(desc->natts * sizeof(Datum));
	isnull = palloc(desc->natts * sizeof(bool));
	heap_deform_tuple(&tuple, desc, values, isnull);
	deformed.values = values;
	deformed.isnull = isnull;
	deformed.toast_readable = true;
	change.tag = WB_REC_SNAPSHOT;
	change.rel = &rel;
	change.new = &deformed;
	change.commit_time = PG_ARGISNULL(2) ? 0 : PG_GETARG_TIMESTAMPTZ(2);

	start_record(&buf);
	msgpack_writer.change(&buf, &change);
	table_close(relation, NoLock);
	PG_RETURN_BYTEA_P(finish_record(&buf));
}
