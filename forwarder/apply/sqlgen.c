/*-------------------------------------------------------------------------
 *
 * sqlgen.c
 *		The SQL apply sends, built as text and parameters (see sqlgen.h).
 *		Pure: the executors run what is built here.
 *
 * Every value travels as a parameter, in its input text (sqltext.c); only
 * names the catalog quoted (relmap.c) are part of the SQL text, so one
 * statement shape is prepared once per table (stmts.c).
 *
 * IDENTIFICATION
 *		forwarder/apply/sqlgen.c
 *
 *-------------------------------------------------------------------------
 */
#include "sqlgen.h"

#include <string.h>

#include "sqltext.h"

/* ------------------------------------------------------------ parameters */

void
sqlgen_start(wb_sql *q)
{
	buf_reset(&q->sql);
	buf_reset(&q->text);
	q->n = 0;					/* only the first n entries are read */
}

void
sqlgen_finish(wb_sql *q)
{
	for (int i = 0; i < q->n; i++)
		q->values[i] = q->isnull[i] ? NULL : q->text.data + q->offsets[i];
}

void
sqlgen_free(wb_sql *q)
{
	buf_free(&q->sql);
	buf_free(&q->text);
	q->n = 0;
}

int
sqlgen_param_value(wb_sql *q, const wb_value *val)
{
	size_t		start = q->text.len;

	if (q->n >= WB_SQL_MAX_PARAMS - 4)
		return -1;
	q->isnull[q->n] = !sqltext_value(&q->text, val);
	buf_append(&q->text, "", 1);	/* keep the terminator */
	q->offsets[q->n] = start;
	return ++q->n;
}

int
sqlgen_param(wb_sql *q, const char *s)
{
	size_t		start = q->text.len;

	buf_append(&q->text, s, strlen(s) + 1);
	q->isnull[q->n] = false;
	q->offsets[q->n] = start;
	return ++q->n;
}

/* ------------------------------------------------------------ conditions */

/*
 * last_writer_wins: walbridge.remote_wins(), in C, as it runs per row (for
 * copied rows walbridge.copy_wins(): by time alone).  keep_local and
 * error: only rows this peer wrote last (or unknown).
 */
void
sqlgen_condition(wb_sql *q, const wb_sqlctx *cx, const char *row)
{
	switch (cx->policy)
	{
		case WB_POLICY_APPLY_REMOTE:
			buf_puts(&q->sql, "true");
			return;
		case WB_POLICY_LAST_WRITER_WINS:
			if (cx->copy)
			{
				int			a = sqlgen_param(q, cx->txn_time);
				int			c = sqlgen_param(q, cx->peer);

				buf_printf(&q->sql, "walbridge.copy_wins(%sxmin, $%d::timestamptz, $%d::text)", row, a, c);
				return;
			}
			else
			{
				int			a = sqlgen_param(q, cx->txn_time);
				int			b = sqlgen_param(q, cx->origin_oid);
				int			c = sqlgen_param(q, cx->peer);

				buf_printf(&q->sql, "walbridge.remote_wins(%sxmin, $%d::timestamptz, $%d::oid, $%d::text)",
						   row, a, b, c);
				return;
			}
		case WB_POLICY_KEEP_LOCAL:
		case WB_POLICY_ERROR:
			buf_printf(&q->sql, "(SELECT c.timestamp IS NULL OR c.roident = $%d::oid"
					   " FROM pg_catalog.pg_xact_commit_timestamp_origin(%sxmin) c)",
					   sqlgen_param(q, cx->origin_oid), row);
			return;
	}
}

/*
 * A change's key values, in turn: from the old tuple when given, else new
 * (relmap_key_flag() says which columns).
 */
typedef struct key_cursor
{
	wb_mpcur	cur;
	int			col;			/* the next column to look at */
	const unsigned char *start_pos; /* where the last value returned starts */
} key_cursor;

static void
key_start(key_cursor *k, const wb_record *rec)
{
	k->cur = rec->u.change.old.present ? rec->u.change.old.values : rec->u.change.new.values;
	k->col = 0;
}

