/*
 * test_sqlgen.c: the SQL apply sends, built without a server: each
 * change's statement under each policy's condition, the closer looks a
 * conflict needs, tombstones, the bulk statement and the conflict record.
 */
#include <string.h>

#include "change.h"
#include "sqlgen.h"
#include "unit.h"

static char *cols[] = {"id", "v", "w"};
static char *types[] = {"integer", "text", "text"};
static uint32_t flags[] = {WB_COLUMN_IDENTITY | WB_COLUMN_PRIMARY_KEY, 0, 0};
static bool always[] = {false, false, false};
static bool generated[] = {false, false, false};

static wb_relmap rm = {.relid = 16384, .display = "public.t", .local = "public.t", .primary_key = "id",
	.ncols = 3, .cols = cols, .types = types, .flags = flags, .nidentity = 1, .always = always,
.generated = generated, .batchable = true};

static wb_sqlctx cx = {.policy = WB_POLICY_LAST_WRITER_WINS, .peer = "b", .origin_oid = "7",
.txn_time = "2026-01-02 03:04:05+00", .txn_lsn = "0/1A2B"};

static wb_sql q;

/* The statement built, after sqlgen_finish(), equals sql. */
static bool
built(const char *sql)
{
	sqlgen_finish(&q);
	if (strcmp(q.sql.data, sql) == 0)
		return true;
	fprintf(stderr, "built:    %s\nexpected: %s\n", q.sql.data, sql);
	return false;
}

static bool
param(int i, const char *value)
{
	return value == NULL ? q.values[i] == NULL : (q.values[i] != NULL && strcmp(q.values[i], value) == 0);
}

static void
test_conditions(void)
{
	wb_sqlctx	c = cx;

	sqlgen_start(&q);
	sqlgen_condition(&q, &c, "wb_d.");
	CHECK(built("walbridge.remote_wins(wb_d.xmin, $1::timestamptz, $2::oid, $3::text)"));
	CHECK(q.n == 3 && param(0, cx.txn_time) && param(1, "7") && param(2, "b"));

	/* a copied row: by time alone, never the same peer's next version */
	c.copy = true;
	sqlgen_start(&q);
	sqlgen_condition(&q, &c, "");
	CHECK(built("walbridge.copy_wins(xmin, $1::timestamptz, $2::text)") && param(1, "b"));
	c.copy = false;

	c.policy = WB_POLICY_APPLY_REMOTE;
	sqlgen_start(&q);
	sqlgen_condition(&q, &c, "");
	CHECK(built("true") && q.n == 0);

	c.policy = WB_POLICY_KEEP_LOCAL;
	sqlgen_start(&q);
	sqlgen_condition(&q, &c, "");
	CHECK(built("(SELECT c.timestamp IS NULL OR c.roident = $1::oid"
				" FROM pg_catalog.pg_xact_commit_timestamp_origin(xmin) c)"));
	c.policy = WB_POLICY_ERROR;
	sqlgen_start(&q);
	sqlgen_condition(&q, &c, "wb_t.");
	CHECK(built("(SELECT c.timestamp IS NULL OR c.roident = $1::oid"
				" FROM pg_catalog.pg_xact_commit_timestamp_origin(wb_t.xmin) c)"));
}

