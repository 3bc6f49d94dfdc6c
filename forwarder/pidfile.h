/*-------------------------------------------------------------------------
 *
 * pidfile.h
 *		walbridged's PID file (--pid-file, pid_file): the process ID of a
 *		running walbridged, for scripts and service managers that must stop
 *		it by signal.
 *
 * The file is locked (flock) for the life of the process: a second
 * walbridged given the same file refuses to start while the first runs,
 * and a file left behind by a crash (whose lock died with its process)
 * is simply taken over, whatever process now has that PID.
 *
 * IDENTIFICATION
 *		forwarder/pidfile.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_PIDFILE_H
#define WB_PIDFILE_H

/*
 * Lock path and write this process's ID into it.  WB_OK, or WB_ERR after
 * logging why (another walbridged holds it, or a system error).  At most
 * one PID file per process.
 */
extern int	pidfile_create(const char *path);

/* Remove the file created by pidfile_create, if any, and release it. */
extern void pidfile_remove(void);

#endif							/* WB_PIDFILE_H */
