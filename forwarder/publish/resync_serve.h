/*-------------------------------------------------------------------------
 *
 * resync_serve.h
 *		Copies this node publishes for other nodes' walbridge.resync():
 *		their requests read from the resync topic, and each copy published
 *		a primary key range at a time, every chunk at the place of a
 *		watermark in this node's own stream.
 *
 * IDENTIFICATION
 *		forwarder/publish/resync_serve.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_RESYNC_SERVE_H
#define WB_RESYNC_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "publish.h"

/* Where the copy being served stands. */
typedef enum wb_resync_serve_step
{
	SERVE_IDLE,				/* no chunk in hand: read the next one */
	SERVE_AT_WATERMARK,		/* a chunk read: wait for its watermark to
								 * come through the stream, to publish it
								 * there */
	SERVE_PUBLISHED			/* published: wait for Kafka to acknowledge
								 * it, then record the progress */
} wb_resync_serve_step;

/* One chunk: a key range of one table, as read after its watermark. */
typedef struct wb_resync_chunk_out
{
	char		watermark[96];	/* the watermark message's content */
	uint64_t	watermark_lsn;
	char	   *table;			/* NULL when the copy has no table */
	char	   *after;			/* jsonb text of the key before the range, or NULL */
	char	   *through;		/* the range's last key, or NULL: to the end */
	char	   *keys;			/* jsonb array text: the keys read */
	char	   *tombstones;		/* jsonb array text: [key, time] */
	char	  **records;		/* RELATION, then SNAPSHOT records */
	size_t	   *lens;
	int			nrecords;
	size_t		bytes;
	uint32_t   *running;		/* xids its snapshot saw running */
	int			nrunning;
	bool		first;			/* the copy's first: says "begin" */
	bool		last;			/* the copy's last: says "done" */
} wb_resync_chunk_out;

typedef struct wb_resync_server
{
	const struct wb_config *cfg;
	char	   *node;
	wb_publisher *pub;			/* whose stream brings the watermarks */
	PGconn	   *conn;			/* reads chunks, records progress */
	rd_kafka_t *requests;		/* consumer of the resync topic, or NULL
								 * until it can be had */
	int64_t		open_retry_at_us;
	int64_t		next_poll_us;

	/* the copy being served: one at a time, oldest request first */
	bool		active;
	char		request[64];
	char		requester[128];
	int			ntables;
	int			table_index;	/* 1-based, in the job's tables */
	char	   *table;
	char	   *last_key;		/* acknowledged; NULL: table from its start */
	int64_t		rows;			/* copied and acknowledged */
	int64_t		rows_in_chunk;	/* in the chunk in hand */
	int			chunk_rows;		/* rows read per chunk, adapted to their size */
	uint64_t	sequence;		/* makes each watermark unique */

	wb_resync_serve_step step;
	wb_resync_chunk_out chunk;
} wb_resync_server;

extern int	resync_serve_open(wb_resync_server *r, const struct wb_config *cfg, const char *node,
						wb_publisher *pub);
extern int	resync_serve_tick(wb_resync_server *r, wb_publisher *pub, uint64_t confirmed);
extern void resync_serve_close(wb_resync_server *r);

#endif							/* WB_RESYNC_SERVE_H */