/* The next key column (*col) and its value; false after the last. */
static bool
key_next(key_cursor *k, const wb_relmap *rm, const wb_record *rec, int *col, wb_value *v)
{
	while (k->col < rm->ncols)
	{
		int			i = k->col++;

		if (!relmap_in_key_tuple(rm, rec, i))
			continue;
		k->start_pos = k->cur.pos;
		wb_record_next_value(&k->cur, v);
		if (relmap_is_key(rm, rec, i))
		{
			*col = i;
			return true;
		}
	}
	return false;
}

/*
 * Whether an UPDATE moves its row to another key: the key's values in
 * its old tuple differ from those in its new one (compared as encoded:
 * one encoder wrote both).
 */
bool
sqlgen_moves_key(const wb_relmap *rm, const wb_record *rec)
{
	key_cursor	k;
	int			col;
	wb_value	old;
	wb_mpcur	cur;
	int			at = 0;

	if (rec->tag != WB_REC_UPDATE || !rec->u.change.old.present || !rec->u.change.new.present)
		return false;
	key_start(&k, rec);
	cur = rec->u.change.new.values;
	while (key_next(&k, rm, rec, &col, &old))
	{
		wb_value	new;
		const unsigned char *start;

		for (; at < col; at++)
			wb_record_next_value(&cur, &new);
		start = cur.pos;
		wb_record_next_value(&cur, &new);
		at++;
		if (new.unchanged_toast)
			continue;			/* a key stored out of line and untouched */
		if (old.obj.type != new.obj.type ||
			(size_t) (cur.pos - start) != (size_t) (k.cur.pos - k.start_pos) ||
			memcmp(start, k.start_pos, cur.pos - start) != 0)
			return true;
	}
	return false;
}

bool
sqlgen_key(wb_sql *q, const wb_relmap *rm, const wb_record *rec)
{
	key_cursor	k;
	int			col;
	wb_value	v;
	int			nkey = 0;

	key_start(&k, rec);
	while (key_next(&k, rm, rec, &col, &v))
		buf_printf(&q->sql, "%s%s = $%d", nkey++ > 0 ? " AND " : "", rm->cols[col],
				   sqlgen_param_value(q, &v));
	return nkey > 0;
}

/*
 * The condition under which a change of the row whose key the statement
 * names (key_match: the SQL matching each key column) is not lost to a
 * later delete here: no tombstone of that key the policy's condition
 * prefers.
 */
static void
not_deleted(wb_sql *q, const wb_sqlctx *cx, const wb_relmap *rm, const char *key_match)
{
	buf_printf(&q->sql, "NOT EXISTS (SELECT FROM %s wb_d WHERE %s AND NOT ", rm->tombstones, key_match);
	sqlgen_condition(q, cx, "wb_d.");
	buf_puts(&q->sql, ")");
}

/* ------------------------------------------------------------ one change */

bool
sqlgen_insert(wb_sql *q, const wb_sqlctx *cx, const wb_relmap *rm, const wb_tuple *t, bool do_nothing,
			  const char *const *fill)
{
	wb_mpcur	cur = t->values;
	wb_buf		cols = {0};
	wb_buf		vals = {0};
	wb_buf		keys = {0};
	int			n = 0;

	for (int i = 0; i < rm->ncols; i++)
	{
		wb_value	v;
		int			param;

		wb_record_next_value(&cur, &v);
		if (rm->generated[i])
			continue;
		if (!v.unchanged_toast)
			param = sqlgen_param_value(q, &v);
		else if (fill != NULL && fill[i] != NULL)
			param = sqlgen_param(q, fill[i]);
		else
			continue;
		buf_printf(&cols, "%s%s", n > 0 ? ", " : "", rm->cols[i]);
		if (rm->tombstones)
			buf_printf(&vals, "%s$%d::%s", n > 0 ? ", " : "", param, rm->types[i]);
		else
			buf_printf(&vals, "%s$%d", n > 0 ? ", " : "", param);
		if (rm->tombstones && (rm->flags[i] & WB_COLUMN_PRIMARY_KEY))
			buf_printf(&keys, "%swb_d.%s = $%d::%s", keys.len > 0 ? " AND " : "", rm->cols[i],
					   param, rm->types[i]);
		n++;
	}
	/* the peer's identity values are the row's, even where generated always here */
	buf_printf(&q->sql, "INSERT INTO %s (%s)%s", rm->local, cols.data ? cols.data : "",
			   rm->any_always ? " OVERRIDING SYSTEM VALUE" : "");
	if (rm->tombstones && keys.len > 0)
	{
		buf_printf(&q->sql, " SELECT %s WHERE ", vals.data);
		not_deleted(q, cx, rm, keys.data);
	}
	else
		buf_printf(&q->sql, " VALUES (%s)", vals.data ? vals.data : "");

	/*
	 * Only the primary key may say "this row is here already": a row that
	 * collides on another unique key here fails, and is reported, never
	 * dropped.
	 */
	if (do_nothing && rm->primary_key)
		buf_printf(&q->sql, " ON CONFLICT (%s) DO NOTHING", rm->primary_key);
	buf_free(&cols);
	buf_free(&vals);
	buf_free(&keys);
	return n > 0;
}

