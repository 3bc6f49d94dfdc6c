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
	[WB_CONFLICT_SEQUENCE_COLLISION] = {{KEEP, APPLY}, {KEEP, APPLY}, {KEEP, APPLY}, {ERR, ERR}},
};

static void
test_decide_matrix(void)
{
	for (int k = 0; k < WB_CONFLICT_KIND_COUNT; k++)
		for (int p = 0; p < WB_POLICY_COUNT; p++)
			for (int w = 0; w <= 1; w++)
				CHECK(conflict_decide((wb_conflict_kind) k, (wb_conflict_policy) p, w) == want[k][p][w]);
}

/* What walbridge.conflicts rows and the TAP tests rely on, by name. */
static void
test_names(void)
{
	wb_conflict_policy policy;
	static const char *const kind_names[] = {"insert_exists", "insert_deleted", "update_differs",
		"update_missing", "update_deleted", "delete_differs", "delete_missing", "unique_conflict",
	"sequence_collision"};
	static const char *const decisions[] = {"apply_remote", "keep_local", "insert_remote", "ignore",
	"pause", "error"};

	for (int k = 0; k < WB_CONFLICT_KIND_COUNT; k++)
		CHECK(strcmp(conflict_kind_name((wb_conflict_kind) k), kind_names[k]) == 0);
	for (int r = 0; r < WB_RESOLUTION_COUNT; r++)
		CHECK(strcmp(wb_resolution_names[r], decisions[r]) == 0);
	for (int p = 0; p < WB_POLICY_COUNT; p++)
		CHECK(conflict_policy_parse(wb_conflict_policy_names[p], &policy) && policy == (wb_conflict_policy) p);
	CHECK(conflict_policy_parse("keep_local", &policy) && policy == WB_POLICY_KEEP_LOCAL);
	CHECK(!conflict_policy_parse("first_writer_wins", &policy));
	CHECK(!conflict_policy_parse("", &policy));
}

/* The errors of policy "error", as the pause records them. */
static void
test_error_text(void)
{
	static const struct
	{
		wb_conflict_kind kind;
		const char *text;
	}			cases[] = {
		{WB_CONFLICT_INSERT_EXISTS, "conflict: a row with the same key exists in public.t (conflict policy \"error\")"},
		{WB_CONFLICT_INSERT_DELETED, "conflict: the row inserted into public.t was deleted here later (conflict policy \"error\")"},
		{WB_CONFLICT_UPDATE_DIFFERS, "conflict: the row updated in public.t is newer here (conflict policy \"error\")"},
		{WB_CONFLICT_UPDATE_MISSING, "conflict: the row updated in public.t is missing here (conflict policy \"error\")"},
		{WB_CONFLICT_DELETE_DIFFERS, "conflict: the row deleted from public.t is newer here (conflict policy \"error\")"},
		{WB_CONFLICT_SEQUENCE_COLLISION, "conflict: the key inserted into public.t exists here, taken from a sequence by two nodes (conflict policy \"error\"; see walbridge.partition_sequences())"},
	};
	char		err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		conflict_error_text(err, sizeof(err), cases[i].kind, "public.t");
		CHECK(strcmp(err, cases[i].text) == 0);
	}
}

int
main(void)
{
	test_decide_matrix();
	test_names();
	test_error_text();
	return unit_report();
}
