/* Test-only, loaded into triaged with LD_PRELOAD: the disk made slow, failing
 * or full on demand, so that tests can see what waits for a WAL flush under
 * durability full and what the daemon says while its commits fail. The file
 * named by TR_FSYNC_CONTROL says what to do:
 *   "delay MS"  fdatasync sleeps MS first;
 *   "fail"      fdatasync fails with EIO;
 *   "full"      writes to the WAL (a file whose name ends in -wal) fail with
 *               ENOSPC, as on a full disk;
 *   "eio"       writes to the WAL fail with EIO;
 * absent or anything else: pass through. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* The start of the control file into what (empty when there is none).
 * Only open, read and close: write() is also called from libuv's signal
 * handler, where stdio (it allocates) must not run. */
static void control(char *what, size_t len)
{
	int saved = errno;
	const char *path = getenv("TR_FSYNC_CONTROL");
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	ssize_t n = fd >= 0 ? read(fd, what, len - 1) : 0;
	if (fd >= 0)
		close(fd);
	what[n > 0 ? n : 0] = 0;
	errno = saved;
}

int fdatasync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	char what[64];
	control(what, sizeof(what));
	long ms;
	if (strncmp(what, "fail", 4) == 0) {
		errno = EIO;
		return -1;
	}
	if (sscanf(what, "delay %ld", &ms) == 1 && ms > 0) {
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	return real(fd);
}

/* The errno a write to fd fails with now, or 0 to let it through. Only the
 * WAL is failed: the daemon's logs and socket answers still go out. */
static int write_error(int fd)
{
	char what[64];
	control(what, sizeof(what));
	int err = strncmp(what, "full", 4) == 0 ? ENOSPC : strncmp(what, "eio", 3) == 0 ? EIO : 0;
	if (!err)
		return 0;
	int saved = errno;
	char link[64], path[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	errno = saved;
	if (n < 4)
		return 0;
	path[n] = 0;
	return strcmp(path + n - 4, "-wal") == 0 ? err : 0;
}

ssize_t write(int fd, const void *buf, size_t count)
{
	static ssize_t (*real)(int, const void *, size_t);
	if (!real)
		real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	int err = fd > 2 ? write_error(fd) : 0;
	if (err) {
		errno = err;
		return -1;
	}
	return real(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);
	if (!real)
		real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	int err = write_error(fd);
	if (err) {
		errno = err;
		return -1;
	}
	return real(fd, buf, count, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off64_t);
	if (!real)
		real = (ssize_t (*)(int, const void *, size_t, off64_t))dlsym(RTLD_NEXT, "pwrite64");
	int err = write_error(fd);
	if (err) {
		errno = err;
		return -1;
	}
	return real(fd, buf, count, off);
}
