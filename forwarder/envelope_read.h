/*-------------------------------------------------------------------------
 *
 * envelope_read.h
 *		Reading the envelope (envelope.h) of a message consumed from
 *		Kafka: apart from envelope.h, which the publish half and code that
 *		never sees librdkafka include too.
 *
 * IDENTIFICATION
 *		forwarder/envelope_read.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_ENVELOPE_READ_H
#define WB_ENVELOPE_READ_H

#include <stdbool.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "envelope.h"

/*
 * A header's last value, as a C string in out; false when the message has
 * no such header or its value does not fit (or is null).
 */
static inline bool
wb_header_get(const rd_kafka_message_t *rkm, const char *name, char *out, size_t outlen)
{
	rd_kafka_headers_t *hdrs;
	const void *value;
	size_t		size;

	if (rd_kafka_message_headers(rkm, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
		rd_kafka_header_get_last(hdrs, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
		value == NULL || size >= outlen)
		return false;
	memcpy(out, value, size);
	out[size] = '\0';
	return true;
}

#endif							/* WB_ENVELOPE_READ_H */
