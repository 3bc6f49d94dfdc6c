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
 * IDENTIFICATION
 *		plugin/snapshot_sql.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "format.h"
#include "writer.h"

PG_FUNCTION_INFO_V1(walbridge_snapshot_records);

typedef struct SnapshotScan
{
	Relation	relation;
	TableScanDesc scan;
	TupleTableSlot *slot;
	WalbridgeRelation rel;
	bool		sent_relation;
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

static SnapshotScan *
open_scan(FunctionCallInfo fcinfo, MemoryContext multi_call_cxt)
{
	Oid			relid = PG_GETARG_OID(0);
	SnapshotScan *state;
	WalbridgeOptions defaults = {0};
	AclResult	aclresult;
	MemoryContext old = MemoryContextSwitchTo(multi_call_cxt);

	state = palloc0(sizeof(SnapshotScan));
	state->relation = table_open(relid, AccessShareLock);
	if (state->relation->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", RelationGetRelationName(state->relation)),
				 errdetail("walbridge.snapshot_records() copies the rows of ordinary tables.")));
	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_TABLE, RelationGetRelationName(state->relation));

	relcache_describe(&state->rel, state->relation, &defaults, multi_call_cxt);
	state->scan = table_beginscan(state->relation, GetActiveSnapshot(), 0, NULL);
	state->slot = table_slot_create(state->relation, NULL);
	state->row_cxt = AllocSetContextCreate(multi_call_cxt, "walbridge snapshot row",
										   ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(old);
	return state;
}

Datum
walbridge_snapshot_records(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	SnapshotScan *state;
	TupleTableSlot *slot;
	StringInfoData buf;


	if (SRF_IS_FIRSTCALL())
	{
		funcctx = SRF_FIRSTCALL_INIT();
		funcctx->user_fctx = open_scan(fcinfo, funcctx->multi_call_memory_ctx);
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

	slot = state->slot;
	if (table_scan_getnextslot(state->scan, ForwardScanDirection, slot))
	{
		MemoryContext old;
		WalbridgeTuple tuple;
		WalbridgeChange change = {0};
		bytea	   *record;

		MemoryContextReset(state->row_cxt);
		old = MemoryContextSwitchTo(state->row_cxt);
		slot_getallattrs(slot);
		tuple.values = slot->tts_values;
		tuple.isnull = slot->tts_isnull;
		change.tag = WB_REC_SNAPSHOT;
		change.rel = &state->rel;
		change.new = &tuple;
		MemoryContextSwitchTo(old);

		/* the record itself outlives the row context: it is returned */
		start_record(&buf);
		old = MemoryContextSwitchTo(state->row_cxt);
		msgpack_writer.change(&buf, &change);
		MemoryContextSwitchTo(old);
		record = finish_record(&buf);
		SRF_RETURN_NEXT(funcctx, PointerGetDatum(record));
	}

	ExecDropSingleTupleTableSlot(slot);
	table_endscan(state->scan);
	table_close(state->relation, AccessShareLock);
	SRF_RETURN_DONE(funcctx);
}
