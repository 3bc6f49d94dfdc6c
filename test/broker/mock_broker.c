/*-------------------------------------------------------------------------
 *
 * mock_broker.c
 *		A Kafka broker for tests and the demo: librdkafka's mock cluster
 *		(rdkafka_mock.h), a real Kafka wire-protocol peer kept in memory,
 *		run as a process of its own.
 *
 * Usage: mock_broker [BROKER_COUNT [TOPIC...]]: each TOPIC is created with
 * one partition (this mock cannot serve CreateTopics, and a topic it
 * creates on first use gets four partitions), and so is walbridged's
 * default resync_topic, walbridge-resync, which every walbridged reads.
 *
 * Prints the bootstrap servers on the first line of stdout, then reads
 * fault-injection commands on stdin, one per line, answering each with
 * "ok" or "error: ..." on stdout:
 *
 *   down BROKER_ID            broker stops answering (connections close)
 *   up BROKER_ID              broker is back
 *   rtt BROKER_ID MS          add round-trip latency
 *   errors API_KEY ERR [N]    the next N (default 1) requests of that API
 *                             (0 Produce, 1 Fetch, 3 Metadata, ...) fail
 *                             with Kafka error code ERR
 *   topic-error TOPIC ERR     metadata requests for TOPIC return ERR
 *   create TOPIC PARTS RF     create a topic
 *
 * Runs until SIGTERM or SIGINT (end of stdin does not stop it).  Keeps only
 * the newest ~5 MiB per partition, like any mock cluster: tests stay under
 * that or consume while they produce.
 *
 * IDENTIFICATION
 *		test/broker/mock_broker.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static volatile sig_atomic_t run = 1;

static void
stop(int sig)
{
	run = 0;
}

static void
answer(const char *fmt, const char *arg)
{
	printf(fmt, arg);
	putchar('\n');
	fflush(stdout);
}

static void
handle_command(rd_kafka_mock_cluster_t *mcluster, char *line)
{
	char		topic[256];
	int			a,
				b,
				c = 1;
	rd_kafka_resp_err_t err;

	line[strcspn(line, "\r\n")] = '\0';
	if (sscanf(line, "down %d", &a) == 1)
		err = rd_kafka_mock_broker_set_down(mcluster, a);
	else if (sscanf(line, "up %d", &a) == 1)
		err = rd_kafka_mock_broker_set_up(mcluster, a);
	else if (sscanf(line, "rtt %d %d", &a, &b) == 2)
		err = rd_kafka_mock_broker_set_rtt(mcluster, a, b);
	else if (sscanf(line, "errors %d %d %d", &a, &b, &c) >= 2)
	{
		rd_kafka_resp_err_t *errs = calloc(c, sizeof(*errs));

		for (int i = 0; i < c; i++)
			errs[i] = (rd_kafka_resp_err_t) b;
		rd_kafka_mock_push_request_errors_array(mcluster, (int16_t) a, c, errs);
		free(errs);
		err = RD_KAFKA_RESP_ERR_NO_ERROR;
	}
	else if (sscanf(line, "topic-error %255s %d", topic, &a) == 2)
	{
		rd_kafka_mock_topic_set_error(mcluster, topic, (rd_kafka_resp_err_t) a);
		err = RD_KAFKA_RESP_ERR_NO_ERROR;
	}
	else if (sscanf(line, "create %255s %d %d", topic, &a, &b) == 3)
		err = rd_kafka_mock_topic_create(mcluster, topic, a, b);
	else if (line[0] == '\0')
		return;
	else
	{
		answer("error: unknown command \"%s\"", line);
		return;
	}

	if (err)
		answer("error: %s", rd_kafka_err2str(err));
	else
		answer("ok", NULL);
}

int
main(int argc, char **argv)
{
	char		errstr[512];
	int			nbrokers = (argc > 1) ? atoi(argv[1]) : 1;
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mcluster;
	bool		stdin_open = true;
	char		line[1024];

	if (nbrokers < 1)
	{
		fprintf(stderr, "usage: %s [BROKER_COUNT [TOPIC...]]\n", argv[0]);
		return 2;
	}

	/* The handle only hosts the cluster; it produces nothing. */
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL)
	{
		fprintf(stderr, "mock_broker: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		return 1;
	}
	conf = NULL;			/* now owned by rk */

	mcluster = rd_kafka_mock_cluster_new(rk, nbrokers);
	if (mcluster == NULL)
	{
		fprintf(stderr, "mock_broker: could not create the mock cluster\n");
		rd_kafka_destroy(rk);
		return 1;
	}

	for (int i = 1; i < (argc > 2 ? argc : 2); i++)
	{
		/* argv[1] is the broker count: its turn creates the resync topic */
		const char *topic = i == 1 ? "walbridge-resync" : argv[i];
		rd_kafka_resp_err_t err;

		if (i > 1 && strcmp(topic, "walbridge-resync") == 0)
			continue;			/* created already */
		err = rd_kafka_mock_topic_create(mcluster, topic, 1, 1);
		if (err)
		{
			fprintf(stderr, "mock_broker: could not create topic \"%s\": %s\n",
					topic, rd_kafka_err2str(err));
			return 1;
		}
	}

	signal(SIGTERM, stop);
	signal(SIGINT, stop);
	signal(SIGPIPE, SIG_IGN);

	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
	fflush(stdout);

	while (run)
	{
		fd_set		readable;
		struct timeval timeout = {0, 200 * 1000};

		if (!stdin_open)
		{
			usleep(200 * 1000);
			continue;
		}
		FD_ZERO(&readable);
		FD_SET(STDIN_FILENO, &readable);
		if (select(STDIN_FILENO + 1, &readable, NULL, NULL, &timeout) <= 0)
			continue;
		if (fgets(line, sizeof(line), stdin) == NULL)
			stdin_open = false;
		else
			handle_command(mcluster, line);
	}

	rd_kafka_mock_cluster_destroy(mcluster);
	rd_kafka_destroy(rk);
	return 0;
}
