/*-------------------------------------------------------------------------
 *
 * inflight.h
 *		Transactions published to Kafka but not yet all acknowledged, in
 *		stream order, and the flush position that is safe to confirm.
 *
 * The slot's flush position may move past a transaction only when Kafka
 * acknowledged every message of it and of everything before it; this ring
 * answers "how far is that?".  Pure bookkeeping: no I/O, unit-tested.
 *
 * IDENTIFICATION
 *		forwarder/publish/inflight.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_INFLIGHT_H
#define WB_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wb_inflight_entry
{
	uint64_t	end_lsn;		/* confirmable position once done */
	uint32_t	pending;		/* messages produced, not yet acknowledged */
	bool		closed;			/* all its messages have been produced */
} wb_inflight_entry;

typedef struct wb_inflight
{
	wb_inflight_entry *ring;
	size_t		capacity;		/* a power of two */
	size_t		count;			/* entries in use */
	uint64_t	head_id;		/* id of the oldest entry */
} wb_inflight;

extern void inflight_init(wb_inflight *inf);
extern void inflight_free(wb_inflight *inf);
extern uint64_t inflight_open(wb_inflight *inf);
extern void inflight_add_message(wb_inflight *inf, uint64_t id);
extern void inflight_ack(wb_inflight *inf, uint64_t id);
extern void inflight_close(wb_inflight *inf, uint64_t id, uint64_t end_lsn);
extern uint64_t inflight_take_confirmable(wb_inflight *inf);
extern size_t inflight_count(const wb_inflight *inf);
extern uint64_t inflight_pending_messages(const wb_inflight *inf);

#endif							/* WB_INFLIGHT_H */
