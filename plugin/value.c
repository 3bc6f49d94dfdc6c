/*-------------------------------------------------------------------------
 *
 * value.c
 *		Reduce a column's datum to a WalbridgeValue.
 *
 * Runs inside the per-change memory context: detoasted copies and output
 * function results are freed when the change is done.
 *
 * IDENTIFICATION
 *		plugin/value.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "fmgr.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

#include "value.h"

void
value_extract(const WalbridgeColumn *col, const WalbridgeTuple *tuple,
			  WalbridgeValue *value)
{
	Datum		datum = tuple->values[col->attnum - 1];

	if (tuple->isnull[col->attnum - 1])
	{
		value->type = WB_VALUE_NULL;
		return;
	}

	/*
	 * In decoding, an UPDATE that left a TOASTed column alone logs only the
	 * pointer; the value is not in WAL, and reading it now would see the
	 * wrong version.  Say "unchanged" instead.  (Values the change did log
	 * arrive reassembled, not as on-disk pointers.)  The initial copy reads
	 * a table in the snapshot it is copying, where the pointer leads to the
	 * right value: text and bytea are fetched below, other types by their
	 * output function.
	 */
	if (col->is_varlena && !tuple->toast_readable &&
		VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(datum)))
	{
		value->type = WB_VALUE_UNCHANGED_TOAST;
		return;
	}

	switch (col->kind)
	{
		case WB_KIND_BOOL:
			value->type = WB_VALUE_BOOL;
			value->v.b = DatumGetBool(datum);
			break;
		case WB_KIND_INT2:
			value->type = WB_VALUE_INT;
			value->v.i = DatumGetInt16(datum);
			break;
		case WB_KIND_INT4:
			value->type = WB_VALUE_INT;
			value->v.i = DatumGetInt32(datum);
			break;
		case WB_KIND_INT8:
			value->type = WB_VALUE_INT;
			value->v.i = DatumGetInt64(datum);
			break;
		case WB_KIND_OID:
			value->type = WB_VALUE_UINT;
			value->v.u = DatumGetObjectId(datum);
			break;
		case WB_KIND_FLOAT4:
			value->type = WB_VALUE_FLOAT4;
			value->v.f4 = DatumGetFloat4(datum);
			break;
		case WB_KIND_FLOAT8:
			value->type = WB_VALUE_FLOAT8;
			value->v.f8 = DatumGetFloat8(datum);
			break;
		case WB_KIND_TIMESTAMP:
			value->type = WB_VALUE_TIMESTAMP;
			value->v.ts = DatumGetTimestamp(datum);
			break;
		case WB_KIND_TIMESTAMPTZ:
			value->type = WB_VALUE_TIMESTAMPTZ;
			value->v.ts = DatumGetTimestampTz(datum);
			break;
		case WB_KIND_BYTEA:
		case WB_KIND_TEXT:
			{
				/* out of line, compressed or both: a plain copy here */
				struct varlena *v = pg_detoast_datum_packed((struct varlena *) DatumGetPointer(datum));

				value->type = (col->kind == WB_KIND_BYTEA) ? WB_VALUE_BYTES : WB_VALUE_TEXT;
				value->v.s.ptr = VARDATA_ANY(v);
				value->v.s.len = VARSIZE_ANY_EXHDR(v);
				break;
			}
		case WB_KIND_OUTPUT:
			{
				char	   *text = OutputFunctionCall((FmgrInfo *) &col->output, datum);

				value->type = WB_VALUE_TEXT;
				value->v.s.ptr = text;
				value->v.s.len = strlen(text);
				break;
			}
	}
}

/* Two lower-case hex digits per byte, as bytea's hex output. */
void
value_append_hex_digits(StringInfo out, const char *ptr, Size len)
{
	static const char hex[] = "0123456789abcdef";

	enlargeStringInfo(out, (int) (2 * len));
	for (Size i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) ptr[i];

		out->data[out->len++] = hex[c >> 4];
		out->data[out->len++] = hex[c & 0x0f];
	}
	out->data[out->len] = '\0';
}

/*
 * A timestamp value as its type's text output (session DateStyle and, for
 * timestamptz, TimeZone): what the json and text formats show.
 */
const char *
value_timestamp_text(const WalbridgeValue *value)
{
	if (value->type == WB_VALUE_TIMESTAMPTZ)
		return DatumGetCString(DirectFunctionCall1(timestamptz_out,
												   TimestampTzGetDatum(value->v.ts)));
	return DatumGetCString(DirectFunctionCall1(timestamp_out,
											   TimestampGetDatum(value->v.ts)));
}
