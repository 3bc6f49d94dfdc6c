/*-------------------------------------------------------------------------
 *
 * options.c
 *		Parse the output plugin's options (a DefElem list) into
 *		WalbridgeOptions.  Every option error is raised here.
 *
 * An unknown option, a repeated one or a bad value is an ERROR, never a
 * warning: a typo in a table filter must not silently publish (or drop)
 * the wrong tables.
 *
 * IDENTIFICATION
 *		plugin/options.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/varlena.h"

#include "format.h"
#include "options.h"

/* Bit per option, to reject repeats. */
#define OPT_FORMAT			0x01
#define OPT_ONLY_LOCAL		0x02
#define OPT_FORMAT_VERSION	0x04
#define OPT_INCLUDE_TABLES	0x08
#define OPT_EXCLUDE_TABLES	0x10
#define OPT_FULL_OLD_UPDATES 0x20
#define OPT_REQUIRE_PRIMARY_KEY 0x40

static void
reject_repeat(DefElem *elem, int *seen, int bit)
{
	if (*seen & bit)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("conflicting or redundant options"),
				 errdetail("Option \"%s\" was given more than once.",
						   elem->defname)));
	*seen |= bit;
}

/* A bare option name (no value) means true, as in test_decoding. */
static bool
parse_bool_option(DefElem *elem)
{
	bool		result;

	if (elem->arg == NULL)
		return true;
	if (!parse_bool(strVal(elem->arg), &result))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"",
						elem->defname, strVal(elem->arg)),
				 errhint("Valid values are \"true\" and \"false\".")));
	return result;
}

static void
require_value(DefElem *elem, const char *hint)
{
	if (elem->arg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" requires a value", elem->defname),
				 errhint("%s", hint)));
}

static WalbridgeFormat
parse_format(DefElem *elem)
{
	const char *hint = "Valid values are \"msgpack\", \"text\" and \"json\".";
	const char *value;

	require_value(elem, hint);
	value = strVal(elem->arg);
	if (strcmp(value, "msgpack") == 0)
		return WALBRIDGE_FORMAT_MSGPACK;
	if (strcmp(value, "text") == 0)
		return WALBRIDGE_FORMAT_TEXT;
	if (strcmp(value, "json") == 0)
		return WALBRIDGE_FORMAT_JSON;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for option \"%s\": \"%s\"",
					elem->defname, value),
			 errhint("%s", hint)));
	pg_unreachable();
}

/*
 * The client names the record format version it reads.  Older readers are
 * served only if this is the version they know; we never send a newer
 * layout to a reader that cannot parse it.
 */
static int
parse_format_version(DefElem *elem)
{
	const char *hint = psprintf("This server's walbridge writes format version %d.",
								WALBRIDGE_FORMAT_VERSION);
	char	   *end;
	long		version;

	require_value(elem, hint);
	errno = 0;
	version = strtol(strVal(elem->arg), &end, 10);
	if (errno != 0 || *end != '\0' || end == strVal(elem->arg) || version < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"",
						elem->defname, strVal(elem->arg)),
				 errhint("%s", hint)));
	if (version != WALBRIDGE_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("client sent format_version=%ld but this server only writes format version %d",
						version, WALBRIDGE_FORMAT_VERSION),
				 errhint("Upgrade walbridge so that both sides use the same format version.")));
	return (int) version;
}

/*
 * Split a list at commas that are outside double quotes, so that
 * "my,schema".t is one entry.
 */
static List *
split_outside_quotes(char *raw)
{
	List	   *items = NIL;
	bool		in_quotes = false;
	char	   *start = raw;

	for (char *p = raw;; p++)
	{
		if (p == start && (*p == ' ' || *p == '\t'))
			start++;			/* leading blanks of an item */
		else if (*p == '"')
			in_quotes = !in_quotes;
		else if ((*p == ',' && !in_quotes) || *p == '\0')
		{
			bool		last = (*p == '\0');

			*p = '\0';
			items = lappend(items, start);
			if (last)
				break;
			start = p + 1;
		}
	}
	return items;
}

/* Whether a list item ends in an unquoted ".*" (blanks after it aside). */
static bool
ends_with_wildcard(const char *item)
{
	size_t		len = strlen(item);

	while (len > 0 && (item[len - 1] == ' ' || item[len - 1] == '\t'))
		len--;
	return len >= 2 && item[len - 1] == '*' && item[len - 2] == '.';
}

/*
 * A table list: comma-separated schema.table names, each part an SQL
 * identifier (quote it to keep case or special characters) or an unquoted
 * * that matches any name.
 */
