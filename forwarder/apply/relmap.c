/*-------------------------------------------------------------------------
 *
 * relmap.c
 *		A peer's tables as this node has them.
 *
 * Every message is self-contained, so the same RELATION records come with
 * every message: each distinct one (compared by its bytes) is resolved
 * with one catalog query per session, the rest are a lookup.  A relid may
 * be described again in the middle of a stream (ALTER TABLE on the peer):
 * "current" always points at the latest description.
 *
 * Names are matched exactly (same schema, table and column names), or
 * failing that by the name a table or column had before a rename here
 * (walbridge.renames): a peer's changes made under the old name before the
 * rename reached it (or, on a third node, before it reached the peer)
 * arrive after it.  The exact name wins (any relation holding it: a view
 * named so is not passed over for the renamed table), and an old name is
 * followed only within its schema (renames keep it) and, for a column,
 * not to a column the peer also sends by its own name.  The local names
 * are quoted by the server (format('%I'), quote_ident), never by us.
 *
 * IDENTIFICATION
 *		forwarder/apply/relmap.c
 *
 *-------------------------------------------------------------------------
 */
#include "relmap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "sqltext.h"
#include "wb.h"

/*
 * One row per column the peer sent, in its order, with the local quoted
 * name (NULL: no such column), whether it is an identity column GENERATED
 * ALWAYS, its type without typmod (what bulk statements cast their arrays
 * to: an explicit cast to varchar(n) would cut a value short, while the
 * assignment into the column rejects it), whether an array literal cannot
 * carry it (an array, or a type whose array delimiter is not ','), the
 * table's tombstone table if its deletes are tracked, whether the column is
 * generated here (computed here, never written), its type as the column
 * declares it (for messages), its base type and typmod (through a domain),
 * the local primary key's columns (the ON CONFLICT target) and whether one
 * of them takes its values from a sequence (a collision of two nodes'
 * sequences is a conflict of its own kind), and whether its values may be
 * stored out of line (TOAST); no row at
 * all when the table is missing (or is not one a peer may write: a
 * temporary table, one in a system schema or in walbridge's own, whose
 * tables are each node's), one row with a NULL position for a table
 * without columns.
 */
#define RESOLVE_SQL \
	"SELECT format('%I.%I', n.nspname, c.relname), w.i, quote_ident(a.attname), a.attidentity = 'a'," \
	"  pg_catalog.format_type(a.atttypid, -1), ty.typcategory = 'A' OR ty.typdelim <> ','," \
	"  (SELECT t.tombstones::text FROM walbridge.tombstone_tables t WHERE t.tbl = c.oid)," \
	"  a.attgenerated <> '', pg_catalog.format_type(a.atttypid, a.atttypmod)," \
	"  CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END," \
	"  CASE WHEN ty.typtype = 'd' THEN ty.typtypmod ELSE a.atttypmod END," \
	"  (SELECT string_agg(quote_ident(pk.attname), ', ' ORDER BY k.pos)" \
	"     FROM pg_catalog.pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, pos)" \
	"     JOIN pg_catalog.pg_attribute pk ON pk.attrelid = i.indrelid AND pk.attnum = k.attnum" \
	"    WHERE i.indrelid = c.oid AND i.indisprimary)," \
	"  EXISTS (SELECT FROM pg_catalog.pg_index i" \
	"     JOIN pg_catalog.pg_attribute pk ON pk.attrelid = i.indrelid AND pk.attnum = ANY (i.indkey)" \
	"    WHERE i.indrelid = c.oid AND i.indisprimary AND (pk.attidentity <> '' OR EXISTS (" \
	"      SELECT FROM pg_catalog.pg_attrdef ad JOIN pg_catalog.pg_depend d" \
	"        ON d.classid = 'pg_catalog.pg_attrdef'::pg_catalog.regclass AND d.objid = ad.oid" \
	"       AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass" \
	"      JOIN pg_catalog.pg_class sq ON sq.oid = d.refobjid AND sq.relkind = 'S'" \
	"     WHERE ad.adrelid = c.oid AND ad.adnum = pk.attnum)))," \
	"  ty.typlen = -1 AND a.attstorage IN ('x', 'e')" \
	" FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace" \
	" LEFT JOIN LATERAL unnest($3::text[]) WITH ORDINALITY AS w(name, i) ON true" \
	" LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = coalesce(" \
	"    (SELECT e.attnum FROM pg_catalog.pg_attribute e" \
	"      WHERE e.attrelid = c.oid AND e.attname = w.name AND e.attnum > 0 AND NOT e.attisdropped)," \
	"    (SELECT r.attnum FROM walbridge.renames r WHERE r.relid = c.oid AND r.old_column = w.name" \
	"        AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute x WHERE x.attrelid = c.oid" \
	"          AND x.attnum = r.attnum AND x.attname = ANY ($3::text[]))" \
	"      ORDER BY r.id DESC LIMIT 1))" \
	"  AND a.attnum > 0 AND NOT a.attisdropped" \
	" LEFT JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid" \
	" WHERE c.oid = coalesce(" \
	"    (SELECT e.oid FROM pg_catalog.pg_class e JOIN pg_catalog.pg_namespace en ON en.oid = e.relnamespace" \
	"      WHERE en.nspname = $1 AND e.relname = $2)," \
	"    (SELECT r.relid FROM walbridge.renames r JOIN pg_catalog.pg_class rc ON rc.oid = r.relid" \
	"      JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace AND rn.nspname = r.old_schema" \
	"      WHERE r.old_schema = $1 AND r.old_table = $2" \
	"      ORDER BY r.id DESC LIMIT 1))" \
	"   AND c.relkind IN ('r', 'p') AND c.relpersistence = 'p'" \
	"   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'walbridge') AND n.nspname !~ '^pg_'" \
	" ORDER BY w.i"

