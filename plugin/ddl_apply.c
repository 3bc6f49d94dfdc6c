/*-------------------------------------------------------------------------
 *
 * ddl_apply.c
 *		walbridge.run_ddl(): run a peer's schema change here, at its place
 *		in the peer's stream.
 *
 * walbridged calls it (through walbridge.apply_ddl(), which reads the
 * message) in the local transaction of the peer's transaction, under the
 * peer's replication origin, so the change is not published again.  What
 * a message says is not trusted:
 *
 * - The text must parse to exactly one statement, of a kind ddl.c lets
 *   through: the same rule as the capture's, so no function, trigger,
 *   privilege or anything else ever runs from a message.
 * - It runs as the role the message names, as SET ROLE would: only if the
 *   caller (walbridged's role) is a member of it.  So a message gives no
 *   more than walbridged's role has, and the objects it makes have the
 *   owner they have on the peer.  The search_path is the one the command
 *   ran with there, for this command only.
 * - The statement runs through ProcessUtility as SPI would run it, from
 *   the parse tree checked here, never from a second parse of the text.
 *
 * A change whose effect is already here is recognised rather than failed
 * (tolerate_done()): the same change made on two nodes at about the same
 * time, or a node that joined with today's schema and reads a peer's topic
 * from its beginning.  A column added on both with another type, and
 * anything else that fails, is an error, and apply pauses at that
 * transaction until it is resolved by hand or skip() passes over it.
 *
 * CREATE INDEX CONCURRENTLY and DROP INDEX CONCURRENTLY cannot run in a
 * transaction: walbridged runs them before the transaction they came in
 * (walbridge.ddl_outside_transaction() says which, and whether the index
 * is already there, after a crash between the two), and run_ddl() is then
 * told the command ran.
 *
 * IDENTIFICATION
 *		plugin/ddl_apply.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "parser/parser.h"
#include "parser/parse_type.h"
#include "tcop/pquery.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "ddl.h"

PG_FUNCTION_INFO_V1(walbridge_run_ddl);
PG_FUNCTION_INFO_V1(walbridge_ddl_outside_transaction);

/*
 * The one statement of a message's command, of a kind walbridge applies,
 * read with standard_conforming_strings on, as the capture checked it
 * reads (ddl_capture.c).
 */
static RawStmt *
parse_command(const char *command, WalbridgeDdlKind *kind)
{
	int			nestlevel = NewGUCNestLevel();
	List	   *parsed;
	RawStmt    *raw;
	const char *why;

	(void) set_config_option("standard_conforming_strings", "on", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	parsed = raw_parser(command, RAW_PARSE_DEFAULT);
	AtEOXact_GUC(false, nestlevel);

	if (list_length(parsed) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a walbridge.ddl message must hold exactly one statement"),
				 errdetail("It holds %d: %s", list_length(parsed), command)));
	raw = linitial_node(RawStmt, parsed);
	*kind = ddl_classify(raw->stmt, &why);
	if (*kind == WB_DDL_NOT_PROPAGATED || *kind == WB_DDL_NODE_OWN)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("walbridge does not apply %s from a peer", CreateCommandName(raw->stmt)),
				 errdetail("%s", why),
				 errhint("The peer's walbridge does not publish it: this message was not made by walbridge.")));
	return raw;
}

/* The role the command ran as on the peer, if walbridged may act as it. */
static Oid
command_role(const char *role)
{
	Oid			roleid = get_role_oid(role, true);

	if (!OidIsValid(roleid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\", which made this schema change on the peer, does not exist on this node", role),
				 errdetail("A peer's schema change runs as the role that made it there, so that its objects have the same owner on every node."),
				 errhint("Create the role here (apply resumes by itself), or pass over the transaction with walbridge.skip().")));
	if (!is_member_of_role(GetUserId(), roleid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not act as role \"%s\", which made this schema change on the peer",
						GetUserNameFromId(GetUserId(), false), role),
				 errdetail("A peer's schema change runs as the role that made it there, as SET ROLE would."),
				 errhint("GRANT %s TO %s, so that walbridged can apply the schema changes that role makes.",
						 quote_identifier(role), quote_identifier(GetUserNameFromId(GetUserId(), false)))));
	return roleid;
}

