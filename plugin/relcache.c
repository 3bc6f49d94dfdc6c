/*-------------------------------------------------------------------------
 *
 * relcache.c
 *		Per-relation metadata for the writers, with invalidation.
 *
 * Type lookups (output functions, type names, key columns) are done once
 * per relation, not per row.  A relcache invalidation (ALTER TABLE, also
 * while replaying the transaction that ran it) marks the entry invalid; the
 * next change rebuilds it from the historic descriptor and, when what the
 * reader sees changed, clears "sent" so a fresh RELATION record goes first.
 *
 * A partition is published as its topmost ancestor that include_tables
 * selects, when there is one (walbridged names the partitioned tables, not
 * their partitions): its entry points at the ancestor's entry, whose
 * RELATION record the stream gets, and holds the map from its columns to
 * the ancestor's.  Invalidating an ancestor rebuilds the partitions' entries
 * too: ALTER TABLE on the root, ATTACH and DETACH change what they map to.
 *
 * The hash lives under CacheMemoryContext, not the decoding context: the
 * invalidation callback cannot be unregistered, and an ERROR during
 * decoding frees the decoding context without calling shutdown, which
 * would leave a pointer to freed memory behind.  relcache_start() drops
 * any leftover from such a session.
 *
 * IDENTIFICATION
 *		plugin/relcache.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "catalog/partition.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "nodes/bitmapset.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "format.h"
#include "outbox.h"
#include "relcache.h"
#include "value.h"

static HTAB *relation_cache = NULL;
static MemoryContext relation_cache_cxt = NULL;
static bool callback_registered = false;
static bool cache_has_partitions = false;	/* an entry has ancestors */

static void
relcache_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	WalbridgeRelation *entry;

	if (relation_cache == NULL)
		return;

	if (OidIsValid(relid))
	{
		entry = hash_search(relation_cache, &relid, HASH_FIND, NULL);
		if (entry != NULL)
			entry->valid = false;
		if (!cache_has_partitions)
			return;
	}

	/*
	 * Everything, or (relid given) the partitions below relid: their entry
	 * depends on the ancestor's description and on which ancestors they
	 * have.
	 */
	hash_seq_init(&status, relation_cache);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (!OidIsValid(relid) || list_member_oid(entry->ancestors, relid))
			entry->valid = false;
}

/* Called at plugin startup: a new stream, so nothing has been sent. */
void
relcache_start(void)
{
	HASHCTL		ctl;

	relcache_stop();

	relation_cache_cxt = AllocSetContextCreate(CacheMemoryContext,
											   "walbridge relation cache",
											   ALLOCSET_DEFAULT_SIZES);
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(WalbridgeRelation);
	ctl.hcxt = relation_cache_cxt;
	relation_cache = hash_create("walbridge relations", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(relcache_invalidate, (Datum) 0);
		callback_registered = true;
	}
}

/* Called at plugin shutdown, and before a new start. */
void
relcache_stop(void)
{
	relation_cache = NULL;
	cache_has_partitions = false;
	if (relation_cache_cxt != NULL)
		MemoryContextDelete(relation_cache_cxt);
	relation_cache_cxt = NULL;
}

static WalbridgeValueKind
value_kind_for_type(Oid typid)
{
	switch (getBaseType(typid))
	{
		case BOOLOID:
			return WB_KIND_BOOL;
		case INT2OID:
			return WB_KIND_INT2;
		case INT4OID:
			return WB_KIND_INT4;
		case INT8OID:
			return WB_KIND_INT8;
		case OIDOID:
			return WB_KIND_OID;
		case FLOAT4OID:
			return WB_KIND_FLOAT4;
		case FLOAT8OID:
			return WB_KIND_FLOAT8;
		case BYTEAOID:
			return WB_KIND_BYTEA;
		case TIMESTAMPOID:
			return WB_KIND_TIMESTAMP;
		case TIMESTAMPTZOID:
			return WB_KIND_TIMESTAMPTZ;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return WB_KIND_TEXT;
		default:
			return WB_KIND_OUTPUT;
	}
}

/*
 * The type's name as a reader on another server can resolve it: built-in
 * types as SQL spells them ("integer", "text"), others schema-qualified.
 */
static char *
type_name_for_reader(Oid typid)
{
	HeapTuple	tuple = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	bool		builtin;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for type %u", typid);
	builtin = ((Form_pg_type) GETSTRUCT(tuple))->typnamespace == PG_CATALOG_NAMESPACE;
	ReleaseSysCache(tuple);
	return builtin ? format_type_be(typid) : format_type_be_qualified(typid);
}

/*
 * Whether two builds describe the same relation to a reader, so that an
 * invalidation that changed nothing the reader sees (VACUUM, ANALYZE, a
 * new index) does not cost another RELATION record.
 */
