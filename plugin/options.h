/*-------------------------------------------------------------------------
 *
 * options.h
 *		Output plugin options: parsed once at startup, read-only afterwards.
 *
 * IDENTIFICATION
 *		plugin/options.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WALBRIDGE_OPTIONS_H
#define WALBRIDGE_OPTIONS_H

#include "nodes/pg_list.h"

typedef enum WalbridgeFormat
{
	WALBRIDGE_FORMAT_MSGPACK,	/* compact binary records (default) */
	WALBRIDGE_FORMAT_TEXT,		/* one readable line per record */
	WALBRIDGE_FORMAT_JSON		/* one JSON object per record */
} WalbridgeFormat;

/* One entry of include_tables / exclude_tables; NULL part means "*". */
typedef struct WalbridgeTablePattern
{
	char	   *schema;
	char	   *table;
} WalbridgeTablePattern;

typedef struct WalbridgeOptions
{
	WalbridgeFormat format;		/* format */
	bool		only_local;		/* drop changes that have an origin */
	int			format_version; /* format_version the client expects */
	List	   *include_tables; /* of WalbridgeTablePattern; NIL: all */
	List	   *exclude_tables; /* of WalbridgeTablePattern */
	bool		full_old_updates;	/* under REPLICA IDENTITY FULL, an UPDATE
									 * that keeps its primary key carries
									 * its old row too (off: only the new,
									 * which then holds every value) */
	bool		require_primary_key;	/* only tables with a primary key
										 * (as the catalog is at each
										 * change: a table made later is
										 * selected from its first row) */
} WalbridgeOptions;

extern void options_parse(List *defelems, WalbridgeOptions *opts);
extern bool options_table_selected(const WalbridgeOptions *opts,
								   const char *schema, const char *table);

#endif							/* WALBRIDGE_OPTIONS_H */
