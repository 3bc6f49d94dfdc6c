/*-------------------------------------------------------------------------
 *
 * dispatch.h
 *		A message's records, each to what handles it.
 *
 * IDENTIFICATION
 *		forwarder/apply/dispatch.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_DISPATCH_H
#define WB_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "apply.h"

/*
 * Every record of a message, in order, by ap->exec; false with err at the
 * first that fails (explained in the table's words when one at a time).
 */
extern bool dispatch_records(wb_applier *ap, const char *payload, size_t len, char *err, size_t errlen);

/* Resolve the message's RELATION records before its pipeline starts. */
extern bool dispatch_relations(wb_applier *ap, const char *payload, size_t len, char *err, size_t errlen);

#endif							/* WB_DISPATCH_H */
