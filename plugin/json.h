/*-------------------------------------------------------------------------
 *
 * json.h
 *		JSON rendering shared by the json writer and walbridge.decode(),
 *		so a record reads the same whichever way it was produced.
 *
 * IDENTIFICATION
 *		plugin/json.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WALBRIDGE_JSON_H
#define WALBRIDGE_JSON_H

#include "lib/stringinfo.h"

#include "value.h"

extern void json_append_string(StringInfo out, const char *ptr, Size len);
extern void json_append_value(StringInfo out, const WalbridgeValue *value);

/* A change record is written as: start, [no_old | tuple...], end. */
extern void json_change_start(StringInfo out, char tag, Oid relid);
extern void json_change_no_old(StringInfo out);
extern void json_tuple_start(StringInfo out, char old_kind);
extern void json_tuple_value(StringInfo out, int index,
							 const WalbridgeValue *value);
extern void json_tuple_end(StringInfo out);
extern void json_change_commit_time(StringInfo out, TimestampTz t);
extern void json_change_end(StringInfo out);

#endif							/* WALBRIDGE_JSON_H */
