/*
 * test_conflict.c: conflict_decide() for every kind x policy x
 * remote_wins, the names tables, policy parsing and the error texts.
 */
#include <string.h>

#include "conflict.h"
#include "unit.h"

/*
 * The whole rule, written out: want[kind][policy][remote_wins].  A row
 * here decides what walbridge.conflicts.decision says.
 */
#define APPLY	WB_RESOLVE_APPLY_REMOTE
#define KEEP	WB_RESOLVE_KEEP_LOCAL
#define INS		WB_RESOLVE_INSERT_REMOTE
#define IGN		WB_RESOLVE_IGNORE
#define PAUSE	WB_RESOLVE_PAUSE
#define ERR		WB_RESOLVE_ERROR

/* policies in order: last_writer_wins, apply_remote, keep_local, error */
static const wb_resolution want[WB_CONFLICT_KIND_COUNT][WB_POLICY_COUNT][2] = {
	[WB_CONFLICT_INSERT_EXISTS] = {{KEEP, APPLY}, {KEEP, APPLY}, {KEEP, APPLY}, {ERR, ERR}},
	[WB_CONFLICT_INSERT_DELETED] = {{KEEP, KEEP}, {KEEP, KEEP}, {KEEP, KEEP}, {ERR, ERR}},
	[WB_CONFLICT_UPDATE_DIFFERS] = {{KEEP, APPLY}, {KEEP, APPLY}, {KEEP, APPLY}, {ERR, ERR}},
	[WB_CONFLICT_UPDATE_MISSING] = {{INS, INS}, {INS, INS}, {INS, INS}, {ERR, ERR}},
	[WB_CONFLICT_UPDATE_DELETED] = {{KEEP, KEEP}, {KEEP, KEEP}, {KEEP, KEEP}, {ERR, ERR}},
	[WB_CONFLICT_DELETE_DIFFERS] = {{KEEP, APPLY}, {KEEP, APPLY}, {KEEP, APPLY}, {ERR, ERR}},
	[WB_CONFLICT_DELETE_MISSING] = {{IGN, IGN}, {IGN, IGN}, {IGN, IGN}, {IGN, IGN}},
	[WB_CONFLICT_UNIQUE] = {{PAUSE, PAUSE}, {PAUSE, PAUSE}, {PAUSE, PAUSE}, {PAUSE, PAUSE}},
};

static void
test_decide_matrix(void)
{
	for (int k = 0; k < WB_CONFLICT_KIND_COUNT; k++)
		for (int p = 0; p < WB_POLICY_COUNT; p++)
			for (int w = 0; w <= 1; w++)
				CHECK(conflict_decide((wb_conflict_kind) k, (wb_conflict_policy) p, w) == want[k][p][w]);
}

