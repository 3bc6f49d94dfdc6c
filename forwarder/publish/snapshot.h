/*-------------------------------------------------------------------------
 *
 * snapshot.h
 *		The initial copy: every published table's rows, read in the
 *		snapshot a new slot exported, published before the slot's first
 *		change, so a new mirror starts from a complete copy.
 *
 * IDENTIFICATION
 *		forwarder/publish/snapshot.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_SNAPSHOT_H
#define WB_SNAPSHOT_H

#include "nodeinfo.h"
#include "publish.h"

extern wb_publish_result snapshot_copy(const char *conninfo, const char *snapshot_name,
									   const wb_tables *tables, int progress_interval_ms,
									   wb_publisher *pub);

#endif							/* WB_SNAPSHOT_H */
