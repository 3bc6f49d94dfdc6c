/*-------------------------------------------------------------------------
 *
 * ddl.c
 *		Which schema changes walbridge propagates, and walbridge's own
 *		bookkeeping run as the extension's owner.
 *
 * The rule is the same on both sides: a command is propagated when its
 * parse tree is one of the kinds below, the kinds that make or change the
 * shape of the synced tables (tables, columns, constraints, indexes, and
 * the enums, domains and sequences their columns use).  Everything else
 * (functions, triggers, views, ownership, privileges, tablespaces) is each
 * node's own: its capture gets a WARNING and nothing is published, and the
 * apply side refuses it, whatever a message says.
 *
 * IDENTIFICATION
 *		plugin/ddl.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "utils/fmgroids.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "ddl.h"

/*
 * Not standard_conforming_strings: a command's text is always read with it
 * on, checked where it is captured (ddl_capture.c).
 */
const char *const ddl_carried_settings[] = {
	"TimeZone", "DateStyle", "IntervalStyle", NULL
};

static const char *const NOT_OURS =
"walbridge propagates tables, columns, constraints, indexes, enums, domains and sequences; functions, triggers, views, rules and policies are each node's own.";
static const char *const OWNERSHIP =
"Ownership, privileges and tablespaces are each node's own.";
static const char *const TRIGGERS =
"Triggers, row-level security and a table's persistence are each node's own.";

/* The kinds of object whose shape the synced tables depend on. */
static bool
shape_object(ObjectType type)
{
	switch (type)
	{
		case OBJECT_TABLE:
		case OBJECT_COLUMN:
		case OBJECT_TABCONSTRAINT:
		case OBJECT_INDEX:
		case OBJECT_TYPE:
		case OBJECT_DOMAIN:
		case OBJECT_DOMCONSTRAINT:
		case OBJECT_SEQUENCE:
		case OBJECT_SCHEMA:
			return true;
		default:
			return false;
	}
}

static WalbridgeDdlKind
classify_alter_table(AlterTableStmt *stmt, const char **why)
{
	ListCell   *lc;

	if (stmt->objtype != OBJECT_TABLE && stmt->objtype != OBJECT_INDEX)
	{
		*why = NOT_OURS;
		return WB_DDL_NOT_PROPAGATED;
	}
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		switch (cmd->subtype)
		{
			case AT_ChangeOwner:
			case AT_SetTableSpace:
			case AT_SetAccessMethod:
				*why = OWNERSHIP;
				return WB_DDL_NOT_PROPAGATED;
			case AT_EnableTrig:
			case AT_EnableAlwaysTrig:
			case AT_EnableReplicaTrig:
			case AT_DisableTrig:
			case AT_EnableTrigAll:
			case AT_DisableTrigAll:
			case AT_EnableTrigUser:
			case AT_DisableTrigUser:
			case AT_EnableRule:
			case AT_EnableAlwaysRule:
			case AT_EnableReplicaRule:
			case AT_DisableRule:
			case AT_EnableRowSecurity:
			case AT_DisableRowSecurity:
			case AT_ForceRowSecurity:
			case AT_NoForceRowSecurity:
			case AT_SetLogged:
			case AT_SetUnLogged:
				*why = TRIGGERS;
				return WB_DDL_NOT_PROPAGATED;
			case AT_DetachPartition:
				if (castNode(PartitionCmd, cmd->def)->concurrent)
				{
					*why = "DETACH PARTITION CONCURRENTLY cannot be applied in order with the rows around it.";
					return WB_DDL_NOT_PROPAGATED;
				}
				break;
			default:
				break;
		}
	}
	return WB_DDL_IN_TRANSACTION;
}

