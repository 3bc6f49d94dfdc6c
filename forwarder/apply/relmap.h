/*-------------------------------------------------------------------------
 *
 * relmap.h
 *		A peer's tables as this node has them: each RELATION record mapped
 *		to the local table and columns, once per session.
 *
 * IDENTIFICATION
 *		forwarder/apply/relmap.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_RELMAP_H
#define WB_RELMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "stmts.h"

/* One RELATION record, resolved against the local catalog. */
typedef struct wb_relmap
{
	char	   *key;			/* the RELATION record's bytes */
	size_t		keylen;
	uint64_t	keyhash;

	uint32_t	relid;			/* on the peer */
	char	   *display;		/* schema.table, for messages */
	char	   *local;			/* quoted, qualified */
	char	   *tombstones;		/* its tombstone table (quoted), or NULL */
	char	   *primary_key;	/* local primary key columns (quoted, comma
								 * separated), or NULL */
	bool		key_sequenced;	/* a primary key column here takes its
								 * values from a sequence (serial, identity) */
	int			ncols;
	char	  **cols;			/* quoted local column names, peer order */
	uint32_t   *flags;			/* the peer's WB_COLUMN_* flags */
	uint32_t	nidentity;		/* columns flagged WB_COLUMN_IDENTITY */
	bool		identity_not_pk;	/* the peer's replica identity is another
									 * index than its primary key (or FULL) */
	bool	   *always;			/* GENERATED ALWAYS AS IDENTITY here */
	bool		any_always;
	bool	   *generated;		/* GENERATED ... STORED here: never written */
	bool	   *outline;		/* may be stored out of line here (TOAST):
								 * an update keeps an equal value as it is */
	char	  **types;			/* local column types without typmod, for casts */
	char	  **declared;		/* local column types as declared, for messages */
	uint32_t   *basetypes;		/* local base type oids (through domains) */
	int32_t    *typmods;		/* and their typmods */
	bool		batchable;		/* several rows per statement (unnest) */
	char	   *error;			/* why it cannot be applied, or NULL */
} wb_relmap;

typedef struct wb_relmap_current
{
	uint32_t	relid;
	wb_relmap  *rm;
} wb_relmap_current;

typedef struct wb_relmaps
{
	wb_relmap **known;			/* every RELATION seen, by its bytes */
	int			nknown;
	wb_relmap_current *current; /* what each peer relid means now */
	int			ncurrent;
} wb_relmaps;

/*
 * A RELATION record (its bytes and parsed form) now describes its relid.
 * Looked up in the catalog only the first time these exact bytes are seen;
 * a table or column missing here is remembered as the relmap's error,
 * raised when a change uses it.  False (with err) only if the catalog
 * could not be read.
 */
extern bool relmaps_describe(wb_relmaps *maps, wb_stmts *st, const char *bytes, size_t len,
							 const wb_record *rec, char *err, size_t errlen);
extern wb_relmap *relmaps_find(const wb_relmaps *maps, uint32_t relid);

/*
 * After a schema change here: every relid's current description resolved
 * again against the catalog as it is now, the rest forgotten.  False (with
 * err) only if the catalog could not be read.
 */
extern bool relmaps_refresh(wb_relmaps *maps, wb_stmts *st, char *err, size_t errlen);

/* How many values a change's old tuple must carry for this relation. */
static inline uint32_t
relmap_old_count(const wb_relmap *rm, const wb_record *rec)
{
	return rec->u.change.old_kind == WB_OLD_FULL ? (uint32_t) rm->ncols : rm->nidentity;
}

/*
 * Whether column i has a value in the tuple a change's key is read from:
 * the old tuple when there is one (every column, or the identity ones),
 * else the new tuple (every column).
 */
static inline bool
relmap_in_key_tuple(const wb_relmap *rm, const wb_record *rec, int i)
{
	return !rec->u.change.old.present || rec->u.change.old_kind == WB_OLD_FULL ||
		(rm->flags[i] & WB_COLUMN_IDENTITY);
}

/*
 * The flag that marks the columns a change's row is found by: the replica
 * identity's columns when the change carries only those (its old key,
 * which may be a unique index other than the primary key), else the
 * primary key's (from the full old tuple or the new one).
 */
static inline uint32_t
relmap_key_flag(const wb_record *rec)
{
	return rec->u.change.old.present && rec->u.change.old_kind != WB_OLD_FULL ?
		WB_COLUMN_IDENTITY : WB_COLUMN_PRIMARY_KEY;
}

/* Whether column i finds the change's row (see relmap_key_flag). */
static inline bool
relmap_is_key(const wb_relmap *rm, const wb_record *rec, int i)
{
	return relmap_in_key_tuple(rm, rec, i) && (rm->flags[i] & relmap_key_flag(rec)) != 0;
}

/*
 * Whether the change's key is the primary key, which tombstones are keyed
 * by: not when it is another replica identity index's columns.
 */
static inline bool
relmap_key_is_primary(const wb_relmap *rm, const wb_record *rec)
{
	return relmap_key_flag(rec) == WB_COLUMN_PRIMARY_KEY || !rm->identity_not_pk;
}

/* Whether a primary key column is GENERATED ALWAYS here (no UPDATE sets it). */
static inline bool
relmap_key_always(const wb_relmap *rm)
{
	for (int i = 0; i < rm->ncols; i++)
		if (rm->always[i] && (rm->flags[i] & WB_COLUMN_PRIMARY_KEY))
			return true;
	return false;
}

/* Forget everything (the local tables may have changed). */
extern void relmaps_clear(wb_relmaps *maps);

#endif							/* WB_RELMAP_H */