static void
test_changes(void)
{
	const char *row[] = {"#1", "a", NULL};
	const char *toast[] = {"#1", "(toast)", "(toast)"};
	const char *key[] = {"#1"};
	const wb_record *rec;
	wb_sqlctx	c = cx;

	c.policy = WB_POLICY_APPLY_REMOTE;
	rec = unit_change(WB_REC_INSERT, 0, NULL, 0, row, 3);
	sqlgen_start(&q);
	CHECK(sqlgen_insert(&q, &c, &rm, &rec->u.change.new, true, NULL));
	CHECK(built("INSERT INTO public.t (id, v, w) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING"));
	CHECK(q.n == 3 && param(0, "1") && param(1, "a") && param(2, NULL));
	sqlgen_start(&q);
	sqlgen_insert(&q, &c, &rm, &rec->u.change.new, false, NULL);
	CHECK(built("INSERT INTO public.t (id, v, w) VALUES ($1, $2, $3)"));

	rec = unit_change(WB_REC_UPDATE, 0, NULL, 0, row, 3);
	sqlgen_start(&q);
	CHECK(sqlgen_update(&q, &c, &rm, rec, NULL));
	CHECK(built("UPDATE public.t SET id = $1, v = $2, w = $3 WHERE id = $4 AND true"));
	CHECK(q.n == 4 && param(3, "1"));

	/* unchanged TOAST values are left as they are, and an identity always is never set */
	rec = unit_change(WB_REC_UPDATE, 0, NULL, 0, toast, 3);
	sqlgen_start(&q);
	CHECK(sqlgen_update(&q, &c, &rm, rec, NULL));
	CHECK(built("UPDATE public.t SET id = $1 WHERE id = $2 AND true"));
	{
		bool		id_always[] = {true, false, false};
		wb_relmap	arm = rm;

		arm.always = id_always;
		sqlgen_start(&q);
		CHECK(!sqlgen_update(&q, &c, &arm, rec, NULL));
	}

	rec = unit_change(WB_REC_DELETE, WB_OLD_KEY, key, 1, NULL, 0);
	sqlgen_start(&q);
	sqlgen_delete(&q, &cx, &rm, rec);
	CHECK(built("DELETE FROM public.t WHERE id = $1 AND"
				" walbridge.remote_wins(xmin, $2::timestamptz, $3::oid, $4::text)"));
	CHECK(q.n == 4 && param(0, "1") && param(3, "b"));
}

/*
 * Key moves: detected from the old and new tuples; the new key taken by
 * another row than the one moved; the values an UPDATE left out read from
 * its row here and given to the insert and update of the new key.
 */
static void
test_key_moves(void)
{
	const char *old_key[] = {"#1"};
	const char *moved[] = {"#2", "a", "(toast)"};
	const char *kept[] = {"#1", "a", "(toast)"};
	const char *fill[] = {NULL, NULL, "the large value"};
	const wb_record *rec;
	wb_record	update;
	wb_record	ins;
	wb_sqlctx	c = cx;

	c.policy = WB_POLICY_APPLY_REMOTE;
	rec = unit_change(WB_REC_UPDATE, WB_OLD_KEY, old_key, 1, kept, 3);
	CHECK(!sqlgen_moves_key(&rm, rec));
	rec = unit_change(WB_REC_UPDATE, 0, NULL, 0, moved, 3);
	CHECK(!sqlgen_moves_key(&rm, rec));		/* no old key: it did not move */
	rec = unit_change(WB_REC_UPDATE, WB_OLD_KEY, old_key, 1, moved, 3);
	CHECK(sqlgen_moves_key(&rm, rec));
	update = *rec;

	ins = update;
	ins.tag = WB_REC_INSERT;
	ins.u.change.old_kind = '\0';
	ins.u.change.old.present = false;
	sqlgen_start(&q);
	sqlgen_key_taken(&q, &rm, &ins, &update);
	CHECK(built("SELECT count(*) FROM public.t WHERE id = $1 AND NOT (id = $2)"));
	CHECK(param(0, "2") && param(1, "1"));

	sqlgen_start(&q);
	CHECK(sqlgen_unchanged_values(&q, &rm, &update) == 1);
	CHECK(built("SELECT w FROM public.t WHERE id = $1") && param(0, "1"));

	sqlgen_start(&q);
	CHECK(sqlgen_insert(&q, &c, &rm, &ins.u.change.new, true, fill));
	CHECK(built("INSERT INTO public.t (id, v, w) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING"));
	CHECK(param(0, "2") && param(2, "the large value"));
	sqlgen_start(&q);
	CHECK(sqlgen_update(&q, &c, &rm, &ins, fill));
	CHECK(built("UPDATE public.t SET id = $1, v = $2, w = $3 WHERE id = $4 AND true"));
	CHECK(param(2, "the large value") && param(3, "2"));

	/* a value that may be stored out of line is written only when it differs */
	{
		bool		outline[] = {false, false, true};
		wb_relmap	orm = rm;

		orm.outline = outline;
		sqlgen_start(&q);
		CHECK(sqlgen_update(&q, &c, &orm, &ins, fill));
		CHECK(built("UPDATE public.t SET id = $1, v = $2, w = CASE WHEN pg_catalog.record_image_eq(ROW(w), ROW($3::text)) THEN w ELSE $3::text END"
					" WHERE id = $4 AND true"));
	}

	/* nothing left out: nothing to read */
	rec = unit_change(WB_REC_UPDATE, WB_OLD_KEY, old_key, 1, (const char *[]) {"#2", "a", "b"}, 3);
	sqlgen_start(&q);
	CHECK(sqlgen_unchanged_values(&q, &rm, rec) == 0);
}

