/*-------------------------------------------------------------------------
 *
 * stmts.h
 *		Statements on the apply connection: each shape prepared once per
 *		session, run one at a time or sent as a pipeline.
 *
 * IDENTIFICATION
 *		forwarder/apply/stmts.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_STMTS_H
#define WB_STMTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/* A prepared statement this session knows by its SQL text. */
typedef struct wb_stmt_entry
{
	char	   *sql;
	uint32_t	id;				/* names it: wb<id>, stable for the session */
	bool		ready;			/* the server has it */
} wb_stmt_entry;

/* A command sent in the current pipeline, waiting for its result. */
typedef struct wb_stmt_pending
{
	int			entry;			/* >= 0: the PREPARE of this entry */
	int			expect_rows;	/* rows the command must touch, or -1 */
} wb_stmt_pending;

typedef enum wb_pipeline_result
{
	WB_PIPELINE_OK,				/* every command did what was expected */
	WB_PIPELINE_DIFFERS,		/* a change touched no row, or a command failed */
	WB_PIPELINE_LOST			/* the connection is gone */
} wb_pipeline_result;

typedef struct wb_stmts
{
	PGconn	   *conn;
	wb_stmt_entry *entries;		/* open addressing, by SQL text */
	size_t		cap;			/* a power of two */
	size_t		used;
	uint32_t	next_id;

	bool		pipelining;
	bool		differs;		/* seen in the results collected so far */
	wb_stmt_pending *pending;
	int			npending;
	int			pending_cap;
	char		why[512];		/* what differed first, for the debug log */
} wb_stmts;

extern void stmts_init(wb_stmts *st, PGconn *conn);
extern void stmts_forget(wb_stmts *st);
extern void stmts_close(wb_stmts *st);

/*
 * Run one statement and wait: prepared when it has parameters.  If the
 * PREPARE itself fails, its result (the real error) is what is returned.
 */
extern PGresult *stmts_exec(wb_stmts *st, const char *sql, int nparams, const char *const *values);

/*
 * A pipeline: stmts_send() queues commands (expect_rows: how many rows
 * the command must touch, -1 for any); stmts_pipeline_end() collects every result and leaves
 * pipeline mode.  stmts_send() returns false once something differed or
 * failed: the caller may stop sending, the end reports it.
 */
extern bool stmts_pipeline_begin(wb_stmts *st);
extern bool stmts_send(wb_stmts *st, const char *sql, int nparams, const char *const *values,
					   int expect_rows);
extern wb_pipeline_result stmts_pipeline_end(wb_stmts *st);

#endif							/* WB_STMTS_H */
