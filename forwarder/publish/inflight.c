/*-------------------------------------------------------------------------
 *
 * inflight.c
 *		A growable ring of in-flight transactions, addressed by id.
 *
 * Ids increase by one per transaction, so an entry is found by its
 * distance from the head: no search, and delivery reports may arrive in
 * any order.
 *
 * IDENTIFICATION
 *		forwarder/publish/inflight.c
 *
 *-------------------------------------------------------------------------
 */
#include "inflight.h"
#include "wb.h"

#include <stdlib.h>
#include <string.h>

#define INITIAL_CAPACITY 1024

void
inflight_init(wb_inflight *inf)
{
	memset(inf, 0, sizeof(*inf));
}

void
inflight_free(wb_inflight *inf)
{
	free(inf->ring);
	memset(inf, 0, sizeof(*inf));
}

static wb_inflight_entry *
entry_for(wb_inflight *inf, uint64_t id)
{
	uint64_t	offset;
	size_t		head_index = (size_t) (inf->head_id & (inf->capacity - 1));

	if (id < inf->head_id)
		return NULL;			/* already confirmed and gone */
	offset = id - inf->head_id;
	if (offset >= inf->count)
		return NULL;
	return &inf->ring[(head_index + offset) & (inf->capacity - 1)];
}

/* Double the ring, keeping every entry at (id mod capacity). */
static void
grow(wb_inflight *inf)
{
	size_t		capacity = inf->capacity ? inf->capacity * 2 : INITIAL_CAPACITY;
	wb_inflight_entry *ring = xcalloc(capacity, sizeof(wb_inflight_entry));

	for (size_t i = 0; i < inf->count; i++)
	{
		uint64_t	id = inf->head_id + i;

		ring[id & (capacity - 1)] = inf->ring[id & (inf->capacity - 1)];
	}
	free(inf->ring);
	inf->ring = ring;
	inf->capacity = capacity;
}

/* A new transaction, at the tail; returns its id. */
uint64_t
inflight_open(wb_inflight *inf)
{
	uint64_t	id = inf->head_id + inf->count;
	wb_inflight_entry *entry;

	if (inf->count == inf->capacity)
		grow(inf);
	inf->count++;
	entry = &inf->ring[id & (inf->capacity - 1)];
	memset(entry, 0, sizeof(*entry));
	return id;
}

void
inflight_add_message(wb_inflight *inf, uint64_t id)
{
	wb_inflight_entry *entry = entry_for(inf, id);

	if (entry != NULL)
		entry->pending++;
}

void
inflight_ack(wb_inflight *inf, uint64_t id)
{
	wb_inflight_entry *entry = entry_for(inf, id);

	if (entry != NULL && entry->pending > 0)
		entry->pending--;
}

/* All of the transaction's messages are produced; end_lsn 0: confirm none. */
void
inflight_close(wb_inflight *inf, uint64_t id, uint64_t end_lsn)
{
	wb_inflight_entry *entry = entry_for(inf, id);

	if (entry != NULL)
	{
		entry->closed = true;
		entry->end_lsn = end_lsn;
	}
}

/*
 * Drop the finished transactions at the head and return the highest
 * end_lsn among them (0 when none finished): everything up to it is in
 * Kafka.
 */
uint64_t
inflight_take_confirmable(wb_inflight *inf)
{
	uint64_t	confirmable = 0;

	while (inf->count > 0)
	{
		wb_inflight_entry *entry = &inf->ring[inf->head_id & (inf->capacity - 1)];

		if (!entry->closed || entry->pending > 0)
			break;
		if (entry->end_lsn > confirmable)
			confirmable = entry->end_lsn;
		inf->head_id++;
		inf->count--;
	}
	return confirmable;
}

size_t
inflight_count(const wb_inflight *inf)
{
	return inf->count;
}

uint64_t
inflight_pending_messages(const wb_inflight *inf)
{
	uint64_t	total = 0;

	for (size_t i = 0; i < inf->count; i++)
		total += inf->ring[(inf->head_id + i) & (inf->capacity - 1)].pending;
	return total;
}