/* serial, bigserial, ... as the integer type the column gets. */
static TypeName *
serial_as_integer(TypeName *name)
{
	const char *last;

	if (list_length(name->names) != 1 || name->arrayBounds != NIL)
		return name;
	last = strVal(linitial(name->names));
	if (strcmp(last, "smallserial") == 0 || strcmp(last, "serial2") == 0)
		return SystemTypeName("int2");
	if (strcmp(last, "serial") == 0 || strcmp(last, "serial4") == 0)
		return SystemTypeName("int4");
	if (strcmp(last, "bigserial") == 0 || strcmp(last, "serial8") == 0)
		return SystemTypeName("int8");
	return name;
}

/*
 * ALTER TABLE ... ADD COLUMN for a column that is already here: made here
 * too, at about the same time.  With the same type it is the same change:
 * passed over, as ADD COLUMN IF NOT EXISTS.  With another type the nodes
 * disagree, and that is an error.
 */
static void
recognise_added_columns(AlterTableStmt *stmt)
{
	Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	ListCell   *lc;

	if (!OidIsValid(relid))
		return;
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		ColumnDef  *def;
		AttrNumber	attnum;
		Oid			want_type;
		int32		want_typmod;
		Oid			have_type;
		int32		have_typmod;
		Oid			have_collation;

		if (cmd->subtype != AT_AddColumn || cmd->missing_ok)
			continue;
		def = castNode(ColumnDef, cmd->def);
		attnum = get_attnum(relid, def->colname);
		if (attnum == InvalidAttrNumber)
			continue;
		typenameTypeIdAndMod(NULL, serial_as_integer(def->typeName), &want_type, &want_typmod);
		get_atttypetypmodcoll(relid, attnum, &have_type, &have_typmod, &have_collation);
		if (want_type != have_type || want_typmod != have_typmod)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" is %s on this node, and the peer added it as %s",
							def->colname, get_rel_name(relid),
							format_type_with_typemod(have_type, have_typmod),
							format_type_with_typemod(want_type, want_typmod)),
					 errdetail("Both nodes added the column, with different types."),
					 errhint("Give the column the same type on both nodes; apply resumes by itself.")));
		ereport(NOTICE,
				(errmsg("column \"%s\" of relation \"%s\" was added here too, with the same type: the peer's ADD COLUMN is passed over",
						def->colname, get_rel_name(relid))));
		cmd->missing_ok = true;
	}
}

/* Whether the type named exists (a NOTICE says it is passed over). */
static bool
type_exists(List *names)
{
	TypeName   *name = makeTypeNameFromNameList(names);

	if (!OidIsValid(LookupTypeNameOid(NULL, name, true)))
		return false;
	ereport(NOTICE,
			(errmsg("type \"%s\" already exists, skipping", TypeNameToString(name))));
	return true;
}

/*
 * A command whose effect is already here: the same change made on both
 * nodes, or a node that joined with today's schema reading a peer's topic
 * from its beginning.  Making a table, index, sequence or schema that
 * exists, or dropping what is gone (a table, an index, a column, a
 * constraint), is passed over with PostgreSQL's own NOTICE (IF NOT EXISTS,
 * IF EXISTS); a type or domain that exists too, and a rename made here
 * already (walbridge.renames says the old name became the new one).
 * Nothing is changed in the table that is here: if it differs from the
 * peer's, the peer's rows say so (a column missing here pauses apply).
 * Returns false when the whole statement is to be passed over.
 */
