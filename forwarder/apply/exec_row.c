/*-------------------------------------------------------------------------
 *
 * exec_row.c
 *		The one-change-at-a-time executor: each change is one statement
 *		that applies unless the row here belongs to a newer write (the
 *		policy's condition); only when it touches no row does it look
 *		closer, name the conflict, decide it (conflict.c) and report it
 *		(report.c).
 *
 * IDENTIFICATION
 *		forwarder/apply/exec_row.c
 *
 *-------------------------------------------------------------------------
 */
#include "exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "sqlgen.h"

/*
 * Decide a conflict of this kind by the node's policy (remote_wins: see
 * conflict_decide()); false with the policy's error in err when it is
 * "error".  Reported once the decision is carried out.
 */
static bool
decide(wb_applier *ap, const wb_relmap *rm, wb_conflict_kind kind, bool remote_wins,
	   wb_resolution *decision, char *err, size_t errlen)
{
	*decision = conflict_decide(kind, ap->cx.policy, remote_wins);
	if (*decision != WB_RESOLVE_ERROR)
		return true;
	conflict_error_text(err, errlen, kind, rm->display);
	return false;
}

/* Whether the row with the change's key exists here: 1, 0, or -1 on error. */
static int
row_exists(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, char *err, size_t errlen)
{
	wb_answer	got;

	sqlgen_start(&ap->q);
	sqlgen_row_exists(&ap->q, rm, rec);
	if (!exec_run_built(ap, err, errlen, &got))
		return -1;
	return strtol(got.value, NULL, 10) != 0;
}

/*
 * Whether a later delete here wins over the change (its key's tombstone,
 * and the policy's condition): 1 if so, 0 if not (or no tombstone), -1 on
 * error.
 */
static int
deleted_later(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, char *err, size_t errlen)
{
	wb_answer	got;

	sqlgen_start(&ap->q);
	if (!sqlgen_deleted_later(&ap->q, &ap->cx, rm, rec))
		return 0;
	if (!exec_run_built(ap, err, errlen, &got))
		return -1;
	return got.value[0] == 't';
}

/*
 * An UPDATE or DELETE touched no row: the row is here (newer: differs) or
 * not (missing); that kind, decided.  False on error, or with the
 * policy's error.
 */
static bool
row_conflict(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, wb_conflict_kind differs,
			 wb_conflict_kind missing, wb_conflict_kind *kind, wb_resolution *decision,
			 char *err, size_t errlen)
{
	int			exists = row_exists(ap, rm, rec, err, errlen);

	if (exists < 0)
		return false;
	*kind = exists ? differs : missing;
	return decide(ap, rm, *kind, false, decision, err, errlen);
}

/*
 * The columns an UPDATE left out (TOAST values it did not touch), as
 * "a, b" in out; false when it left none out.
 */
static bool
unchanged_columns(const wb_relmap *rm, const wb_record *rec, char *out, size_t outlen)
{
	wb_mpcur	cur = rec->u.change.new.values;
	size_t		used = 0;

	out[0] = '\0';
	if (rec->tag != WB_REC_UPDATE || !rec->u.change.new.present)
		return false;
	for (int i = 0; i < rm->ncols; i++)
	{
		wb_value	v;

		wb_record_next_value(&cur, &v);
		if (v.unchanged_toast && !rm->generated[i] && used < outlen)
			used += snprintf(out + used, outlen - used, "%s%s", used > 0 ? ", " : "", rm->cols[i]);
	}
	return used > 0;
}

/*
 * An UPDATE that must be inserted (its row is not here) but leaves values
 * out: they are nowhere here, and inserting without them would write NULL
 * (or the default) in their place.  Refused, naming them: the peer pauses.
 */
static bool
refuse_without_values(const wb_relmap *rm, const wb_record *rec, const char *why,
					  char *err, size_t errlen)
{
	char		cols[512];

	if (!unchanged_columns(rm, rec, cols, sizeof(cols)))
		return true;
	snprintf(err, errlen,
			 "an UPDATE of %s %s, but it leaves %s unchanged (stored out of line, so not in the change): "
			 "inserting it without them would write NULL there; the source table needs REPLICA IDENTITY FULL "
			 "(start_sync sets it for tables synced with peers under last_writer_wins), then "
			 "walbridge.skip() this change and copy the row by hand",
			 rm->display, why, cols);
	return false;
}

