/*-------------------------------------------------------------------------
 *
 * daemon.c
 *		The event loop of both halves.  A session connects to the database
 *		(control.c), reads walbridge.sync, and runs the publish half (the
 *		slot made ready with its initial copy by publish/slot.c, then
 *		streamed: records read while the producer has room, delivery
 *		reports served, the confirmed position moved to what Kafka
 *		acknowledged and reported to the server) and the apply half (one
 *		database session per peer and the Kafka consumer that feeds them,
 *		apply/) in turns of bounded length, so neither starves the other.
 *
 * Each half restarts on its own failure.  A failure of the apply half (its
 * connection lost, say) closes only that half, which opens again after a
 * backoff while this node's slot goes on streaming.  A failure of the
 * publish half once it streams (the replication connection lost, Kafka
 * refusing a message for good) closes only the publish half, which opens
 * again after its own backoff from the slot's confirmed position, so
 * nothing is skipped (what was in flight is sent again: consumers drop
 * duplicates by commit LSN); the peers go on being applied.  A failure of
 * the session's own connection, or of the first start, ends the session,
 * and the next one starts after a backoff.  Signals only set flags:
 * SIGTERM and SIGINT stop after Kafka acknowledged what is in flight,
 * SIGHUP rereads the configuration file.
 *
 * IDENTIFICATION
 *		forwarder/daemon.c
 *
 *-------------------------------------------------------------------------
 */
#include "daemon.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "consume.h"
#include "control.h"
#include "heartbeat.h"
#include "log.h"
#include "nodeinfo.h"
#include "pgstream.h"
#include "publish.h"
#include "resync_request.h"
#include "resync_serve.h"
#include "slot.h"
#include "wb.h"

#define MAX_BACKOFF_MS			30000
#define RECORDS_PER_TURN		1000
#define APPLY_TURN_US			(100 * INT64_C(1000))
#define COALESCE_BELOW			64
#define COALESCE_US				1000
#define SHUTDOWN_FLUSH_MS		30000
#define STATS_EVERY_US			(60 * INT64_C(1000000))

static volatile sig_atomic_t stop_requested = 0;
static volatile sig_atomic_t reload_requested = 0;

static void
handle_stop(int sig)
{
	stop_requested = 1;
}

static void
handle_reload(int sig)
{
	reload_requested = 1;
}

void
daemon_install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = handle_stop;	/* no SA_RESTART: poll() wakes up */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = handle_reload;
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

typedef enum wb_session_end
{
	SESSION_CONTINUE,			/* a step succeeded: go on to the next */
	SESSION_STOPPED,			/* SIGTERM: exit 0 */
	SESSION_RELOAD,				/* SIGHUP: reread the file, start again */
	SESSION_RETRY,				/* a failure: back off, start again */
	SESSION_FATAL				/* nothing to retry: exit 1 */
} wb_session_end;

typedef struct wb_session
{
	const struct wb_config *cfg;
	PGconn	   *conn;			/* ordinary connection */
	wb_pgstream ps;
	wb_publisher pub;
	char	   *node;
	char	   *slot;
	wb_tables	tables;
	wb_sync		sync;			/* what start_sync() asked for */
	bool		snapshot;		/* copy rows when creating the slot */
	uint64_t	confirmed;		/* acknowledged by Kafka, may be reported */
	int64_t		last_stats_us;
	int64_t		last_state_us;	/* publish_status last written */
	int64_t		last_purge_us;	/* tombstones last purged */
	wb_heartbeat heartbeat;		/* this node's, and the peers' clocks */
	wb_resync_server resync;	/* copies for other nodes' resync() */
	wb_applier *appliers;		/* one per peer; none while the apply half
								 * is down */
	int			nappliers;
	wb_consumer consumer;
	wb_resync_requests requests;	/* this node's resync() requests */
	int64_t		apply_retry_at_us;	/* when to open the apply half again */
	int			apply_backoff_ms;
	bool		publishing;		/* the publish half is open and streaming */
	int64_t		publish_retry_at_us;	/* when to open it again */
	int			publish_backoff_ms;
} wb_session;