static void
test_closer_looks(void)
{
	const char *key[] = {"#9"};
	const char *row[] = {"#9", "a", "b"};
	const char *toast[] = {"#9", "a", "(toast)"};
	const wb_record *rec = unit_change(WB_REC_DELETE, WB_OLD_KEY, key, 1, NULL, 0);
	const wb_record *ins;
	wb_sqlctx	c = cx;

	c.policy = WB_POLICY_APPLY_REMOTE;
	sqlgen_start(&q);
	sqlgen_row_exists(&q, &rm, rec);
	CHECK(built("SELECT count(*) FROM public.t WHERE id = $1") && param(0, "9"));

	/* who owns the row an insert found, and whether it is already this one */
	ins = unit_change(WB_REC_INSERT, 0, NULL, 0, row, 3);
	sqlgen_start(&q);
	sqlgen_insert_owner(&q, &c, &rm, ins);
	CHECK(built("SELECT CASE WHEN pg_catalog.record_image_eq(ROW(id, v, w), ROW($1::integer, $2::text, $3::text))"
				" THEN 'identical' WHEN (SELECT c.roident = $4::oid FROM pg_xact_commit_timestamp_origin(xmin) c)"
				" THEN 'same' WHEN true THEN 'remote' ELSE 'local' END FROM public.t WHERE id = $5 FOR UPDATE")
		  && param(0, "9") && param(1, "a") && param(4, "9"));

	/* a value left out (unchanged TOAST) is not known to be the same */
	ins = unit_change(WB_REC_INSERT, 0, NULL, 0, toast, 3);
	sqlgen_start(&q);
	sqlgen_insert_owner(&q, &c, &rm, ins);
	CHECK(built("SELECT CASE WHEN false THEN 'identical' WHEN (SELECT c.roident = $1::oid FROM pg_xact_commit_timestamp_origin(xmin) c)"
				" THEN 'same' WHEN true THEN 'remote' ELSE 'local' END FROM public.t WHERE id = $2 FOR UPDATE"));
	rec = unit_change(WB_REC_DELETE, WB_OLD_KEY, key, 1, NULL, 0);

	/* no tombstones kept: no statement */
	sqlgen_start(&q);
	CHECK(!sqlgen_deleted_later(&q, &c, &rm, rec));
	CHECK(!sqlgen_tombstone(&q, &c, &rm, rec));
}

static void
test_tombstones(void)
{
	wb_relmap	trm = rm;
	const char *row[] = {"#1", "a", "b"};
	const char *key[] = {"#1"};
	const wb_record *rec;
	wb_sqlctx	c = cx;

	c.policy = WB_POLICY_APPLY_REMOTE;
	trm.tombstones = "walbridge.\"t_tomb\"";
	rec = unit_change(WB_REC_INSERT, 0, NULL, 0, row, 3);
	sqlgen_start(&q);
	sqlgen_insert(&q, &c, &trm, &rec->u.change.new, true, NULL);
	CHECK(built("INSERT INTO public.t (id, v, w) SELECT $1::integer, $2::text, $3::text WHERE"
				" NOT EXISTS (SELECT FROM walbridge.\"t_tomb\" wb_d WHERE wb_d.id = $1::integer AND NOT true)"
				" ON CONFLICT (id) DO NOTHING"));

	rec = unit_change(WB_REC_DELETE, WB_OLD_KEY, key, 1, NULL, 0);
	sqlgen_start(&q);
	CHECK(sqlgen_deleted_later(&q, &c, &trm, rec));
	CHECK(built("SELECT NOT true FROM walbridge.\"t_tomb\" wb_d WHERE id = $1"));
	sqlgen_start(&q);
	CHECK(sqlgen_tombstone(&q, &c, &trm, rec));
	CHECK(built("INSERT INTO walbridge.\"t_tomb\" AS wb_d (id) VALUES ($1) ON CONFLICT (id)"
				" DO UPDATE SET id = excluded.id WHERE true"));
}

