/*-------------------------------------------------------------------------
 *
 * identity.h
 *		Who published a message beyond the node's name (wb.system_id,
 *		wb.timeline, wb.incarnation), and whether it is still the source
 *		whose commit LSNs apply compares.
 *
 * A peer rebuilt under the same name, restored from a backup or failed
 * over publishes LSNs that go back: compared with the old ones, its new
 * transactions would be passed over as duplicates.  Apply records the
 * identity of what it applied and pauses on another one until
 * walbridge.resync() accepts it (apply.c).
 *
 * IDENTIFICATION
 *		forwarder/apply/identity.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_IDENTITY_H
#define WB_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Each part empty (or 0) when unknown: a message from an older walbridged. */
typedef struct wb_identity
{
	char		system_id[24];	/* database system identifier, decimal */
	uint32_t	timeline;		/* 0: unknown */
	char		incarnation[40];	/* walbridge.node.incarnation */
} wb_identity;

typedef enum wb_identity_change
{
	WB_IDENTITY_SAME,			/* nothing known differs */
	WB_IDENTITY_NEW_CLUSTER,	/* another system identifier */
	WB_IDENTITY_NEW_TIMELINE,	/* restored from a backup, or failed over */
	WB_IDENTITY_NEW_SLOT		/* its walbridge slot was made again */
} wb_identity_change;

extern bool identity_known(const wb_identity *id);
extern wb_identity_change identity_compare(const wb_identity *recorded, const wb_identity *seen);
extern bool identity_adopt(wb_identity *recorded, const wb_identity *seen);
extern void identity_explain(wb_identity_change change, const wb_identity *recorded,
							 const wb_identity *seen, char *out, size_t outlen);
extern void identity_describe(const wb_identity *id, char *out, size_t outlen);

#endif							/* WB_IDENTITY_H */
