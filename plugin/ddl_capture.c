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

#include "access/table.h"
#include "access/xact.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "executor/tuptable.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteHandler.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "parser/parser.h"
#include "parser/scansup.h"
#include "utils/resowner.h"
#include "storage/proc.h"
#include "tcop/pquery.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/portal.h"

#include "ddl.h"
#include "outbox.h"

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
 * The name of the relation or type a command is about, or NULL.  Enough to
 * tell a command from another of the same kind on another object.
 */
static const char *
target_name(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_CreateStmt:
			return ((CreateStmt *) stmt)->relation->relname;
		case T_AlterTableStmt:
			return ((AlterTableStmt *) stmt)->relation->relname;
		case T_IndexStmt:
			return ((IndexStmt *) stmt)->relation->relname;
		case T_CreateEnumStmt:
			return strVal(llast(((CreateEnumStmt *) stmt)->typeName));
		case T_CreateDomainStmt:
			return strVal(llast(((CreateDomainStmt *) stmt)->domainname));
		default:
			return NULL;
	}
}

/*
 * The portal's statement, if the command the event trigger is given is
 * that statement (not one run inside a function, DO block or procedure it
 * calls), else NULL.  With the simple protocol it is the very parse tree.
 * From the plan cache (extended protocol, PREPARE) the command runs on a
 * copy, which it may have changed (CREATE TABLE, CREATE INDEX do): then a
 * command of the same kind, on the same object, not run as another role
 * (a SECURITY DEFINER function's).
 */
static PlannedStmt *
portal_statement(Node *parsetree)
{
	PlannedStmt *pstmt;
	const char *a;
	const char *b;

	if (ActivePortal == NULL || ActivePortal->sourceText == NULL ||
		list_length(ActivePortal->stmts) != 1 || GetUserId() != GetOuterUserId() ||
		InSecurityRestrictedOperation())
		return NULL;
	pstmt = linitial_node(PlannedStmt, ActivePortal->stmts);
	if (pstmt->commandType != CMD_UTILITY || pstmt->utilityStmt == NULL)
		return NULL;
	if (pstmt->utilityStmt == parsetree || equal(pstmt->utilityStmt, parsetree))
		return pstmt;
	if (ActivePortal->cplan == NULL || nodeTag(pstmt->utilityStmt) != nodeTag(parsetree))
		return NULL;
	a = target_name(pstmt->utilityStmt);
	b = target_name(parsetree);
	return (a == NULL) == (b == NULL) && (a == NULL || strcmp(a, b) == 0) ? pstmt : NULL;
}

/*
 * The statements the text holds, read with standard_conforming_strings
 * set to value, or NIL when it does not parse so (with it off, an escape such as
 * '\u' may be an error: caught, in a subtransaction of its own).
 */
static List *
parse_with_conforming_strings(const char *text, const char *value)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	List	   *parsed = NIL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller);
	PG_TRY();
	{
		int			nestlevel = NewGUCNestLevel();

		(void) set_config_option("standard_conforming_strings", value, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		(void) set_config_option("escape_string_warning", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		parsed = raw_parser(text, RAW_PARSE_DEFAULT);
		AtEOXact_GUC(false, nestlevel);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		parsed = NIL;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
	CurrentResourceOwner = owner;
	return parsed;
}

/*
 * The statement's own text, cut from the query string where the server
 * found it, if every peer reads it as it ran here.  Peers parse it with
 * standard_conforming_strings on.  A text that reads the same with it on
 * and off is safe; one that does not (a backslash in a literal) only if it
 * ran with it on, alone in its query string (a SET before it in the same
 * string would have changed the setting after the string was parsed).
 * NULL otherwise, as for a text that cannot be had.
 */
static char *
statement_text(PlannedStmt *pstmt)
{
	const char *source = ActivePortal->sourceText;
	int			location = pstmt->stmt_location >= 0 ? pstmt->stmt_location : 0;
	int			len;
	char	   *text;
	List	   *on;
	List	   *off;

	if (location > (int) strlen(source))
		return NULL;
	len = pstmt->stmt_len > 0 ? pstmt->stmt_len : (int) strlen(source + location);
	text = pnstrdup(source + location, len);

	on = parse_with_conforming_strings(text, "on");
	if (list_length(on) != 1)
		return NULL;
	off = parse_with_conforming_strings(text, "off");
	if (list_length(off) == 1 &&
		equal(linitial_node(RawStmt, on)->stmt, linitial_node(RawStmt, off)->stmt))
		return text;
	if (standard_conforming_strings &&
		list_length(parse_with_conforming_strings(source, "on")) == 1)
		return text;
	return NULL;
}

/* Whether a table (or, partitioned, any of its partitions) has a row. */
static bool
has_rows(Relation rel)
{
	TableScanDesc scan;
	TupleTableSlot *slot;
	bool		found;

	if (rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE)
	{
		ListCell   *lc;

		found = false;
		foreach(lc, find_all_inheritors(RelationGetRelid(rel), AccessShareLock, NULL))
		{
			Relation	part = table_open(lfirst_oid(lc), AccessShareLock);

			if (part->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
				found |= has_rows(part);
			table_close(part, AccessShareLock);
		}
		return found;
	}
	/* SnapshotSelf: a rewrite (a volatile default) wrote the rows anew, in this command */
	slot = table_slot_create(rel, NULL);
	scan = table_beginscan(rel, SnapshotSelf, 0, NULL);
	found = table_scan_getnextslot(scan, ForwardScanDirection, slot);
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return found;
}

/*
 * ADD COLUMN fills the rows a table already has with the column's default
 * where it runs, on each node, and a table rewrite is not decoded: a
 * default that is not the same everywhere (now(), random(), nextval() of a
 * serial or identity column) would leave each node with other values in
 * those rows, silently.  Refused while schema changes are propagated.
 */
static void
check_added_columns(Node *parsetree)
{
	AlterTableStmt *stmt;
	Oid			relid;
	Relation	rel;
	ListCell   *lc;

	if (!IsA(parsetree, AlterTableStmt))
		return;
	stmt = (AlterTableStmt *) parsetree;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid) || get_rel_relkind(relid) == RELKIND_INDEX)
		return;
	rel = table_open(relid, AccessShareLock);
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		AttrNumber	attnum;
		Node	   *expr;

		if (cmd->subtype != AT_AddColumn)
			continue;
		attnum = get_attnum(relid, castNode(ColumnDef, cmd->def)->colname);
		if (attnum == InvalidAttrNumber ||
			TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attgenerated)
			continue;
		expr = build_column_default(rel, attnum);
		if (expr != NULL && contain_mutable_functions(expr) && has_rows(rel))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("ADD COLUMN %s with a default that is not the same on every node cannot be propagated",
							castNode(ColumnDef, cmd->def)->colname),
					 errdetail("The rows %s has get the default where the change runs, on each node: a default computed then (now(), random(), a sequence, an identity) would give each node other values.",
							   RelationGetRelationName(rel)),
					 errhint("Add the column without a default (or with a constant one), then SET DEFAULT, then UPDATE the rows (updates are propagated); or make the change on every node with walbridge.bookkeeping = on.")));
	}
	table_close(rel, AccessShareLock);
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
	char	   *row;

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
	/* deleted by its ctid: a scan would take a predicate lock on the whole table */
	row = ddl_run_as_owner("INSERT INTO walbridge.outbox (prefix, message) VALUES ('" WB_DDL_MESSAGE_PREFIX "', $1)"
						   " RETURNING ctid", content.data);
	(void) ddl_run_as_owner("DELETE FROM walbridge.outbox WHERE ctid = $1::tid", row);
	pfree(content.data);
}

