/*-------------------------------------------------------------------------
 *
 * control.h
 *		walbridge.sync, the walbridge_control channel and the publishing
 *		state: how the node's SQL functions and walbridged talk.
 *
 * IDENTIFICATION
 *		forwarder/control.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_CONTROL_H
#define WB_CONTROL_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "conflict.h"

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

/* Read walbridge.sync into sync ("not running" when start_sync() was never called). */
extern int	control_read_sync(PGconn *conn, wb_sync *sync);
extern void control_sync_free(wb_sync *sync);

/* LISTEN on walbridge_control; control_notified() says whether anything came. */
extern int	control_listen(PGconn *conn);
extern int	control_notified(PGconn *conn, bool *notified);

/* What status() shows for the publishing side; best effort. */
extern void control_publish_state(PGconn *conn, const char *state, const char *error, bool confirmed);

#endif							/* WB_CONTROL_H */
