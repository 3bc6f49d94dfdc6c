/*-------------------------------------------------------------------------
 *
 * tombstone.c
 *		walbridge.record_tombstone(): the trigger that remembers deleted keys.
 *
 * Last writer wins needs to know, when a peer's UPDATE finds no row here,
 * whether the row was deleted here by a later transaction (the update
 * loses) or never existed (the update brings it).  A delete leaves nothing
 * to read its commit time from, so this AFTER DELETE trigger (one per
 * statement, over its transition table of deleted rows; and AFTER UPDATE
 * of the key columns, per row, which deletes the old key; its WHEN clause
 * leaves out updates that set the key to what it was) writes the key
 * into the table's tombstone table: the tombstone row's xmin then carries
 * the delete's commit timestamp and replication origin, exactly like a
 * live row's, and walbridged asks walbridge.remote_wins() about it.
 *
 * The trigger's one argument names the tombstone table, whose columns are
 * the primary key columns under the same names.  The statement is
 * prepared once per trigger and backend (the plan cache re-plans it when
 * either table changes); ON CONFLICT DO UPDATE makes a key deleted again
 * take the newer transaction as its xmin.  The function is SECURITY
 * DEFINER: whoever may delete a row records its tombstone, without a
 * privilege on walbridge's tables.
 *
 * IDENTIFICATION
 *		plugin/tombstone.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/bitmapset.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"

PG_FUNCTION_INFO_V1(walbridge_record_tombstone);

/* The prepared statement of one trigger, for this backend's lifetime. */
typedef struct TombstonePlan
{
	Oid			trigger;		/* hash key */
	SPIPlanPtr	plan;
	int			nkeys;
	AttrNumber *keys;			/* the primary key columns, in attnum order */
} TombstonePlan;

static HTAB *tombstone_plans = NULL;

/*
 * INSERT INTO tombstones (k...) VALUES ($1...) ON CONFLICT (k...) DO
 * UPDATE SET k1 = excluded.k1: the update writes nothing new, but gives the
 * row a new version whose xmin is this transaction.  For a statement's
 * deletes (deleted: its transition table), SELECT k... FROM deleted in
 * place of VALUES: one statement for all its rows.
 */
static void
prepare_tombstone_plan(TombstonePlan *entry, Relation rel, const char *tombstones,
					   const char *deleted)
{
	Bitmapset  *pkey = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData cols;
	StringInfoData sql;
	Oid		   *types;
	int			member = -1;
	int			n = 0;

	if (pkey == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no primary key to record deleted rows by",
						RelationGetRelationName(rel)),
				 errhint("Run SELECT walbridge.untrack_deletes('%s') or add the primary key back.",
						 RelationGetRelationName(rel))));

	entry->nkeys = bms_num_members(pkey);
	entry->keys = MemoryContextAlloc(TopMemoryContext, sizeof(AttrNumber) * entry->nkeys);
	types = palloc(sizeof(Oid) * entry->nkeys);
	initStringInfo(&cols);
	while ((member = bms_next_member(pkey, member)) >= 0)
	{
		AttrNumber	attnum = member + FirstLowInvalidHeapAttributeNumber;
		Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);

		entry->keys[n] = attnum;
		types[n] = att->atttypid;
		appendStringInfo(&cols, "%s%s", n > 0 ? ", " : "", quote_identifier(NameStr(att->attname)));
		n++;
	}

	initStringInfo(&sql);
	if (deleted)
	{
		appendStringInfo(&sql, "INSERT INTO %s (%s) SELECT %s FROM %s", tombstones, cols.data,
						 cols.data, quote_identifier(deleted));
		n = 0;
	}
	else
	{
		appendStringInfo(&sql, "INSERT INTO %s (%s) VALUES (", tombstones, cols.data);
		for (int i = 0; i < n; i++)
			appendStringInfo(&sql, "%s$%d", i > 0 ? ", " : "", i + 1);
		appendStringInfoString(&sql, ")");
	}
	appendStringInfo(&sql, " ON CONFLICT (%s) DO UPDATE SET %s = excluded.%s",
					 cols.data,
					 quote_identifier(NameStr(TupleDescAttr(desc, entry->keys[0] - 1)->attname)),
					 quote_identifier(NameStr(TupleDescAttr(desc, entry->keys[0] - 1)->attname)));

	entry->plan = SPI_prepare(sql.data, n, types);
	if (entry->plan == NULL)
		elog(ERROR, "could not prepare the tombstone statement \"%s\": %s",
			 sql.data, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(entry->plan) != 0)
		elog(ERROR, "could not keep the tombstone statement");
}

static TombstonePlan *
tombstone_plan(TriggerData *trigdata)
{
	TombstonePlan *entry;
	bool		found;

	if (tombstone_plans == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(TombstonePlan);
		tombstone_plans = hash_create("walbridge tombstone plans", 16, &ctl,
									  HASH_ELEM | HASH_BLOBS);
	}
	entry = hash_search(tombstone_plans, &trigdata->tg_trigger->tgoid, HASH_ENTER, &found);
	if (!found)
	{
		entry->plan = NULL;
		PG_TRY();
		{
			prepare_tombstone_plan(entry, trigdata->tg_relation, trigdata->tg_trigger->tgargs[0],
								   TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ?
								   trigdata->tg_trigger->tgoldtable : NULL);
		}
		PG_CATCH();
		{
			hash_search(tombstone_plans, &trigdata->tg_trigger->tgoid, HASH_REMOVE, NULL);
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	return entry;
}

Datum
walbridge_record_tombstone(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TombstonePlan *entry;
	Datum	   *values = NULL;
	char	   *nulls = NULL;
	int			rc;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("walbridge.record_tombstone() may only be called as a trigger")));
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) || trigdata->tg_trigger->tgnargs != 1 ||
		!(TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ?
		  TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) || TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) :
		  TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) && trigdata->tg_oldtable != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("walbridge.record_tombstone() must fire AFTER DELETE FOR EACH STATEMENT REFERENCING OLD TABLE, or AFTER DELETE OR UPDATE FOR EACH ROW, with the tombstone table as its argument"),
				 errhint("Let walbridge.track_deletes() create the trigger.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* a statement's deletes, all at once, from its transition table */
	if (TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) &&
		SPI_register_trigger_data(trigdata) != SPI_OK_TD_REGISTER)
		elog(ERROR, "could not register the deleted rows");
	entry = tombstone_plan(trigdata);
	if (TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
	{
		TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);

		values = palloc(sizeof(Datum) * entry->nkeys);
		nulls = palloc(entry->nkeys);
		for (int i = 0; i < entry->nkeys; i++)
		{
			bool		isnull;

			values[i] = heap_getattr(trigdata->tg_trigtuple, entry->keys[i], desc, &isnull);
			nulls[i] = isnull ? 'n' : ' ';
		}
	}

	rc = SPI_execute_plan(entry->plan, values, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "recording tombstones in %s failed: %s",
			 trigdata->tg_trigger->tgargs[0], SPI_result_code_string(rc));
	SPI_finish();
	return PointerGetDatum(NULL);
}
