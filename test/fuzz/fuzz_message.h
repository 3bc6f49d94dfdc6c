/*
 * fuzz_message.h: a Kafka message as apply reads it, records back to
 * back, for the fuzz targets: fn is called for each record that parses;
 * the walk stops where msgpack itself breaks.
 */
#ifndef WB_FUZZ_MESSAGE_H
#define WB_FUZZ_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "mpread.h"
#include "record.h"

static inline void
for_each_record(const uint8_t *data, size_t size, void (*fn) (const wb_record *rec, void *arg), void *arg)
{
	wb_mpcur	cur;

	wb_mp_init(&cur, (const char *) data, size);
	while (!wb_mp_at_end(&cur))
	{
		size_t		start = wb_mp_offset(&cur);
		wb_record	rec;
		char		err[WB_RECORD_ERRLEN];

		if (wb_mp_skip(&cur) != WB_MP_OK)
			break;
		if (wb_record_parse((const char *) data + start, wb_mp_offset(&cur) - start, &rec, err, sizeof(err)))
			fn(&rec, arg);
	}
}

#endif							/* WB_FUZZ_MESSAGE_H */