static char *
copy_str(const char *s, size_t n)
{
	char	   *copy = xmalloc(n + 1);

	memcpy(copy, s, n);
	copy[n] = '\0';
	return copy;
}

static void
relmap_free(wb_relmap *rm)
{
	free(rm->key);
	free(rm->display);
	free(rm->local);
	free(rm->tombstones);
	free(rm->primary_key);
	for (int i = 0; i < rm->ncols; i++)
	{
		free(rm->cols[i]);
		free(rm->types[i]);
		free(rm->declared[i]);
	}
	free(rm->cols);
	free(rm->types);
	free(rm->declared);
	free(rm->basetypes);
	free(rm->typmods);
	free(rm->flags);
	free(rm->always);
	free(rm->generated);
	free(rm->outline);
	free(rm->error);
	free(rm);
}

void
relmaps_clear(wb_relmaps *maps)
{
	for (int i = 0; i < maps->nknown; i++)
		relmap_free(maps->known[i]);
	free(maps->known);
	free(maps->current);
	memset(maps, 0, sizeof(*maps));
}

wb_relmap *
relmaps_find(const wb_relmaps *maps, uint32_t relid)
{
	for (int i = 0; i < maps->ncurrent; i++)
		if (maps->current[i].relid == relid)
			return maps->current[i].rm;
	return NULL;
}

static void
set_current(wb_relmaps *maps, wb_relmap *rm)
{
	for (int i = 0; i < maps->ncurrent; i++)
		if (maps->current[i].relid == rm->relid)
		{
			maps->current[i].rm = rm;
			return;
		}
	maps->current = xrealloc(maps->current, sizeof(wb_relmap_current) * (maps->ncurrent + 1));
	maps->current[maps->ncurrent++] = (wb_relmap_current) {.relid = rm->relid, .rm = rm};
}

/* The peer's column names as a text[] literal. */
static void
column_array(wb_buf *out, const wb_record *rec, wb_relmap *rm)
{
	wb_mpcur	cur = rec->u.relation.columns;

	buf_puts(out, "{");
	for (int i = 0; i < rm->ncols; i++)
	{
		wb_column	col;

		wb_record_next_column(&cur, &col);
		rm->flags[i] = col.flags;
		rm->nidentity += (col.flags & WB_COLUMN_IDENTITY) != 0;
		if (((col.flags & WB_COLUMN_IDENTITY) != 0) != ((col.flags & WB_COLUMN_PRIMARY_KEY) != 0))
			rm->identity_not_pk = true;
		buf_puts(out, i > 0 ? ",\"" : "\"");
		for (size_t j = 0; j < col.name.len; j++)
		{
			char		ch = col.name.ptr[j];

			if (ch == '"' || ch == '\\')
				buf_append(out, "\\", 1);
			buf_append(out, &ch, 1);
		}
		buf_puts(out, "\"");
	}
	buf_puts(out, "}");
}

/* The first column the peer sent that this node lacks, as the error. */
static void
missing_column(wb_relmap *rm, const wb_record *rec, int missing)
{
	wb_mpcur	cur = rec->u.relation.columns;
	wb_column	col = {0};
	wb_buf		e = {0};

	for (int i = 0; i <= missing; i++)
		wb_record_next_column(&cur, &col);
	buf_printf(&e, "column \"%.*s\" of table %s does not exist on this node",
			   (int) col.name.len, col.name.ptr, rm->display);
	rm->error = e.data;
}

