/*-------------------------------------------------------------------------
 *
 * nodeinfo.h
 *		What walbridged reads from (and records in) its own database over
 *		an ordinary connection: the node's name, the tables to publish,
 *		whether the slot's initial copy was published, the slot's
 *		incarnation.
 *
 * IDENTIFICATION
 *		forwarder/nodeinfo.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_NODEINFO_H
#define WB_NODEINFO_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

typedef struct wb_tables
{
	int			count;
	char	  **names;			/* schema-qualified, quoted as needed */
	double	   *estimates;		/* pg_class.reltuples, for progress */
} wb_tables;

/* What the output plugin publishes (walbridge.publish_selection()). */
typedef struct wb_selection
{
	char	   *include;		/* include_tables */
	char	   *exclude;		/* exclude_tables, or NULL */
	bool		require_primary_key;
} wb_selection;

extern PGconn *nodeinfo_connect(const char *conninfo);
extern void nodeinfo_purge_tombstones(PGconn *conn);
extern int	nodeinfo_forget_slot(PGconn *conn, const char *slot);
extern int	nodeinfo_node_name(PGconn *conn, char **name);
extern int	nodeinfo_published_tables(PGconn *conn, wb_tables *tables);
extern int	nodeinfo_publish_selection(PGconn *conn, wb_selection *sel);
extern void nodeinfo_selection_free(wb_selection *sel);
extern void nodeinfo_tables_free(wb_tables *tables);
extern int	nodeinfo_slot_initialized(PGconn *conn, bool *initialized);
extern int	nodeinfo_mark_slot_initialized(PGconn *conn, uint64_t lsn, const char *incarnation);
extern int	nodeinfo_incarnation(PGconn *conn, const char *fallback, char *out, size_t outlen);

#endif							/* WB_NODEINFO_H */
