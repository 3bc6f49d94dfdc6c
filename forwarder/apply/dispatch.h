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
#include <stdint.h>

#include "apply.h"

/*
 * Every record of a message, in order, by ap->exec; false with err at the
 * first that fails (explained in the table's words when one at a time).
 */
extern bool dispatch_records(wb_applier *ap, const char *payload, size_t len, char *err, size_t errlen);

/* Resolve the message's RELATION records before its pipeline starts. */
extern bool dispatch_relations(wb_applier *ap, const char *payload, size_t len, char *err, size_t errlen);

/*
 * The end of the run of records starting at start in which every SNAPSHOT
 * row has the same commit time (*commit_time; 0 when not known): the
 * initial copy commits each run as its own transaction stamped with that
 * time.  Records other than SNAPSHOT (the chunk's RELATION) join the run
 * they are in.  Returns len at the end of the message, and len too when
 * a record does not decode (dispatch_records() then says why).
 */
extern size_t dispatch_snapshot_run(const char *payload, size_t len, size_t start,
									int64_t *commit_time);

/*
 * The content of the message's first MESSAGE record of prefix prefix:
 * false when it has none (or a record does not decode before it).
 */
extern bool dispatch_find_message(const char *payload, size_t len, const char *prefix,
								  wb_str *content);

#endif							/* WB_DISPATCH_H */
