/*-------------------------------------------------------------------------
 *
 * walbridge.c
 *		The walbridge logical decoding output plugin: decides what goes
 *		into the stream and in what order; the writers encode.
 *
 * Records, in stream order: BEGIN (deferred until the transaction has
 * something to send), a RELATION before the first change to a relation in
 * this stream and again after it changed, the changes, COMMIT.  Non-
 * transactional messages stand alone.  See docs/FORMAT.md.
 *
 * Memory: each change is encoded inside change_cxt, reset after it, so a
 * transaction of any size decodes in bounded memory here (the reorder
 * buffer spills to disk on its own).
 *
 * IDENTIFICATION
 *		plugin/walbridge.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "replication/logical.h"
#include "replication/origin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "format.h"
#include "options.h"
#include "outbox.h"
#include "relcache.h"
#include "writer.h"

PG_MODULE_MAGIC;

/*
 * Skipped changes between progress updates, so that a long transaction on
 * tables we do not publish does not let wal_sender_timeout expire.
 */
#define SKIPPED_CHANGES_PER_PROGRESS	100

typedef struct WalbridgeData
{
	WalbridgeOptions options;
	const WalbridgeWriter *writer;
	MemoryContext change_cxt;	/* reset after every change */
	int			skipped_changes;	/* since the last progress update */
} WalbridgeData;

typedef struct WalbridgeTxnData
{
	bool		sent_begin;		/* BEGIN written for this transaction */
} WalbridgeTxnData;

extern void _PG_output_plugin_init(OutputPluginCallbacks *cb);

static void walbridge_startup(LogicalDecodingContext *ctx,
							  OutputPluginOptions *opt, bool is_init);
static void walbridge_shutdown(LogicalDecodingContext *ctx);
static void walbridge_begin_txn(LogicalDecodingContext *ctx,
								ReorderBufferTXN *txn);
static void walbridge_commit_txn(LogicalDecodingContext *ctx,
								 ReorderBufferTXN *txn, XLogRecPtr commit_lsn);
static void walbridge_change(LogicalDecodingContext *ctx,
							 ReorderBufferTXN *txn, Relation relation,
							 ReorderBufferChange *change);
static void walbridge_truncate(LogicalDecodingContext *ctx,
							   ReorderBufferTXN *txn, int nrelations,
							   Relation relations[],
							   ReorderBufferChange *change);
static void walbridge_message(LogicalDecodingContext *ctx,
							  ReorderBufferTXN *txn, XLogRecPtr message_lsn,
							  bool transactional, const char *prefix,
							  Size message_size, const char *message);
static bool walbridge_filter_by_origin(LogicalDecodingContext *ctx,
									   RepOriginId origin_id);

void
_PG_output_plugin_init(OutputPluginCallbacks *cb)
{
	cb->startup_cb = walbridge_startup;
	cb->begin_cb = walbridge_begin_txn;
	cb->change_cb = walbridge_change;
	cb->truncate_cb = walbridge_truncate;
	cb->message_cb = walbridge_message;
	cb->commit_cb = walbridge_commit_txn;
	cb->filter_by_origin_cb = walbridge_filter_by_origin;
	cb->shutdown_cb = walbridge_shutdown;
}

static void
walbridge_startup(LogicalDecodingContext *ctx, OutputPluginOptions *opt,
				  bool is_init)
{
	WalbridgeData *data = MemoryContextAllocZero(ctx->context,
												 sizeof(WalbridgeData));

	data->change_cxt = AllocSetContextCreate(ctx->context,
											 "walbridge change context",
											 ALLOCSET_DEFAULT_SIZES);
	options_parse(ctx->output_plugin_options, &data->options);

	switch (data->options.format)
	{
		case WALBRIDGE_FORMAT_MSGPACK:
			data->writer = &msgpack_writer;
			opt->output_type = OUTPUT_PLUGIN_BINARY_OUTPUT;
			break;
		case WALBRIDGE_FORMAT_TEXT:
			data->writer = &text_writer;
			opt->output_type = OUTPUT_PLUGIN_TEXTUAL_OUTPUT;
			break;
		case WALBRIDGE_FORMAT_JSON:
			data->writer = &json_writer;
			opt->output_type = OUTPUT_PLUGIN_TEXTUAL_OUTPUT;
			break;
	}
	opt->receive_rewrites = false;

	relcache_start();
	ctx->output_plugin_private = data;
}

static void
walbridge_shutdown(LogicalDecodingContext *ctx)
{
	relcache_stop();
}

static bool
walbridge_filter_by_origin(LogicalDecodingContext *ctx, RepOriginId origin_id)
{
	WalbridgeData *data = ctx->output_plugin_private;

	return data->options.only_local && origin_id != InvalidRepOriginId;
}

