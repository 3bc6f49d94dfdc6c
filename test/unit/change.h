/*
 * change.h: changes for unit tests, packed as the plugin writes them and
 * parsed by common/record.c.
 */
#ifndef WALBRIDGE_UNIT_CHANGE_H
#define WALBRIDGE_UNIT_CHANGE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "record.h"

static msgpack_sbuffer buf;
static msgpack_packer pk;
static wb_record rec;


static void
pack_value(const char *v)
{
	if (v == NULL)
		msgpack_pack_nil(&pk);
	else if (strcmp(v, "(toast)") == 0)
		msgpack_pack_ext(&pk, 0, WB_EXT_UNCHANGED_TOAST);
	else if (v[0] == '#')
		msgpack_pack_int64(&pk, atoll(v + 1));
	else
		msgpack_pack_str_with_body(&pk, v, strlen(v));
}

static void
pack_tuple(const char **values, int n)
{
	if (values == NULL)
	{
		msgpack_pack_nil(&pk);
		return;
	}
	msgpack_pack_array(&pk, n);
	for (int i = 0; i < n; i++)
		pack_value(values[i]);
}

/*
 * Pack and parse one change of relid 16384 (nnew values in new); valid
 * until the next call.  Values: NULL, "(toast)" for an unchanged TOAST
 * value, "#n" for an integer, else a string.
 */
static const wb_record *
unit_change(char tag, char old_kind, const char **old, int nold, const char **new, int nnew)
{
	char		err[WB_RECORD_ERRLEN];

	msgpack_sbuffer_clear(&buf);
	msgpack_pack_array(&pk, tag == WB_REC_UPDATE ? WB_UPDATE_NFIELDS :
					   tag == WB_REC_DELETE ? WB_DELETE_NFIELDS : WB_INSERT_NFIELDS);
	msgpack_pack_uint8(&pk, (uint8_t) tag);
	msgpack_pack_uint32(&pk, 16384);
	if (tag == WB_REC_UPDATE || tag == WB_REC_DELETE)
	{
		if (old == NULL)
			msgpack_pack_nil(&pk);
		else
			msgpack_pack_uint8(&pk, (uint8_t) old_kind);
		pack_tuple(old, nold);
	}
	if (tag != WB_REC_DELETE)
		pack_tuple(new, nnew);
	if (!wb_record_parse(buf.data, buf.size, &rec, err, sizeof(err)))
	{
		fprintf(stderr, "test record does not parse: %s\n", err);
		exit(2);
	}
	return &rec;
}

static void
unit_change_init(void)
{
	msgpack_sbuffer_init(&buf);
	msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
}

#endif
