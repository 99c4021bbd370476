/* For fuzz targets whose parser reads a file: each input is written to one
 * temporary file, made on the first call and removed at exit. Header-only:
 * each target is its own program. */
#ifndef FUZZ_FILE_H
#define FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fuzz_path[64];

static void fuzz_file_remove(void)
{
	if (fuzz_path[0])
		unlink(fuzz_path);
}

/* Writes data to the file named like name.XXXXXX<suffix> (suffix "" or an
 * extension such as ".yaml") and returns its path; aborts on any failure. */
static const char *fuzz_file_write(const char *name, const char *suffix, const uint8_t *data, size_t size)
{
	if (!fuzz_path[0]) {
		snprintf(fuzz_path, sizeof(fuzz_path), "/tmp/%s.XXXXXX%s", name, suffix);
		int fd = mkstemps(fuzz_path, (int)strlen(suffix));
		if (fd < 0)
			abort();
		close(fd);
		atexit(fuzz_file_remove);
	}
	FILE *f = fopen(fuzz_path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	return fuzz_path;
}

#endif