/*
 * "column = $param" of an UPDATE (row: the target's alias and a dot, or
 * "").  A value that may be stored out of line here is written only when
 * it differs: under REPLICA IDENTITY FULL every update carries its large
 * values whole, also those it left alone, and writing an equal one would
 * store it again (TOAST and WAL) where keeping it costs a comparison.
 * Equal means the same bytes (record_image_eq(), not an operator of
 * the type's, which json lacks and citext or jsonb would bend, 1.0 and
 * 1.00 being "equal" numbers there).
 */
static void
set_column(wb_sql *q, const wb_relmap *rm, int col, int nth, int param, const char *row)
{
	const char *c = rm->cols[col];

	if (rm->outline == NULL || !rm->outline[col])
		buf_printf(&q->sql, "%s%s = $%d", nth > 0 ? ", " : "", c, param);
	else
		buf_printf(&q->sql, "%s%s = CASE WHEN pg_catalog.record_image_eq(ROW(%s%s), ROW($%d::%s)) THEN %s%s ELSE $%d::%s END",
				   nth > 0 ? ", " : "", c, row, c, param, rm->types[col], row, c, param, rm->types[col]);
}

bool
sqlgen_update(wb_sql *q, const wb_sqlctx *cx, const wb_relmap *rm, const wb_record *rec,
			  const char *const *fill)
{
	wb_mpcur	cur = rec->u.change.new.values;
	int			n = 0;

	buf_printf(&q->sql, "UPDATE %s SET ", rm->local);
	for (int i = 0; i < rm->ncols; i++)
	{
		wb_value	v;

		wb_record_next_value(&cur, &v);
		if (rm->always[i] || rm->generated[i])
			continue;			/* cannot be set; the key finds the row */
		if (!v.unchanged_toast)
			set_column(q, rm, i, n++, sqlgen_param_value(q, &v), "");
		else if (fill != NULL && fill[i] != NULL)
			set_column(q, rm, i, n++, sqlgen_param(q, fill[i]), "");
		/* else left as it is here, never NULLed */
	}
	buf_puts(&q->sql, " WHERE ");
	if (!sqlgen_key(q, rm, rec))
		return false;
	buf_puts(&q->sql, " AND ");
	sqlgen_condition(q, cx, "");
	return n > 0;
}

void
sqlgen_delete(wb_sql *q, const wb_sqlctx *cx, const wb_relmap *rm, const wb_record *rec)
{
	buf_printf(&q->sql, "DELETE FROM %s WHERE ", rm->local);
	sqlgen_key(q, rm, rec);
	buf_puts(&q->sql, " AND ");
	sqlgen_condition(q, cx, "");
}

/* ---------------------------------------------------------- closer looks */

void
sqlgen_row_exists(wb_sql *q, const wb_relmap *rm, const wb_record *rec)
{
	buf_printf(&q->sql, "SELECT count(*) FROM %s WHERE ", rm->local);
	sqlgen_key(q, rm, rec);
}