/*
 * Don't send BEGIN here: postpone it until the first change we publish,
 * so transactions that touch only unselected tables (or nothing) cost the
 * reader nothing.
 */
static void
walbridge_begin_txn(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	txn->output_plugin_private =
		MemoryContextAllocZero(ctx->context, sizeof(WalbridgeTxnData));
}

static WalbridgeTxnData *
txn_data(ReorderBufferTXN *txn)
{
	ReorderBufferTXN *toptxn = txn->toptxn ? txn->toptxn : txn;

	return (WalbridgeTxnData *) toptxn->output_plugin_private;
}

/* Write BEGIN now if this transaction has not had it yet. */
static void
send_begin_once(LogicalDecodingContext *ctx, ReorderBufferTXN *txn)
{
	WalbridgeData *data = ctx->output_plugin_private;
	WalbridgeTxnData *txndata = txn_data(txn);
	ReorderBufferTXN *toptxn = txn->toptxn ? txn->toptxn : txn;
	WalbridgeBegin begin;

	if (txndata->sent_begin)
		return;

	begin.xid = toptxn->xid;
	begin.commit_lsn = toptxn->final_lsn;
	begin.commit_time = toptxn->xact_time.commit_time;
	begin.has_origin = (toptxn->origin_id != InvalidRepOriginId);
	begin.origin_id = toptxn->origin_id;
	begin.origin_lsn = toptxn->origin_lsn;
	begin.origin_name = NULL;
	if (begin.has_origin)
	{
		char	   *name = NULL;

		/* A dropped origin has no name; the id still tells them apart. */
		if (!replorigin_by_oid(toptxn->origin_id, true, &name))
			name = psprintf("pg_origin_%d", (int) toptxn->origin_id);
		begin.origin_name = name;
	}

	OutputPluginPrepareWrite(ctx, false);
	data->writer->begin(ctx->out, &begin);
	OutputPluginWrite(ctx, false);
	txndata->sent_begin = true;
}

/* Write the RELATION record unless this stream already has this version. */
static void
send_relation_once(LogicalDecodingContext *ctx, WalbridgeRelation *rel)
{
	WalbridgeData *data = ctx->output_plugin_private;

	if (rel->sent)
		return;
	OutputPluginPrepareWrite(ctx, false);
	data->writer->relation(ctx->out, rel);
	OutputPluginWrite(ctx, false);
	rel->sent = true;
}

static void
walbridge_commit_txn(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					 XLogRecPtr commit_lsn)
{
	WalbridgeData *data = ctx->output_plugin_private;
	WalbridgeTxnData *txndata = txn->output_plugin_private;
	bool		sent_begin = txndata->sent_begin;
	WalbridgeCommit commit;

	pfree(txndata);
	txn->output_plugin_private = NULL;

	OutputPluginUpdateProgress(ctx, !sent_begin);
	if (!sent_begin)
	{
		elog(DEBUG1, "skipped replication of an empty transaction with XID: %u",
			 txn->xid);
		return;
	}

	commit.xid = txn->xid;
	commit.commit_lsn = commit_lsn;
	commit.end_lsn = txn->end_lsn;
	commit.commit_time = txn->xact_time.commit_time;

	OutputPluginPrepareWrite(ctx, true);
	data->writer->commit(ctx->out, &commit);
	OutputPluginWrite(ctx, true);
}

/* Keep the walsender's keepalives going through long skipped stretches. */
static void
note_skipped_change(LogicalDecodingContext *ctx)
{
	WalbridgeData *data = ctx->output_plugin_private;

	if (++data->skipped_changes >= SKIPPED_CHANGES_PER_PROGRESS)
	{
		OutputPluginUpdateProgress(ctx, false);
		data->skipped_changes = 0;
	}
}

/*
 * Deform a decoded tuple of relation into out, laid out as the relation it
 * is published as: a partition's row in its root's columns.
 */
static void
deform(HeapTuple tuple, Relation relation, const WalbridgeRelation *rel,
	   WalbridgeTuple *out)
{
	TupleDesc	desc = RelationGetDescr(relation);
	WalbridgeTuple own;

	own.values = palloc(sizeof(Datum) * Max(desc->natts, 1));
	own.isnull = palloc(sizeof(bool) * Max(desc->natts, 1));
	own.toast_readable = false; /* an on-disk pointer means "unchanged" */
	heap_deform_tuple(tuple, desc, own.values, own.isnull);

	if (rel->to_publish != NULL)
		relcache_map_tuple(rel->to_publish, &own, out);
	else
		*out = own;
}

/*
 * Under REPLICA IDENTITY FULL the server logs an UPDATE's old row with its
 * out-of-line values inline (ExtractReplicaIdentity flattens them), so a
 * value the UPDATE left unchanged is at hand: the change carries it whole
 * instead of the "unchanged" marker.  A node applying it under last writer
 * wins then takes the whole row, also where its own copy of that value
 * differs; start_sync() sets FULL on the tables it syncs with peers that
 * have such columns.
 */
