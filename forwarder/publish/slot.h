/*-------------------------------------------------------------------------
 *
 * slot.h
 *		The node's replication slot, made ready to stream.
 *
 * IDENTIFICATION
 *		forwarder/publish/slot.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_SLOT_H
#define WB_SLOT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "nodeinfo.h"
#include "pgstream.h"
#include "publish.h"

typedef enum wb_slot_result
{
	WB_SLOT_READY,				/* exists, its initial copy done */
	WB_SLOT_STOPPED,			/* *stop was set during the copy */
	WB_SLOT_RETRY				/* a failure (logged): start again */
} wb_slot_result;

/* Slot names allow [a-z0-9_]: walbridge_ + the node name folded to that. */
extern char *slot_default_name(const char *node);

/* The slot's confirmed_flush_lsn, 0 if unknown. */
extern uint64_t slot_confirmed_lsn(PGconn *conn, const char *slot);

/*
 * Make ps's slot ready: create it when missing (publishing the initial
 * copy of tables through pub when snapshot), drop and create again one
 * whose copy never finished.  Gives pub the identity its messages carry:
 * ps's system and timeline, the slot's incarnation (made with the slot).
 */
extern wb_slot_result slot_prepare(PGconn *conn, wb_pgstream *ps, wb_publisher *pub,
								   const wb_tables *tables, bool snapshot, const char *conninfo,
								   int progress_interval_ms, const volatile sig_atomic_t *stop);

#endif							/* WB_SLOT_H */
