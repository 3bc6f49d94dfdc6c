/*-------------------------------------------------------------------------
 *
 * dispatch.c
 *		A message's records, in order, each to what handles it (as
 *		PostgreSQL's apply_dispatch): RELATION to the table mappings
 *		(relmap.c), INSERT, UPDATE, DELETE and SNAPSHOT rows to the
 *		executor of the moment (exec.h), TRUNCATE as one statement,
 *		MESSAGE records to the heartbeat, the schema change or the resync
 *		they belong to.
 *
 * IDENTIFICATION
 *		forwarder/apply/dispatch.c
 *
 *-------------------------------------------------------------------------
 */
#include "dispatch.h"

#include <stdio.h>
#include <string.h>

#include "exec.h"
#include "heartbeat.h"
#include "report.h"

/* Whether the change can be applied to rm at all: false with err if not. */
static bool
change_fits(const wb_relmap *rm, const wb_record *rec, char *err, size_t errlen)
{
	if (rm == NULL)
	{
		snprintf(err, errlen, "%s record for relid %u without its RELATION record",
				 wb_record_tag_name(rec->tag), rec->u.change.relid);
		return false;
	}
	if (rm->error)
	{
		snprintf(err, errlen, "%s", rm->error);
		return false;
	}
	if (rec->u.change.new.present && rec->u.change.new.count != (uint32_t) rm->ncols)
	{
		snprintf(err, errlen, "%s record for %s has %u values for %d columns",
				 wb_record_tag_name(rec->tag), rm->display, rec->u.change.new.count, rm->ncols);
		return false;
	}
	if (rec->u.change.old.present && rec->u.change.old.count != relmap_old_count(rm, rec))
	{
		snprintf(err, errlen, "%s record for %s has %u old values for %u %scolumns",
				 wb_record_tag_name(rec->tag), rm->display, rec->u.change.old.count,
				 relmap_old_count(rm, rec), rec->u.change.old_kind == WB_OLD_FULL ? "" : "identity ");
		return false;
	}
	return true;
}

/* One change, by the executor of the moment (see exec.h). */
static bool
apply_change(wb_applier *ap, const wb_record *rec, char *err, size_t errlen)
{
	wb_relmap  *rm = relmaps_find(&ap->maps, rec->u.change.relid);

	if (!change_fits(rm, rec, err, errlen))
		return false;
	return ap->exec->change(ap, rm, rec, err, errlen);
}

static bool
apply_truncate(wb_applier *ap, const wb_record *rec, char *err, size_t errlen)
{
	wb_mpcur	cur = rec->u.truncate.relids;
	wb_buf	   *sql = &ap->q.sql;

	if (!ap->exec->flush(ap, err, errlen))
		return false;
	buf_reset(sql);
	buf_puts(sql, "TRUNCATE ");
	for (uint32_t i = 0; i < rec->u.truncate.nrelids; i++)
	{
		wb_relmap  *rm = relmaps_find(&ap->maps, wb_record_next_relid(&cur));

		if (rm == NULL || rm->error)
		{
			snprintf(err, errlen, "%s", rm ? rm->error : "TRUNCATE of a table without its RELATION record");
			return false;
		}
		buf_printf(sql, "%s%s", i > 0 ? ", " : "", rm->local);
	}
	if (rec->u.truncate.flags & WB_TRUNCATE_RESTART_SEQS)
		buf_puts(sql, " RESTART IDENTITY");
	if (rec->u.truncate.flags & WB_TRUNCATE_CASCADE)
		buf_puts(sql, " CASCADE");
	return ap->exec->statement(ap, sql->data, 0, NULL, false, err, errlen);
}

static bool
prefix_is(const wb_str *prefix, const char *name)
{
	return prefix->ptr != NULL && prefix->len == strlen(name) &&
		memcmp(prefix->ptr, name, prefix->len) == 0;
}

/*
 * A peer's schema change, at its place in the transaction: what is
 * gathered goes first, then walbridge.apply_ddl() runs the command (as the
 * role that made it, refusing any kind walbridge does not propagate), and
 * the tables are looked up again, since their columns may have changed.
 * A failure pauses the peer at this transaction, as any apply error.
 */
static bool
apply_ddl_record(wb_applier *ap, const wb_record *rec, char *err, size_t errlen)
{
	wb_buf		content = {0};
	const char *values[2];
	bool		ok;

	if (!ap->exec->flush(ap, err, errlen))
		return false;
	buf_append(&content, rec->u.message.content.ptr ? rec->u.message.content.ptr : "",
			   rec->u.message.content.len);
	values[0] = content.data;
	values[1] = ap->ddl_outside_lsn == ap->txn.commit_lsn ? "true" : "false";
	ok = ap->exec->statement(ap, "SELECT walbridge.apply_ddl($1, $2::boolean)", 2, values, false, err, errlen) &&
		relmaps_refresh(&ap->maps, &ap->stmts, err, errlen);
	buf_free(&content);
	return ok;
}

/*
 * A logical message: a peer's heartbeat (publish/heartbeat.h) goes to
 * walbridge.heartbeat_applied(), saying whether it is the newest message
 * of the topic, so that its commit time against this node's clock is the
 * peer's clock skew and not how far apply is behind; a phase of the copy
 * this node asked for, in that copy's messages only, to
 * resync_apply_phase(); any other message is passed over.
 */
