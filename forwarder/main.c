/*-------------------------------------------------------------------------
 *
 * main.c
 *		walbridged: stream a walbridge node's slot into Kafka.
 *
 * Exit status: 0 after a clean stop (SIGTERM, SIGINT) or --help,
 * 1 when it cannot run (bad configuration, no node name).
 *
 * IDENTIFICATION
 *		forwarder/main.c
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>

#include "config.h"
#include "daemon.h"

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
	daemon_install_signals();
	status = daemon_run(&cfg);
	config_free(&cfg);
	exit(status);
}