static bool
same_for_reader(const WalbridgeRelation *a, const WalbridgeRelation *b)
{
	if (a->ncolumns != b->ncolumns || a->replident != b->replident ||
		strcmp(a->schema, b->schema) != 0 || strcmp(a->table, b->table) != 0)
		return false;
	for (int i = 0; i < a->ncolumns; i++)
	{
		const WalbridgeColumn *ca = &a->columns[i];
		const WalbridgeColumn *cb = &b->columns[i];

		if (ca->attnum != cb->attnum || ca->typid != cb->typid ||
			ca->typmod != cb->typmod || ca->flags != cb->flags ||
			strcmp(ca->name, cb->name) != 0)
			return false;
	}
	return true;
}

/*
 * Describe relation for the writers into out, allocated in a new context
 * under parent (out->cxt owns it all).  Also used outside decoding, by
 * walbridge.snapshot_records().
 */
void
relcache_describe(WalbridgeRelation *out, Relation relation,
				  const WalbridgeOptions *opts, MemoryContext parent)
{
	TupleDesc	desc = RelationGetDescr(relation);
	WalbridgeRelation fresh = {0};
	Bitmapset  *identity;
	Bitmapset  *primary_key;
	MemoryContext old;

	fresh.relid = RelationGetRelid(relation);
	fresh.cxt = AllocSetContextCreate(parent, "walbridge relation entry",
									  ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(fresh.cxt);

	fresh.schema = get_namespace_name(RelationGetNamespace(relation));
	fresh.table = pstrdup(RelationGetRelationName(relation));
	fresh.replident = relation->rd_rel->relreplident;
	fresh.selected = options_table_selected(opts, fresh.schema, fresh.table);
	fresh.outbox = strcmp(fresh.schema, WB_OUTBOX_SCHEMA) == 0 &&
		strcmp(fresh.table, WB_OUTBOX_TABLE) == 0;

	identity = RelationGetIdentityKeyBitmap(relation);
	primary_key = RelationGetIndexAttrBitmap(relation,
											 INDEX_ATTR_BITMAP_PRIMARY_KEY);
	/* the catalog as of this change: ADD PRIMARY KEY selects it from then on */
	if (opts->require_primary_key && bms_is_empty(primary_key))
		fresh.selected = false;

	fresh.columns = palloc0(sizeof(WalbridgeColumn) * Max(desc->natts, 1));
	fresh.ncolumns = 0;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		WalbridgeColumn *col;
		int			bit = att->attnum - FirstLowInvalidHeapAttributeNumber;

		/* The receiver computes generated columns itself. */
		if (att->attisdropped || att->attgenerated)
			continue;

		col = &fresh.columns[fresh.ncolumns++];
		col->attnum = att->attnum;
		col->name = pstrdup(NameStr(att->attname));
		col->typid = att->atttypid;
		col->typname = type_name_for_reader(att->atttypid);
		col->typmod = att->atttypmod;
		col->is_varlena = (att->attlen == -1);
		col->typlen = att->attlen;
		col->typbyval = att->attbyval;
		col->kind = value_kind_for_type(att->atttypid);
		if (fresh.replident == REPLICA_IDENTITY_FULL ||
			bms_is_member(bit, identity))
			col->flags |= WB_COLUMN_IDENTITY;
		if (bms_is_member(bit, primary_key))
			col->flags |= WB_COLUMN_PRIMARY_KEY;
		if (col->kind == WB_KIND_OUTPUT)
		{
			Oid			outfunc;
			bool		isvarlena;

			getTypeOutputInfo(att->atttypid, &outfunc, &isvarlena);
			fmgr_info_cxt(outfunc, &col->output, fresh.cxt);
		}
	}
	MemoryContextSwitchTo(old);
	fresh.valid = true;
	*out = fresh;
}

/*
 * For a partition: the topmost of its ancestors that the options select,
 * or InvalidOid.  *excluded is set when exclude_tables names the partition
 * or one of its ancestors: exclude_tables wins over include_tables, for a
 * partitioned table as a whole too.  Names are looked up in the caller's
 * memory context.
 */
static Oid
topmost_selected_ancestor(const WalbridgeRelation *partition, List *ancestors,
						  const WalbridgeOptions *opts, bool *excluded)
{
	WalbridgeOptions exclusions = *opts;
	Oid			topmost = InvalidOid;
	ListCell   *lc;

	/* selected with no include_tables: not excluded */
	exclusions.include_tables = NIL;
	*excluded = !options_table_selected(&exclusions, partition->schema,
										partition->table);

	/* parent first, root last: the last one selected wins */
	foreach(lc, ancestors)
	{
		Oid			ancestor = lfirst_oid(lc);
		char	   *name = get_rel_name(ancestor);
		char	   *schema;

		if (name == NULL)
			elog(ERROR, "cache lookup failed for relation %u", ancestor);
		schema = get_namespace_name(get_rel_namespace(ancestor));
		if (!options_table_selected(&exclusions, schema, name))
			*excluded = true;
		else if (options_table_selected(opts, schema, name))
			topmost = ancestor;
	}
	return *excluded ? InvalidOid : topmost;
}

