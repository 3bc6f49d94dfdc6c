/*-------------------------------------------------------------------------
 *
 * value.h
 *		One column value, reduced to what every writer can encode: the
 *		single place that decides NULL, unchanged TOAST, native number or
 *		text, so the three formats cannot disagree.
 *
 * walbridge.decode() builds the same struct from a msgpack value, so JSON
 * from format=json and from decode() is rendered by the same code.
 *
 * IDENTIFICATION
 *		plugin/value.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WALBRIDGE_VALUE_H
#define WALBRIDGE_VALUE_H

#include "lib/stringinfo.h"

#include "relcache.h"

typedef enum WalbridgeValueType
{
	WB_VALUE_NULL,
	WB_VALUE_UNCHANGED_TOAST,
	WB_VALUE_BOOL,
	WB_VALUE_INT,
	WB_VALUE_UINT,
	WB_VALUE_FLOAT4,
	WB_VALUE_FLOAT8,
	WB_VALUE_BYTES,				/* bytea: raw bytes */
	WB_VALUE_TIMESTAMP,			/* timestamp: PostgreSQL Timestamp */
	WB_VALUE_TIMESTAMPTZ,		/* timestamptz: PostgreSQL TimestampTz */
	WB_VALUE_TEXT				/* text form, in the database encoding */
} WalbridgeValueType;

typedef struct WalbridgeValue
{
	WalbridgeValueType type;
	union
	{
		bool		b;
		int64		i;
		uint64		u;
		float4		f4;
		float8		f8;
		int64		ts;			/* WB_VALUE_TIMESTAMP(TZ), PostgreSQL epoch */
		struct
		{
			const char *ptr;	/* not NUL-terminated */
			Size		len;
		}			s;			/* WB_VALUE_BYTES, WB_VALUE_TEXT */
	}			v;
} WalbridgeValue;

/* A deformed heap tuple: values and nulls indexed by attnum - 1. */
typedef struct WalbridgeTuple
{
	Datum	   *values;
	bool	   *isnull;
	bool		toast_readable; /* out-of-line values can be fetched: true
								 * in the initial copy, which reads them in
								 * its snapshot; false in decoding, where a
								 * TOAST pointer is a value the change did
								 * not log */
} WalbridgeTuple;

extern void value_extract(const WalbridgeColumn *col, const WalbridgeTuple *tuple,
						  WalbridgeValue *value);
extern void value_append_hex_digits(StringInfo out, const char *ptr, Size len);
extern const char *value_timestamp_text(const WalbridgeValue *value);

#endif							/* WALBRIDGE_VALUE_H */
