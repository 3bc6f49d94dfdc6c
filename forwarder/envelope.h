/*-------------------------------------------------------------------------
 *
 * envelope.h
 *		The Kafka message around walbridge records: its header names and
 *		message kinds, the one definition both halves use (the publish half
 *		writes them, the apply half reads them) and docs/KAFKA.md
 *		describes, as common/format.h is for the records inside.
 *
 * All header values are UTF-8 text.
 *
 * IDENTIFICATION
 *		forwarder/envelope.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_ENVELOPE_H
#define WB_ENVELOPE_H

#include <stdbool.h>
#include <string.h>

#define WB_HDR_NODE			"wb.node"	/* all: the publishing node */
#define WB_HDR_KIND			"wb.kind"	/* all: wb_msg_kind_names */
#define WB_HDR_FORMAT		"wb.format" /* all: WALBRIDGE_FORMAT_VERSION */
#define WB_HDR_XID			"wb.xid"	/* txn: xid on the publishing node */
#define WB_HDR_COMMIT_LSN	"wb.commit_lsn" /* txn: X/Y */
#define WB_HDR_COMMIT_TIME	"wb.commit_time"	/* txn: usecs since the Unix
												 * epoch */
#define WB_HDR_ORIGIN		"wb.origin" /* txn with a replication origin */
#define WB_HDR_END_LSN		"wb.end_lsn"	/* last chunk of a txn: commit end */
#define WB_HDR_TABLE		"wb.table"	/* snapshot: the table copied */
#define WB_HDR_CHUNK		"wb.chunk"	/* all: 0, 1, 2 ... */
#define WB_HDR_LAST			"wb.last"	/* all: "1" on the last chunk, else
										 * "0" */

/*
 * Who published it, beyond the node's name: all messages a node publishes
 * carry them.  A node restored from a backup, failed over to a standby or
 * rebuilt under the same name publishes under another incarnation, whose
 * commit LSNs cannot be compared with the old one's (they go back).
 */
#define WB_HDR_SYSTEM_ID	"wb.system_id"	/* the cluster's database system
											 * identifier, decimal */
#define WB_HDR_TIMELINE		"wb.timeline"	/* its timeline, decimal */
#define WB_HDR_INCARNATION	"wb.incarnation"	/* random, made with the slot
												 * (walbridge.node.incarnation) */

/*
 * A copy for walbridge.resync() (kind "resync"), published by the node
 * asked, in its own topic, for one node only: the one that asked.
 * Records: a chunk's RELATION and SNAPSHOT rows, chunked by size like a
 * snapshot, the last message of a key range ending with a MESSAGE record
 * of prefix WB_RESYNC_PREFIX whose content is JSON:
 *   {"phase": "begin", "tables": [...]}              the copy starts
 *   {"phase": "chunk", "table": "s.t", "key_columns": [..], "after": [..]|null,
 *    "through": [..]|null, "keys": [[..], ..],
 *    "tombstones": [[[..], "time"], ..]}              a key range copied
 *   {"phase": "done", "rows": n}                      the copy is complete
 * Keys are JSON arrays of the primary key columns' text forms, in key
 * order; (after, through] is the range (null: unbounded), keys the rows in
 * it when the chunk was read, tombstones the keys in it the node deleted,
 * with the delete's commit time.
 */
#define WB_HDR_REQUEST		"wb.request"	/* resync, resync_request: the
											 * request's id */
#define WB_HDR_FOR			"wb.for"	/* resync: the node that asked */
#define WB_HDR_TO			"wb.to" /* resync_request: the node asked */
#define WB_RESYNC_PREFIX	"walbridge.resync"

/*
 * A schema change, in the transaction that made it (kind "txn"): a
 * transactional MESSAGE record of this prefix whose content is JSON,
 *   {"tag": "ALTER TABLE", "command": "...", "search_path": "...", "role": "...",
 *    "settings": {"TimeZone": "...", ...}}
 * made by the plugin from its event trigger's row (plugin/ddl_capture.c) and run by
 * apply at its place (walbridge.apply_ddl()).  docs/FORMAT.md.
 */
#define WB_DDL_PREFIX		"walbridge.ddl"

/* wb.kind */
typedef enum wb_msg_kind
{
	WB_MSG_TXN,					/* "txn": a transaction (in chunks) */
	WB_MSG_SNAPSHOT,			/* "snapshot": initial copy rows of a table */
	WB_MSG_MESSAGE,				/* "message": a non-transactional
								 * pg_logical_emit_message */
	WB_MSG_RESYNC,				/* "resync": a copy for one node's resync() */
	WB_MSG_RESYNC_REQUEST,		/* "resync_request": in the resync topic
								 * only, a node asking another for a copy */
	WB_MSG_SKIPPED				/* never sent: one walbridge.skip() passes
								 * over (apply side only) */
} wb_msg_kind;

#define WB_MSG_KIND_WIRE_COUNT (WB_MSG_RESYNC_REQUEST + 1)

static const char *const wb_msg_kind_names[] = {
	[WB_MSG_TXN] = "txn",
	[WB_MSG_SNAPSHOT] = "snapshot",
	[WB_MSG_MESSAGE] = "message",
	[WB_MSG_RESYNC] = "resync",
	[WB_MSG_RESYNC_REQUEST] = "resync_request",
	[WB_MSG_SKIPPED] = "skipped",
};

/* A wb.kind header's value to its kind; false if walbridge sends no such kind. */
static inline bool
wb_msg_kind_parse(const char *name, wb_msg_kind *kind)
{
	for (int i = 0; i < WB_MSG_KIND_WIRE_COUNT; i++)
		if (strcmp(name, wb_msg_kind_names[i]) == 0)
		{
			*kind = (wb_msg_kind) i;
			return true;
		}
	return false;
}

#endif							/* WB_ENVELOPE_H */