/* Move the confirmed position as far as Kafka allows, and report it. */
static int
report_progress(wb_session *s, bool force)
{
	uint64_t	acked = publish_take_confirmable(&s->pub);

	if (acked > s->confirmed)
		s->confirmed = acked;
	if (s->conn && wb_now_us() - s->last_state_us >= 1000000)
	{
		s->last_state_us = wb_now_us();
		if (s->pub.queue_full || publish_backlogged(&s->pub))
		{
			char		why[256];

			/* what status() shows while Kafka does not keep up (or is down) */
			snprintf(why, sizeof(why), "waiting: Kafka has not acknowledged %d queued messages and the producer queue is full; reading the slot resumes when it does",
					 publish_queue_length(&s->pub));
			control_publish_state(s->conn, "waiting", why, false);
		}
		else
			control_publish_state(s->conn, "running", NULL, true);
	}

	/*
	 * With nothing in flight, everything the server sent is safe: follow its
	 * position, so an idle slot (or one whose tables are quiet while other
	 * databases write) never holds WAL back.
	 */
	if (publish_idle(&s->pub) && s->ps.received_lsn > s->confirmed)
		s->confirmed = s->ps.received_lsn;

	if (s->confirmed == 0)
		return WB_OK;			/* nothing known yet */
	if (wb_now_us() - s->ps.last_status_us >= (int64_t) s->cfg->status_interval_ms * 1000)
		force = true;
	if (pgstream_send_status(&s->ps, s->confirmed, force) != WB_OK)
		return WB_ERR;

	if (wb_now_us() - s->last_stats_us >= STATS_EVERY_US)
	{
		s->last_stats_us = wb_now_us();
		wb_log(WB_LOG_INFO, "published %llu transactions in %llu messages (%llu bytes); confirmed " WB_LSN_FORMAT,
			   (unsigned long long) s->pub.transactions, (unsigned long long) s->pub.messages,
			   (unsigned long long) s->pub.bytes, WB_LSN_ARGS(s->confirmed));
	}
	return WB_OK;
}

/* While the producer queue is full: keep the server informed. */
static bool
backpressure_wait(void *arg)
{
	wb_session *s = arg;

	if (s->ps.conn != NULL && report_progress(s, false) != WB_OK)
		return false;
	return !stop_requested;
}

/*
 * Sleep until the server sends, a control notification arrives, Kafka has
 * messages for us, or timeout_ms passed.
 */
static int
wait_for_work(wb_session *s, int timeout_ms)
{
	struct pollfd pfd[3];
	int			n = 0;

	if (s->publishing)
	{
		if (PQflush(s->ps.conn) < 0)
		{
			wb_log(WB_LOG_ERROR, "could not send to the server: %s", PQerrorMessage(s->ps.conn));
			return WB_ERR;
		}
		pfd[n++] = (struct pollfd) {.fd = PQsocket(s->ps.conn), .events = POLLIN};
	}
	pfd[n++] = (struct pollfd) {.fd = PQsocket(s->conn), .events = POLLIN};
	if (consume_fd(&s->consumer) >= 0)
		pfd[n++] = (struct pollfd) {.fd = consume_fd(&s->consumer), .events = POLLIN};
	(void) poll(pfd, n, timeout_ms);
	return WB_OK;
}

/* Between turns: a short pause, a wait for work, or a poll of Kafka. */
static int
wait_between_turns(wb_session *s, bool idle, bool apply_pending, int n)
{
	if (idle && !apply_pending && n > 0 && n < COALESCE_BELOW)
	{
		/*
		 * The walsender sends each record as it decodes it: read them as
		 * they come and we wake (and so does it) for every few records.
		 * Let a millisecond's worth gather first; the producer lingers
		 * longer than that anyway.
		 */
		usleep(COALESCE_US);
	}
	else if (idle && !apply_pending)
	{
		/* deliveries are served by polling Kafka: wake often while some are due */
		int			timeout = s->publishing && inflight_count(&s->pub.inflight) > 0 ? 5 : 200;

		return wait_for_work(s, timeout);
	}
	else if (s->publishing && publish_backlogged(&s->pub))
		publish_poll(&s->pub, 10);
	return WB_OK;
}