static void
fill_unchanged_from_old(const WalbridgeRelation *rel, WalbridgeTuple *new_tuple,
						const WalbridgeTuple *old_tuple)
{
	for (int i = 0; i < rel->ncolumns; i++)
	{
		const WalbridgeColumn *col = &rel->columns[i];
		int			j = col->attnum - 1;

		if (!col->is_varlena || new_tuple->isnull[j] || old_tuple->isnull[j])
			continue;
		if (VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(new_tuple->values[j])) &&
			!VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(old_tuple->values[j])))
			new_tuple->values[j] = old_tuple->values[j];
	}
}

/*
 * Whether an UPDATE kept its primary key (every key column equal, as
 * stored) in a relation that has one.
 */
static bool
keeps_primary_key(const WalbridgeRelation *rel, const WalbridgeTuple *new_tuple,
				  const WalbridgeTuple *old_tuple)
{
	bool		has_key = false;

	for (int i = 0; i < rel->ncolumns; i++)
	{
		const WalbridgeColumn *col = &rel->columns[i];
		int			j = col->attnum - 1;

		if (!(col->flags & WB_COLUMN_PRIMARY_KEY))
			continue;
		has_key = true;
		if (new_tuple->isnull[j] || old_tuple->isnull[j] ||
			!datumIsEqual(new_tuple->values[j], old_tuple->values[j], col->typbyval, col->typlen))
			return false;
	}
	return has_key;
}

/*
 * A MESSAGE record: a transactional one inside its transaction (BEGIN
 * first), a non-transactional one standing alone, outside BEGIN/COMMIT.
 */
static void
write_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn, const WalbridgeMessage *out)
{
	WalbridgeData *data = ctx->output_plugin_private;

	if (out->transactional)
		send_begin_once(ctx, txn);
	OutputPluginPrepareWrite(ctx, true);
	data->writer->message(ctx->out, out);
	OutputPluginWrite(ctx, true);
}

/*
 * A row walbridge wrote to walbridge.outbox (a schema change, a
 * heartbeat; outbox.h) is published as a transactional message of its
 * prefix, at its place in the transaction.
 */
