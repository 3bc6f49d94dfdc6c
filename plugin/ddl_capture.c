/*-------------------------------------------------------------------------
 *
 * ddl_capture.c
 *		walbridge.capture_ddl(): the event trigger that puts schema
 *		changes into the stream, in the transaction that made them.
 *
 * At ddl_command_end of a command on an object walbridge syncs (see
 * walbridge.ddl_scope()), the command's own text, the search_path, the
 * role that ran it and the settings its literals depend on are written to
 * walbridge.outbox, which the output plugin publishes as the
 * transactional message walbridge.ddl: decoded at its place among the
 * transaction's changes, before any change that uses the new shape, and
 * published with them.
 * The relation records that follow describe the new shape, as for any
 * ALTER TABLE.  Peers run it at that place (ddl_apply.c).
 *
 * Only the statement itself is sent: a query string may hold several
 * (psql -c 'a; b'), and each runs in a portal of its own whose planned
 * statement says where in the string it is.  A command that is not the
 * portal's own statement runs inside a function, a DO block or a
 * procedure: its text is not to be had, so it gets a WARNING and nothing
 * is published (the same for a command whose kind walbridge does not
 * propagate, ddl.c).  Run such changes at top level, or on every node.
 *
 * A command that made or changed a table also gets what start_sync()
 * gives the synced tables (walbridge.adopt_tables(): tombstones, replica
 * identity, truncate guard), here as on the peers, as the extension's
 * owner.  The commands that bookkeeping runs are walbridge's own and are
 * not captured, nor are those of walbridge's functions that change tables
 * (created with SET walbridge.bookkeeping = on).
 *
 * IDENTIFICATION
 *		plugin/ddl_capture.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "storage/proc.h"
#include "tcop/pquery.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/portal.h"

#include "ddl.h"

PG_FUNCTION_INFO_V1(walbridge_capture_ddl);

/* Inside walbridge's own bookkeeping: its commands are not captured. */
static int	capture_depth = 0;

/*
 * sql_drop comes before ddl_command_end of the same command: whether it
 * dropped something walbridge syncs, and for which command (the parse
 * tree both events are given).
 */
static Node *dropping_command = NULL;
static LocalTransactionId dropping_lxid = InvalidLocalTransactionId;
static bool dropped_in_scope = false;

/*
 * The command's text, if it is the statement of the portal running now,
 * else NULL (it runs inside a function, DO block or procedure).  The
 * portal's statement is the parse tree the event trigger is given (simple
 * protocol), or, for a statement from the plan cache (extended protocol,
 * PREPARE), a copy made before it ran, which the command may have changed
 * since: equal, or at least of the same kind.  (A command of the same kind
 * run by a function the statement calls would be taken for it: walbridge
 * would send the statement twice, and the second is recognised as done on
 * the peers, ddl_apply.c.)
 */
static char *
statement_text(Node *parsetree)
{
	PlannedStmt *pstmt;
	const char *source;
	int			location;
	int			len;

	if (ActivePortal == NULL || ActivePortal->sourceText == NULL ||
		list_length(ActivePortal->stmts) != 1)
		return NULL;
	pstmt = linitial_node(PlannedStmt, ActivePortal->stmts);
	if (pstmt->commandType != CMD_UTILITY || pstmt->utilityStmt == NULL)
		return NULL;
	if (pstmt->utilityStmt != parsetree && !equal(pstmt->utilityStmt, parsetree) &&
		(ActivePortal->cplan == NULL || nodeTag(pstmt->utilityStmt) != nodeTag(parsetree)))
		return NULL;

	source = ActivePortal->sourceText;
	location = pstmt->stmt_location >= 0 ? pstmt->stmt_location : 0;
	if (location > (int) strlen(source))
		return NULL;
	len = pstmt->stmt_len > 0 ? pstmt->stmt_len : (int) strlen(source + location);
	return pnstrdup(source + location, len);
}

static void
append_json_field(StringInfo buf, const char *name, const char *value, bool first)
{
	if (!first)
		appendStringInfoChar(buf, ',');
	escape_json(buf, name);
	appendStringInfoChar(buf, ':');
	escape_json(buf, value);
}

/*
 * The message: {"tag", "command", "search_path", "role", "settings": {...}},
 * written to walbridge.outbox as the extension's owner (and deleted at
 * once: the plugin publishes the insert it decodes as the message).  Not
 * pg_logical_emit_message(), which anyone may call: a message of this
 * prefix made that way is not published (outbox.h).
 */
static void
emit_command(const char *tag, const char *command)
{
	StringInfoData content;

	initStringInfo(&content);
	appendStringInfoChar(&content, '{');
	append_json_field(&content, "tag", tag, true);
	append_json_field(&content, "command", command, false);
	append_json_field(&content, "search_path", GetConfigOption("search_path", false, false), false);
	append_json_field(&content, "role", GetUserNameFromId(GetUserId(), false), false);
	appendStringInfoString(&content, ",\"settings\":{");
	for (int i = 0; ddl_carried_settings[i] != NULL; i++)
		append_json_field(&content, ddl_carried_settings[i],
						  GetConfigOption(ddl_carried_settings[i], false, false), i == 0);
	appendStringInfoString(&content, "}}");
	(void) ddl_run_as_owner("INSERT INTO walbridge.outbox (prefix, message) VALUES ('walbridge.ddl', $1)",
							content.data);
	(void) ddl_run_as_owner("DELETE FROM walbridge.outbox", NULL);
	pfree(content.data);
}

