/*-------------------------------------------------------------------------
 *
 * main.c
 *		walbridged: per node, publish the local slot into Kafka and apply
 *		the peers' topics to the local database (daemon.c).
 *
 * Exit status: 0 after a clean stop (SIGTERM, SIGINT) or --help,
 * 1 when it cannot run (bad configuration, no node name, PID file held
 * by another walbridged).
 *
 * IDENTIFICATION
 *		forwarder/main.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>

#include "config.h"
#include "daemon.h"
#include "pidfile.h"

int
main(int argc, char **argv)
{
	struct wb_config cfg;
	int			status;

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
