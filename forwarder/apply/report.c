/*-------------------------------------------------------------------------
 *
 * report.c
 *		The conflict reporter (walbridge.conflicts and the log) and the
 *		explanation of a failed change.
 *
 * IDENTIFICATION
 *		forwarder/apply/report.c
 *
 *-------------------------------------------------------------------------
 */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "fit.h"
#include "log.h"
#include "sqlgen.h"
#include "sqltext.h"
#include "wb.h"

/* SQLSTATEs apply explains in the words of the table */
#define UNIQUE_VIOLATION		"23505"
#define STRING_TOO_LONG			"22001"
#define NUMERIC_OUT_OF_RANGE	"22003"
#define BIT_LENGTH_MISMATCH		"22026"

bool
report_conflict(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, wb_conflict_kind kind,
				wb_resolution decision, char *err, size_t errlen)
{
	bool		ok;

	sqlgen_start(&ap->q);
	sqlgen_conflict(&ap->q, &ap->cx, rm, rec, kind, decision);
	ok = exec_run_built(ap, err, errlen, NULL);
	ap->conflicts++;
	wb_log(WB_LOG_DEBUG, "conflict %s in %s applying node \"%s\" (commit %s): %s",
		   conflict_kind_name(kind), rm->display, ap->peer, ap->txn_lsn, wb_resolution_names[decision]);
	return ok;
}

/*
 * The first value of the change that does not fit its column here (too
 * long for varchar(n) or char(n), too many bits or digits): err then names
 * the column, the value's size and the column's type, which the server's
 * own message does not.  False if every value fits.
 */
static bool
name_misfit(const wb_relmap *rm, const wb_record *rec, char *err, size_t errlen)
{
	wb_mpcur	cur = rec->u.change.new.values;
	wb_buf		text = {0};
	bool		found = false;

	if (!rec->u.change.new.present)
		return false;
	for (int i = 0; i < rm->ncols && !found; i++)
	{
		wb_value	v;
		char		why[64];

		wb_record_next_value(&cur, &v);
		buf_reset(&text);
		if (rm->cols[i] == NULL || rm->generated[i] || v.unchanged_toast || !sqltext_value(&text, &v))
			continue;
		if (!fit_check(rm->basetypes[i], rm->typmods[i], text.data, why, sizeof(why)))
		{
			char		server[512];

			snprintf(server, sizeof(server), "%s", err);
			snprintf(err, errlen, "the value of column %s of table %s does not fit here: %s for %s (%s)",
					 rm->cols[i], rm->display, why, rm->declared[i], server);
			found = true;
		}
	}
	buf_free(&text);
	return found;
}

/*
 * A row that collides here on a unique key other than the primary key is
 * a conflict apply never resolves by itself (it never drops the row, nor
 * overwrites the other one): recorded when apply pauses on it.
 */
void
report_failure(wb_applier *ap, const wb_record *rec, char *err, size_t errlen)
{
	const wb_relmap *rm = relmaps_find(&ap->maps, rec->u.change.relid);
	char		server[768];

	if (rm == NULL || rm->error)
		return;
	if (strcmp(ap->sqlstate, STRING_TOO_LONG) == 0 || strcmp(ap->sqlstate, NUMERIC_OUT_OF_RANGE) == 0 ||
		strcmp(ap->sqlstate, BIT_LENGTH_MISMATCH) == 0)
		(void) name_misfit(rm, rec, err, errlen);
	else if (strcmp(ap->sqlstate, UNIQUE_VIOLATION) == 0)
	{
		snprintf(server, sizeof(server), "%s", err);
		snprintf(err, errlen, "conflict: the %s row collides in %s with another row on a unique key (%s); change or remove one of the two rows on one node, or skip this transaction",
				 wb_record_tag_name(rec->tag), rm->display, server);
		buf_reset(&ap->pending_conflict);
		sqlgen_remote_json(&ap->pending_conflict, rm, rec);
		free(ap->pending_conflict_table);
		ap->pending_conflict_table = xstrdup(rm->display);
	}
}

void
report_pause(wb_applier *ap, int64_t offset)
{
	const char *values[5] = {ap->peer, ap->pending_conflict_table, ap->pending_conflict.data,
	ap->txn_time, ap->txn_lsn};
	PGresult   *res;

	/* a conflict that pauses is recorded once, not at every retry */
	if (ap->pending_conflict.len > 0 && ap->conflict_recorded_offset != offset)
	{
		res = stmts_exec(&ap->stmts,
						 "INSERT INTO walbridge.conflicts (peer, table_name, kind, decision, remote_row,"
						 " remote_commit_time, remote_commit_lsn)"
						 " VALUES ($1, $2, 'unique_conflict', 'pause', $3::jsonb, $4::timestamptz, $5::pg_lsn)",
						 5, values);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			wb_log(WB_LOG_WARNING, "could not record the conflict of node \"%s\": %s", ap->peer,
				   PQerrorMessage(ap->conn));
		PQclear(res);
		ap->conflict_recorded_offset = offset;
	}
	buf_reset(&ap->pending_conflict);
}