WalbridgeDdlKind
ddl_classify(Node *stmt, const char **why)
{
	*why = NULL;
	switch (nodeTag(stmt))
	{
		case T_CreateStmt:
			if (((CreateStmt *) stmt)->tablespacename != NULL)
			{
				*why = OWNERSHIP;
				return WB_DDL_NOT_PROPAGATED;
			}
			return WB_DDL_IN_TRANSACTION;
		case T_CompositeTypeStmt:
		case T_CreateEnumStmt:
		case T_AlterEnumStmt:
		case T_CreateDomainStmt:
		case T_AlterDomainStmt:
		case T_CreateSeqStmt:
			return WB_DDL_IN_TRANSACTION;
		case T_CreateSchemaStmt:
			/* its elements may be views, triggers, grants: make them on their own */
			if (((CreateSchemaStmt *) stmt)->schemaElts == NIL)
				return WB_DDL_IN_TRANSACTION;
			*why = "CREATE SCHEMA with elements may make views, triggers and grants: create the schema, then its tables, on their own.";
			return WB_DDL_NOT_PROPAGATED;
		case T_AlterTableStmt:
			return classify_alter_table((AlterTableStmt *) stmt, why);
		case T_IndexStmt:
			if (((IndexStmt *) stmt)->tableSpace != NULL)
			{
				*why = OWNERSHIP;
				return WB_DDL_NOT_PROPAGATED;
			}
			return ((IndexStmt *) stmt)->concurrent ?
				WB_DDL_OUTSIDE_TRANSACTION : WB_DDL_IN_TRANSACTION;
		case T_DropStmt:
			{
				DropStmt   *drop = (DropStmt *) stmt;

				if (drop->removeType != OBJECT_SCHEMA && shape_object(drop->removeType))
					return drop->concurrent ?
						WB_DDL_OUTSIDE_TRANSACTION : WB_DDL_IN_TRANSACTION;
				if (drop->removeType == OBJECT_SCHEMA)
				{
					*why = "A schema is dropped on each node by hand, so that no node loses a synced table by surprise.";
					return WB_DDL_NOT_PROPAGATED;
				}
				break;
			}
		case T_RenameStmt:
			if (((RenameStmt *) stmt)->renameType == OBJECT_SCHEMA)
			{
				*why = "A schema's name says what is synced (start_sync(schemas => ...)): rename it on every node, and give start_sync() the new name.";
				return WB_DDL_NOT_PROPAGATED;
			}
			if (shape_object(((RenameStmt *) stmt)->renameType) ||
				((RenameStmt *) stmt)->renameType == OBJECT_ATTRIBUTE)
				return WB_DDL_IN_TRANSACTION;
			break;
		case T_CommentStmt:
			if (shape_object(((CommentStmt *) stmt)->objtype))
				return WB_DDL_IN_TRANSACTION;
			break;
		case T_AlterObjectSchemaStmt:
			*why = "Moving an object to another schema may move it in or out of what is synced: do it on every node.";
			return WB_DDL_NOT_PROPAGATED;
		case T_AlterSeqStmt:
			/* sequences run per node, each in its own range */
			*why = "A sequence's values are each node's own (walbridge.partition_sequences()).";
			return WB_DDL_NODE_OWN;
		case T_CreateTableAsStmt:
			*why = "Its rows are published as inserts too: create the table, then fill it with INSERT ... SELECT.";
			return WB_DDL_NOT_PROPAGATED;
		case T_GrantStmt:
		case T_GrantRoleStmt:
		case T_AlterOwnerStmt:
		case T_AlterDefaultPrivilegesStmt:
			*why = OWNERSHIP;
			return WB_DDL_NOT_PROPAGATED;
		default:
			break;
	}
	*why = NOT_OURS;
	return WB_DDL_NOT_PROPAGATED;
}

/* The role that owns the walbridge extension. */
static Oid
extension_owner(void)
{
	Oid			extension = get_extension_oid("walbridge", false);
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			owner;

	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(extension));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "could not find extension walbridge");
	owner = ((Form_pg_extension) GETSTRUCT(tuple))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return owner;
}

char *
ddl_run_as_owner(const char *query, const char *arg)
{
	return ddl_run_as_owner_args(query, arg == NULL ? 0 : 1, &arg);
}

char *
ddl_run_as_owner_args(const char *query, int nargs, const char *const *args)
{
	MemoryContext caller = CurrentMemoryContext;
	Oid			save_userid;
	int			save_sec;
	int			nestlevel;
	char	   *result = NULL;
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];
	char		nulls[4];

	Assert(nargs <= lengthof(values));
	for (int i = 0; i < nargs; i++)
	{
		values[i] = args[i] == NULL ? (Datum) 0 : CStringGetTextDatum(args[i]);
		nulls[i] = args[i] == NULL ? 'n' : ' ';
	}

	/* as a SECURITY DEFINER function would: the owner, restricted, fixed path */
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(extension_owner(),
						   save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (nargs == 0 ? SPI_execute(query, false, 0) < 0 :
		SPI_execute_with_args(query, nargs, types, values, nulls, false, 0) < 0)
		elog(ERROR, "walbridge: query failed: %s", query);
	if (SPI_tuptable != NULL && SPI_processed > 0)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (value != NULL)
			result = MemoryContextStrdup(caller, value);
	}
	SPI_finish();

	AtEOXact_GUC(false, nestlevel);	/* nothing set in there outlives it */
	SetUserIdAndSecContext(save_userid, save_sec);
	return result;
}

