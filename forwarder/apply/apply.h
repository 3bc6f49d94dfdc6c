/*-------------------------------------------------------------------------
 *
 * apply.h
 *		Apply one peer's topic to the local database: each source
 *		transaction as one local transaction, under the peer's replication
 *		origin, with the Kafka offset recorded in the same transaction,
 *		conflicts resolved by the node's policy.
 *
 * IDENTIFICATION
 *		forwarder/apply/apply.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_APPLY_H
#define WB_APPLY_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "batch.h"
#include "conflict.h"
#include "envelope.h"
#include "identity.h"
#include "sqlgen.h"
#include "relmap.h"
#include "resync_apply.h"
#include "sqltext.h"
#include "stmts.h"

/* What a Kafka message's headers say. */
typedef struct wb_msgmeta
{
	wb_msg_kind kind;
	uint32_t	xid;
	uint64_t	commit_lsn;
	int64_t		commit_time;	/* usecs since the Unix epoch */
	bool		for_us;			/* resync: wb.for and wb.request name this
								 * node's current request */
	int			chunk;
	bool		last;
	wb_identity source;			/* who published it (parts unknown: empty) */
} wb_msgmeta;

/*
 * Where applying a peer stands.  Paused and rewinding both wait at
 * paused_offset until the consumer reads the topic again from there
 * (consume_retry_paused()); only a pause forgets the table mappings.
 */
typedef enum wb_peer_state
{
	WB_PEER_STOPPED,			/* not open (apply_close() zeroes it) */
	WB_PEER_RUNNING,			/* messages are applied as they come */
	WB_PEER_PAUSED,				/* stopped by bad input or a conflict at
								 * paused_offset; retried at retry_at_us */
	WB_PEER_REWINDING			/* a transaction needs a closer look: read
								 * again from its first message, to apply
								 * it one change at a time */
} wb_peer_state;

typedef struct wb_applier
{
	char	   *peer;
	char	   *node;			/* this node, for tie-breaks */
	char	   *topic;
	PGconn	   *conn;			/* its own session: the origin is per session */
	char		origin_oid[16];

	int64_t		applied_offset; /* last message applied (or passed over
								 * as before the start), -1: start at 0,
								 * WB_OFFSET_NONE: no start chosen yet */
	uint64_t	applied_lsn;	/* commit LSN of the last transaction */
	wb_identity source;			/* whose commit LSNs applied_lsn compares
								 * (apply_progress.source_*) */
	int64_t		skip_offset;	/* skip() asked to pass this message */

	wb_peer_state state;
	char		sqlstate[6];	/* of the last failed statement */
	wb_buf		pending_conflict;	/* the remote row of a unique conflict
									 * apply is about to pause on */
	char	   *pending_conflict_table;
	int64_t		conflict_recorded_offset;	/* where the last one was */
	int64_t		paused_offset;
	int64_t		retry_at_us;

	/* the source transaction being applied (its chunks) */
	bool		in_txn;
	bool		skipping;		/* already applied, or skipped */
	int64_t		txn_first_offset;
	wb_msgmeta	txn;			/* its first chunk's headers, but chunk:
								 * the last chunk read */
	char		txn_time[48];	/* its commit time, as timestamptz text */
	char		txn_lsn[32];	/* its commit LSN, as pg_lsn text */
	int			conflicts;

	wb_relmaps	maps;			/* the peer's tables, here */
	wb_stmts	stmts;			/* prepared statements, pipelines */
	const struct wb_executor *exec; /* wb_exec_row, or wb_exec_bulk while
									 * a message is one pipeline */
	wb_batch	batch;			/* changes gathered for one statement */
	uint64_t	one_by_one_lsn; /* the transaction that needs it */
	bool		row_raced;		/* a missing row's key appeared meanwhile:
								 * its change is being decided again */
	uint64_t	names_stale_lsn;	/* the transaction read again after a
									 * table or column here was renamed */
	uint64_t	ddl_outside_lsn;	/* the transaction whose CONCURRENTLY
									 * command ran before it */

	wb_sqlctx	cx;				/* policy, peer, origin, source commit */
	wb_sql		q;				/* the statement being built */
	int64_t		end_offset;		/* topic end when last seen */
	int64_t		high_watermark; /* the topic's end as the last fetch saw it
								 * (consume.c): a message just below it is
								 * the newest */
	wb_resync_apply resync;		/* the copy this node asked the peer for */
} wb_applier;

#define WB_OFFSET_NONE	INT64_C(-2)

typedef enum wb_apply_result
{
	WB_APPLY_OK,
	WB_APPLY_PAUSED,			/* bad input: logged and recorded */
	WB_APPLY_FAILED				/* connection lost: restart the session */
} wb_apply_result;

extern int	apply_open(wb_applier *ap, const char *conninfo, const char *peer,
					   const char *node, const char *topic, wb_conflict_policy policy);
extern wb_apply_result apply_message(wb_applier *ap, int64_t offset, const wb_msgmeta *meta,
									 const char *payload, size_t len);
extern wb_apply_result apply_pause(wb_applier *ap, int64_t offset, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));

/*
 * A pause that only walbridge.resync() ends (a new incarnation, a gap):
 * the reason says so, and the log does not offer skip(), which would pass
 * over a message that is not the problem.
 */
extern wb_apply_result apply_pause_for_resync(wb_applier *ap, int64_t offset, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
extern void apply_resume(wb_applier *ap);

/* Paused or rewinding: held back until its topic is read again from paused_offset. */
static inline bool
apply_held_back(const wb_applier *ap)
{
	return ap->state == WB_PEER_PAUSED || ap->state == WB_PEER_REWINDING;
}

extern int	apply_reload_progress(wb_applier *ap);
extern int	apply_pin_start(wb_applier *ap, int64_t next);
extern void apply_close(wb_applier *ap);

#endif							/* WB_APPLY_H */
