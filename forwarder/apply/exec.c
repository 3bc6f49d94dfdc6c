/*-------------------------------------------------------------------------
 *
 * exec.c
 *		What both executors share: running a statement and reading its
 *		result once, and building a change's own statement.
 *
 * IDENTIFICATION
 *		forwarder/apply/exec.c
 *
 *-------------------------------------------------------------------------
 */
#include "exec.h"

#include <stdio.h>
#include <stdlib.h>

#include "sqlgen.h"

bool
exec_run(wb_applier *ap, const char *sql, int nparams, const char *const *values,
		 char *err, size_t errlen, wb_answer *answer)
{
	PGresult   *res = stmts_exec(&ap->stmts, sql, nparams, values);
	ExecStatusType st = PQresultStatus(res);
	bool		ok = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);

	if (!ok)
	{
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		/* the detail names the key of a unique or check violation */
		snprintf(err, errlen, "%s%s%s", msg ? msg : PQerrorMessage(ap->conn),
				 detail ? ": " : "", detail ? detail : "");
		snprintf(ap->sqlstate, sizeof(ap->sqlstate), "%s", state ? state : "");
	}
	else if (answer)
	{
		answer->has_row = st == PGRES_TUPLES_OK && PQntuples(res) > 0;
		answer->touched = st == PGRES_TUPLES_OK ? 0 : strtol(PQcmdTuples(res), NULL, 10);
		snprintf(answer->value, sizeof(answer->value), "%s", answer->has_row ? PQgetvalue(res, 0, 0) : "");
	}
	PQclear(res);
	return ok;
}

bool
exec_run_built(wb_applier *ap, char *err, size_t errlen, wb_answer *answer)
{
	sqlgen_finish(&ap->q);
	return exec_run(ap, ap->q.sql.data, ap->q.n, ap->q.values, err, errlen, answer);
}

wb_built
exec_build_change(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, char *err, size_t errlen)
{
	sqlgen_start(&ap->q);
	switch (rec->tag)
	{
		case WB_REC_INSERT:
		case WB_REC_SNAPSHOT:
			sqlgen_insert(&ap->q, &ap->cx, rm, &rec->u.change.new, true, NULL);
			return WB_BUILT;
		case WB_REC_UPDATE:
			if (sqlgen_update(&ap->q, &ap->cx, rm, rec, NULL))
				return WB_BUILT;
			if (!rec->u.change.old.present && rm->ncols > 0)
				return WB_BUILT_NOTHING;
			snprintf(err, errlen, "UPDATE of %s without a primary key value", rm->display);
			return WB_BUILD_FAILED;
		case WB_REC_DELETE:
			if (!rec->u.change.old.present)
			{
				snprintf(err, errlen, "DELETE from %s without its key (replica identity nothing?)", rm->display);
				return WB_BUILD_FAILED;
			}
			sqlgen_delete(&ap->q, &ap->cx, rm, rec);
			return WB_BUILT;
		default:
			return WB_BUILT_NOTHING;
	}
}
