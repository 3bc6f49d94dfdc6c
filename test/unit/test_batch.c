/*
 * test_batch.c: changes gathered for one statement over unnest(): array
 * literals that carry any text (quotes, backslashes, commas, braces, NULL,
 * the string "NULL"), and only changes of the same shape in one batch.
 */
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "batch.h"
#include "change.h"
#include "unit.h"

/* Pack and parse one change of a 3-column table (relid 16384). */
static const wb_record *
change(char tag, char old_kind, const char **old, int nold, const char **new)
{
	return unit_change(tag, old_kind, old, nold, new, 3);
}

int
main(void)
{
	char	   *cols[] = {"id", "v", "w"};
	char	   *types[] = {"integer", "text", "text"};
	uint32_t	flags[] = {WB_COLUMN_IDENTITY | WB_COLUMN_PRIMARY_KEY, 0, 0};
	bool		always[] = {false, false, false};
	bool		generated[] = {false, false, false};
	wb_relmap	rm = {.relid = 16384, .local = "public.t", .ncols = 3, .cols = cols, .types = types,
	.flags = flags, .nidentity = 1, .always = always, .generated = generated, .batchable = true};
	wb_relmap	other = rm;
	wb_batch	b = {0};

	unit_change_init();

	/* inserts: every value quoted, NULL bare, the string "NULL" quoted */
	{
		const char *r1[] = {"#1", "a\"b\\c,{d} e", NULL};
		const char *r2[] = {"#-2", "", "NULL"};

		CHECK(batch_accepts(&b, &rm, change(WB_REC_INSERT, 0, NULL, 0, r1)));
		batch_add(&b, &rm, &rec);
		CHECK(batch_accepts(&b, &rm, change(WB_REC_INSERT, 0, NULL, 0, r2)));
		batch_add(&b, &rm, &rec);
		CHECK(b.rows == 2 && b.nset == 3 && b.nkey == 0);
		CHECK(strcmp(batch_array(&b, 0), "{\"1\",\"-2\"}") == 0);
		CHECK(strcmp(batch_array(&b, 1), "{\"a\\\"b\\\\c,{d} e\",\"\"}") == 0);
		CHECK(strcmp(batch_array(&b, 2), "{NULL,\"NULL\"}") == 0);

		/* snapshot rows go with inserts; another table or kind does not */
		CHECK(batch_accepts(&b, &rm, change(WB_REC_SNAPSHOT, 0, NULL, 0, r1)));
		CHECK(!batch_accepts(&b, &other, change(WB_REC_INSERT, 0, NULL, 0, r1)));
		{
			const char *key[] = {"#1"};

			CHECK(!batch_accepts(&b, &rm, change(WB_REC_DELETE, WB_OLD_KEY, key, 1, NULL)));
		}
		batch_reset(&b);
	}

	/* updates: the columns set, then the key; an unchanged TOAST value is another shape */
	{
		const char *r1[] = {"#5", "five", "x"};
		const char *r2[] = {"#6", "six", "(toast)"};
		const char *r3[] = {"#7", "seven", "(toast)"};

		CHECK(batch_accepts(&b, &rm, change(WB_REC_UPDATE, 0, NULL, 0, r1)));
		batch_add(&b, &rm, &rec);
		CHECK(b.nset == 3 && b.nkey == 1);
		CHECK(!batch_accepts(&b, &rm, change(WB_REC_UPDATE, 0, NULL, 0, r2)));
		batch_reset(&b);
		CHECK(batch_accepts(&b, &rm, change(WB_REC_UPDATE, 0, NULL, 0, r2)));
		batch_add(&b, &rm, &rec);
		CHECK(batch_accepts(&b, &rm, change(WB_REC_UPDATE, 0, NULL, 0, r3)));
		batch_add(&b, &rm, &rec);
		CHECK(b.nset == 2 && b.nkey == 1);
		CHECK(strcmp(batch_array(&b, 1), "{\"six\",\"seven\"}") == 0);
		CHECK(strcmp(batch_array(&b, 2), "{\"6\",\"7\"}") == 0);
		batch_reset(&b);
	}

	/* a changed key: the key comes from the old tuple, a shape of its own */
	{
		const char *old[] = {"#8"};
		const char *r1[] = {"#80", "eighty", "y"};
		const char *r2[] = {"#9", "nine", "y"};

		CHECK(batch_accepts(&b, &rm, change(WB_REC_UPDATE, WB_OLD_KEY, old, 1, r1)));
		batch_add(&b, &rm, &rec);
		CHECK(strcmp(batch_array(&b, 0), "{\"80\"}") == 0);
		CHECK(strcmp(batch_array(&b, 3), "{\"8\"}") == 0);
		CHECK(!batch_accepts(&b, &rm, change(WB_REC_UPDATE, 0, NULL, 0, r2)));
		batch_reset(&b);
	}

	/* deletes: only the key */
	{
		const char *k1[] = {"#10"};
		const char *k2[] = {"#11"};

		CHECK(batch_accepts(&b, &rm, change(WB_REC_DELETE, WB_OLD_KEY, k1, 1, NULL)));
		batch_add(&b, &rm, &rec);
		CHECK(batch_accepts(&b, &rm, change(WB_REC_DELETE, WB_OLD_KEY, k2, 1, NULL)));
		batch_add(&b, &rm, &rec);
		CHECK(b.nset == 0 && b.nkey == 1);
		CHECK(strcmp(batch_array(&b, 0), "{\"10\",\"11\"}") == 0);
		batch_reset(&b);
		/* without its key (replica identity nothing) it goes alone */
		CHECK(!batch_accepts(&b, &rm, change(WB_REC_DELETE, 0, NULL, 0, NULL)));
	}

	/* an old tuple that does not match the identity columns goes alone */
	{
		const char *two[] = {"#1", "#2"};

		CHECK(!batch_accepts(&b, &rm, change(WB_REC_DELETE, WB_OLD_KEY, two, 2, NULL)));
	}

	/* a table that cannot go in bulk (an array column, say): never */
	{
		const char *r1[] = {"#1", "a", "b"};

		other.batchable = false;
		CHECK(!batch_accepts(&b, &other, change(WB_REC_INSERT, 0, NULL, 0, r1)));
	}

	/* a column generated here is computed here: never set */
	{
		const char *r1[] = {"#1", "a", "b"};
		bool		gen[] = {false, false, true};
		wb_relmap	g = rm;

		g.generated = gen;
		CHECK(batch_accepts(&b, &g, change(WB_REC_INSERT, 0, NULL, 0, r1)));
		batch_add(&b, &g, &rec);
		CHECK(b.nset == 2 && b.col[0] == 0 && b.col[1] == 1);
		batch_reset(&b);
	}

	/*
	 * Replica identity on a unique index other than the primary key: a
	 * delete carries that index's column (w), which finds the row; an
	 * update without old tuple is found by the primary key (id).
	 */
	{
		uint32_t	uflags[] = {WB_COLUMN_PRIMARY_KEY, 0, WB_COLUMN_IDENTITY};
		wb_relmap	u = rm;
		const char *k1[] = {"w1"};
		const char *r1[] = {"#1", "a", "w1"};

		u.flags = uflags;
		u.identity_not_pk = true;
		CHECK(batch_accepts(&b, &u, change(WB_REC_DELETE, WB_OLD_KEY, k1, 1, NULL)));
		batch_add(&b, &u, &rec);
		CHECK(b.nset == 0 && b.nkey == 1 && b.col[0] == 2);
		CHECK(strcmp(batch_array(&b, 0), "{\"w1\"}") == 0);
		CHECK(!relmap_key_is_primary(&u, &rec));
		batch_reset(&b);
		CHECK(batch_accepts(&b, &u, change(WB_REC_UPDATE, 0, NULL, 0, r1)));
		batch_add(&b, &u, &rec);
		CHECK(b.nkey == 1 && b.col[b.nset] == 0);
		CHECK(relmap_key_is_primary(&u, &rec));
		batch_reset(&b);
	}

	/* full at BATCH_MAX_ROWS rows */
	{
		const char *r1[] = {"#1", "a", "b"};
		int			n = 0;
		bool		all_accepted = true;

		change(WB_REC_INSERT, 0, NULL, 0, r1);
		while (!batch_full(&b) && n < BATCH_MAX_ROWS + 1)
		{
			all_accepted &= batch_accepts(&b, &rm, &rec);
			batch_add(&b, &rm, &rec);
			n++;
		}
		CHECK(all_accepted);
		CHECK(n == BATCH_MAX_ROWS);
	}

	batch_free(&b);
	msgpack_sbuffer_destroy(&buf);
	return unit_report();
}