static void
test_batch(void)
{
	const char *k1[] = {"#1"};
	const char *k2[] = {"#2"};
	const char *r1[] = {"#1", "x", NULL};
	const char *r2[] = {"#2", "y", "z"};
	wb_batch	b = {0};
	wb_sqlctx	c = cx;

	c.policy = WB_POLICY_APPLY_REMOTE;
	CHECK(batch_accepts(&b, &rm, unit_change(WB_REC_DELETE, WB_OLD_KEY, k1, 1, NULL, 0)));
	batch_add(&b, &rm, unit_change(WB_REC_DELETE, WB_OLD_KEY, k1, 1, NULL, 0));
	CHECK(batch_accepts(&b, &rm, unit_change(WB_REC_DELETE, WB_OLD_KEY, k2, 1, NULL, 0)));
	batch_add(&b, &rm, unit_change(WB_REC_DELETE, WB_OLD_KEY, k2, 1, NULL, 0));
	sqlgen_start(&q);
	sqlgen_batch(&q, &c, &b);
	CHECK(built("DELETE FROM public.t wb_t USING unnest($1::integer[]) AS wb_v(p1)"
				" WHERE wb_t.id = wb_v.p1 AND true"));
	CHECK(param(0, "{\"1\",\"2\"}") && b.rows == 0);

	CHECK(batch_accepts(&b, &rm, unit_change(WB_REC_INSERT, 0, NULL, 0, r1, 3)));
	batch_add(&b, &rm, unit_change(WB_REC_INSERT, 0, NULL, 0, r1, 3));
	CHECK(batch_accepts(&b, &rm, unit_change(WB_REC_INSERT, 0, NULL, 0, r2, 3)));
	batch_add(&b, &rm, unit_change(WB_REC_INSERT, 0, NULL, 0, r2, 3));
	sqlgen_start(&q);
	sqlgen_batch(&q, &c, &b);
	CHECK(built("INSERT INTO public.t (id, v, w) SELECT * FROM unnest($1::integer[], $2::text[], $3::text[])"));
	CHECK(param(2, "{NULL,\"z\"}"));
	batch_free(&b);
}

static void
test_conflict_record(void)
{
	const char *row[] = {"#1", "a \"q\"", NULL};
	const wb_record *rec = unit_change(WB_REC_INSERT, 0, NULL, 0, row, 3);
	wb_buf		json = {0};
	const char *head = "INSERT INTO walbridge.conflicts (peer, table_name, kind, decision, local_row,"
		" local_commit_time, remote_row, remote_commit_time, remote_commit_lsn)"
		" SELECT $1, $2, $3, $4, (SELECT to_jsonb(t) FROM public.t t WHERE id = $5),"
		" coalesce((SELECT (walbridge.row_writer(t.xmin)).commit_time FROM public.t t WHERE id = $6)), ";
	int			remote = 0,
				time = 0,
				lsn = 0,
				end = 0;

	sqlgen_remote_json(&json, &rm, rec);
	CHECK(strcmp(json.data, "{\"id\": \"1\", \"v\": \"a \\\"q\\\"\", \"w\": null}") == 0);
	buf_free(&json);

	sqlgen_start(&q);
	sqlgen_conflict(&q, &cx, &rm, rec, WB_CONFLICT_INSERT_EXISTS, WB_RESOLVE_KEEP_LOCAL);
	sqlgen_finish(&q);
	CHECK(strncmp(q.sql.data, head, strlen(head)) == 0);
	CHECK(q.n == 9 && param(0, "b") && param(1, "public.t") && param(2, "insert_exists") &&
		  param(3, "keep_local") && param(4, "1") && param(5, "1"));

	/* the last three are numbered in whichever order the compiler evaluates them */
	CHECK(sscanf(q.sql.data + strlen(head), "$%d::jsonb, $%d::timestamptz, $%d::pg_lsn%n",
				 &remote, &time, &lsn, &end) == 3 && q.sql.data[strlen(head) + end] == '\0');
	CHECK(remote >= 7 && remote <= 9 && param(remote - 1, "{\"id\": \"1\", \"v\": \"a \\\"q\\\"\", \"w\": null}"));
	CHECK(time >= 7 && time <= 9 && param(time - 1, cx.txn_time));
	CHECK(lsn >= 7 && lsn <= 9 && param(lsn - 1, "0/1A2B"));
}

int
main(void)
{
	unit_change_init();
	test_conditions();
	test_changes();
	test_key_moves();
	test_closer_looks();
	test_tombstones();
	test_batch();
	test_conflict_record();
	sqlgen_free(&q);
	msgpack_sbuffer_destroy(&buf);
	return unit_report();
}
