/*-------------------------------------------------------------------------
 *
 * hash.h
 *		FNV-1a over bytes: for the forwarder's small lookup tables
 *		(prepared statements by SQL text, relations by record bytes).
 *
 * IDENTIFICATION
 *		forwarder/apply/hash.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_HASH_H
#define WB_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t
wb_hash_bytes(const char *p, size_t len)
{
	uint64_t	h = UINT64_C(1469598103934665603);

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char) p[i]) * UINT64_C(1099511628211);
	return h;
}

#endif							/* WB_HASH_H */
