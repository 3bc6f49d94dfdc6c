/*-------------------------------------------------------------------------
 *
 * report.h
 *		Saying what happened to a change: every decided conflict in
 *		walbridge.conflicts and the log (as PostgreSQL's
 *		ReportApplyConflict), and a failed change explained in the words of
 *		this node's table.
 *
 * IDENTIFICATION
 *		forwarder/apply/report.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_REPORT_H
#define WB_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "apply.h"

/*
 * A decided conflict, in the transaction being applied: the local row as
 * it is now (fetched by key), the remote one, the decision; counted in
 * ap->conflicts.  False with err if it could not be recorded.
 */
extern bool report_conflict(wb_applier *ap, const wb_relmap *rm, const wb_record *rec,
							wb_conflict_kind kind, wb_resolution decision, char *err, size_t errlen);

/*
 * A change failed, applied one at a time: rewrite err in the words of
 * this node's table where it can (a value too large for its column, a
 * row colliding on a unique key other than the primary key, which is
 * then remembered for report_pause()).
 */
extern void report_failure(wb_applier *ap, const wb_record *rec, char *err, size_t errlen);

/*
 * The unique key conflict apply is pausing on, if any, in
 * walbridge.conflicts (outside the rolled back transaction; decision
 * "pause"), once per offset.
 */
extern void report_pause(wb_applier *ap, int64_t offset);

#endif							/* WB_REPORT_H */