static bool
tolerate_done(Node *stmt)
{
	switch (nodeTag(stmt))
	{
		case T_CreateStmt:
			((CreateStmt *) stmt)->if_not_exists = true;
			break;
		case T_IndexStmt:
			if (((IndexStmt *) stmt)->idxname != NULL)
				((IndexStmt *) stmt)->if_not_exists = true;
			break;
		case T_CreateSeqStmt:
			((CreateSeqStmt *) stmt)->if_not_exists = true;
			break;
		case T_CreateSchemaStmt:
			if (((CreateSchemaStmt *) stmt)->schemaElts == NIL)
				((CreateSchemaStmt *) stmt)->if_not_exists = true;
			break;
		case T_DropStmt:
			((DropStmt *) stmt)->missing_ok = true;
			break;
		case T_CreateEnumStmt:
			return !type_exists(((CreateEnumStmt *) stmt)->typeName);
		case T_CreateDomainStmt:
			return !type_exists(((CreateDomainStmt *) stmt)->domainname);
		case T_CompositeTypeStmt:
			{
				RangeVar   *rv = ((CompositeTypeStmt *) stmt)->typevar;

				return !type_exists(rv->schemaname ?
									list_make2(makeString(rv->schemaname), makeString(rv->relname)) :
									list_make1(makeString(rv->relname)));
			}
		case T_AlterTableStmt:
			{
				ListCell   *lc;

				recognise_added_columns((AlterTableStmt *) stmt);
				/* a column or constraint dropped that is not here: gone already */
				foreach(lc, ((AlterTableStmt *) stmt)->cmds)
				{
					AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

					if (cmd->subtype == AT_DropColumn || cmd->subtype == AT_DropConstraint)
						cmd->missing_ok = true;
				}
				break;
			}
		case T_RenameStmt:
			if (ddl_renames_table(stmt) && ddl_rename_made((RenameStmt *) stmt))
			{
				ereport(NOTICE,
						(errmsg("\"%s\" is renamed \"%s\" already, skipping",
								((RenameStmt *) stmt)->renameType != OBJECT_COLUMN ?
								((RenameStmt *) stmt)->relation->relname :
								((RenameStmt *) stmt)->subname,
								((RenameStmt *) stmt)->newname)));
				return false;
			}
			break;
		case T_AlterEnumStmt:
			if (((AlterEnumStmt *) stmt)->newVal != NULL)
				((AlterEnumStmt *) stmt)->skipIfNewValExists = true;
			break;
		default:
			break;
	}
	return true;
}

/* Run the statement, as SPI runs a utility statement. */
static void
execute_statement(RawStmt *raw, const char *command)
{
	PlannedStmt *pstmt = makeNode(PlannedStmt);
	bool		snapshot;

	pstmt->commandType = CMD_UTILITY;
	pstmt->canSetTag = false;
	pstmt->utilityStmt = raw->stmt;
	pstmt->stmt_location = raw->stmt_location;
	pstmt->stmt_len = raw->stmt_len;

	snapshot = PlannedStmtRequiresSnapshot(pstmt);
	if (snapshot)
		PushActiveSnapshot(GetTransactionSnapshot());
	ProcessUtility(pstmt, command, false, PROCESS_UTILITY_QUERY, NULL, NULL,
				   None_Receiver, NULL);
	if (snapshot)
		PopActiveSnapshot();
	CommandCounterIncrement();
}

/*
 * The settings the command ran with on the peer (name, value pairs), for
 * this command only: those of ddl_carried_settings, which decide how its
 * literals read (a default timestamp, a date); any other name is refused.
 */
static void
set_carried_settings(ArrayType *settings)
{
	Datum	   *items;
	bool	   *nulls;
	int			n;

	deconstruct_array(settings, TEXTOID, -1, false, TYPALIGN_INT, &items, &nulls, &n);
	for (int i = 0; i + 1 < n; i += 2)
	{
		char	   *name;
		bool		known = false;

		if (nulls[i] || nulls[i + 1])
			continue;
		name = TextDatumGetCString(items[i]);
		for (int k = 0; ddl_carried_settings[k] != NULL; k++)
			known |= pg_strcasecmp(name, ddl_carried_settings[k]) == 0;
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a walbridge.ddl message may not set \"%s\"", name)));
		(void) set_config_option(name, TextDatumGetCString(items[i + 1]), PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	}
}

/*
 * walbridge.run_ddl(command text, search_path text, role text,
 *					 ran_outside boolean, settings text[]) returns void
 */