/* Close the apply half: the consumer and every peer's session. */
static void
close_apply(wb_session *s)
{
	consume_close(&s->consumer);
	resync_request_close(&s->requests, s->conn, s->cfg);
	for (int i = 0; i < s->nappliers; i++)
		apply_close(&s->appliers[i]);
	free(s->appliers);
	s->appliers = NULL;
	s->nappliers = 0;
}

/* One applier per peer, and the consumer that feeds them. */
static int
open_apply(wb_session *s)
{
	s->appliers = xcalloc(s->sync.npeers, sizeof(wb_applier));
	for (int i = 0; i < s->sync.npeers; i++)
	{
		size_t		len = strlen(s->cfg->topic_prefix) + strlen(s->sync.peers[i]) + 1;
		char	   *topic = xmalloc(len);
		int			rc;

		snprintf(topic, len, "%s%s", s->cfg->topic_prefix, s->sync.peers[i]);
		rc = apply_open(&s->appliers[i], s->cfg->conninfo, s->sync.peers[i], s->node, topic,
						s->sync.conflict);
		s->nappliers++;
		free(topic);
		if (rc != WB_OK)
			return WB_ERR;
	}
	return consume_open(&s->consumer, s->cfg, s->node, s->appliers, s->nappliers,
						s->sync.snapshot);
}

/*
 * The apply half failed: say why (a lost connection with libpq's message;
 * other failures were logged where they happened), close it and open it
 * again after a backoff.  The publish half is not touched.
 */
static void
apply_failed(wb_session *s)
{
	for (int i = 0; i < s->nappliers; i++)
		if (s->appliers[i].conn != NULL && PQstatus(s->appliers[i].conn) != CONNECTION_OK)
			wb_log(WB_LOG_ERROR, "lost the database connection applying node \"%s\": %s",
				   s->appliers[i].peer, PQerrorMessage(s->appliers[i].conn));
	close_apply(s);
	wb_log(WB_LOG_INFO, "applying peers again in %d ms; publishing goes on", s->apply_backoff_ms);
	s->apply_retry_at_us = wb_now_us() + (int64_t) s->apply_backoff_ms * 1000;
	s->apply_backoff_ms = s->apply_backoff_ms * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : s->apply_backoff_ms * 2;
}

/*
 * Apply what the peers' topics have fetched, and retry paused peers; for a
 * bounded time, so this node's own slot is read and answered in between.
 * Opens the apply half when it is due.
 */
static void
apply_some(wb_session *s, bool *more)
{
	*more = false;
	if (s->sync.npeers == 0)
		return;
	if (s->nappliers == 0)
	{
		if (wb_now_us() < s->apply_retry_at_us)
			return;
		if (open_apply(s) != WB_OK)
		{
			apply_failed(s);
			return;
		}
	}
	consume_retry_paused(&s->consumer);
	if (consume_poll(&s->consumer, APPLY_TURN_US, more) == WB_APPLY_FAILED)
	{
		*more = false;
		apply_failed(s);
		return;
	}
	resync_request_tick(&s->requests, s->conn, s->cfg, s->node);
	if (s->apply_backoff_ms > 1000 && wb_now_us() - s->apply_retry_at_us > (int64_t) MAX_BACKOFF_MS * 1000)
		s->apply_backoff_ms = 1000;		/* it has run well for a while */
}

/*
 * Open the publish half: the published tables, the replication connection,
 * the producer and its topic, the slot (with its initial copy when new),
 * then START_REPLICATION.  SESSION_CONTINUE when streaming.
 */
