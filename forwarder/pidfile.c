/*-------------------------------------------------------------------------
 *
 * pidfile.c
 *		Create, lock and remove walbridged's PID file.
 *
 * The lock, not the file's existence, says whether a walbridged runs: the
 * kernel drops it when the process ends, however it ends, so a stale file
 * never blocks a start and a reused PID is never mistaken for ours.  The
 * file is removed while still locked; a walbridged that opened it just
 * before then finds, once it gets the lock, that the path now names
 * another file (or none), and starts over with the new one.
 *
 * IDENTIFICATION
 *		forwarder/pidfile.c
 *
 *-------------------------------------------------------------------------
 */
#include "pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "wb.h"

/* A path replaced under us this often is being fought over: give up. */
#define PIDFILE_ATTEMPTS 10

static int	pid_fd = -1;		/* open and locked until pidfile_remove */
static char *pid_path;			/* malloc'd copy of the path */

/* The file is locked by someone else: say who, if the file says. */
static void
report_holder(int fd, const char *path)
{
	char		buf[32];
	ssize_t		len = pread(fd, buf, sizeof(buf) - 1, 0);
	long		pid = 0;

	if (len > 0)
	{
		buf[len] = '\0';
		pid = strtol(buf, NULL, 10);
	}
	if (pid > 0)
		wb_log(WB_LOG_ERROR, "another walbridged (PID %ld) is running with PID file \"%s\"",
			   pid, path);
	else
		wb_log(WB_LOG_ERROR, "another walbridged is running with PID file \"%s\"", path);
}

/*
 * Open and lock path; on success *fd is open and locked, and the path
 * names that very file.
 */
static int
pidfile_lock(const char *path, int *fd)
{
	for (int attempt = 0; attempt < PIDFILE_ATTEMPTS; attempt++)
	{
		struct stat by_fd,
					by_path;

		*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (*fd < 0)
		{
			wb_log(WB_LOG_ERROR, "could not open PID file \"%s\": %s", path, strerror(errno));
			return WB_ERR;
		}
		if (flock(*fd, LOCK_EX | LOCK_NB) != 0)
		{
			if (errno == EWOULDBLOCK)
				report_holder(*fd, path);
			else
				wb_log(WB_LOG_ERROR, "could not lock PID file \"%s\": %s", path, strerror(errno));
			goto error;
		}
		if (fstat(*fd, &by_fd) != 0)
		{
			wb_log(WB_LOG_ERROR, "could not stat PID file \"%s\": %s", path, strerror(errno));
			goto error;
		}
		if (stat(path, &by_path) == 0 &&
			by_fd.st_dev == by_path.st_dev && by_fd.st_ino == by_path.st_ino)
			return WB_OK;
		/* removed or replaced between our open and our lock */
		close(*fd);
	}
	wb_log(WB_LOG_ERROR, "PID file \"%s\" kept being replaced while walbridged tried to lock it", path);
	*fd = -1;
	return WB_ERR;

error:
	close(*fd);
	*fd = -1;
	return WB_ERR;
}

int
pidfile_create(const char *path)
{
	char		buf[32];
	int			len;
	ssize_t		written = -1;
	int			fd;

	if (pidfile_lock(path, &fd) != WB_OK)
		return WB_ERR;
	len = snprintf(buf, sizeof(buf), "%ld\n", (long) getpid());
	if (ftruncate(fd, 0) != 0 || (written = pwrite(fd, buf, len, 0)) != len)
	{
		if (written >= 0)
			errno = ENOSPC;		/* a short write sets no errno */
		wb_log(WB_LOG_ERROR, "could not write PID file \"%s\": %s", path, strerror(errno));
		/* it is ours, and now wrong: leave no PID file behind */
		(void) unlink(path);
		close(fd);
		return WB_ERR;
	}
	pid_path = xstrdup(path);
	pid_fd = fd;
	return WB_OK;
}

void
pidfile_remove(void)
{
	if (pid_fd < 0)
		return;
	if (unlink(pid_path) != 0 && errno != ENOENT)
		wb_log(WB_LOG_WARNING, "could not remove PID file \"%s\": %s", pid_path, strerror(errno));
	close(pid_fd);
	pid_fd = -1;
	free(pid_path);
	pid_path = NULL;
}