static bool
resolve(wb_relmap *rm, wb_stmts *st, const wb_record *rec, char *err, size_t errlen)
{
	char	   *schema = copy_str(rec->u.relation.schema.ptr, rec->u.relation.schema.len);
	char	   *table = copy_str(rec->u.relation.table.ptr, rec->u.relation.table.len);
	wb_buf		display = {0};
	wb_buf		names = {0};
	const char *params[3];
	PGresult   *res;
	bool		ok = true;

	buf_printf(&display, "%s.%s", schema, table);
	rm->display = display.data;
	rm->relid = rec->u.relation.relid;
	rm->ncols = (int) rec->u.relation.ncolumns;
	rm->cols = xcalloc(rm->ncols + 1, sizeof(char *));
	rm->flags = xcalloc(rm->ncols + 1, sizeof(uint32_t));
	rm->always = xcalloc(rm->ncols + 1, sizeof(bool));
	rm->types = xcalloc(rm->ncols + 1, sizeof(char *));
	rm->declared = xcalloc(rm->ncols + 1, sizeof(char *));
	rm->basetypes = xcalloc(rm->ncols + 1, sizeof(uint32_t));
	rm->typmods = xcalloc(rm->ncols + 1, sizeof(int32_t));
	rm->generated = xcalloc(rm->ncols + 1, sizeof(bool));
	rm->outline = xcalloc(rm->ncols + 1, sizeof(bool));
	column_array(&names, rec, rm);

	params[0] = schema;
	params[1] = table;
	params[2] = names.data;
	res = stmts_exec(st, RESOLVE_SQL, 3, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		snprintf(err, errlen, "could not look up table %s: %s", rm->display,
				 PQresultErrorMessage(res));
		ok = false;
	}
	else if (PQntuples(res) == 0)
	{
		wb_buf		e = {0};

		buf_printf(&e, "table %s does not exist on this node", rm->display);
		rm->error = e.data;
	}
	else
	{
		int			missing = -1;

		rm->local = xstrdup(PQgetvalue(res, 0, 0));
		if (!PQgetisnull(res, 0, 6))
			rm->tombstones = xstrdup(PQgetvalue(res, 0, 6));
		if (!PQgetisnull(res, 0, 11))
			rm->primary_key = xstrdup(PQgetvalue(res, 0, 11));
		rm->key_sequenced = strcmp(PQgetvalue(res, 0, 12), "t") == 0;
		rm->batchable = true;
		for (int row = 0; row < PQntuples(res) && row < rm->ncols; row++)
		{
			if (PQgetisnull(res, row, 2))
			{
				if (missing < 0)
					missing = row;
				continue;
			}
			rm->cols[row] = xstrdup(PQgetvalue(res, row, 2));
			rm->always[row] = strcmp(PQgetvalue(res, row, 3), "t") == 0;
			rm->any_always |= rm->always[row];
			rm->types[row] = xstrdup(PQgetvalue(res, row, 4));
			/* computed here from the row: the peer's value is not written */
			rm->generated[row] = strcmp(PQgetvalue(res, row, 7), "t") == 0;
			rm->outline[row] = strcmp(PQgetvalue(res, row, 13), "t") == 0;
			rm->declared[row] = xstrdup(PQgetvalue(res, row, 8));
			rm->basetypes[row] = (uint32_t) strtoul(PQgetvalue(res, row, 9), NULL, 10);
			rm->typmods[row] = (int32_t) strtol(PQgetvalue(res, row, 10), NULL, 10);
			/* unnest() would flatten an array column's values; box uses ';' */
			if (strcmp(PQgetvalue(res, row, 5), "t") == 0)
				rm->batchable = false;
		}
		if (missing >= 0)
		{
			missing_column(rm, rec, missing);
			rm->batchable = false;
		}
	}
	PQclear(res);
	buf_free(&names);
	free(schema);
	free(table);
	return ok;
}

bool
relmaps_describe(wb_relmaps *maps, wb_stmts *st, const char *bytes, size_t len,
				 const wb_record *rec, char *err, size_t errlen)
{
	uint64_t	h = wb_hash_bytes(bytes, len);
	wb_relmap  *rm;

	for (int i = 0; i < maps->nknown; i++)
	{
		rm = maps->known[i];
		if (rm->keyhash == h && rm->keylen == len && memcmp(rm->key, bytes, len) == 0)
		{
			set_current(maps, rm);
			return true;
		}
	}

	rm = xcalloc(1, sizeof(wb_relmap));
	if (!resolve(rm, st, rec, err, errlen))
	{
		relmap_free(rm);
		return false;
	}
	rm->key = copy_str(bytes, len);
	rm->keylen = len;
	rm->keyhash = h;
	maps->known = xrealloc(maps->known, sizeof(wb_relmap *) * (maps->nknown + 1));
	maps->known[maps->nknown++] = rm;
	set_current(maps, rm);
	return true;
}

bool
relmaps_refresh(wb_relmaps *maps, wb_stmts *st, char *err, size_t errlen)
{
	wb_relmaps	fresh = {0};

	for (int i = 0; i < maps->ncurrent; i++)
	{
		const wb_relmap *old = maps->current[i].rm;
		wb_record	rec;
		char		perr[WB_RECORD_ERRLEN];

		if (!wb_record_parse(old->key, old->keylen, &rec, perr, sizeof(perr)))
		{
			snprintf(err, errlen, "RELATION record of %s: %s", old->display, perr);
			relmaps_clear(&fresh);
			return false;
		}
		if (!relmaps_describe(&fresh, st, old->key, old->keylen, &rec, err, errlen))
		{
			relmaps_clear(&fresh);
			return false;
		}
	}
	relmaps_clear(maps);
	*maps = fresh;
	return true;
}