/*
 * Carry out what an UPDATE's or DELETE's conflict decided, then report it
 * (with the local row as it is then): a missing row inserted, a delete of
 * a row gone here remembered as a tombstone, unless one the policy prefers
 * is there (so that an older change arriving later from another peer
 * loses to it); nothing for a row kept.
 */
static bool row_change(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, char *err, size_t errlen);

static bool
carry_out(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, wb_conflict_kind kind,
		  wb_resolution decision, char *err, size_t errlen)
{
	wb_answer	got = {0};
	bool		ok;

	if (decision == WB_RESOLVE_INSERT_REMOTE &&
		!refuse_without_values(rm, rec, "finds its row missing here", err, errlen))
		return false;
	sqlgen_start(&ap->q);
	if (decision == WB_RESOLVE_INSERT_REMOTE)
		sqlgen_insert(&ap->q, &ap->cx, rm, &rec->u.change.new, true, NULL);
	else if (kind == WB_CONFLICT_DELETE_MISSING)
		(void) sqlgen_tombstone(&ap->q, &ap->cx, rm, rec);
	if (ap->q.sql.len > 0 && !exec_run_built(ap, err, errlen, &got))
		return false;

	/*
	 * The missing row's key was inserted between the look and the insert,
	 * by another peer's applier or a session here (or a delete here left a
	 * tombstone): the change meets that row, or that delete, and is
	 * decided again as what it is now.  Once: a second race is an error,
	 * retried by the pause, never a row dropped.
	 */
	if (decision == WB_RESOLVE_INSERT_REMOTE && got.touched == 0 && rm->primary_key != NULL)
	{
		if (ap->row_raced)
		{
			snprintf(err, errlen, "an UPDATE of %s found its row missing here, and another writer made that key again between two looks",
					 rm->display);
			return false;
		}
		ap->row_raced = true;
		ok = row_change(ap, rm, rec, err, errlen);
		ap->row_raced = false;
		return ok;
	}
	return report_conflict(ap, rm, rec, kind, decision, err, errlen);
}

/* Who wrote the row an insert found in its way. */
typedef enum wb_row_owner
{
	ROW_GONE,					/* no row (deleted meanwhile) */
	ROW_IDENTICAL,				/* the same values, whoever wrote them */
	ROW_SAME_PEER,				/* this peer wrote it last: no conflict */
	ROW_REMOTE_WINS,			/* another writer; the change wins */
	ROW_LOCAL_WINS				/* another writer; the row wins */
} wb_row_owner;

static bool
insert_owner(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, wb_row_owner *owner,
			 char *err, size_t errlen)
{
	wb_answer	got;

	sqlgen_start(&ap->q);
	sqlgen_insert_owner(&ap->q, &ap->cx, rm, rec);
	if (!exec_run_built(ap, err, errlen, &got))
		return false;
	*owner = !got.has_row ? ROW_GONE :
		strcmp(got.value, "identical") == 0 ? ROW_IDENTICAL :
		strcmp(got.value, "same") == 0 ? ROW_SAME_PEER :
		strcmp(got.value, "remote") == 0 ? ROW_REMOTE_WINS : ROW_LOCAL_WINS;
	return true;
}

/*
 * An INSERT (or snapshot row) that touched no row: the key exists here.
 * With the same values (a copy's row this node has, a resync's most of
 * all): nothing to do, no conflict to record.  Written last by this same
 * peer (its snapshot, sent again): simply the newer version.  Otherwise two nodes inserted the same key (or a later
 * delete here removed it): decide, record, apply.
 */
static bool
insert_conflict(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, const char *const *fill,
				char *err, size_t errlen)
{
	wb_row_owner owner;
	wb_conflict_kind kind;
	wb_resolution decision;

	if (!insert_owner(ap, rm, rec, &owner, err, errlen))
		return false;
	if (owner == ROW_IDENTICAL)
		return true;			/* already here, as it is: nothing happens */
	if (owner != ROW_SAME_PEER)
	{
		kind = owner == ROW_GONE && rm->tombstones ? WB_CONFLICT_INSERT_DELETED : WB_CONFLICT_INSERT_EXISTS;
		if (kind == WB_CONFLICT_INSERT_EXISTS && rm->key_sequenced)
			kind = WB_CONFLICT_SEQUENCE_COLLISION;	/* two nodes' sequences met */
		if (!decide(ap, rm, kind, owner == ROW_REMOTE_WINS, &decision, err, errlen) ||
			!report_conflict(ap, rm, rec, kind, decision, err, errlen))
			return false;
		if (decision != WB_RESOLVE_APPLY_REMOTE)
			return true;
	}
	sqlgen_start(&ap->q);
	sqlgen_update(&ap->q, &ap->cx, rm, rec, fill);
	/* the decision is made: apply whatever the condition says now */
	return exec_run_built(ap, err, errlen, NULL);
}