/*
 * Make entry (built, for a partition) publish as the ancestor: its entry,
 * built first if needed, and the map from the partition's columns.
 */
static void
publish_as_ancestor(WalbridgeRelation *entry, Relation relation,
					Oid ancestor_relid, const WalbridgeOptions *opts)
{
	Relation	ancestor = RelationIdGetRelation(ancestor_relid);
	WalbridgeRelation *target;
	MemoryContext old;

	if (!RelationIsValid(ancestor))
		elog(ERROR, "could not open relation with OID %u", ancestor_relid);

	/*
	 * Entries never move in the hash (dynahash does not relocate them), so
	 * entry stays valid while the ancestor's is added.
	 */
	target = relcache_get(ancestor, opts);

	/*
	 * By name: a partition may order its columns differently, or have
	 * dropped ones, when it was created on its own and then attached.
	 */
	old = MemoryContextSwitchTo(entry->cxt);
	entry->to_publish = build_attrmap_by_name_if_req(RelationGetDescr(relation),
													 RelationGetDescr(ancestor));
	MemoryContextSwitchTo(old);
	RelationClose(ancestor);

	entry->publish_as = target;
	entry->selected = target->selected;	/* require_primary_key: the ancestor's */
}

/*
 * (Re)build entry from the relation as the historic snapshot sees it, into
 * a new context, so the previous build can be compared and then freed.
 */
static void
build_entry(WalbridgeRelation *entry, Relation relation,
			const WalbridgeOptions *opts)
{
	WalbridgeRelation fresh;
	Oid			ancestor = InvalidOid;

	relcache_describe(&fresh, relation, opts, relation_cache_cxt);
	if (relation->rd_rel->relispartition)
	{
		MemoryContext old = MemoryContextSwitchTo(fresh.cxt);
		bool		excluded;

		/* partitions of partitions too: every level up to the root */
		fresh.ancestors = get_partition_ancestors(RelationGetRelid(relation));
		ancestor = topmost_selected_ancestor(&fresh, fresh.ancestors, opts,
											 &excluded);
		if (excluded)
			fresh.selected = false;
		MemoryContextSwitchTo(old);
		cache_has_partitions = true;
	}
	fresh.sent = entry->sent && entry->cxt != NULL && same_for_reader(entry, &fresh);
	if (entry->cxt != NULL)
		MemoryContextDelete(entry->cxt);
	*entry = fresh;
	entry->publish_as = entry;

	/*
	 * Last, once entry is complete: the ancestor's entry may need building,
	 * and an error there must not leave a half-built entry marked valid.
	 */
	if (OidIsValid(ancestor))
	{
		entry->valid = false;
		publish_as_ancestor(entry, relation, ancestor, opts);
		entry->valid = true;
	}
}

/*
 * The entry for relation, (re)built when new or invalidated.  The caller
 * decides whether to send the RELATION record (entry->sent).
 */
WalbridgeRelation *
relcache_get(Relation relation, const WalbridgeOptions *opts)
{
	Oid			relid = RelationGetRelid(relation);
	WalbridgeRelation *entry;
	bool		found;

	Assert(relation_cache != NULL);
	entry = hash_search(relation_cache, &relid, HASH_ENTER, &found);
	if (!found)
	{
		entry->cxt = NULL;
		entry->valid = false;
		entry->sent = false;
		entry->publish_as = NULL;
		entry->ancestors = NIL;
	}
	if (!entry->valid)
		build_entry(entry, relation, opts);
	return entry;
}

/*
 * Rearrange a deformed tuple into another relation's layout: out's column
 * i + 1 is in's column map->attnums[i], NULL where the target column has
 * no counterpart (dropped there).  The datums are shared, not copied.
 */
void
relcache_map_tuple(const AttrMap *map, const WalbridgeTuple *in,
				   WalbridgeTuple *out)
{
	out->values = palloc(sizeof(Datum) * Max(map->maplen, 1));
	out->isnull = palloc(sizeof(bool) * Max(map->maplen, 1));
	out->toast_readable = in->toast_readable;
	for (int i = 0; i < map->maplen; i++)
	{
		AttrNumber	from = map->attnums[i];

		if (from == 0)
		{
			out->values[i] = (Datum) 0;
			out->isnull[i] = true;
		}
		else
		{
			out->values[i] = in->values[from - 1];
			out->isnull[i] = in->isnull[from - 1];
		}
	}
}