int
sqlgen_unchanged_values(wb_sql *q, const wb_relmap *rm, const wb_record *rec)
{
	wb_mpcur	cur = rec->u.change.new.values;
	int			n = 0;

	if (!rec->u.change.new.present)
		return 0;
	buf_puts(&q->sql, "SELECT ");
	for (int i = 0; i < rm->ncols; i++)
	{
		wb_value	v;

		wb_record_next_value(&cur, &v);
		if (v.unchanged_toast && !rm->generated[i])
			buf_printf(&q->sql, "%s%s", n++ > 0 ? ", " : "", rm->cols[i]);
	}
	buf_printf(&q->sql, " FROM %s WHERE ", rm->local);
	sqlgen_key(q, rm, rec);
	return n;
}

void
sqlgen_key_taken(wb_sql *q, const wb_relmap *rm, const wb_record *rec, const wb_record *moved)
{
	buf_printf(&q->sql, "SELECT count(*) FROM %s WHERE ", rm->local);
	sqlgen_key(q, rm, rec);
	buf_puts(&q->sql, " AND NOT (");
	sqlgen_key(q, rm, moved);
	buf_puts(&q->sql, ")");
}

/*
 * Whether the row here holds exactly the values of rec's new tuple, byte
 * for byte (record_image_eq(): json has no equality operator, and 1.0 is
 * not 1.00 here); columns generated here are left out.  false when rec has
 * a value it left out (unchanged TOAST): not known to be the same.
 */
static bool
identical_row(wb_sql *q, const wb_relmap *rm, const wb_record *rec)
{
	wb_mpcur	cur = rec->u.change.new.values;
	wb_buf		cols = {0};
	wb_buf		vals = {0};
	int			n = 0;

	/* first whether every value is there: a parameter once added is used */
	for (int i = 0; i < rm->ncols; i++)
	{
		wb_value	v;

		wb_record_next_value(&cur, &v);
		if (!rm->generated[i] && v.unchanged_toast)
		{
			buf_puts(&q->sql, "false");
			return false;
		}
	}
	cur = rec->u.change.new.values;
	for (int i = 0; i < rm->ncols; i++)
	{
		wb_value	v;

		wb_record_next_value(&cur, &v);
		if (rm->generated[i])
			continue;
		buf_printf(&cols, "%s%s", n > 0 ? ", " : "", rm->cols[i]);
		buf_printf(&vals, "%s$%d::%s", n > 0 ? ", " : "", sqlgen_param_value(q, &v), rm->types[i]);
		n++;
	}
	if (n > 0)
		buf_printf(&q->sql, "pg_catalog.record_image_eq(ROW(%s), ROW(%s))", cols.data, vals.data);
	else
		buf_puts(&q->sql, "false");
	buf_free(&cols);
	buf_free(&vals);
	return n > 0;
}

/*
 * Who the row an INSERT (or a copied row) found in its way belongs to:
 * 'identical' when it holds the very same values (a copy's row this node
 * has already: nothing to write, nothing to decide), 'same' when this
 * peer wrote it last, else whom the policy's condition favours.
 */
void
sqlgen_insert_owner(wb_sql *q, const wb_sqlctx *cx, const wb_relmap *rm, const wb_record *rec)
{
	buf_puts(&q->sql, "SELECT CASE WHEN ");
	(void) identical_row(q, rm, rec);
	buf_printf(&q->sql, " THEN 'identical' WHEN (SELECT c.roident = $%d::oid FROM pg_xact_commit_timestamp_origin(xmin) c)"
			   " THEN 'same' WHEN ", sqlgen_param(q, cx->origin_oid));
	sqlgen_condition(q, cx, "");
	buf_printf(&q->sql, " THEN 'remote' ELSE 'local' END FROM %s WHERE ", rm->local);
	sqlgen_key(q, rm, rec);
	buf_puts(&q->sql, " FOR UPDATE");
}

bool
sqlgen_deleted_later(wb_sql *q, const wb_sqlctx *cx, const wb_relmap *rm, const wb_record *rec)
{
	if (rm->tombstones == NULL || !relmap_key_is_primary(rm, rec))
		return false;
	buf_puts(&q->sql, "SELECT NOT ");
	sqlgen_condition(q, cx, "wb_d.");
	buf_printf(&q->sql, " FROM %s wb_d WHERE ", rm->tombstones);
	sqlgen_key(q, rm, rec);
	return true;
}

