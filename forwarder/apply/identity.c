/*-------------------------------------------------------------------------
 *
 * identity.c
 *		A message's source identity against the one apply recorded for its
 *		peer: the comparison and the words for a change.  Pure: apply.c
 *		reads and records it, and pauses.
 *
 * Only parts both sides know are compared: a message from an older
 * walbridged carries none (apply goes on as before identities), and what
 * the record lacks is learnt from the next message (identity_adopt()).
 *
 * IDENTIFICATION
 *		forwarder/apply/identity.c
 *
 *-------------------------------------------------------------------------
 */
#include "identity.h"

#include <stdio.h>
#include <string.h>

bool
identity_known(const wb_identity *id)
{
	return id->system_id[0] != '\0' || id->timeline != 0 || id->incarnation[0] != '\0';
}

/*
 * The most telling difference first: a new cluster also has its own
 * timeline and slot, and a restored one its own slot (a base backup holds
 * no replication slots).
 */
wb_identity_change
identity_compare(const wb_identity *recorded, const wb_identity *seen)
{
	if (recorded->system_id[0] != '\0' && seen->system_id[0] != '\0' &&
		strcmp(recorded->system_id, seen->system_id) != 0)
		return WB_IDENTITY_NEW_CLUSTER;
	if (recorded->timeline != 0 && seen->timeline != 0 && recorded->timeline != seen->timeline)
		return WB_IDENTITY_NEW_TIMELINE;
	if (recorded->incarnation[0] != '\0' && seen->incarnation[0] != '\0' &&
		strcmp(recorded->incarnation, seen->incarnation) != 0)
		return WB_IDENTITY_NEW_SLOT;
	return WB_IDENTITY_SAME;
}

/*
 * Take the parts of seen that recorded lacks (call only when they compare
 * the same).  True if recorded learnt something.
 */
bool
identity_adopt(wb_identity *recorded, const wb_identity *seen)
{
	bool		learnt = false;

	if (recorded->system_id[0] == '\0' && seen->system_id[0] != '\0')
	{
		memcpy(recorded->system_id, seen->system_id, sizeof(recorded->system_id));
		learnt = true;
	}
	if (recorded->timeline == 0 && seen->timeline != 0)
	{
		recorded->timeline = seen->timeline;
		learnt = true;
	}
	if (recorded->incarnation[0] == '\0' && seen->incarnation[0] != '\0')
	{
		memcpy(recorded->incarnation, seen->incarnation, sizeof(recorded->incarnation));
		learnt = true;
	}
	return learnt;
}

/* What changed, for the pause: "a new cluster (system identifier X, was Y)". */
void
identity_explain(wb_identity_change change, const wb_identity *recorded,
				 const wb_identity *seen, char *out, size_t outlen)
{
	switch (change)
	{
		case WB_IDENTITY_NEW_CLUSTER:
			snprintf(out, outlen, "a new cluster (system identifier %s, was %s)",
					 seen->system_id, recorded->system_id);
			break;
		case WB_IDENTITY_NEW_TIMELINE:
			snprintf(out, outlen, "restored from a backup or failed over (timeline %u, was %u)",
					 seen->timeline, recorded->timeline);
			break;
		case WB_IDENTITY_NEW_SLOT:
			snprintf(out, outlen, "its replication slot was recreated (incarnation %s, was %s)",
					 seen->incarnation, recorded->incarnation);
			break;
		case WB_IDENTITY_SAME:
			snprintf(out, outlen, "the same");
			break;
	}
}

/* The identity in short, for apply_progress.new_incarnation and status(). */
void
identity_describe(const wb_identity *id, char *out, size_t outlen)
{
	snprintf(out, outlen, "system identifier %s, timeline %u, incarnation %s",
			 id->system_id[0] ? id->system_id : "unknown", id->timeline,
			 id->incarnation[0] ? id->incarnation : "unknown");
}
