/*-------------------------------------------------------------------------
 *
 * ddl.h
 *		Schema changes in the stream: which commands walbridge propagates,
 *		shared by their capture (ddl_capture.c) and their apply
 *		(ddl_apply.c), so that both sides accept exactly the same ones.
 *
 * IDENTIFICATION
 *		plugin/ddl.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WALBRIDGE_DDL_H
#define WALBRIDGE_DDL_H

#include "nodes/parsenodes.h"

/* What may be done with a command on the peers. */
typedef enum WalbridgeDdlKind
{
	WB_DDL_IN_TRANSACTION,		/* applied in the transaction it came in */
	WB_DDL_OUTSIDE_TRANSACTION, /* CONCURRENTLY: applied just before it,
								 * outside any transaction */
	WB_DDL_NOT_PROPAGATED,		/* run it on every node (*why says why) */
	WB_DDL_NODE_OWN				/* each node's own by design, not
								 * propagated and not warned about
								 * (ALTER SEQUENCE: partition_sequences()) */
} WalbridgeDdlKind;

extern WalbridgeDdlKind ddl_classify(Node *stmt, const char **why);

/*
 * The settings that decide how a command's literals are read, sent with it
 * and set for it on the peers (nothing else of a session is taken).
 */
extern const char *const ddl_carried_settings[];

/*
 * Run the SQL query (arg: its $1, text, or NULL for none) as the walbridge extension's owner,
 * under search_path pg_catalog: walbridge's own bookkeeping on behalf of
 * whoever ran a command, who has no privilege on walbridge's tables.  The
 * query is a constant; nothing of the caller's reaches it.  Returns the
 * first column of the first row as text (NULL if none or null), in the
 * caller's memory context.
 */
extern char *ddl_run_as_owner(const char *query, const char *arg);

/* The same with up to four text arguments ($1.., NULL for a null). */
extern char *ddl_run_as_owner_args(const char *query, int nargs, const char *const *args);

/*
 * Renames: walbridge.renames keeps the names a table or column had, so
 * that a peer's changes made under the old name before the rename reached
 * it find their table (forwarder/apply/relmap.c).
 *
 * ddl_renames_table(): whether the statement renames a table or a column
 * of one.  ddl_remember_rename(): note the old name of the table relid
 * that the rename stmt (just run, here or on a peer) renamed.
 * ddl_rename_made(): whether stmt's rename is already made here (the same
 * rename on two nodes), by the name it gave and the name it took.
 */
extern bool ddl_renames_table(Node *stmt);
extern void ddl_remember_rename(RenameStmt *stmt, Oid relid);
extern bool ddl_rename_made(RenameStmt *stmt);

#endif							/* WALBRIDGE_DDL_H */
