/* A main() for any fuzz target built without libFuzzer (gcc): runs
 * LLVMFuzzerTestOneInput on a few built-in seeds and on every file of the
 * corpus folder given as argv[1] (which may be missing), each followed by a
 * few hundred deterministic mutations of it: bit flips, truncations, byte
 * insertions, overwrites and repeated chunks. Under the sanitizers a crash,
 * leak or undefined behaviour stops the run with an error; when it ends it
 * prints "N inputs, 0 crashes". Shared by every tests/fuzz/fuzz_*.c target,
 * so nothing here knows what the target parses. Not a fuzzer: no coverage
 * feedback, the same inputs every run. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MUTATIONS 300
#define MAX_INPUT_BYTES (1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t inputs;

/* Bytes that change how text parsers see the input. */
static const uint8_t interesting[] = {
	'"', '\'', '\\', ',', '\t', '\n', '\r', ' ', '{', '}', '[', ']', ':', '-', '#', '&', '*',
	'0', 'a', 0x00, 0x7f, 0x80, 0x81, 0xa1, 0xc3, 0xe4, 0xef, 0xf0, 0xfe, 0xff,
};

static const char *seeds[] = {
	"",
	"\n",
	"a,b,c\n1,\"two\nlines\",3\n",
	"{\"type\":\"x.y\",\"id\":\"1\",\"n\":[1,2,{\"k\":null}]}\n",
	"[{\"a\":1},{\"b\":\"s\\\"t\\u00e9\"}]",
	"- a: 1\n  b: [x, y]\n  c: {d: e}\n",
	"\xef\xbb\xbfx\r\ny\rz\n",
	"\x81\x40\x95\x32\x82\x36\x81\x60\xff\xfe",
	"{\"op\":\"ping\"}\n{\"op\":\"tickets\",\"state\":\"open\"}\n",
};

/* xorshift64*: the same sequence on every run. */
static uint64_t rng;

static uint64_t random_next(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static void run(const uint8_t *data, size_t size)
{
	LLVMFuzzerTestOneInput(data, size);
	inputs++;
}

/* Runs data, then MUTATIONS variants of it seeded by seed. */
static void run_with_mutations(const uint8_t *data, size_t size, uint64_t seed)
{
	size_t cap = 2 * size + 64;
	uint8_t *buf = malloc(cap);
	if (!buf) {
		perror("malloc");
		exit(2);
	}
	run(data, size);
	rng = seed * 0x9E3779B97F4A7C15ULL + 1;
	for (int i = 0; i < MUTATIONS; i++) {
		size_t n = size;
		memcpy(buf, data, size);
		int edits = 1 + (int)(random_next() % 4);
		for (int e = 0; e < edits; e++) {
			uint64_t r = random_next();
			size_t at = n ? (size_t)(r >> 16) % n : 0;
			switch ((i + e) % 5) {
			case 0: /* flip a bit */
				if (n)
					buf[at] ^= (uint8_t)(1u << (r & 7));
				break;
			case 1: /* cut the end off */
				n = n ? (size_t)(r >> 16) % (n + 1) : 0;
				break;
			case 2: /* insert an interesting byte */
				if (n + 1 < cap) {
					at = (size_t)(r >> 16) % (n + 1);
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = interesting[r % sizeof(interesting)];
					n++;
				}
				break;
			case 3: /* overwrite with an interesting byte */
				if (n)
					buf[at] = interesting[r % sizeof(interesting)];
				break;
			case 4: { /* repeat a chunk */
				size_t len = n ? 1 + (size_t)(r >> 40) % (n < 16 ? n : 16) : 0;
				if (at + len <= n && n + len <= cap) {
					memmove(buf + at + len, buf + at, n - at);
					n += len;
				}
				break;
			}
			}
		}
		run(buf, n);
	}
	free(buf);
}

/* Reads a whole file of at most MAX_INPUT_BYTES bytes; NULL when it cannot. */
static uint8_t *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	uint8_t *buf = malloc(MAX_INPUT_BYTES);
	*size = buf ? fread(buf, 1, MAX_INPUT_BYTES, f) : 0;
	fclose(f);
	return buf;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	uint64_t seed = 1;
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		run_with_mutations((const uint8_t *)seeds[i], strlen(seeds[i]), seed++);

	DIR *dir = argc > 1 ? opendir(argv[1]) : NULL;
	if (argc > 1 && !dir && errno != ENOENT) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	if (dir) {
		char **names = NULL;
		size_t n = 0;
		struct dirent *e;
		while ((e = readdir(dir))) {
			if (e->d_name[0] == '.')
				continue;
			char **grown = realloc(names, (n + 1) * sizeof(*names));
			if (!grown || !(grown[n] = malloc(strlen(argv[1]) + strlen(e->d_name) + 2))) {
				perror("malloc");
				return 2;
			}
			names = grown;
			sprintf(names[n++], "%s/%s", argv[1], e->d_name);
		}
		closedir(dir);
		qsort(names, n, sizeof(*names), by_name); /* the same order on every run */
		for (size_t i = 0; i < n; i++) {
			struct stat st;
			size_t size;
			uint8_t *data;
			if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode) && (data = read_file(names[i], &size))) {
				run_with_mutations(data, size, seed++);
				free(data);
			}
			free(names[i]);
		}
		free(names);
	}
	printf("%zu inputs, 0 crashes\n", inputs);
	return 0;
}