/* Whether a command on these objects is to be propagated, or NULL: capture is off. */
static char *
scope_of(const char *event)
{
	return ddl_run_as_owner(strcmp(event, "sql_drop") == 0 ?
							"SELECT walbridge.ddl_scope('sql_drop')" :
							"SELECT walbridge.ddl_scope('ddl_command_end')", NULL);
}

/* GRANT or REVOKE on tables outside the system schemas and walbridge's. */
static bool
grant_on_user_tables(Node *parsetree)
{
	GrantStmt  *grant;
	ListCell   *lc;

	if (!IsA(parsetree, GrantStmt))
		return false;
	grant = (GrantStmt *) parsetree;
	if (grant->targtype != ACL_TARGET_OBJECT || grant->objtype != OBJECT_TABLE)
		return false;
	foreach(lc, grant->objects)
	{
		Oid			relid = RangeVarGetRelid(lfirst_node(RangeVar, lc), NoLock, true);
		char	   *schema;

		if (!OidIsValid(relid))
			continue;
		schema = get_namespace_name(get_rel_namespace(relid));
		if (schema != NULL && strcmp(schema, "walbridge") != 0 &&
			strcmp(schema, "information_schema") != 0 && strncmp(schema, "pg_", 3) != 0)
			return true;
	}
	return false;
}

static void
capture_command_end(EventTriggerData *trigdata)
{
	Node	   *parsetree = trigdata->parsetree;
	const char *tag = GetCommandTagName(trigdata->tag);
	bool		dropped = dropped_in_scope && dropping_command == parsetree &&
		dropping_lxid == MyProc->lxid;
	char	   *scope;
	const char *why;
	WalbridgeDdlKind kind;
	char	   *command;

	dropping_command = NULL;
	dropped_in_scope = false;
	scope = scope_of("ddl_command_end");
	if (scope == NULL)
		return;

	/*
	 * GRANT and REVOKE name no object's schema in the event's list: they
	 * are never propagated, and said so when they are on user tables.
	 */
	if (strcmp(scope, "t") != 0 && !dropped && !grant_on_user_tables(parsetree))
		return;

	kind = ddl_classify(parsetree, &why);
	if (kind == WB_DDL_NODE_OWN)
		;						/* meant for this node alone */
	else if (kind == WB_DDL_NOT_PROPAGATED)
		ereport(WARNING,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s is not propagated to walbridge's peers", tag),
				 errdetail("%s", why),
				 errhint("Run it on every node.")));
	else if ((command = statement_text(parsetree)) == NULL)
		ereport(WARNING,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s inside a function, procedure or DO block is not propagated to walbridge's peers", tag),
				 errdetail("walbridge publishes a schema change as the text of the statement that ran it, and this one is not the statement the client sent."),
				 errhint("Run it as a statement of its own, or on every node.")));
	else
		emit_command(tag, command);

	/*
	 * A new table, partition or primary key: what start_sync() gives synced
	 * tables; a dropped table: its tombstones go.
	 */
	if (IsA(parsetree, CreateStmt) || IsA(parsetree, AlterTableStmt) || IsA(parsetree, DropStmt))
		(void) ddl_run_as_owner(IsA(parsetree, CreateStmt) ?
								"SELECT walbridge.adopt_tables(true)" :
								"SELECT walbridge.adopt_tables(false)", NULL);
}

/*
 * walbridge.bookkeeping: on inside walbridge's own functions that change
 * tables (start_sync(), track_deletes(), ...), created with SET
 * walbridge.bookkeeping = on, as each node runs them itself.  A superuser
 * may set it to make a change on this node only; nobody else may, or a
 * user could keep a change from the peers, who would then pause on its
 * rows.
 */
static bool bookkeeping = false;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomBoolVariable("walbridge.bookkeeping",
							 "Schema changes made while on are this node's own: not captured.",
							 "Set by walbridge's own functions; a superuser may set it for a change on one node.",
							 &bookkeeping, false, PGC_SUSET, 0, NULL, NULL, NULL);
	MarkGUCPrefixReserved("walbridge");
}

Datum
walbridge_capture_ddl(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("walbridge.capture_ddl() must be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;

	/*
	 * Not walbridge's own commands, nor an extension's script (its objects
	 * come with the extension on every node), nor DROP EXTENSION, which may
	 * be dropping walbridge itself.
	 */
	if (capture_depth > 0 || creating_extension || bookkeeping ||
		(IsA(trigdata->parsetree, DropStmt) &&
		 ((DropStmt *) trigdata->parsetree)->removeType == OBJECT_EXTENSION))
		PG_RETURN_VOID();

	capture_depth++;
	PG_TRY();
	{
		if (strcmp(trigdata->event, "sql_drop") == 0)
		{
			char	   *scope = scope_of("sql_drop");

			dropping_command = trigdata->parsetree;
			dropping_lxid = MyProc->lxid;
			dropped_in_scope = scope != NULL && strcmp(scope, "t") == 0;
		}
		else
			capture_command_end(trigdata);
	}
	PG_FINALLY();
	{
		capture_depth--;
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}