static bool
apply_message_record(wb_applier *ap, const wb_record *rec, char *err, size_t errlen)
{
	const wb_str *prefix = &rec->u.message.prefix;
	bool		fresh = ap->high_watermark > 0 && ap->txn_first_offset >= ap->high_watermark - 1;
	wb_buf		content = {0};
	const char *values[4];
	bool		ok;

	if (ap->resync.in_copy && prefix_is(prefix, WB_RESYNC_PREFIX))
		return resync_apply_phase(ap, rec, err, errlen);
	if (rec->u.message.transactional && prefix_is(prefix, WB_DDL_PREFIX))
		return apply_ddl_record(ap, rec, err, errlen);
	if (!rec->u.message.transactional || prefix->ptr == NULL ||
		prefix->len != strlen(WB_HEARTBEAT_PREFIX) ||
		memcmp(prefix->ptr, WB_HEARTBEAT_PREFIX, prefix->len) != 0)
		return true;
	buf_append(&content, rec->u.message.content.ptr ? rec->u.message.content.ptr : "",
			   rec->u.message.content.len);
	values[0] = ap->peer;
	values[1] = ap->txn_time;
	values[2] = fresh ? "true" : "false";
	values[3] = content.data;
	ok = ap->exec->statement(ap, "SELECT walbridge.heartbeat_applied($1, $2::timestamptz, $3::boolean, $4)",
							 4, values, false, err, errlen);
	buf_free(&content);
	return ok;
}

/*
 * The next record of a message (its bytes at payload + *start, *reclen
 * long): 1, or 0 at the end, or -1 with err if it does not decode.
 */
static int
next_record(wb_mpcur *cur, const char *payload, wb_record *rec, size_t *start, size_t *reclen,
			char *err, size_t errlen)
{
	char		perr[WB_RECORD_ERRLEN];
	int			rc;

	if (wb_mp_at_end(cur))
		return 0;
	*start = wb_mp_offset(cur);
	if ((rc = wb_mp_skip(cur)) != WB_MP_OK)
	{
		snprintf(err, errlen, "the message does not decode: byte %zu: %s", *start, wb_mp_strerror(rc));
		return -1;
	}
	*reclen = wb_mp_offset(cur) - *start;
	if (!wb_record_parse(payload + *start, *reclen, rec, perr, sizeof(perr)))
	{
		snprintf(err, errlen, "the message does not decode: %s", perr);
		return -1;
	}
	return 1;
}

/* One record: false with err if it failed. */
static bool
dispatch_one(wb_applier *ap, const wb_record *rec, const char *bytes, size_t len, char *err, size_t errlen)
{
	switch (rec->tag)
	{
		case WB_REC_BEGIN:
		case WB_REC_COMMIT:
			return true;
		case WB_REC_MESSAGE:
			return apply_message_record(ap, rec, err, errlen);
		case WB_REC_RELATION:
			return relmaps_describe(&ap->maps, &ap->stmts, bytes, len, rec, err, errlen);
		case WB_REC_TRUNCATE:
			return apply_truncate(ap, rec, err, errlen);
		default:
			ap->sqlstate[0] = '\0';
			if (apply_change(ap, rec, err, errlen))
				return true;
			if (ap->exec == &wb_exec_row)
				report_failure(ap, rec, err, errlen);
			return false;
	}
}

/* Every record in order (only_relations: only RELATION records). */
static bool
dispatch(wb_applier *ap, const char *payload, size_t len, bool only_relations, char *err, size_t errlen)
{
	wb_mpcur	cur;
	wb_record	rec;
	size_t		start;
	size_t		reclen;
	int			got;

	wb_mp_init(&cur, payload, len);
	while ((got = next_record(&cur, payload, &rec, &start, &reclen, err, errlen)) > 0)
		if ((!only_relations || rec.tag == WB_REC_RELATION) &&
			!dispatch_one(ap, &rec, payload + start, reclen, err, errlen))
			return false;
	return got == 0;
}

bool
dispatch_records(wb_applier *ap, const char *payload, size_t len, char *err, size_t errlen)
{
	return dispatch(ap, payload, len, false, err, errlen) && ap->exec->flush(ap, err, errlen);
}

bool
dispatch_relations(wb_applier *ap, const char *payload, size_t len, char *err, size_t errlen)
{
	return dispatch(ap, payload, len, true, err, errlen);
}

size_t
dispatch_snapshot_run(const char *payload, size_t len, size_t start, int64_t *commit_time)
{
	wb_mpcur	cur;
	wb_record	rec;
	size_t		at;
	size_t		reclen;
	bool		seen = false;
	char		err[WB_RECORD_ERRLEN];

	*commit_time = 0;
	wb_mp_init(&cur, payload + start, len - start);
	while (next_record(&cur, payload + start, &rec, &at, &reclen, err, sizeof(err)) > 0)
	{
		if (rec.tag != WB_REC_SNAPSHOT)
			continue;
		if (seen && rec.u.change.commit_time != *commit_time)
			return start + at;
		*commit_time = rec.u.change.commit_time;
		seen = true;
	}
	return len;
}

bool
dispatch_find_message(const char *payload, size_t len, const char *prefix, wb_str *content)
{
	wb_mpcur	cur;
	wb_record	rec;
	size_t		at;
	size_t		reclen;
	char		err[WB_RECORD_ERRLEN];

	wb_mp_init(&cur, payload, len);
	while (next_record(&cur, payload, &rec, &at, &reclen, err, sizeof(err)) > 0)
		if (rec.tag == WB_REC_MESSAGE && prefix_is(&rec.u.message.prefix, prefix))
		{
			*content = rec.u.message.content;
			return true;
		}
	return false;
}
