/* Fuzz target for the file decoders (tr_decode.h): each input is written to
 * one temporary file and decoded as every format, in every encoding, with
 * small row limits and a source that maps columns, sets the type and makes
 * ids, reading every row and freeing everything. Malformed input must give
 * row errors, never a crash, a leak or an endless loop. CSV is also decoded
 * with the line splitter off, and both ways must give the same rows. Built
 * with libFuzzer under clang, or with replay_main.c under gcc. Not a test of
 * what the rows contain: see tests/unit/test_decode.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fuzz_file.h"
#include "tr_decode.h"
#include "../../daemon/decode_internal.h"

static const char *path; /* the input, as a file */

/* Appends a row's printed form to *out (for comparing two decodes). */
static void append(char **out, size_t *len, const struct tr_row *row)
{
	char *text = row->event ? cJSON_PrintUnformatted(row->event) : NULL;
	char head[400];
	int n = snprintf(head, sizeof(head), "%d %d %d %s|", row->line, row->err.line, row->err.column,
			 row->event ? "" : row->err.message);
	size_t add = (size_t)n + (text ? strlen(text) : 0) + 1;
	char *grown = realloc(*out, *len + add + 1);
	if (!grown)
		abort();
	*out = grown;
	memcpy(*out + *len, head, (size_t)n);
	*len += (size_t)n;
	if (text) {
		memcpy(*out + *len, text, strlen(text));
		*len += strlen(text);
	}
	(*out)[(*len)++] = '\n';
	(*out)[*len] = 0;
	free(text);
}

/* Decodes the file as format in encoding; with a mapping source when
 * mapped. Returns every row printed, for the caller to free. */
static char *decode_as(const char *format, const char *encoding, size_t max_row, int mapped, size_t size)
{
	struct tr_column columns[] = {{"a", "account"}, {"店铺", "account"}, {"b", "id"}, {"c", "type"}};
	char *ids[] = {"account", "n"};
	struct tr_source src = {0};
	src.encoding = (char *)encoding;
	src.timezone = "UTC";
	src.format = (char *)format;
	if (mapped) {
		src.type = "fuzz.row";
		src.columns = columns;
		src.ncolumns = 4;
		src.id_fields = ids;
		src.nid_fields = 2;
	}
	struct tr_errors errs = {0};
	struct tr_decoder *d;
	char *out = NULL;
	size_t len = 0, rows = 0;
	if (tr_decoder_open(path, &src, max_row, &d, &errs) == 0) {
		struct tr_row row;
		int rc;
		while ((rc = tr_decoder_next(d, &row)) == 1) {
			if (row.event ? !cJSON_IsObject(row.event) : !row.err.message[0] || row.line < 1)
				abort(); /* a row is an object, or an error that says where and why */
			if (++rows > 2 * size + 16)
				abort(); /* more rows than the input can hold: a loop */
			append(&out, &len, &row);
			cJSON_Delete(row.event);
		}
		if (rc < 0)
			abort(); /* no I/O error on a readable file */
		tr_decoder_close(d);
	} else if (errs.n == 0) {
		abort(); /* a file that cannot be opened says why */
	}
	tr_errors_free(&errs);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	path = fuzz_file_write("fuzz_decode", "", data, size);

	static const struct { const char *format, *encoding; size_t max_row; int mapped; } runs[] = {
		{"ndjson", "utf-8", 256, 1}, {"ndjson", "gbk", 1 << 20, 0},
		{"json", "utf-8", 300, 1}, {"json", "shift_jis", 1 << 20, 0},
		{"yaml", "utf-8", 512, 1}, {"yaml", "gb18030", 1 << 20, 0},
		{"tsv", "shift_jis", 64, 1},
	};
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
		free(decode_as(runs[i].format, runs[i].encoding, runs[i].max_row, runs[i].mapped, size));

	/* CSV both ways: the line splitter must agree with libcsv. */
	static const struct { const char *encoding; size_t max_row; int mapped; } csv[] = {
		{"utf-8", 128, 1}, {"gbk", 1 << 20, 0},
	};
	for (size_t i = 0; i < sizeof(csv) / sizeof(csv[0]); i++) {
		char *fast = decode_as("csv", csv[i].encoding, csv[i].max_row, csv[i].mapped, size);
		tr_decode_csv_split = false;
		char *slow = decode_as("csv", csv[i].encoding, csv[i].max_row, csv[i].mapped, size);
		tr_decode_csv_split = true;
		if ((fast == NULL) != (slow == NULL) || (fast && strcmp(fast, slow) != 0)) {
			fprintf(stderr, "line splitter and libcsv differ:\n--- split\n%s--- libcsv\n%s",
				fast ? fast : "", slow ? slow : "");
			abort();
		}
		free(fast);
		free(slow);
	}
	return 0;
}
