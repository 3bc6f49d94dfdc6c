/*-------------------------------------------------------------------------
 *
 * main.c
 *		walbridged: per node, publish the local slot into Kafka and apply
 *		the peers' topics to the local database (daemon.c).
 *
 * Exit status: 0 after a clean stop (SIGTERM, SIGINT) or --help,
 * 1 when it cannot run (bad configuration, no node name, PID file held
 * by another walbridged).  "walbridged dump TOPIC" prints a topic instead
 * (dump.c).
 *
 * IDENTIFICATION
 *		forwarder/main.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "dump.h"
#include "pidfile.h"

int
main(int argc, char **argv)
{
	struct wb_config cfg;
	int			status;

	if (argc > 1 && strcmp(argv[1], "dump") == 0)
		exit(dump_main(argc - 1, argv + 1, argv[0]));
	switch (config_load(argc, argv, &cfg))
	{
		case WB_CONFIG_EXIT_OK:
			exit(0);
		case WB_CONFIG_EXIT_ERROR:
			exit(1);
		case WB_CONFIG_RUN:
			break;
	}
	/* signals first: whoever reads the PID file may send SIGTERM at once */
	daemon_install_signals();
	if (cfg.pid_file != NULL && pidfile_create(cfg.pid_file) != WB_OK)
	{
		config_free(&cfg);
		exit(1);
	}
	status = daemon_run(&cfg);
	pidfile_remove();
	config_free(&cfg);
	exit(status);
}
