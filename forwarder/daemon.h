/*-------------------------------------------------------------------------
 *
 * daemon.h
 *		walbridged's event loop: sessions of slot -> Kafka, retried with
 *		backoff, stopped and reloaded by signals.
 *
 * IDENTIFICATION
 *		forwarder/daemon.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_DAEMON_H
#define WB_DAEMON_H

#include "config.h"

extern void daemon_install_signals(void);
extern int	daemon_run(struct wb_config *cfg);

#endif							/* WB_DAEMON_H */