/*
 * An UPDATE that touched no row: the row here is newer, or missing
 * (deleted here later: it stays deleted; else inserted).
 */
static bool
update_conflict(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, char *err, size_t errlen)
{
	int			deleted;
	wb_conflict_kind kind;
	wb_resolution decision;

	if (!row_conflict(ap, rm, rec, WB_CONFLICT_UPDATE_DIFFERS, WB_CONFLICT_UPDATE_MISSING,
					  &kind, &decision, err, errlen))
		return false;
	if (kind == WB_CONFLICT_UPDATE_MISSING)
	{
		if ((deleted = deleted_later(ap, rm, rec, err, errlen)) < 0)
			return false;
		if (deleted)
		{
			kind = WB_CONFLICT_UPDATE_DELETED;
			decision = conflict_decide(kind, ap->cx.policy, false);
		}
	}
	return carry_out(ap, rm, rec, kind, decision, err, errlen);
}

/* A DELETE that touched no row: the row here is newer (kept), or gone already. */
static bool
delete_conflict(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, char *err, size_t errlen)
{
	wb_conflict_kind kind;
	wb_resolution decision;

	return row_conflict(ap, rm, rec, WB_CONFLICT_DELETE_DIFFERS, WB_CONFLICT_DELETE_MISSING,
						&kind, &decision, err, errlen) &&
		carry_out(ap, rm, rec, kind, decision, err, errlen);
}

/*
 * An UPDATE that moves its row to another key is, under every policy, the
 * delete of the old key and the insert of the new one, each decided on its
 * own: a newer write of the old key here keeps that row and the new key
 * still arrives; a newer row of the new key here stays, and the old key
 * still goes.  When neither is in the way (the usual case) it is the one
 * UPDATE, which also keeps the values the change left out (TOAST values it
 * did not touch).  Split, the insert has only what the change carries.
 */
/*
 * The values an UPDATE left out (TOAST values it did not touch), read from
 * its row here before that row goes: fill[column] for those columns,
 * pointing into *res (kept by the caller until the insert ran).  False on
 * error, or when they are needed and the row is not here.
 */
static bool
read_unchanged(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, PGresult **res,
			   const char **fill, char *err, size_t errlen)
{
	wb_mpcur	cur = rec->u.change.new.values;
	int			n;
	int			col = 0;

	*res = NULL;
	sqlgen_start(&ap->q);
	if ((n = sqlgen_unchanged_values(&ap->q, rm, rec)) == 0)
		return true;
	sqlgen_finish(&ap->q);
	*res = stmts_exec(&ap->stmts, ap->q.sql.data, ap->q.n, ap->q.values);
	if (PQresultStatus(*res) != PGRES_TUPLES_OK)
	{
		snprintf(err, errlen, "%s", PQresultErrorMessage(*res));
		return false;
	}
	if (PQntuples(*res) != 1)
		return refuse_without_values(rm, rec, "moves its row to another key where the row is not here", err, errlen);
	for (int i = 0; i < rm->ncols; i++)
	{
		wb_value	v;

		wb_record_next_value(&cur, &v);
		if (v.unchanged_toast && !rm->generated[i])
		{
			fill[i] = PQgetisnull(*res, 0, col) ? NULL : PQgetvalue(*res, 0, col);
			col++;
		}
	}
	return true;
}

/*
 * An UPDATE that moves its row to another key is, under every policy, the
 * delete of the old key and the insert of the new one, each decided on its
 * own: a newer write of the old key here keeps that row and the new key
 * still arrives; a newer row of the new key here stays, and the old key
 * still goes.  When neither is in the way (the usual case) it is the one
 * UPDATE.  Split, the values the change left out (TOAST values it did not
 * touch) are taken from the row here before it goes; without that row the
 * peer pauses rather than insert NULL in their place.
 */
