/*-------------------------------------------------------------------------
 *
 * exec.h
 *		How apply sends a message's statements: two executors behind one
 *		table of functions (as pglogical's apply_api), and what both use.
 *
 * wb_exec_row (exec_row.c) runs one statement at a time and looks at each
 * result: a change that touches no row is a conflict, decided and recorded
 * there.  wb_exec_bulk (exec_bulk.c) sends everything as one pipeline,
 * changes of one shape gathered into one statement, and only learns at
 * the end whether each touched its rows; if not, the message is applied
 * again with wb_exec_row.
 *
 * IDENTIFICATION
 *		forwarder/apply/exec.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_EXEC_H
#define WB_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include "apply.h"

typedef struct wb_executor
{
	const char *name;

	/*
	 * A statement whose result needs no look (BEGIN, TRUNCATE, progress);
	 * expect_one: it must touch one row.
	 */
	bool		(*statement) (wb_applier *ap, const char *sql, int nparams, const char *const *values,
							  bool expect_one, char *err, size_t errlen);

	/* One change to rm (apply_change() checked that it fits). */
	bool		(*change) (wb_applier *ap, const wb_relmap *rm, const wb_record *rec,
						   char *err, size_t errlen);

	/* Send what is gathered: before a TRUNCATE, at the end of a message. */
	bool		(*flush) (wb_applier *ap, char *err, size_t errlen);
} wb_executor;

extern const wb_executor wb_exec_row;
extern const wb_executor wb_exec_bulk;

/*
 * What a statement said, read from its result once: how many rows it
 * touched, and its first row's first value (a query's answer).
 */
typedef struct wb_answer
{
	long		touched;		/* rows touched (0 for a query) */
	bool		has_row;		/* a query returned a row */
	char		value[16];		/* its first value, truncated */
} wb_answer;

/*
 * Run a statement now, expected to succeed; false with the error in err
 * (and its SQLSTATE in ap->sqlstate).  With answer: what it said.
 */
extern bool exec_run(wb_applier *ap, const char *sql, int nparams, const char *const *values,
					 char *err, size_t errlen, wb_answer *answer);

/* Run the statement built in ap->q (sqlgen_finish() done here). */
extern bool exec_run_built(wb_applier *ap, char *err, size_t errlen, wb_answer *answer);

typedef enum wb_built
{
	WB_BUILT,					/* the statement is in ap->q */
	WB_BUILT_NOTHING,			/* nothing to do (an UPDATE of unchanged
								 * TOAST values only) */
	WB_BUILD_FAILED				/* it cannot be applied: err says why */
} wb_built;

/*
 * The change's own statement into ap->q: INSERT ... ON CONFLICT DO
 * NOTHING, UPDATE or DELETE under the policy's condition.
 */
extern wb_built exec_build_change(wb_applier *ap, const wb_relmap *rm, const wb_record *rec,
								  char *err, size_t errlen);

#endif							/* WB_EXEC_H */
