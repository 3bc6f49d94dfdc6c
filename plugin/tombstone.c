/*-------------------------------------------------------------------------
 *
 * tombstone.c
 *		walbridge.record_tombstone(): the trigger that remembers deleted keys.
 *
 * Last writer wins needs to know, when a peer's UPDATE finds no row here,
 * whether the row was deleted here by a later transaction (the update
 * loses) or never existed (the update brings it).  A delete leaves nothing
 * to read its commit time from, so this AFTER DELETE trigger (one per
 * statement, over its transition table of deleted rows; per row on a
 * partitioned table, see track_deletes(); and AFTER UPDATE of the key
 * columns, per row, which deletes the old key; its WHEN clause leaves out
 * updates that set the key to what it was) writes the key
 * into the table's tombstone table: the tombstone row's xmin then carries
 * the delete's commit timestamp and replication origin, exactly like a
 * live row's, and walbridged asks walbridge.remote_wins() about it.
 *
 * The function is SECURITY DEFINER: whoever may delete a row records its
 * tombstone, without a privilege on walbridge's tables.  So it trusts
 * nothing the table's owner or the deleting user can choose:
 *
 * - It runs only as the triggers walbridge.track_deletes() creates: named
 *   walbridge_tombstone (AFTER DELETE, per statement with the deleted rows
 *   as transition table; per row on a partitioned table) or
 *   walbridge_tombstone_key (AFTER UPDATE FOR EACH ROW), without
 *   arguments, on a table registered in walbridge.tombstone_tables or on a
 *   partition of one (a row trigger on a partitioned table is cloned onto
 *   each partition).  Anything else is refused before any SQL runs.
 * - Its SQL is built from the catalogs only: the tombstone table is the
 *   one registered for the table, named through quote_qualified_identifier,
 *   and the key columns are that table's columns, through
 *   quote_identifier.  A trigger argument never reaches it; the values are
 *   parameters or come from the transition table.
 * - Each key column must have exactly the type and typmod the tombstone
 *   column has, checked at every firing, so no cast, domain check or other
 *   function the table's owner could choose runs as the definer.
 * - The function is created with SET search_path = pg_catalog, pg_temp.
 *
 * A table's owner may drop walbridge's trigger and make one of the same
 * name and shape (given EXECUTE on the function, which PUBLIC lacks):
 * it still runs only the fixed INSERT of its own table's deleted keys into
 * its own tombstone table, which deleting those rows would do anyway.
 *
 * The statement is prepared once per trigger and backend (a partition's
 * clone of a row trigger is a trigger of its own, with the partition's own
 * column numbers); ON CONFLICT DO UPDATE makes a key deleted again take
 * the newer transaction as its xmin.
 *
 * IDENTIFICATION
 *		plugin/tombstone.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/partition.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(walbridge_record_tombstone);

/* The names walbridge.track_deletes() gives its triggers. */
#define TOMBSTONE_TRIGGER		"walbridge_tombstone"	/* AFTER DELETE, per statement */
#define TOMBSTONE_KEY_TRIGGER	"walbridge_tombstone_key"	/* AFTER UPDATE of the key, per row */

/* One key column: a column of the tombstone table, found in the relation. */
typedef struct TombstoneKey
{
	NameData	name;
	AttrNumber	attnum;			/* in the firing relation (a partition's own) */
	Oid			type;			/* as the tombstone column has it */
	int32		typmod;
} TombstoneKey;

/* The prepared statement of one trigger, for this backend's lifetime. */
typedef struct TombstonePlan
{
	Oid			trigger;		/* hash key */
	Oid			tombstones;		/* the registered tombstone table */
	SPIPlanPtr	plan;
	int			nkeys;
	TombstoneKey *keys;			/* in TopMemoryContext, in tombstone column order */
} TombstonePlan;

static HTAB *tombstone_plans = NULL;

/*
 * Refuse every trigger but those walbridge.track_deletes() creates, by
 * name and shape; whether its table is tracked is checked against
 * walbridge.tombstone_tables next.
 */
