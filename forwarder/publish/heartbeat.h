/*-------------------------------------------------------------------------
 *
 * heartbeat.h
 *		This node's heartbeat, published every heartbeat_interval, and the
 *		check of the peers' clocks that its peers' heartbeats allow.
 *
 * A heartbeat is a transaction holding one logical message (prefix
 * walbridge.heartbeat, made by walbridge.heartbeat()): it flows through the
 * slot and Kafka like any transaction, so each peer's apply progress, and
 * with it the tombstone horizon, moves on while this node writes nothing.
 * It carries the last values of this node's unpartitioned sequences (a
 * mirror's follow them).  Peers apply it with walbridge.heartbeat_applied()
 * (apply/dispatch.c), which records the clock skew status() shows.
 *
 * IDENTIFICATION
 *		forwarder/publish/heartbeat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_HEARTBEAT_H
#define WB_HEARTBEAT_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

/* The logical message prefix of a heartbeat. */
#define WB_HEARTBEAT_PREFIX	"walbridge.heartbeat"

typedef struct wb_heartbeat
{
	int64_t		sent_us;		/* last heartbeat emitted (or tried) */
	int64_t		checked_us;		/* peers' clocks last checked */
	int64_t		skew_warned_us; /* last clock skew warning */
	bool		failing;		/* the last one failed (logged once) */
} wb_heartbeat;

/*
 * Emit a heartbeat on conn if interval_ms passed since the last one (0:
 * never).  A failure is logged (once until one succeeds), not returned:
 * the stream goes on without.
 */
extern void heartbeat_tick(wb_heartbeat *hb, PGconn *conn, int interval_ms);

/*
 * Warn (at most once a minute) about each peer whose clock skew, as its
 * newest heartbeat showed it, exceeds max_skew_ms.  Checked every few
 * seconds.
 */
extern void heartbeat_check_clocks(wb_heartbeat *hb, PGconn *conn, int max_skew_ms);

#endif							/* WB_HEARTBEAT_H */