bool
sqlgen_tombstone(wb_sql *q, const wb_sqlctx *cx, const wb_relmap *rm, const wb_record *rec)
{
	key_cursor	k;
	int			col;
	wb_value	v;
	wb_buf		cols = {0};
	wb_buf		vals = {0};
	const char *first = NULL;

	if (rm->tombstones == NULL || !relmap_key_is_primary(rm, rec))
		return false;
	key_start(&k, rec);
	while (key_next(&k, rm, rec, &col, &v))
	{
		if (first == NULL)
			first = rm->cols[col];
		buf_printf(&cols, "%s%s", cols.len > 0 ? ", " : "", rm->cols[col]);
		buf_printf(&vals, "%s$%d", vals.len > 0 ? ", " : "", sqlgen_param_value(q, &v));
	}
	if (first != NULL)
	{
		buf_printf(&q->sql, "INSERT INTO %s AS wb_d (%s) VALUES (%s) ON CONFLICT (%s)"
				   " DO UPDATE SET %s = excluded.%s WHERE ",
				   rm->tombstones, cols.data, vals.data, cols.data, first, first);
		sqlgen_condition(q, cx, "wb_d.");
	}
	buf_free(&cols);
	buf_free(&vals);
	return first != NULL;
}

/* ------------------------------------------------------------------ bulk */

/* INSERT INTO t (cols) SELECT * FROM / UPDATE t SET ... FROM / DELETE FROM t USING */
static void
batch_head(wb_sql *q, const wb_batch *b, bool insert)
{
	const wb_relmap *rm = b->rm;

	if (insert)
	{
		buf_printf(&q->sql, "INSERT INTO %s (", rm->local);
		for (int i = 0; i < b->nset; i++)
			buf_printf(&q->sql, "%s%s", i > 0 ? ", " : "", rm->cols[b->col[i]]);
		buf_printf(&q->sql, ")%s SELECT * FROM ", rm->any_always ? " OVERRIDING SYSTEM VALUE" : "");
	}
	else if (b->tag == WB_REC_UPDATE)
	{
		buf_printf(&q->sql, "UPDATE %s wb_t SET ", rm->local);
		for (int i = 0; i < b->nset; i++)
		{
			const char *c = rm->cols[b->col[i]];

			/* as set_column(): an equal large value is kept as it is */
			if (rm->outline == NULL || !rm->outline[b->col[i]])
				buf_printf(&q->sql, "%s%s = wb_v.p%d", i > 0 ? ", " : "", c, i + 1);
			else
				buf_printf(&q->sql, "%s%s = CASE WHEN pg_catalog.record_image_eq(ROW(wb_t.%s), ROW(wb_v.p%d)) THEN wb_t.%s ELSE wb_v.p%d END",
						   i > 0 ? ", " : "", c, c, i + 1, c, i + 1);
		}
		buf_puts(&q->sql, " FROM ");
	}
	else
		buf_printf(&q->sql, "DELETE FROM %s wb_t USING ", rm->local);
}

/*
 * A plain INSERT, not ON CONFLICT DO NOTHING: speculative insertion costs
 * about 40% more per row, and a key that exists here fails the statement,
 * which sends the transaction one change at a time anyway (the server
 * logs that error).  With deletes tracked: only keys no later delete here
 * removed.
 */
static void
batch_insert_tail(wb_sql *q, const wb_sqlctx *cx, const wb_batch *b, int n)
{
	const wb_relmap *rm = b->rm;
	wb_buf		keys = {0};

	buf_puts(&q->sql, " AS wb_v(");
	for (int i = 0; i < n; i++)
	{
		buf_printf(&q->sql, "%sp%d", i > 0 ? ", " : "", i + 1);
		if (rm->flags[b->col[i]] & WB_COLUMN_PRIMARY_KEY)
			buf_printf(&keys, "%swb_d.%s = wb_v.p%d", keys.len > 0 ? " AND " : "",
					   rm->cols[b->col[i]], i + 1);
	}
	buf_puts(&q->sql, ") WHERE ");
	if (keys.len > 0)
		not_deleted(q, cx, rm, keys.data);
	else
		buf_puts(&q->sql, "true");
	buf_free(&keys);
}

