/*-------------------------------------------------------------------------
 *
 * pgstream.h
 *		The replication connection to the local database: the walbridge
 *		slot, START_REPLICATION, CopyData, standby status updates.
 *
 * IDENTIFICATION
 *		forwarder/publish/pgstream.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_PGSTREAM_H
#define WB_PGSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "wb.h"


typedef struct wb_pgstream
{
	PGconn	   *conn;
	char	   *slot;
	char	   *copybuf;		/* last CopyData, freed on the next read */
	uint64_t	received_lsn;	/* end of what the server has sent */
	uint64_t	reported_flush; /* last flush position we reported */
	int64_t		last_status_us; /* when we last reported (monotonic) */
	bool		reply_requested; /* the server asked for a status now */
	char		system_id[24];	/* IDENTIFY_SYSTEM at connect: the cluster */
	uint32_t	timeline;		/* and its timeline, which promotion changes */
} wb_pgstream;

/* One record from the stream. */
typedef struct wb_pgrecord
{
	const char *data;			/* valid until the next pgstream_read */
	size_t		len;
	uint64_t	lsn;			/* WAL start of the record's data */
} wb_pgrecord;

typedef enum wb_pgread
{
	WB_PG_RECORD,				/* a record in *rec */
	WB_PG_IDLE,					/* nothing buffered: wait on the socket */
	WB_PG_FAILED				/* connection lost or stream ended: logged */
} wb_pgread;

extern int	pgstream_connect(wb_pgstream *ps, const char *conninfo, const char *slot);
extern int	pgstream_slot_exists(wb_pgstream *ps, bool *exists);
extern int	pgstream_create_slot(wb_pgstream *ps, char **snapshot_name,
								 uint64_t *consistent_lsn);
extern int	pgstream_drop_slot(wb_pgstream *ps);
extern int	pgstream_start(wb_pgstream *ps, const char *const *option_names,
						   const char *const *option_values, int noptions);
extern wb_pgread pgstream_read(wb_pgstream *ps, wb_pgrecord *rec);
extern int	pgstream_wait(wb_pgstream *ps, int timeout_ms);
extern int	pgstream_send_status(wb_pgstream *ps, uint64_t flush_lsn, bool force);
extern void pgstream_close(wb_pgstream *ps);

#endif							/* WB_PGSTREAM_H */