/* The cases the TAP tests and walbridge.conflicts rows rely on, by name. */
static void
test_decide_named(void)
{
	CHECK(conflict_decide(WB_CONFLICT_INSERT_EXISTS, WB_POLICY_LAST_WRITER_WINS, true) == WB_RESOLVE_APPLY_REMOTE);
	CHECK(conflict_decide(WB_CONFLICT_INSERT_EXISTS, WB_POLICY_LAST_WRITER_WINS, false) == WB_RESOLVE_KEEP_LOCAL);
	CHECK(conflict_decide(WB_CONFLICT_INSERT_EXISTS, WB_POLICY_APPLY_REMOTE, true) == WB_RESOLVE_APPLY_REMOTE);
	CHECK(conflict_decide(WB_CONFLICT_INSERT_EXISTS, WB_POLICY_KEEP_LOCAL, false) == WB_RESOLVE_KEEP_LOCAL);
	CHECK(conflict_decide(WB_CONFLICT_INSERT_EXISTS, WB_POLICY_ERROR, true) == WB_RESOLVE_ERROR);
	CHECK(conflict_decide(WB_CONFLICT_INSERT_DELETED, WB_POLICY_ERROR, false) == WB_RESOLVE_ERROR);
	CHECK(conflict_decide(WB_CONFLICT_UPDATE_DIFFERS, WB_POLICY_KEEP_LOCAL, false) == WB_RESOLVE_KEEP_LOCAL);
	CHECK(conflict_decide(WB_CONFLICT_UPDATE_MISSING, WB_POLICY_LAST_WRITER_WINS, false) == WB_RESOLVE_INSERT_REMOTE);
	CHECK(conflict_decide(WB_CONFLICT_UPDATE_MISSING, WB_POLICY_ERROR, false) == WB_RESOLVE_ERROR);
	CHECK(conflict_decide(WB_CONFLICT_UPDATE_DELETED, WB_POLICY_APPLY_REMOTE, false) == WB_RESOLVE_KEEP_LOCAL);
	CHECK(conflict_decide(WB_CONFLICT_DELETE_DIFFERS, WB_POLICY_ERROR, false) == WB_RESOLVE_ERROR);
	CHECK(conflict_decide(WB_CONFLICT_DELETE_MISSING, WB_POLICY_ERROR, false) == WB_RESOLVE_IGNORE);
	CHECK(conflict_decide(WB_CONFLICT_UNIQUE, WB_POLICY_APPLY_REMOTE, true) == WB_RESOLVE_PAUSE);
}

static void
test_names(void)
{
	wb_conflict_policy policy;

	for (int k = 0; k < WB_CONFLICT_KIND_COUNT; k++)
		CHECK(wb_conflict_kind_names[k] != NULL);
	for (int r = 0; r < WB_RESOLUTION_COUNT; r++)
		CHECK(wb_resolution_names[r] != NULL);
	for (int p = 0; p < WB_POLICY_COUNT; p++)
		CHECK(conflict_policy_parse(wb_conflict_policy_names[p], &policy) && policy == (wb_conflict_policy) p);
	CHECK(strcmp(wb_conflict_kind_names[WB_CONFLICT_UPDATE_MISSING], "update_missing") == 0);
	CHECK(strcmp(wb_conflict_kind_names[WB_CONFLICT_UNIQUE], "unique_conflict") == 0);
	CHECK(strcmp(wb_resolution_names[WB_RESOLVE_INSERT_REMOTE], "insert_remote") == 0);
	CHECK(conflict_policy_parse("keep_local", &policy) && policy == WB_POLICY_KEEP_LOCAL);
	CHECK(!conflict_policy_parse("first_writer_wins", &policy));
	CHECK(!conflict_policy_parse("", &policy));
}

static void
test_error_text(void)
{
	char		err[256];

	conflict_error_text(err, sizeof(err), WB_CONFLICT_INSERT_EXISTS, "public.t");
	CHECK(strcmp(err, "conflict: a row with the same key exists in public.t (conflict policy \"error\")") == 0);
	conflict_error_text(err, sizeof(err), WB_CONFLICT_INSERT_DELETED, "public.t");
	CHECK(strcmp(err, "conflict: the row inserted into public.t was deleted here later (conflict policy \"error\")") == 0);
	conflict_error_text(err, sizeof(err), WB_CONFLICT_UPDATE_DIFFERS, "public.t");
	CHECK(strcmp(err, "conflict: the row updated in public.t is newer here (conflict policy \"error\")") == 0);
	conflict_error_text(err, sizeof(err), WB_CONFLICT_UPDATE_MISSING, "public.t");
	CHECK(strcmp(err, "conflict: the row updated in public.t is missing here (conflict policy \"error\")") == 0);
	conflict_error_text(err, sizeof(err), WB_CONFLICT_DELETE_DIFFERS, "public.t");
	CHECK(strcmp(err, "conflict: the row deleted from public.t is newer here (conflict policy \"error\")") == 0);
}

int
main(void)
{
	test_decide_matrix();
	test_decide_named();
	test_names();
	test_error_text();
	return unit_report();
}