void
sqlgen_batch(wb_sql *q, const wb_sqlctx *cx, wb_batch *b)
{
	const wb_relmap *rm = b->rm;
	int			n = b->nset + b->nkey;
	bool		insert = b->tag == WB_REC_INSERT || b->tag == WB_REC_SNAPSHOT;

	batch_head(q, b, insert);
	buf_puts(&q->sql, "unnest(");
	for (int i = 0; i < n; i++)
		buf_printf(&q->sql, "%s$%d::%s[]", i > 0 ? ", " : "",
				   sqlgen_param(q, batch_array(b, i)), rm->types[b->col[i]]);
	buf_puts(&q->sql, ")");
	if (insert && rm->tombstones)
		batch_insert_tail(q, cx, b, n);
	if (!insert)
	{
		buf_puts(&q->sql, " AS wb_v(");
		for (int i = 0; i < n; i++)
			buf_printf(&q->sql, "%sp%d", i > 0 ? ", " : "", i + 1);
		buf_puts(&q->sql, ") WHERE ");
		for (int i = b->nset; i < n; i++)
			buf_printf(&q->sql, "wb_t.%s = wb_v.p%d AND ", rm->cols[b->col[i]], i + 1);
		sqlgen_condition(q, cx, "wb_t.");
	}
	batch_reset(b);
}

/* ------------------------------------------------------------- conflicts */

void
sqlgen_remote_json(wb_buf *out, const wb_relmap *rm, const wb_record *rec)
{
	bool		is_new = rec->u.change.new.present;
	wb_mpcur	cur = is_new ? rec->u.change.new.values : rec->u.change.old.values;
	int			n = 0;

	buf_puts(out, "{");
	for (int i = 0; i < rm->ncols; i++)
	{
		wb_value	v;
		wb_buf		val = {0};

		if (!is_new && !relmap_in_key_tuple(rm, rec, i))
			continue;
		wb_record_next_value(&cur, &v);
		if (n++ > 0)
			buf_puts(out, ", ");
		sqltext_json_string(out, rm->cols[i], strlen(rm->cols[i]));
		buf_puts(out, ": ");
		if (v.unchanged_toast)
			buf_puts(out, "\"(unchanged)\"");
		else if (sqltext_value(&val, &v))
			sqltext_json_string(out, val.data, val.len);
		else
			buf_puts(out, "null");
		buf_free(&val);
	}
	buf_puts(out, "}");
}

void
sqlgen_conflict(wb_sql *q, const wb_sqlctx *cx, const wb_relmap *rm, const wb_record *rec,
				wb_conflict_kind kind, wb_resolution decision)
{
	wb_buf		remote = {0};

	sqlgen_remote_json(&remote, rm, rec);
	buf_printf(&q->sql,
			   "INSERT INTO walbridge.conflicts (peer, table_name, kind, decision, local_row,"
			   " local_commit_time, remote_row, remote_commit_time, remote_commit_lsn)"
			   " SELECT $1, $2, $3, $4, (SELECT to_jsonb(t) FROM %s t WHERE ", rm->local);
	sqlgen_param(q, cx->peer);
	sqlgen_param(q, rm->display);
	sqlgen_param(q, conflict_kind_name(kind));
	sqlgen_param(q, wb_resolution_names[decision]);
	sqlgen_key(q, rm, rec);
	buf_printf(&q->sql, "), coalesce((SELECT (walbridge.row_writer(t.xmin)).commit_time FROM %s t WHERE ", rm->local);
	sqlgen_key(q, rm, rec);
	if (rm->tombstones && relmap_key_is_primary(rm, rec))
	{
		/* a row deleted here: when */
		buf_printf(&q->sql, "), (SELECT (walbridge.row_writer(t.xmin)).commit_time FROM %s t WHERE ",
				   rm->tombstones);
		sqlgen_key(q, rm, rec);
	}
	buf_printf(&q->sql, ")), $%d::jsonb, $%d::timestamptz, $%d::pg_lsn",
			   sqlgen_param(q, remote.data), sqlgen_param(q, cx->txn_time),
			   sqlgen_param(q, cx->txn_lsn));
	buf_free(&remote);
}