static void
check_trigger(TriggerData *trigdata)
{
	Trigger    *trigger = trigdata->tg_trigger;
	int			event = trigdata->tg_event;
	bool		ok;

	if (strcmp(trigger->tgname, TOMBSTONE_TRIGGER) == 0)
		ok = TRIGGER_FIRED_AFTER(event) && TRIGGER_FIRED_BY_DELETE(event) &&
			(TRIGGER_FIRED_FOR_ROW(event) ||
			 (trigger->tgoldtable != NULL && trigdata->tg_oldtable != NULL));
	else if (strcmp(trigger->tgname, TOMBSTONE_KEY_TRIGGER) == 0)
		ok = TRIGGER_FIRED_AFTER(event) && TRIGGER_FIRED_FOR_ROW(event) &&
			TRIGGER_FIRED_BY_UPDATE(event);
	else
		ok = false;

	if (!ok || trigger->tgnargs != 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" on table \"%s\" is not one walbridge.track_deletes() created",
						trigger->tgname, RelationGetRelationName(trigdata->tg_relation)),
				 errdetail("walbridge.record_tombstone() runs only as trigger \"%s\" (AFTER DELETE, per row or per statement with the deleted rows as transition table) or \"%s\" (AFTER UPDATE FOR EACH ROW), without arguments.",
						   TOMBSTONE_TRIGGER, TOMBSTONE_KEY_TRIGGER),
				 errhint("Let walbridge.track_deletes() create the triggers.")));
}

/*
 * The tombstone table registered for rel, or for the nearest of its
 * partition ancestors that is registered (the table track_deletes() was
 * given; its row triggers are cloned onto the partitions).  Runs under SPI.
 */
static Oid
registered_tombstones(Relation rel)
{
	List	   *candidates = list_make1_oid(RelationGetRelid(rel));
	ListCell   *lc;

	if (rel->rd_rel->relispartition)
		candidates = list_concat(candidates, get_partition_ancestors(RelationGetRelid(rel)));
	foreach(lc, candidates)
	{
		Oid			argtypes[1] = {REGCLASSOID};
		Datum		args[1] = {ObjectIdGetDatum(lfirst_oid(lc))};
		bool		isnull;
		Datum		tombstones;

		if (SPI_execute_with_args("SELECT t.tombstones FROM walbridge.tombstone_tables t"
								  " WHERE t.tbl OPERATOR(pg_catalog.=) $1",
								  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read walbridge.tombstone_tables");
		if (SPI_processed == 0)
			continue;
		tombstones = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			return DatumGetObjectId(tombstones);
	}
	ereport(ERROR,
			(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
			 errmsg("table \"%s\" is not tracked by walbridge", RelationGetRelationName(rel)),
			 errdetail("walbridge.record_tombstone() runs only in the triggers of the tables in walbridge.tombstone_tables."),
			 errhint("Run SELECT walbridge.track_deletes() on the table instead.")));
	return InvalidOid;			/* keep the compiler quiet */
}

/*
 * The key columns: every column of the tombstone table, found by name in
 * rel, of exactly the same type and typmod (so the INSERT needs no
 * coercion).  keys has room for the tombstone table's columns; returns how
 * many it filled.
 */
static int
find_keys(TombstoneKey *keys, Relation rel, Relation tombstones)
{
	TupleDesc	tdesc = RelationGetDescr(tombstones);
	TupleDesc	desc = RelationGetDescr(rel);
	int			n = 0;

	for (int i = 0; i < tdesc->natts; i++)
	{
		Form_pg_attribute tatt = TupleDescAttr(tdesc, i);
		AttrNumber	attnum;
		Form_pg_attribute att;

		if (tatt->attisdropped)
			continue;
		attnum = get_attnum(RelationGetRelid(rel), NameStr(tatt->attname));
		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table \"%s\" has no column \"%s\" to record deleted rows by",
							RelationGetRelationName(rel), NameStr(tatt->attname)),
					 errdetail("Its tombstone table \"%s\" is keyed by that column.",
							   RelationGetRelationName(tombstones)),
					 errhint("Run walbridge.untrack_deletes() and then walbridge.track_deletes() on the table to track its present key.")));
		att = TupleDescAttr(desc, attnum - 1);
		if (att->atttypid != tatt->atttypid || att->atttypmod != tatt->atttypmod)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of table \"%s\" is of type %s, but its tombstone table records %s",
							NameStr(att->attname), RelationGetRelationName(rel),
							format_type_with_typemod(att->atttypid, att->atttypmod),
							format_type_with_typemod(tatt->atttypid, tatt->atttypmod)),
					 errhint("Run walbridge.untrack_deletes() and then walbridge.track_deletes() on the table to track its present key.")));
		keys[n].name = tatt->attname;
		keys[n].attnum = attnum;
		keys[n].type = tatt->atttypid;
		keys[n].typmod = tatt->atttypmod;
		n++;
	}
	if (n == 0)
		elog(ERROR, "tombstone table \"%s\" has no columns", RelationGetRelationName(tombstones));
	return n;
}