static wb_session_end
open_publish(wb_session *s)
{
	/*
	 * full_old_updates off: under REPLICA IDENTITY FULL (which start_sync
	 * sets in a mesh, for the large values an update leaves alone) apply
	 * finds rows by primary key and needs an update's old row only when
	 * the key changed.
	 */
	const char *names[] = {"only_local", "full_old_updates", "include_tables", "require_primary_key",
	"exclude_tables"};
	const char *values[5] = {"true", "off", NULL, NULL, NULL};
	wb_selection sel;
	int			rc;

	if (nodeinfo_published_tables(s->conn, &s->tables) != WB_OK ||
		pgstream_connect(&s->ps, s->cfg->conninfo, s->slot) != WB_OK ||
		publish_open(&s->pub, s->cfg, s->node) != WB_OK)
		return SESSION_RETRY;
	s->pub.wait_hook = backpressure_wait;
	s->pub.wait_arg = s;
	switch (slot_prepare(s->conn, &s->ps, &s->pub, &s->tables, s->snapshot, s->cfg->conninfo,
						 s->cfg->progress_interval_ms, &stop_requested))
	{
		case WB_SLOT_READY:
			break;
		case WB_SLOT_STOPPED:
			return SESSION_STOPPED;
		case WB_SLOT_RETRY:
			return SESSION_RETRY;
	}
	s->confirmed = slot_confirmed_lsn(s->conn, s->slot);
	control_publish_state(s->conn, "running", NULL, false);

	/*
	 * Every table with a primary key (in some schemas): a pattern the
	 * plugin matches as it decodes, so that a table made later is published
	 * from its first row, the one that made it included.
	 */
	if (nodeinfo_publish_selection(s->conn, &sel) != WB_OK)
		return SESSION_RETRY;
	values[2] = sel.include;
	values[3] = sel.require_primary_key ? "true" : "false";
	values[4] = sel.exclude;
	rc = pgstream_start(&s->ps, names, values, sel.exclude ? 5 : 4);
	nodeinfo_selection_free(&sel);
	if (rc != WB_OK || resync_serve_open(&s->resync, s->cfg, s->node, &s->pub) != WB_OK)
		return SESSION_RETRY;
	wb_log(WB_LOG_INFO, "node \"%s\": streaming slot \"%s\" (%d tables) to topic \"%s\" from " WB_LSN_FORMAT,
		   s->node, s->slot, s->tables.count, s->pub.topic, WB_LSN_ARGS(s->confirmed));
	s->publishing = true;
	return SESSION_CONTINUE;
}

/* Close the publish half: what was not acknowledged is not confirmed. */
static void
close_publish(wb_session *s)
{
	resync_serve_close(&s->resync);
	publish_close(&s->pub);
	pgstream_close(&s->ps);
	nodeinfo_tables_free(&s->tables);
	s->publishing = false;
}

/*
 * The publish half failed (logged where it happened): say so in status(),
 * close it and open it again after a backoff, from the slot's confirmed
 * position.  The apply half is not touched.
 */
static void
publish_failed(wb_session *s)
{
	if (wb_log_last_error()[0] != '\0')
		control_publish_state(s->conn, "retrying", wb_log_last_error(), false);
	close_publish(s);
	wb_log(WB_LOG_INFO, "publishing again in %d ms; applying goes on", s->publish_backoff_ms);
	s->publish_retry_at_us = wb_now_us() + (int64_t) s->publish_backoff_ms * 1000;
	s->publish_backoff_ms = s->publish_backoff_ms * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : s->publish_backoff_ms * 2;
}

/*
 * Read records while the producer has room (at most a turn's worth), serve
 * delivery reports, confirm what Kafka acknowledged.  *idle: nothing more
 * was buffered; *n: records read.
 */