/*
 * PostgreSQL takes ALTER INDEX, VIEW, SEQUENCE ... RENAME (and RENAME
 * COLUMN) on a table too: whether the target is a table is known from the
 * catalog (is_table()), not from the words used.
 */
bool
ddl_renames_table(Node *stmt)
{
	RenameStmt *rename;

	if (!IsA(stmt, RenameStmt))
		return false;
	rename = (RenameStmt *) stmt;
	if (rename->relation == NULL)
		return false;
	switch (rename->renameType)
	{
		case OBJECT_TABLE:
		case OBJECT_INDEX:
		case OBJECT_VIEW:
		case OBJECT_MATVIEW:
		case OBJECT_FOREIGN_TABLE:
		case OBJECT_SEQUENCE:
		case OBJECT_COLUMN:
			return true;
		default:
			return false;
	}
}

static bool
is_table(Oid relid)
{
	char		relkind = get_rel_relkind(relid);

	return relkind == RELKIND_RELATION || relkind == RELKIND_PARTITIONED_TABLE;
}

void
ddl_remember_rename(RenameStmt *stmt, Oid relid)
{
	char		relid_text[16];
	ListCell   *lc;
	List	   *tables;

	if (!is_table(relid))
		return;					/* ALTER TABLE ... RENAME of an index or a view */
	/* a name this rename took is the new holder's from now on */
	(void) ddl_run_as_owner("SELECT walbridge.forget_old_names()", NULL);
	if (stmt->renameType != OBJECT_COLUMN)
	{
		snprintf(relid_text, sizeof(relid_text), "%u", relid);
		(void) ddl_run_as_owner_args("INSERT INTO walbridge.renames (relid, old_schema, old_table)"
									 " VALUES ($1::pg_catalog.oid, $2, $3)", 3,
									 (const char *[]) {relid_text,
									 get_namespace_name(get_rel_namespace(relid)),
									 stmt->relation->relname});
		return;
	}

	/* a column renamed in a partitioned table is renamed in its partitions */
	tables = stmt->relation->inh ? find_all_inheritors(relid, NoLock, NULL) : list_make1_oid(relid);
	foreach(lc, tables)
	{
		Oid			table = lfirst_oid(lc);
		AttrNumber	attnum = get_attnum(table, stmt->newname);
		char		attnum_text[8];

		if (attnum <= 0)
			continue;
		snprintf(relid_text, sizeof(relid_text), "%u", table);
		snprintf(attnum_text, sizeof(attnum_text), "%d", attnum);
		(void) ddl_run_as_owner_args("INSERT INTO walbridge.renames (relid, old_column, attnum)"
									 " VALUES ($1::pg_catalog.oid, $2, $3::pg_catalog.int2)", 3,
									 (const char *[]) {relid_text, stmt->subname, attnum_text});
	}
}

bool
ddl_rename_made(RenameStmt *stmt)
{
	RangeVar   *renamed;
	Oid			relid;
	char		relid_text[16];
	char		attnum_text[8];
	AttrNumber	attnum;

	if (stmt->renameType != OBJECT_COLUMN)
	{
		if (OidIsValid(RangeVarGetRelid(stmt->relation, NoLock, true)))
			return false;
		renamed = makeRangeVar(stmt->relation->schemaname, stmt->newname, -1);
		relid = RangeVarGetRelid(renamed, NoLock, true);
		if (!OidIsValid(relid) || !is_table(relid))
			return false;
		snprintf(relid_text, sizeof(relid_text), "%u", relid);
		return ddl_run_as_owner_args("SELECT true FROM walbridge.renames r"
									 " WHERE r.relid = $1::pg_catalog.oid AND r.old_table = $2"
									 "   AND r.old_schema = $3", 3,
									 (const char *[]) {relid_text, stmt->relation->relname,
									 get_namespace_name(get_rel_namespace(relid))}) != NULL;
	}

	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid) || !is_table(relid) || get_attnum(relid, stmt->subname) != InvalidAttrNumber)
		return false;
	attnum = get_attnum(relid, stmt->newname);
	if (attnum <= 0)
		return false;
	snprintf(relid_text, sizeof(relid_text), "%u", relid);
	snprintf(attnum_text, sizeof(attnum_text), "%d", attnum);
	return ddl_run_as_owner_args("SELECT true FROM walbridge.renames r"
								 " WHERE r.relid = $1::pg_catalog.oid AND r.old_column = $2"
								 "   AND r.attnum = $3::pg_catalog.int2", 3,
								 (const char *[]) {relid_text, stmt->subname, attnum_text}) != NULL;
}