/* Whether rel still has the key columns where, and as, entry found them. */
static bool
keys_unchanged(TombstonePlan *entry, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < entry->nkeys; i++)
	{
		TombstoneKey *key = &entry->keys[i];
		Form_pg_attribute att;

		if (key->attnum > desc->natts)
			return false;
		att = TupleDescAttr(desc, key->attnum - 1);
		if (att->attisdropped || att->atttypid != key->type || att->atttypmod != key->typmod ||
			strcmp(NameStr(att->attname), NameStr(key->name)) != 0)
			return false;
	}
	return true;
}

/*
 * INSERT INTO tombstones (k...) VALUES ($1...) ON CONFLICT (k...) DO
 * UPDATE SET k1 = excluded.k1: the update writes nothing new, but gives the
 * row a new version whose xmin is this transaction.  For a statement's
 * deletes (deleted: its transition table), SELECT k... FROM deleted in
 * place of VALUES: one statement for all its rows.  Fills entry (but its
 * hash key) or raises an error, leaving entry alone.  Runs under SPI.
 */
static void
prepare_tombstone_plan(TombstonePlan *entry, Relation rel, const char *deleted)
{
	Oid			tombstones_oid = registered_tombstones(rel);
	Relation	tombstones = table_open(tombstones_oid, AccessShareLock);
	TombstoneKey *keys = palloc(sizeof(TombstoneKey) * RelationGetDescr(tombstones)->natts);
	int			nkeys = find_keys(keys, rel, tombstones);
	const char *target = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(tombstones)),
													RelationGetRelationName(tombstones));
	Oid		   *types = palloc(sizeof(Oid) * nkeys);
	StringInfoData cols;
	StringInfoData sql;
	SPIPlanPtr	plan;

	table_close(tombstones, AccessShareLock);
	initStringInfo(&cols);
	for (int i = 0; i < nkeys; i++)
	{
		appendStringInfo(&cols, "%s%s", i > 0 ? ", " : "", quote_identifier(NameStr(keys[i].name)));
		types[i] = keys[i].type;
	}

	initStringInfo(&sql);
	if (deleted)
		appendStringInfo(&sql, "INSERT INTO %s (%s) SELECT %s FROM %s", target, cols.data,
						 cols.data, quote_identifier(deleted));
	else
	{
		appendStringInfo(&sql, "INSERT INTO %s (%s) VALUES (", target, cols.data);
		for (int i = 0; i < nkeys; i++)
			appendStringInfo(&sql, "%s$%d", i > 0 ? ", " : "", i + 1);
		appendStringInfoString(&sql, ")");
	}
	appendStringInfo(&sql, " ON CONFLICT (%s) DO UPDATE SET %s = excluded.%s",
					 cols.data,
					 quote_identifier(NameStr(keys[0].name)),
					 quote_identifier(NameStr(keys[0].name)));

	plan = SPI_prepare(sql.data, deleted ? 0 : nkeys, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare the tombstone statement \"%s\": %s",
			 sql.data, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "could not keep the tombstone statement");

	if (entry->plan != NULL)
		SPI_freeplan(entry->plan);
	if (entry->keys != NULL)
		pfree(entry->keys);
	entry->tombstones = tombstones_oid;
	entry->plan = plan;
	entry->nkeys = nkeys;
	entry->keys = MemoryContextAlloc(TopMemoryContext, sizeof(TombstoneKey) * nkeys);
	memcpy(entry->keys, keys, sizeof(TombstoneKey) * nkeys);
}

/*
 * The plan of the trigger that fired, prepared the first time and again
 * whenever the relation's key columns moved or changed type (then
 * prepare_tombstone_plan() finds out whether they still match).
 */
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
		entry->keys = NULL;
		entry->nkeys = 0;
	}
	if (entry->plan == NULL || !keys_unchanged(entry, trigdata->tg_relation))
		prepare_tombstone_plan(entry, trigdata->tg_relation,
							   TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ?
							   trigdata->tg_trigger->tgoldtable : NULL);
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
	check_trigger(trigdata);

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

			values[i] = heap_getattr(trigdata->tg_trigtuple, entry->keys[i].attnum, desc, &isnull);
			nulls[i] = isnull ? 'n' : ' ';
		}
	}

	rc = SPI_execute_plan(entry->plan, values, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "recording tombstones of \"%s\" failed: %s",
			 RelationGetRelationName(trigdata->tg_relation), SPI_result_code_string(rc));
	SPI_finish();
	return PointerGetDatum(NULL);
}