static wb_session_end
publish_some(wb_session *s, bool *idle, int *n)
{
	*idle = false;
	for (*n = 0; *n < RECORDS_PER_TURN && !publish_backlogged(&s->pub); (*n)++)
	{
		wb_pgrecord rec;
		wb_pgread	got = pgstream_read(&s->ps, &rec);
		wb_publish_result pr;

		if (got == WB_PG_FAILED)
			return SESSION_RETRY;
		if (got == WB_PG_IDLE)
		{
			*idle = true;
			break;
		}
		pr = publish_record(&s->pub, rec.data, rec.len, rec.lsn);
		if (pr == WB_PUBLISH_STOPPED)
			return SESSION_STOPPED;
		if (pr != WB_PUBLISH_OK)
			return SESSION_RETRY;
	}
	publish_poll(&s->pub, 0);
	if (s->pub.failed || report_progress(s, false) != WB_OK)
		return SESSION_RETRY;
	if (s->publish_backoff_ms > 1000 &&
		wb_now_us() - s->publish_retry_at_us > (int64_t) MAX_BACKOFF_MS * 1000)
		s->publish_backoff_ms = 1000;	/* it has run well for a while */
	return SESSION_CONTINUE;
}

/*
 * Both halves, in turns, until a signal, a control notification or a
 * failure of the session's own connection.  Each half that fails closes
 * and opens again after its own backoff.
 */
static wb_session_end
run_halves(wb_session *s)
{
	while (!stop_requested && !reload_requested)
	{
		bool		idle = true;
		bool		apply_pending = false;
		bool		notified = false;
		int			n = 0;
		wb_session_end end = SESSION_CONTINUE;

		if (!s->publishing && wb_now_us() >= s->publish_retry_at_us)
			end = open_publish(s);
		if (end == SESSION_CONTINUE && s->publishing)
			end = publish_some(s, &idle, &n);
		if (end == SESSION_CONTINUE && s->publishing &&
			resync_serve_tick(&s->resync, &s->pub, s->confirmed) != WB_OK)
			end = SESSION_RETRY;
		if (end == SESSION_STOPPED)
			return SESSION_STOPPED;
		if (end == SESSION_RETRY)
			publish_failed(s);

		apply_some(s, &apply_pending);
		if (s->nappliers > 0 &&
			wb_now_us() - s->last_purge_us >= (int64_t) s->cfg->purge_interval_ms * 1000)
		{
			s->last_purge_us = wb_now_us();
			nodeinfo_purge_tombstones(s->conn);
		}
		if (s->publishing)
			heartbeat_tick(&s->heartbeat, s->conn, s->cfg->heartbeat_interval_ms);
		if (s->nappliers > 0)
			heartbeat_check_clocks(&s->heartbeat, s->conn, s->cfg->max_clock_skew_ms);
		if (control_notified(s->conn, &notified) != WB_OK)
			return SESSION_RETRY;
		if (notified)
		{
			wb_log(WB_LOG_INFO, "sync settings changed: applying them");
			return SESSION_RELOAD;
		}
		if (wait_between_turns(s, idle, apply_pending, n) != WB_OK)
			publish_failed(s);
	}
	return stop_requested ? SESSION_STOPPED : SESSION_RELOAD;
}

/*
 * Clean end: let Kafka acknowledge what is in flight, confirm it, leave.
 * What is not acknowledged in time is simply not confirmed.
 */
static void
session_finish(wb_session *s, bool flush)
{
	if (flush && s->pub.rk != NULL)
	{
		(void) publish_flush(&s->pub, SHUTDOWN_FLUSH_MS);
		if (s->ps.conn != NULL && !s->pub.failed)
			(void) report_progress(s, true);
		wb_log(WB_LOG_INFO, "stopped: published %llu transactions in %llu messages (%llu bytes); confirmed " WB_LSN_FORMAT " to slot \"%s\"",
			   (unsigned long long) s->pub.transactions, (unsigned long long) s->pub.messages,
			   (unsigned long long) s->pub.bytes, WB_LSN_ARGS(s->confirmed), s->slot ? s->slot : "");
	}
	close_apply(s);
	resync_serve_close(&s->resync);
	publish_close(&s->pub);
	pgstream_close(&s->ps);
	if (s->conn)
	{
		if (!flush && wb_log_last_error()[0] != '\0')
			control_publish_state(s->conn, "retrying", wb_log_last_error(), false);
		PQfinish(s->conn);
	}
	nodeinfo_tables_free(&s->tables);
	control_sync_free(&s->sync);
	free(s->node);
	free(s->slot);
	memset(s, 0, sizeof(*s));
}