Datum
walbridge_run_ddl(PG_FUNCTION_ARGS)
{
	char	   *command;
	char	   *search_path;
	char	   *role;
	bool		ran_outside;
	RawStmt    *raw;
	WalbridgeDdlKind kind;
	Oid			roleid;
	Oid			renamed;
	Oid			save_userid;
	int			save_sec;
	int			nestlevel;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("walbridge.run_ddl() needs a command, a search_path, a role and ran_outside")));
	command = text_to_cstring(PG_GETARG_TEXT_PP(0));
	search_path = text_to_cstring(PG_GETARG_TEXT_PP(1));
	role = text_to_cstring(PG_GETARG_TEXT_PP(2));
	ran_outside = PG_GETARG_BOOL(3);

	raw = parse_command(command, &kind);
	if (kind == WB_DDL_OUTSIDE_TRANSACTION)
	{
		if (!ran_outside)
			ereport(ERROR,
					(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
					 errmsg("%s cannot run inside a transaction", CreateCommandName(raw->stmt)),
					 errhint("walbridged runs it before the transaction it came in.")));
		PG_RETURN_VOID();
	}
	roleid = command_role(role);

	/*
	 * As the role, restricted (as a SECURITY DEFINER function or a
	 * maintenance command runs a table owner's code), with the command's
	 * settings; whatever the command's code sets is undone after it, so
	 * nothing of it stays in walbridged's session.
	 */
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", search_path, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	set_carried_settings(PG_GETARG_ARRAYTYPE_P(4));

	/*
	 * As the command ran on the peer: triggers and foreign keys fire for
	 * what its code does (a DEFAULT's function, a constraint's check), not
	 * as apply's replica session would have them; and it is not captured
	 * again here (the event trigger passes over bookkeeping).
	 */
	(void) set_config_option("session_replication_role", "origin", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("walbridge.bookkeeping", "on", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(roleid, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);

	/*
	 * A rename: the table, found before its name changes (under the
	 * command's search_path), and locked as the rename will lock it, so
	 * that nobody renames it in between.
	 */
	renamed = ddl_renames_table(raw->stmt) ?
		RangeVarGetRelid(((RenameStmt *) raw->stmt)->relation, AccessExclusiveLock, true) : InvalidOid;
	if (tolerate_done(raw->stmt))
		execute_statement(raw, command);
	else
		renamed = InvalidOid;

	SetUserIdAndSecContext(save_userid, save_sec);
	AtEOXact_GUC(false, nestlevel);

	/* the peer's changes made before the rename still find the table (relmap.c) */
	if (OidIsValid(renamed))
		ddl_remember_rename((RenameStmt *) raw->stmt, renamed);

	/*
	 * What start_sync() gives synced tables, as the capture does on the
	 * peer; without the serial-key warning, which the node that made the
	 * table gave its user (here it would only reach walbridged's log).
	 */
	if (IsA(raw->stmt, CreateStmt) || IsA(raw->stmt, AlterTableStmt) || IsA(raw->stmt, DropStmt))
		(void) ddl_run_as_owner("SELECT walbridge.adopt_tables(false)", NULL);
	PG_RETURN_VOID();
}

/*
 * walbridge.ddl_outside_transaction(command text, search_path text)
 * returns boolean: whether walbridged must run the command before the
 * transaction it came in (CONCURRENTLY), and has not yet: an index that
 * is already there (or already gone) was done before a crash.  Checked as
 * the caller, under the command's search_path.
 */
Datum
walbridge_ddl_outside_transaction(PG_FUNCTION_ARGS)
{
	char	   *command = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *search_path = text_to_cstring(PG_GETARG_TEXT_PP(1));
	RawStmt    *raw;
	WalbridgeDdlKind kind;
	int			nestlevel;
	bool		to_run = true;

	raw = parse_command(command, &kind);
	if (kind != WB_DDL_OUTSIDE_TRANSACTION)
		PG_RETURN_BOOL(false);

	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", search_path, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (IsA(raw->stmt, IndexStmt) && ((IndexStmt *) raw->stmt)->idxname != NULL)
	{
		IndexStmt  *index = (IndexStmt *) raw->stmt;
		Oid			table = RangeVarGetRelid(index->relation, NoLock, true);

		/* an index goes into its table's schema; no table: let it fail */
		if (OidIsValid(table))
			to_run = !OidIsValid(get_relname_relid(index->idxname, get_rel_namespace(table)));
	}
	else if (IsA(raw->stmt, DropStmt))
	{
		ListCell   *lc;

		to_run = false;
		foreach(lc, ((DropStmt *) raw->stmt)->objects)
		{
			RangeVar   *rv = makeRangeVarFromNameList((List *) lfirst(lc));

			if (OidIsValid(RangeVarGetRelid(rv, NoLock, true)))
				to_run = true;
		}
	}
	AtEOXact_GUC(false, nestlevel);
	PG_RETURN_BOOL(to_run);
}
