/*-------------------------------------------------------------------------
 *
 * publish.h
 *		Records from the slot to Kafka messages: one message per
 *		transaction, or chunks of one; headers; delivery reports.
 *
 * Every message is self-contained: it starts with the transaction's BEGIN
 * and carries the RELATION record of every table its changes use, so a
 * consumer can start at any message.  See docs/KAFKA.md.
 *
 * IDENTIFICATION
 *		forwarder/publish/publish.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_PUBLISH_H
#define WB_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "envelope.h"
#include "inflight.h"

/* Called while waiting for room in the producer queue; false: give up. */
typedef bool (*wb_wait_hook) (void *arg);

/*
 * Called for a non-transactional message of prefix WB_RESYNC_PREFIX (a
 * resync watermark, resync_serve.c) where it stands in the stream, under
 * inflight entry id, which the caller closes at lsn (the message's)
 * afterwards: whatever the hook produces under id is confirmed with it.
 * Not published itself.
 */
typedef int (*wb_watermark_hook) (void *arg, const char *content, size_t len, uint64_t id,
								  uint64_t lsn);

#define WB_RECENT_COMMITS	65536

typedef struct wb_relentry
{
	uint32_t	relid;			/* 0: empty slot */
	char	   *record;			/* the latest RELATION record */
	size_t		len;
	uint64_t	in_message;		/* message generation it was added to */
} wb_relentry;

typedef struct wb_publisher
{
	rd_kafka_t *rk;
	char	   *topic;
	char	   *node;
	size_t		chunk_bytes;
	wb_inflight inflight;

	/* who publishes, beyond node (envelope.h): on every message */
	char		system_id[24];	/* IDENTIFY_SYSTEM's, at session start */
	char		timeline[12];	/* its timeline then: promotion changes it */
	char		incarnation[40];	/* walbridge.node.incarnation, made with
									 * the slot */

	wb_relentry *relations;		/* open addressing on relid */
	size_t		relations_cap;	/* a power of two */
	size_t		relations_used;

	char	   *buf;			/* the message being built */
	size_t		len;
	size_t		cap;
	size_t		header_len;		/* BEGIN (and kind) only: nothing to send */
	uint64_t	generation;		/* of the message being built */

	/* the transaction being published */
	bool		in_txn;
	uint64_t	txn_id;			/* inflight id */
	char	   *begin;			/* its BEGIN record, repeated per chunk */
	size_t		begin_len;
	uint32_t	xid;
	uint64_t	commit_lsn;
	int64_t		commit_time;
	char		origin[128];	/* origin name, "" for none */
	int			chunk;

	/* a copy in progress: an initial copy (snapshot) or a resync chunk */
	bool		in_snapshot;
	wb_msg_kind copy_kind;		/* WB_MSG_SNAPSHOT or WB_MSG_RESYNC */
	char		snapshot_table[256];
	char		copy_request[64];	/* resync: wb.request */
	char		copy_for[128];	/* resync: wb.for */
	wb_watermark_hook watermark_hook;
	void	   *watermark_arg;

	/*
	 * The last WB_RECENT_COMMITS transactions published, xid and commit
	 * LSN, oldest overwritten: whether one a snapshot saw running had its
	 * commit decoded before a watermark (resync_serve.c).
	 */
	uint32_t   *recent_xids;
	uint64_t   *recent_lsns;
	size_t		recent_next;

	bool		failed;			/* a delivery failed: restart the session */
	bool		queue_full;		/* waiting for room in the producer queue */
	wb_wait_hook wait_hook;
	void	   *wait_arg;

	/* statistics */
	uint64_t	messages;
	uint64_t	bytes;
	uint64_t	transactions;
} wb_publisher;

typedef enum wb_publish_result
{
	WB_PUBLISH_OK,
	WB_PUBLISH_FAILED,			/* logged; restart the session */
	WB_PUBLISH_STOPPED			/* the wait hook said stop */
} wb_publish_result;

extern int	publish_open(wb_publisher *pub, const struct wb_config *cfg, const char *node);
extern void publish_set_identity(wb_publisher *pub, const char *system_id, uint32_t timeline,
								 const char *incarnation);
extern wb_publish_result publish_record(wb_publisher *pub, const char *data, size_t len,
										uint64_t lsn);
extern wb_publish_result publish_snapshot_begin(wb_publisher *pub, const char *table);
extern wb_publish_result publish_copy_record(wb_publisher *pub, const char *data, size_t len);
extern wb_publish_result publish_snapshot_end(wb_publisher *pub);
extern wb_publish_result publish_resync_begin(wb_publisher *pub, uint64_t id, const char *table,
											  const char *request, const char *for_node);
extern wb_publish_result publish_resync_end(wb_publisher *pub);
extern bool publish_committed_before(const wb_publisher *pub, uint32_t xid, uint64_t lsn);
extern void publish_poll(wb_publisher *pub, int timeout_ms);
extern uint64_t publish_take_confirmable(wb_publisher *pub);
extern bool publish_idle(const wb_publisher *pub);
extern bool publish_backlogged(const wb_publisher *pub);
extern int	publish_queue_length(const wb_publisher *pub);
extern int	publish_flush(wb_publisher *pub, int timeout_ms);
extern void publish_close(wb_publisher *pub);

#endif							/* WB_PUBLISH_H */