/*
 * Sync stopped (or never started): hold no slot, apply nothing, wait for
 * start_sync().  A stop_sync(drop_slot => true) that found the slot in use
 * is finished here, now that this process let go of it.
 */
static wb_session_end
idle(wb_session *s)
{
	if (s->sync.drop_slot_requested && nodeinfo_forget_slot(s->conn, s->slot) != WB_OK)
		return SESSION_RETRY;
	control_publish_state(s->conn, "stopped", NULL, false);
	wb_log(WB_LOG_INFO, "node \"%s\": sync is stopped; waiting for walbridge.start_sync()", s->node);
	while (!stop_requested && !reload_requested)
	{
		struct pollfd pfd = {.fd = PQsocket(s->conn), .events = POLLIN};
		bool		notified = false;

		(void) poll(&pfd, 1, 1000);
		if (control_notified(s->conn, &notified) != WB_OK)
			return SESSION_RETRY;
		if (notified)
			return SESSION_RELOAD;
	}
	return stop_requested ? SESSION_STOPPED : SESSION_RELOAD;
}

static wb_session_end
session_run(const struct wb_config *cfg)
{
	wb_session	s;
	wb_session_end end;

	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	s.last_stats_us = wb_now_us();

	if ((s.conn = nodeinfo_connect(cfg->conninfo)) == NULL)
		return SESSION_RETRY;
	if (nodeinfo_node_name(s.conn, &s.node) != WB_OK)
	{
		/*
		 * No extension or no node name is for the administrator to fix; a
		 * server that went away meanwhile (a restart) is retried.
		 */
		bool		lost = PQstatus(s.conn) != CONNECTION_OK;

		session_finish(&s, false);
		return lost ? SESSION_RETRY : SESSION_FATAL;
	}
	s.slot = cfg->slot_name ? xstrdup(cfg->slot_name) : slot_default_name(s.node);
	if (control_listen(s.conn) != WB_OK || control_read_sync(s.conn, &s.sync) != WB_OK)
	{
		session_finish(&s, false);
		return SESSION_RETRY;
	}
	if (!s.sync.running)
	{
		end = idle(&s);
		session_finish(&s, false);
		return end;
	}
	s.snapshot = cfg->snapshot && s.sync.snapshot;

	s.apply_backoff_ms = 1000;
	s.publish_backoff_ms = 1000;
	end = open_publish(&s);
	if (end == SESSION_CONTINUE)
		end = run_halves(&s);
	session_finish(&s, end != SESSION_FATAL && end != SESSION_RETRY);
	return end;
}

/* Sleep up to ms, waking early for a signal. */
static void
backoff_sleep(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (!stop_requested && nanosleep(&ts, &ts) != 0)
		;
}

int
daemon_run(struct wb_config *cfg)
{
	int			backoff_ms = 1000;

	config_log(cfg);
	while (!stop_requested)
	{
		int64_t		started = wb_now_us();
		wb_session_end end = session_run(cfg);

		switch (end)
		{
			case SESSION_CONTINUE:	/* session_run never ends so */
			case SESSION_STOPPED:
				return 0;
			case SESSION_FATAL:
				return 1;
			case SESSION_RELOAD:
				if (reload_requested)
				{
					struct wb_config fresh;

					reload_requested = 0;
					if (config_reload(cfg, &fresh) == WB_OK)
					{
						config_free(cfg);
						*cfg = fresh;
						wb_log(WB_LOG_INFO, "configuration reloaded");
						config_log(cfg);
					}
					else
						wb_log(WB_LOG_WARNING, "configuration file has errors: keeping the previous configuration");
				}
				backoff_ms = 1000;
				break;
			case SESSION_RETRY:
				if (wb_now_us() - started > (int64_t) MAX_BACKOFF_MS * 1000)
					backoff_ms = 1000;
				wb_log(WB_LOG_INFO, "retrying in %d ms", backoff_ms);
				backoff_sleep(backoff_ms);
				backoff_ms = backoff_ms * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff_ms * 2;
				break;
		}
	}
	return 0;
}
