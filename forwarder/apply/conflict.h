/*-------------------------------------------------------------------------
 *
 * conflict.h
 *		Conflicts between a peer's change and this node's row: their kinds,
 *		the node's policy and the one decision that follows.  Pure: no
 *		libpq, no applier (the reporter is in report.c).
 *
 * A change is applied by one statement whose WHERE clause holds the
 * policy's row condition (sqlgen_condition()): only when it touches no row
 * does apply look closer, name the kind and ask conflict_decide().
 *
 * IDENTIFICATION
 *		forwarder/apply/conflict.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_CONFLICT_H
#define WB_CONFLICT_H

#include <stdbool.h>
#include <stddef.h>

/* walbridge.sync.conflict, parsed once (walbridge.sql checks the names). */
typedef enum wb_conflict_policy
{
	WB_POLICY_LAST_WRITER_WINS, /* the later commit time wins, ties by node
								 * name (walbridge.remote_wins()) */
	WB_POLICY_APPLY_REMOTE,		/* the peer's change always wins */
	WB_POLICY_KEEP_LOCAL,		/* a row written here last is kept */
	WB_POLICY_ERROR				/* a conflict pauses the peer */
} wb_conflict_policy;

#define WB_POLICY_COUNT (WB_POLICY_ERROR + 1)

/* What walbridge.conflicts.kind says. */
typedef enum wb_conflict_kind
{
	WB_CONFLICT_INSERT_EXISTS,	/* the inserted key exists here (another
								 * writer) */
	WB_CONFLICT_INSERT_DELETED, /* the inserted key was deleted here later */
	WB_CONFLICT_UPDATE_DIFFERS, /* the updated row was written here later */
	WB_CONFLICT_UPDATE_MISSING, /* the updated row is not here */
	WB_CONFLICT_UPDATE_DELETED, /* the updated row was deleted here later */
	WB_CONFLICT_DELETE_DIFFERS, /* the deleted row was written here later */
	WB_CONFLICT_DELETE_MISSING, /* the deleted row is not here */
	WB_CONFLICT_UNIQUE,			/* the row collides on another unique key */
	WB_CONFLICT_SEQUENCE_COLLISION	/* the inserted key exists here, and the
									 * key takes its values from a sequence:
									 * two nodes handed out the same value
									 * (decided as insert_exists) */
} wb_conflict_kind;

#define WB_CONFLICT_KIND_COUNT (WB_CONFLICT_SEQUENCE_COLLISION + 1)

/* What walbridge.conflicts.decision says. */
typedef enum wb_resolution
{
	WB_RESOLVE_APPLY_REMOTE,	/* the peer's change overwrites the row */
	WB_RESOLVE_KEEP_LOCAL,		/* the row here stays as it is */
	WB_RESOLVE_INSERT_REMOTE,	/* the missing row is inserted */
	WB_RESOLVE_IGNORE,			/* nothing to do (the row is gone already) */
	WB_RESOLVE_PAUSE,			/* apply stops at the transaction (recorded) */
	WB_RESOLVE_ERROR			/* policy "error": apply stops, not recorded */
} wb_resolution;

#define WB_RESOLUTION_COUNT (WB_RESOLVE_ERROR + 1)

extern const char *const wb_conflict_policy_names[WB_POLICY_COUNT];
extern const char *const wb_resolution_names[WB_RESOLUTION_COUNT];

/* What walbridge.conflicts.kind says for kind. */
extern const char *conflict_kind_name(wb_conflict_kind kind);

/* A policy's name to its value; false if there is no such policy. */
extern bool conflict_policy_parse(const char *name, wb_conflict_policy *policy);

/*
 * The decision on a conflict of this kind under policy.  remote_wins: the
 * policy's row condition preferred the peer's change over the row here
 * (only an insert of an existing key asks it after the fact; the other
 * kinds are found because the condition kept the row, so it is false).
 */
extern wb_resolution conflict_decide(wb_conflict_kind kind, wb_conflict_policy policy,
									 bool remote_wins);

/*
 * The error of policy "error" for a conflict of this kind on table
 * (schema.table): what the pause records.
 */
extern void conflict_error_text(char *err, size_t errlen, wb_conflict_kind kind, const char *table);

#endif							/* WB_CONFLICT_H */