static bool
key_move(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, char *err, size_t errlen)
{
	wb_record	del = *rec;
	wb_record	ins = *rec;
	wb_answer	got;
	bool		taken;
	PGresult   *kept;
	const char **fill;
	bool		ok;

	del.tag = WB_REC_DELETE;
	del.u.change.new.present = false;
	ins.tag = WB_REC_INSERT;
	ins.u.change.old_kind = '\0';
	ins.u.change.old.present = false;

	sqlgen_start(&ap->q);
	sqlgen_key_taken(&ap->q, rm, &ins, rec);
	if (!exec_run_built(ap, err, errlen, &got))
		return false;
	taken = strtol(got.value, NULL, 10) != 0;
	/* an UPDATE cannot set a key column GENERATED ALWAYS: split then */
	if (!taken && !relmap_key_always(rm))
	{
		/*
		 * A writer here may take the new key between the look and the
		 * UPDATE: its unique violation then means "taken", and the change
		 * is split like any other whose new key is taken.
		 */
		if (exec_build_change(ap, rm, rec, err, errlen) != WB_BUILT ||
			!exec_run(ap, "SAVEPOINT wb_key_move", 0, NULL, err, errlen, NULL))
			return false;
		if (exec_run_built(ap, err, errlen, &got))
		{
			if (!exec_run(ap, "RELEASE SAVEPOINT wb_key_move", 0, NULL, err, errlen, NULL))
				return false;
			if (got.touched == 1)
				return true;
		}
		else if (strcmp(ap->sqlstate, "23505") != 0 ||
				 !exec_run(ap, "ROLLBACK TO SAVEPOINT wb_key_move", 0, NULL, err, errlen, NULL) ||
				 !exec_run(ap, "RELEASE SAVEPOINT wb_key_move", 0, NULL, err, errlen, NULL))
			return false;
	}

	fill = xcalloc(rm->ncols > 0 ? rm->ncols : 1, sizeof(char *));
	ok = read_unchanged(ap, rm, rec, &kept, fill, err, errlen);

	/* the old key's delete, decided */
	if (ok)
	{
		sqlgen_start(&ap->q);
		sqlgen_delete(&ap->q, &ap->cx, rm, &del);
		ok = exec_run_built(ap, err, errlen, &got) &&
			(got.touched == 1 || delete_conflict(ap, rm, &del, err, errlen));
	}
	/* the new key's insert, decided */
	if (ok)
	{
		sqlgen_start(&ap->q);
		sqlgen_insert(&ap->q, &ap->cx, rm, &ins.u.change.new, true, fill);
		ok = exec_run_built(ap, err, errlen, &got) &&
			(got.touched == 1 || insert_conflict(ap, rm, &ins, fill, err, errlen));
	}
	PQclear(kept);
	free(fill);
	return ok;
}

static bool
row_change(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, char *err, size_t errlen)
{
	wb_built	built = exec_build_change(ap, rm, rec, err, errlen);
	wb_answer	got;

	if (built != WB_BUILT)
		return built == WB_BUILT_NOTHING;
	if (sqlgen_moves_key(rm, rec))
		return key_move(ap, rm, rec, err, errlen);
	if (!exec_run_built(ap, err, errlen, &got))
		return false;
	if (got.touched == 1)
		return true;
	switch (rec->tag)
	{
		case WB_REC_INSERT:
		case WB_REC_SNAPSHOT:
			return insert_conflict(ap, rm, rec, NULL, err, errlen);
		case WB_REC_UPDATE:
			return update_conflict(ap, rm, rec, err, errlen);
		case WB_REC_DELETE:
			return delete_conflict(ap, rm, rec, err, errlen);
		default:
			return true;
	}
}

static bool
row_statement(wb_applier *ap, const char *sql, int nparams, const char *const *values,
			  bool expect_one, char *err, size_t errlen)
{
	return exec_run(ap, sql, nparams, values, err, errlen, NULL);
}

static bool
row_flush(wb_applier *ap, char *err, size_t errlen)
{
	return true;				/* nothing is ever gathered */
}

const wb_executor wb_exec_row = {
	.name = "one change at a time",
	.statement = row_statement,
	.change = row_change,
	.flush = row_flush,
};
