/*-------------------------------------------------------------------------
 *
 * conflict.c
 *		Conflict kinds, policies and decisions: names and the one pure
 *		decide().  Every rule of what wins lives here.
 *
 * IDENTIFICATION
 *		forwarder/apply/conflict.c
 *
 *-------------------------------------------------------------------------
 */
#include "conflict.h"

#include <stdio.h>
#include <string.h>

const char *const wb_conflict_policy_names[WB_POLICY_COUNT] = {
	[WB_POLICY_LAST_WRITER_WINS] = "last_writer_wins",
	[WB_POLICY_APPLY_REMOTE] = "apply_remote",
	[WB_POLICY_KEEP_LOCAL] = "keep_local",
	[WB_POLICY_ERROR] = "error",
};

/*
 * Each kind: its name in walbridge.conflicts, and the error policy "error"
 * stops with (%s: the table).
 */
static const struct
{
	const char *name;
	const char *error;
}			kinds[WB_CONFLICT_KIND_COUNT] = {
	[WB_CONFLICT_INSERT_EXISTS] = {"insert_exists", "conflict: a row with the same key exists in %s (conflict policy \"error\")"},
	[WB_CONFLICT_INSERT_DELETED] = {"insert_deleted", "conflict: the row inserted into %s was deleted here later (conflict policy \"error\")"},
	[WB_CONFLICT_UPDATE_DIFFERS] = {"update_differs", "conflict: the row updated in %s is newer here (conflict policy \"error\")"},
	[WB_CONFLICT_UPDATE_MISSING] = {"update_missing", "conflict: the row updated in %s is missing here (conflict policy \"error\")"},
	[WB_CONFLICT_UPDATE_DELETED] = {"update_deleted", "conflict: the row updated in %s is missing here (conflict policy \"error\")"},
	[WB_CONFLICT_DELETE_DIFFERS] = {"delete_differs", "conflict: the row deleted from %s is newer here (conflict policy \"error\")"},
	[WB_CONFLICT_DELETE_MISSING] = {"delete_missing", "conflict: the row deleted from %s is newer here (conflict policy \"error\")"},
	[WB_CONFLICT_UNIQUE] = {"unique_conflict", "conflict: a row collides in %s with another row on a unique key"},
	[WB_CONFLICT_SEQUENCE_COLLISION] = {"sequence_collision", "conflict: the key inserted into %s exists here, taken from a sequence by two nodes (conflict policy \"error\"; see walbridge.partition_sequences())"},
};

const char *const wb_resolution_names[WB_RESOLUTION_COUNT] = {
	[WB_RESOLVE_APPLY_REMOTE] = "apply_remote",
	[WB_RESOLVE_KEEP_LOCAL] = "keep_local",
	[WB_RESOLVE_INSERT_REMOTE] = "insert_remote",
	[WB_RESOLVE_IGNORE] = "ignore",
	[WB_RESOLVE_PAUSE] = "pause",
	[WB_RESOLVE_ERROR] = "error",
};

bool
conflict_policy_parse(const char *name, wb_conflict_policy *policy)
{
	for (int i = 0; i < WB_POLICY_COUNT; i++)
		if (strcmp(name, wb_conflict_policy_names[i]) == 0)
		{
			*policy = (wb_conflict_policy) i;
			return true;
		}
	return false;
}

wb_resolution
conflict_decide(wb_conflict_kind kind, wb_conflict_policy policy, bool remote_wins)
{
	/* never dropped nor overwritten, whatever the policy: an operator decides */
	if (kind == WB_CONFLICT_UNIQUE)
		return WB_RESOLVE_PAUSE;
	/* a delete of a row that is gone loses nothing: not an error */
	if (kind == WB_CONFLICT_DELETE_MISSING)
		return WB_RESOLVE_IGNORE;
	if (policy == WB_POLICY_ERROR)
		return WB_RESOLVE_ERROR;

	switch (kind)
	{
		case WB_CONFLICT_INSERT_EXISTS:
		case WB_CONFLICT_SEQUENCE_COLLISION:
		case WB_CONFLICT_UPDATE_DIFFERS:
		case WB_CONFLICT_DELETE_DIFFERS:
			return remote_wins ? WB_RESOLVE_APPLY_REMOTE : WB_RESOLVE_KEEP_LOCAL;
		case WB_CONFLICT_INSERT_DELETED:
		case WB_CONFLICT_UPDATE_DELETED:
			/* the later delete here wins (its tombstone passed the condition) */
			return WB_RESOLVE_KEEP_LOCAL;
		case WB_CONFLICT_UPDATE_MISSING:
			return WB_RESOLVE_INSERT_REMOTE;
		case WB_CONFLICT_DELETE_MISSING:
		case WB_CONFLICT_UNIQUE:
			break;				/* decided above */
	}
	return WB_RESOLVE_PAUSE;
}

const char *
conflict_kind_name(wb_conflict_kind kind)
{
	return kinds[kind].name;
}

void
conflict_error_text(char *err, size_t errlen, wb_conflict_kind kind, const char *table)
{
	snprintf(err, errlen, kinds[kind].error, table);
}
