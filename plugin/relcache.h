/*-------------------------------------------------------------------------
 *
 * relcache.h
 *		Per-relation metadata the writers need, built once per relation
 *		(and again after it changes), plus whether the stream's reader has
 *		been sent its RELATION record.
 *
 * IDENTIFICATION
 *		plugin/relcache.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WALBRIDGE_RELCACHE_H
#define WALBRIDGE_RELCACHE_H

#include "access/attmap.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/rel.h"

#include "options.h"

/* How a column's value is encoded; decided once per column from its type. */
typedef enum WalbridgeValueKind
{
	WB_KIND_BOOL,
	WB_KIND_INT2,
	WB_KIND_INT4,
	WB_KIND_INT8,
	WB_KIND_OID,
	WB_KIND_FLOAT4,
	WB_KIND_FLOAT8,
	WB_KIND_BYTEA,
	WB_KIND_TIMESTAMP,
	WB_KIND_TIMESTAMPTZ,
	WB_KIND_TEXT,				/* text, varchar, bpchar: the datum is the text */
	WB_KIND_OUTPUT				/* anything else: the type's output function */
} WalbridgeValueKind;

typedef struct WalbridgeColumn
{
	AttrNumber	attnum;			/* in the relation's tuple descriptor */
	char	   *name;
	Oid			typid;
	char	   *typname;		/* format_type_be_qualified() */
	int32		typmod;
	uint8		flags;			/* WB_COLUMN_* from format.h */
	bool		is_varlena;		/* may be an unchanged TOAST pointer */
	int16		typlen;			/* to compare values (datumIsEqual) */
	bool		typbyval;
	WalbridgeValueKind kind;
	FmgrInfo	output;			/* for WB_KIND_OUTPUT */
} WalbridgeColumn;

typedef struct WalbridgeRelation
{
	Oid			relid;			/* hash key */
	bool		valid;			/* false after an invalidation */
	bool		sent;			/* RELATION record written in this stream */
	bool		selected;		/* its changes are published: it passes
								 * include/exclude_tables, or (a partition)
								 * an ancestor does */
	bool		outbox;			/* walbridge.outbox: its inserts are
								 * published as messages (outbox.h) */
	char		replident;		/* pg_class.relreplident */
	char	   *schema;
	char	   *table;
	int			ncolumns;		/* published columns: not dropped, not
								 * generated */
	WalbridgeColumn *columns;

	/*
	 * What its changes are sent as.  A partition whose ancestor is selected
	 * is published as the topmost selected ancestor (the table the user
	 * named), like pgoutput's publish_via_partition_root: publish_as is that
	 * ancestor's entry and to_publish maps the partition's columns to the
	 * ancestor's by name (NULL when the layouts are the same).  Otherwise
	 * publish_as is the entry itself.  Only relcache_get() fills these in.
	 */
	struct WalbridgeRelation *publish_as;
	AttrMap    *to_publish;
	List	   *ancestors;		/* partition ancestors' oids, parent first:
								 * an invalidation of any of them rebuilds
								 * this entry */
	MemoryContext cxt;			/* owns everything above but relid and
								 * publish_as */
} WalbridgeRelation;

extern void relcache_start(void);
extern void relcache_stop(void);
extern WalbridgeRelation *relcache_get(Relation relation,
									   const WalbridgeOptions *opts);
extern void relcache_describe(WalbridgeRelation *out, Relation relation,
							  const WalbridgeOptions *opts,
							  MemoryContext parent);

/* A deformed tuple, defined in value.h. */
struct WalbridgeTuple;
extern void relcache_map_tuple(const AttrMap *map,
							   const struct WalbridgeTuple *in,
							   struct WalbridgeTuple *out);

#endif							/* WALBRIDGE_RELCACHE_H */