static void
send_outbox_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
					Relation relation, ReorderBufferChange *change)
{
	WalbridgeData *data = ctx->output_plugin_private;
	WalbridgeMessage out;
	MemoryContext old = MemoryContextSwitchTo(data->change_cxt);
	HeapTuple	tuple = &change->data.tp.newtuple->tuple;
	bool		prefix_null;
	bool		message_null;
	Datum		prefix = heap_getattr(tuple, 1, RelationGetDescr(relation), &prefix_null);
	Datum		message = heap_getattr(tuple, 2, RelationGetDescr(relation), &message_null);

	if (!prefix_null && !message_null)
	{
		out.transactional = true;
		out.lsn = change->lsn;
		out.prefix = TextDatumGetCString(prefix);
		out.content = TextDatumGetCString(message);
		out.content_size = strlen(out.content);
		if (outbox_prefix(out.prefix))
			write_message(ctx, txn, &out);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(data->change_cxt);
}

static void
walbridge_change(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				 Relation relation, ReorderBufferChange *change)
{
	WalbridgeData *data = ctx->output_plugin_private;
	WalbridgeRelation *rel;
	WalbridgeChange out;
	WalbridgeTuple old_tuple;
	WalbridgeTuple new_tuple;
	MemoryContext old;

	rel = relcache_get(relation, &data->options);
	if (rel->outbox)
	{
		if (change->action == REORDER_BUFFER_CHANGE_INSERT && change->data.tp.newtuple != NULL)
			send_outbox_message(ctx, txn, relation, change);
		else
			note_skipped_change(ctx);
		return;
	}
	if (!rel->selected)
	{
		note_skipped_change(ctx);
		return;
	}

	/* Avoid leaking memory by using and resetting our own context */
	old = MemoryContextSwitchTo(data->change_cxt);

	/* a partition's change goes out as its root's (rel->publish_as) */
	out.rel = rel->publish_as;
	out.old_kind = '\0';
	out.old = NULL;
	out.new = NULL;
	switch (change->action)
	{
		case REORDER_BUFFER_CHANGE_INSERT:
			out.tag = WB_REC_INSERT;
			break;
		case REORDER_BUFFER_CHANGE_UPDATE:
			out.tag = WB_REC_UPDATE;
			break;
		case REORDER_BUFFER_CHANGE_DELETE:
			out.tag = WB_REC_DELETE;
			break;
		default:
			Assert(false);
			MemoryContextSwitchTo(old);
			return;
	}

	if (out.tag != WB_REC_DELETE && change->data.tp.newtuple != NULL)
	{
		deform(&change->data.tp.newtuple->tuple, relation, rel, &new_tuple);
		out.new = &new_tuple;
	}
	if (out.tag != WB_REC_INSERT && change->data.tp.oldtuple != NULL)
	{
		deform(&change->data.tp.oldtuple->tuple, relation, rel, &old_tuple);
		out.old = &old_tuple;

		/*
		 * What WAL holds follows the identity of the relation the row is in
		 * (for a partition, its own, not its root's): every column under
		 * FULL, else the key columns.
		 */
		out.old_kind = (rel->replident == REPLICA_IDENTITY_FULL) ?
			WB_OLD_FULL : WB_OLD_KEY;
	}

	if (out.tag == WB_REC_UPDATE && out.new != NULL && out.old_kind == WB_OLD_FULL)
	{
		fill_unchanged_from_old(out.rel, &new_tuple, &old_tuple);

		/*
		 * The new row now holds every value: a reader that finds rows by
		 * primary key (walbridged asks full_old_updates off) needs the old
		 * row only when the key changed.  Without it the change is half
		 * the size, which is most of what FULL costs in the topic.
		 */
		if (!data->options.full_old_updates && keeps_primary_key(out.rel, &new_tuple, &old_tuple))
		{
			out.old_kind = '\0';
			out.old = NULL;
		}
	}

	/* An INSERT or UPDATE always carries its new tuple. */
	if (out.tag != WB_REC_DELETE && out.new == NULL)
		elog(ERROR, "%s of relation \"%s\" has no new tuple",
			 out.tag == WB_REC_INSERT ? "INSERT" : "UPDATE", rel->table);

	send_begin_once(ctx, txn);
	send_relation_once(ctx, rel->publish_as);

	OutputPluginPrepareWrite(ctx, true);
	data->writer->change(ctx->out, &out);
	OutputPluginWrite(ctx, true);

	MemoryContextSwitchTo(old);
	MemoryContextReset(data->change_cxt);
}

static void
walbridge_truncate(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				   int nrelations, Relation relations[],
				   ReorderBufferChange *change)
{
	WalbridgeData *data = ctx->output_plugin_private;
	WalbridgeRelation **rels;
	int			nrels = 0;
	uint32		flags = 0;
	MemoryContext old;

	old = MemoryContextSwitchTo(data->change_cxt);

	rels = palloc(sizeof(WalbridgeRelation *) * nrelations);
	for (int i = 0; i < nrelations; i++)
	{
		WalbridgeRelation *rel = relcache_get(relations[i], &data->options);

		/*
		 * A partition published as its root is not sent, like pgoutput with
		 * publish_via_partition_root: TRUNCATE of the root lists the root
		 * itself, which is sent; a partition truncated on its own has no
		 * counterpart on a mirror that partitions differently, or not at
		 * all.
		 */
		if (rel->selected && rel->publish_as == rel)
			rels[nrels++] = rel;
	}

	if (nrels > 0)
	{
		if (change->data.truncate.cascade)
			flags |= WB_TRUNCATE_CASCADE;
		if (change->data.truncate.restart_seqs)
			flags |= WB_TRUNCATE_RESTART_SEQS;

		send_begin_once(ctx, txn);
		for (int i = 0; i < nrels; i++)
			send_relation_once(ctx, rels[i]);

		OutputPluginPrepareWrite(ctx, true);
		data->writer->truncate(ctx->out, nrels, rels, flags);
		OutputPluginWrite(ctx, true);
	}
	else
		note_skipped_change(ctx);

	MemoryContextSwitchTo(old);
	MemoryContextReset(data->change_cxt);
}

static void
walbridge_message(LogicalDecodingContext *ctx, ReorderBufferTXN *txn,
				  XLogRecPtr message_lsn, bool transactional,
				  const char *prefix, Size message_size, const char *message)
{
	WalbridgeData *data = ctx->output_plugin_private;
	WalbridgeMessage out;
	MemoryContext old;

	/*
	 * Anyone may call pg_logical_emit_message(): a schema change or a
	 * heartbeat is published only from walbridge.outbox
	 * (send_outbox_message()), never from a message that only says it is
	 * one.
	 */
	if (outbox_prefix(prefix))
	{
		ereport(WARNING,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("a logical message of prefix \"%s\" is not published", prefix),
				 errdetail("Only walbridge publishes these, from walbridge.outbox; this message, at %X/%X, was sent with pg_logical_emit_message().",
						   LSN_FORMAT_ARGS(message_lsn))));
		return;
	}

	old = MemoryContextSwitchTo(data->change_cxt);

	out.transactional = transactional;
	out.lsn = message_lsn;
	out.prefix = prefix;
	out.content = message;
	out.content_size = message_size;
	write_message(ctx, txn, &out);

	MemoryContextSwitchTo(old);
	MemoryContextReset(data->change_cxt);
}
