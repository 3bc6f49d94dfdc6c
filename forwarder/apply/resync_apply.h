/*-------------------------------------------------------------------------
 *
 * resync_apply.h
 *		walbridge.resync() on the node that asked: which of a peer's
 *		"resync" messages are its copy, what each phase record of the copy
 *		does here (rows pruned, progress counted), and the gaps a pending
 *		copy covers.
 *
 * IDENTIFICATION
 *		forwarder/apply/resync_apply.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_RESYNC_APPLY_H
#define WB_RESYNC_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

struct wb_applier;

/* walbridge.apply_progress.resync_state */
typedef enum wb_resync_apply_state
{
	WB_RA_NONE,				/* never asked */
	WB_RA_REQUESTED,		/* asked, no part of the copy applied yet */
	WB_RA_COPYING,			/* its "begin" or a chunk applied */
	WB_RA_DONE				/* its "done" applied */
} wb_resync_apply_state;

/* A peer's resync as apply knows it (part of wb_applier). */
typedef struct wb_resync_apply
{
	char	   *id;				/* apply_progress.resync_id, or NULL */
	wb_resync_apply_state state;
	bool		in_copy;		/* the message being applied is a part of
								 * this node's copy */
	bool		saw_phase;		/* and it carried a phase record */
	int64_t		gap_at;			/* first offset applied after a gap the
								 * copy covers (0: none) */
	bool		dropping;		/* passing over the rest of a transaction
								 * whose first chunks the gap took */
	uint32_t	drop_xid;
} wb_resync_apply;

/* Read the peer's request (resync_id, resync_state); WB_OK or WB_ERR (logged). */
extern int	resync_apply_load(struct wb_applier *ap);

/* A copy was asked for and is not complete: a gap in the topic is covered by it. */
static inline bool
resync_apply_pending(const wb_resync_apply *rs)
{
	return rs->state == WB_RA_REQUESTED || rs->state == WB_RA_COPYING;
}

/* Whether a "resync" message's wb.for and wb.request name this node's request. */
extern bool resync_apply_is_ours(const struct wb_applier *ap, const char *for_node, const char *request);

/*
 * The peer's topic lost offsets from next on (retention): the copy asked
 * for covers them, so apply goes on at low, the oldest offset Kafka has.
 * Logged, and recorded as the position (kafka_offset low - 1, no pause).
 */
extern int	resync_apply_skip_gap(struct wb_applier *ap, int64_t next, int64_t low);

/*
 * Applying a peer from its topic's end because its beginning is gone:
 * ask it for a copy (as walbridge.resync() would), in the caller's
 * transaction.
 */
extern int	resync_apply_request(struct wb_applier *ap, const char *why);

/*
 * The peer's tombstones carried by a chunk of this node's copy (payload),
 * under last_writer_wins: applied before the chunk's rows, one local
 * transaction per delete time, stamped with it, so that the delete is
 * remembered here with the time it has on the peer.  false with err if
 * one failed (rolled back; the caller pauses).
 */
extern bool resync_apply_tombstones(struct wb_applier *ap, const char *payload, size_t len,
									char *err, size_t errlen);

/*
 * A MESSAGE record of prefix WB_RESYNC_PREFIX in a part of this node's
 * copy: its phase, as one statement of the message's transaction.
 */
extern bool resync_apply_phase(struct wb_applier *ap, const wb_record *rec, char *err, size_t errlen);

/* After a part of the copy with a phase record committed: the new state, logged. */
extern void resync_apply_phase_applied(struct wb_applier *ap);

extern void resync_apply_free(wb_resync_apply *rs);

#endif							/* WB_RESYNC_APPLY_H */
