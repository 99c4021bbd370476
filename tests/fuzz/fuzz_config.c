/* Fuzz target for the config loader (tr_config.h): each input is written to
 * a temporary .yaml file and loaded. A load either succeeds with no error
 * listed, or fails with every problem listed, each naming the file, a line
 * and a sentence; the config is freed either way. Malformed input must never
 * crash, leak or loop. Built with libFuzzer under clang, or with
 * replay_main.c under gcc. Not a test of what each key means: see
 * tests/unit/test_config.c. */
#include "fuzz_file.h"
#include "tr_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file_write("fuzz_config", ".yaml", data, size);
	struct tr_config cfg;
	struct tr_errors errs = {0};
	int rc = tr_config_load(path, &cfg, &errs);
	if ((rc == 0) != (errs.n == 0))
		abort(); /* success lists nothing; failure lists why */
	for (size_t i = 0; i < errs.n; i++) {
		const struct tr_error *e = &errs.items[i];
		if (strcmp(e->file, path) != 0 || !e->message[0] || e->line < 1) {
			fprintf(stderr, "error without its file or reason: %s:%d: %s\n", e->file, e->line, e->message);
			abort();
		}
	}
	tr_errors_free(&errs);
	tr_config_free(&cfg);
	return 0;
}