static List *
parse_table_list(DefElem *elem)
{
	const char *hint = "Give a comma-separated list of schema-qualified table names, for example \"public.orders, audit.*\".";
	List	   *patterns = NIL;
	ListCell   *lc;

	require_value(elem, hint);
	foreach(lc, split_outside_quotes(pstrdup(strVal(elem->arg))))
	{
		char	   *item = (char *) lfirst(lc);
		List	   *parts;
		WalbridgeTablePattern *pattern;

		if (!SplitIdentifierString(pstrdup(item), '.', &parts) ||
			list_length(parts) != 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid table name \"%s\" in option \"%s\"",
							item, elem->defname),
					 errhint("%s", hint)));

		/*
		 * Only an unquoted * is a wildcard: "*" is a name (a table can be
		 * called that, and a list of synced tables names it so).
		 */
		pattern = palloc(sizeof(WalbridgeTablePattern));
		pattern->schema = strncmp(item, "*.", 2) == 0 ? NULL : linitial(parts);
		pattern->table = ends_with_wildcard(item) ? NULL : lsecond(parts);
		patterns = lappend(patterns, pattern);
	}
	return patterns;
}

/*
 * Parse the options into opts.  Runs in the decoding context's memory, so
 * the lists live as long as the decoding session.
 */
void
options_parse(List *defelems, WalbridgeOptions *opts)
{
	ListCell   *lc;
	int			seen = 0;

	opts->format = WALBRIDGE_FORMAT_MSGPACK;
	opts->only_local = false;
	opts->format_version = WALBRIDGE_FORMAT_VERSION;
	opts->include_tables = NIL;
	opts->exclude_tables = NIL;
	opts->full_old_updates = true;
	opts->require_primary_key = false;

	foreach(lc, defelems)
	{
		DefElem    *elem = lfirst(lc);

		Assert(elem->arg == NULL || IsA(elem->arg, String));

		if (strcmp(elem->defname, "format") == 0)
		{
			reject_repeat(elem, &seen, OPT_FORMAT);
			opts->format = parse_format(elem);
		}
		else if (strcmp(elem->defname, "only_local") == 0)
		{
			reject_repeat(elem, &seen, OPT_ONLY_LOCAL);
			opts->only_local = parse_bool_option(elem);
		}
		else if (strcmp(elem->defname, "format_version") == 0)
		{
			reject_repeat(elem, &seen, OPT_FORMAT_VERSION);
			opts->format_version = parse_format_version(elem);
		}
		else if (strcmp(elem->defname, "include_tables") == 0)
		{
			reject_repeat(elem, &seen, OPT_INCLUDE_TABLES);
			opts->include_tables = parse_table_list(elem);
		}
		else if (strcmp(elem->defname, "exclude_tables") == 0)
		{
			reject_repeat(elem, &seen, OPT_EXCLUDE_TABLES);
			opts->exclude_tables = parse_table_list(elem);
		}
		else if (strcmp(elem->defname, "full_old_updates") == 0)
		{
			reject_repeat(elem, &seen, OPT_FULL_OLD_UPDATES);
			opts->full_old_updates = parse_bool_option(elem);
		}
		else if (strcmp(elem->defname, "require_primary_key") == 0)
		{
			reject_repeat(elem, &seen, OPT_REQUIRE_PRIMARY_KEY);
			opts->require_primary_key = parse_bool_option(elem);
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" = \"%s\" is unknown",
							elem->defname,
							elem->arg ? strVal(elem->arg) : "(null)"),
					 errhint("Valid options are \"format\", \"only_local\", \"format_version\", \"include_tables\", \"exclude_tables\", \"full_old_updates\" and \"require_primary_key\".")));
	}
}

static bool
pattern_list_matches(List *patterns, const char *schema, const char *table)
{
	ListCell   *lc;

	foreach(lc, patterns)
	{
		WalbridgeTablePattern *pattern = lfirst(lc);

		if ((pattern->schema == NULL || strcmp(pattern->schema, schema) == 0) &&
			(pattern->table == NULL || strcmp(pattern->table, table) == 0))
			return true;
	}
	return false;
}

/*
 * Whether changes to schema.table go into the stream: included (or no
 * include list) and not excluded.  The extension's own schema never is,
 * whatever the patterns say: its tables (sync settings, progress,
 * tombstones) are each node's own, and a peer applying them would take
 * this node's settings.  Called once per relation cache entry, not per
 * change.
 */
bool
options_table_selected(const WalbridgeOptions *opts,
					   const char *schema, const char *table)
{
	if (strcmp(schema, "walbridge") == 0)
		return false;
	if (opts->include_tables != NIL &&
		!pattern_list_matches(opts->include_tables, schema, table))
		return false;
	return !pattern_list_matches(opts->exclude_tables, schema, table);
}