/*
 * The old name of the table a rename just renamed, or of its column, in
 * walbridge.renames: the table is found by the address the command left
 * (by its old name it is gone, by its new one the search_path might find
 * another).
 */
static void
remember_renamed(RenameStmt *stmt)
{
	char	   *relid = ddl_run_as_owner("SELECT objid FROM pg_catalog.pg_event_trigger_ddl_commands()"
										 " WHERE classid = 'pg_catalog.pg_class'::pg_catalog.regclass", NULL);

	if (relid != NULL)
		ddl_remember_rename(stmt, atooid(relid));
}

/*
 * walbridge.ddl_scope() for this event: "in" (to be propagated), "local"
 * (a view and the like), "out", or NULL when capture is off.
 */
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
	PlannedStmt *pstmt;
	char	   *command;

	dropping_command = NULL;
	dropped_in_scope = false;
	scope = scope_of("ddl_command_end");
	if (scope == NULL)
		return;

	/* a view, materialized view or foreign table in a synced schema */
	if (strcmp(scope, "local") == 0)
	{
		ereport(WARNING,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s is not propagated to walbridge's peers", tag),
				 errdetail("Views, materialized views and foreign tables are each node's own."),
				 errhint("Run it on every node.")));
		return;
	}
	/*
	 * GRANT and REVOKE name no object's schema in the event's list: they
	 * are never propagated, and said so when they are on user tables.  A
	 * schema renamed, or an object moved to another schema, may leave the
	 * scope (the check sees it after the change): said wherever it runs.
	 */
	if (strcmp(scope, "in") != 0 && !dropped && !grant_on_user_tables(parsetree) &&
		!IsA(parsetree, AlterObjectSchemaStmt) &&
		!(IsA(parsetree, RenameStmt) && ((RenameStmt *) parsetree)->renameType == OBJECT_SCHEMA))
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
	else if ((pstmt = portal_statement(parsetree)) == NULL)
		ereport(WARNING,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s inside a function, procedure or DO block is not propagated to walbridge's peers", tag),
				 errdetail("walbridge publishes a schema change as the text of the statement that ran it, and this one is not the statement the client sent."),
				 errhint("Run it as a statement of its own, or on every node.")));
	else if ((command = statement_text(pstmt)) == NULL)
		ereport(WARNING,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s is not propagated to walbridge's peers: its text may not read the same with standard_conforming_strings on", tag),
				 errdetail("Peers parse a schema change with standard_conforming_strings on; this one has a backslash in a literal and was parsed with it off, or with other statements in one query string."),
				 errhint("Run it with standard_conforming_strings on as a query of its own, write E'' literals, or run it on every node.")));
	else
	{
		check_added_columns(parsetree);
		emit_command(tag, command);
		if (ddl_renames_table(parsetree))
			remember_renamed((RenameStmt *) parsetree);
	}

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
	if (capture_depth > 0 || creating_extension ||
		(IsA(trigdata->parsetree, DropStmt) &&
		 ((DropStmt *) trigdata->parsetree)->removeType == OBJECT_EXTENSION))
		PG_RETURN_VOID();

	capture_depth++;
	PG_TRY();
	{
		/*
		 * The old names of a table dropped go with it, whoever drops it and
		 * however (its relid may be another table's one day).
		 */
		if (strcmp(trigdata->event, "sql_drop") == 0)
			(void) ddl_run_as_owner("SELECT walbridge.forget_old_names()", NULL);
		if (bookkeeping)
			;
		else if (strcmp(trigdata->event, "sql_drop") == 0)
		{
			char	   *scope = scope_of("sql_drop");

			dropping_command = trigdata->parsetree;
			dropping_lxid = MyProc->lxid;
			dropped_in_scope = scope != NULL && strcmp(scope, "in") == 0;
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
