/* Test-only, loaded into triaged with LD_PRELOAD: fdatasync made slow or
 * failing on demand, so that tests can see what waits for a WAL flush
 * under durability full. The file named by TR_FSYNC_CONTROL says what to
 * do: "delay MS" or "fail" (EIO); absent or anything else: pass through. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int fdatasync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	const char *path = getenv("TR_FSYNC_CONTROL");
	FILE *f = path ? fopen(path, "r") : NULL;
	char what[64] = "";
	if (f) {
		if (!fgets(what, sizeof(what), f))
			what[0] = 0;
		fclose(f);
	}
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
