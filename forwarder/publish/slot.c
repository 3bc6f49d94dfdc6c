/*-------------------------------------------------------------------------
 *
 * slot.c
 *		The node's replication slot before streaming: its name, whether it
 *		exists with a finished initial copy, and when not, its creation and
 *		the copy published from the snapshot it exported (snapshot.c).
 *
 * IDENTIFICATION
 *		forwarder/publish/slot.c
 *
 *-------------------------------------------------------------------------
 */
#include "slot.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "snapshot.h"
#include "wb.h"

/* Slot names allow [a-z0-9_]: walbridge_ + the node name folded to that. */
char *
slot_default_name(const char *node)
{
	size_t		len = strlen("walbridge_") + strlen(node) + 1;
	char	   *slot = xmalloc(len);

	snprintf(slot, len, "walbridge_%s", node);
	for (char *p = slot; *p; p++)
		*p = isalnum((unsigned char) *p) ? (char) tolower((unsigned char) *p) : '_';
	return slot;
}

uint64_t
slot_confirmed_lsn(PGconn *conn, const char *slot)
{
	const char *params[1] = {slot};
	PGresult   *res = PQexecParams(conn,
								   "SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots WHERE slot_name = $1",
								   1, NULL, params, NULL, NULL, 0);
	uint64_t	lsn = 0;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		lsn = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return lsn;
}

/*
 * A new incarnation: 16 random hex digits, made with each slot.  A node
 * restored from a backup keeps walbridge.node's old value but not its slot
 * (a base backup holds none), so the new slot tells it apart.
 */
static int
make_incarnation(char *out, size_t outlen)
{
	unsigned char bytes[8];
	int			fd = open("/dev/urandom", O_RDONLY);
	bool		ok = fd >= 0 && read(fd, bytes, sizeof(bytes)) == (ssize_t) sizeof(bytes);

	if (fd >= 0)
		close(fd);
	if (!ok || outlen < 2 * sizeof(bytes) + 1)
	{
		wb_log(WB_LOG_ERROR, "could not read /dev/urandom for the slot's incarnation");
		return WB_ERR;
	}
	for (size_t i = 0; i < sizeof(bytes); i++)
		snprintf(out + 2 * i, 3, "%02x", bytes[i]);
	return WB_OK;
}

/* Wait (serving deliveries) until Kafka acknowledged everything produced. */
static int
wait_for_acks(wb_publisher *pub, const volatile sig_atomic_t *stop)
{
	while (!publish_idle(pub) || inflight_count(&pub->inflight) > 0)
	{
		publish_poll(pub, 100);
		if (pub->failed || *stop)
			return WB_ERR;
		(void) publish_take_confirmable(pub);
		if (inflight_count(&pub->inflight) == 0)
			break;
	}
	return WB_OK;
}

/*
 * A new slot, and its initial copy from the snapshot it exported.  The copy
 * counts as done only once Kafka acknowledged all of it: a crash before
 * that leaves the slot uninitialized, and the next session starts over.
 * The slot is a new incarnation, stored with the copy's end; the copy's
 * messages already carry it.
 */
static wb_slot_result
create_slot_with_copy(PGconn *conn, wb_pgstream *ps, wb_publisher *pub, const wb_tables *tables,
					  bool snapshot, const char *conninfo, int progress_interval_ms,
					  const volatile sig_atomic_t *stop)
{
	char	   *snapshot_name = NULL;
	uint64_t	consistent = 0;
	wb_publish_result rc = WB_PUBLISH_OK;
	char		incarnation[sizeof(pub->incarnation)];

	if (make_incarnation(incarnation, sizeof(incarnation)) != WB_OK)
		return WB_SLOT_RETRY;
	publish_set_identity(pub, ps->system_id, ps->timeline, incarnation);
	if (pgstream_create_slot(ps, &snapshot_name, &consistent) != WB_OK)
		return WB_SLOT_RETRY;
	if (snapshot)
	{
		rc = snapshot_copy(conninfo, snapshot_name, tables, progress_interval_ms, pub);
		if (rc == WB_PUBLISH_OK && wait_for_acks(pub, stop) != WB_OK)
			rc = WB_PUBLISH_FAILED;
	}
	free(snapshot_name);
	if (rc == WB_PUBLISH_STOPPED || (rc != WB_PUBLISH_OK && *stop))
		return WB_SLOT_STOPPED;
	if (rc != WB_PUBLISH_OK)
		return WB_SLOT_RETRY;
	if (nodeinfo_mark_slot_initialized(conn, consistent, incarnation) != WB_OK)
		return WB_SLOT_RETRY;
	if (snapshot)
		wb_log(WB_LOG_INFO, "initial copy published and acknowledged; streaming from " WB_LSN_FORMAT,
			   WB_LSN_ARGS(consistent));
	return WB_SLOT_READY;
}

wb_slot_result
slot_prepare(PGconn *conn, wb_pgstream *ps, wb_publisher *pub, const wb_tables *tables, bool snapshot,
			 const char *conninfo, int progress_interval_ms, const volatile sig_atomic_t *stop)
{
	bool		exists = false;
	bool		initialized = false;
	char		made[sizeof(pub->incarnation)];
	char		incarnation[sizeof(pub->incarnation)];

	if (pgstream_slot_exists(ps, &exists) != WB_OK ||
		nodeinfo_slot_initialized(conn, &initialized) != WB_OK ||
		make_incarnation(made, sizeof(made)) != WB_OK)
		return WB_SLOT_RETRY;

	if (exists && !initialized)
	{
		if (snapshot)
		{
			wb_log(WB_LOG_WARNING, "replication slot \"%s\" has no completed initial copy (walbridged stopped during it): dropping it to copy again",
				   ps->slot);
			if (pgstream_drop_slot(ps) != WB_OK)
				return WB_SLOT_RETRY;
			exists = false;
		}
		else if (nodeinfo_mark_slot_initialized(conn, slot_confirmed_lsn(conn, ps->slot), made) != WB_OK)
			return WB_SLOT_RETRY;
	}
	if (!exists)
		return create_slot_with_copy(conn, ps, pub, tables, snapshot, conninfo, progress_interval_ms, stop);

	/* a slot made before incarnations existed gets one now */
	if (nodeinfo_incarnation(conn, made, incarnation, sizeof(incarnation)) != WB_OK)
		return WB_SLOT_RETRY;
	publish_set_identity(pub, ps->system_id, ps->timeline, incarnation);
	return WB_SLOT_READY;
}
