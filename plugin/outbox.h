/*-------------------------------------------------------------------------
 *
 * outbox.h
 *		walbridge.outbox: the messages only walbridge may publish.
 *
 * A schema change (walbridge.ddl) or a heartbeat (walbridge.heartbeat)
 * tells every peer what to do: run a command, purge tombstones.  Anyone
 * may call pg_logical_emit_message(), so these are never taken from a
 * logical message.  walbridge's own code, as the extension's owner, inserts
 * a row (prefix, message) into walbridge.outbox, which nobody else may
 * write, and deletes it in the same transaction; the output plugin
 * publishes the insert it decodes as a transactional MESSAGE record of
 * that prefix, at its place in the transaction, and passes over any
 * logical message of these prefixes (plugin/walbridge.c).
 *
 * IDENTIFICATION
 *		plugin/outbox.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WALBRIDGE_OUTBOX_H
#define WALBRIDGE_OUTBOX_H

#define WB_OUTBOX_SCHEMA		"walbridge"
#define WB_OUTBOX_TABLE			"outbox"

/* The prefixes it publishes (docs/KAFKA.md; walbridged's envelope.h). */
#define WB_DDL_MESSAGE_PREFIX		"walbridge.ddl"
#define WB_HEARTBEAT_MESSAGE_PREFIX	"walbridge.heartbeat"

/* Whether only walbridge.outbox may publish messages of this prefix. */
static inline bool
outbox_prefix(const char *prefix)
{
	return strcmp(prefix, WB_DDL_MESSAGE_PREFIX) == 0 ||
		strcmp(prefix, WB_HEARTBEAT_MESSAGE_PREFIX) == 0;
}

#endif							/* WALBRIDGE_OUTBOX_H */
