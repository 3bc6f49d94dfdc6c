/*-------------------------------------------------------------------------
 *
 * nodeinfo.h
 *		What walbridged reads from (and records in) its own database over
 *		an ordinary connection: the node's name, the tables to publish,
 *		whether the slot's initial copy was published.
 *
 * IDENTIFICATION
 *		forwarder/nodeinfo.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_NODEINFO_H
#define WB_NODEINFO_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "conflict.h"

typedef struct wb_tables
{
	int			count;
	char	  **names;			/* schema-qualified, quoted as needed */
	double	   *estimates;		/* pg_class.reltuples, for progress */
} wb_tables;

/* walbridge.sync: what start_sync() and stop_sync() asked for. */
typedef struct wb_sync
{
	bool		running;		/* false also when never started */
	int			npeers;
	char	  **peers;
	int			ntables;		/* -1: every table with a primary key */
	char	  **tables;
	wb_conflict_policy conflict;
	bool		snapshot;
	bool		drop_slot_requested;
} wb_sync;

extern PGconn *nodeinfo_connect(const char *conninfo);
extern int	nodeinfo_read_sync(PGconn *conn, wb_sync *sync);
extern void nodeinfo_sync_free(wb_sync *sync);
extern int	nodeinfo_listen(PGconn *conn);
extern int	nodeinfo_notified(PGconn *conn, bool *notified);
extern void nodeinfo_publish_state(PGconn *conn, const char *state, const char *error, bool confirmed);
extern void nodeinfo_purge_tombstones(PGconn *conn);
extern int	nodeinfo_forget_slot(PGconn *conn, const char *slot);
extern int	nodeinfo_node_name(PGconn *conn, char **name);
extern int	nodeinfo_published_tables(PGconn *conn, wb_tables *tables);
extern char *nodeinfo_include_option(const wb_tables *tables);
extern void nodeinfo_tables_free(wb_tables *tables);
extern int	nodeinfo_slot_initialized(PGconn *conn, bool *initialized);
extern int	nodeinfo_mark_slot_initialized(PGconn *conn, uint64_t lsn);

#endif							/* WB_NODEINFO_H */
