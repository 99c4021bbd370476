/* Unit tests of the file decoders (tr_decode.h): every shared sample decoded
 * as the samples' README describes, and generated files for what the samples
 * do not show (encodings, CSV corner cases, limits, huge and deep input).
 * Each test asserts the rows a user would see: their lines, fields and
 * errors. Files are made in a mkdtemp folder removed at the end. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "tr_decode.h"
#include "tr_event.h"
#include "../../daemon/decode_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define TR_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TR_ASAN 1
#endif
#endif
#ifdef TR_ASAN
/* From the ASan runtime (sanitizer/allocator_interface.h, which gcc does not ship). */
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t heap_in_use(void) { return __sanitizer_get_current_allocated_bytes(); }
#else
#include <malloc.h>
static size_t heap_in_use(void)
{
	struct mallinfo2 m = mallinfo2();
	return m.uordblks + m.hblkhd;
}
#endif

#define SAMPLES TR_SHARED_DIR "/samples/"

static char tmpdir[] = "/tmp/test_decode.XXXXXX";

/* What decoding a file gave: the open result and every row. */
struct row_result {
	int line;
	cJSON *ev;
	struct tr_error err;
};
struct result {
	int open_rc;
	struct tr_errors open_errs;
	int end_rc;
	size_t n;
	struct row_result *rows;
};

static void decode(const char *path, const struct tr_source *src, size_t max, struct result *r)
{
	memset(r, 0, sizeof(*r));
	struct tr_decoder *d;
	r->open_rc = tr_decoder_open(path, src, max, &d, &r->open_errs);
	if (r->open_rc < 0)
		return;
	struct tr_row row;
	size_t cap = 0;
	while ((r->end_rc = tr_decoder_next(d, &row)) == 1) {
		if (r->n == cap) {
			cap = cap ? 2 * cap : 16;
			r->rows = realloc(r->rows, cap * sizeof(*r->rows));
			assert_non_null(r->rows);
		}
		r->rows[r->n].line = row.line;
		r->rows[r->n].ev = row.event;
		r->rows[r->n].err = row.err;
		if (!row.event)
			assert_true(row.err.message[0] != 0);
		r->n++;
	}
	tr_decoder_close(d);
}

static void result_free(struct result *r)
{
	for (size_t i = 0; i < r->n; i++)
		cJSON_Delete(r->rows[i].ev);
	free(r->rows);
	tr_errors_free(&r->open_errs);
	memset(r, 0, sizeof(*r));
}

/* Row i's string field key; fails the test when the row is an error or the
 * field is missing or not a string. */
static const char *field(const struct result *r, size_t i, const char *key)
{
	assert_true(i < r->n);
	if (!r->rows[i].ev)
		fail_msg("row %zu (line %d) is an error: %s", i, r->rows[i].line, r->rows[i].err.message);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->rows[i].ev, key);
	if (!cJSON_IsString(v))
		fail_msg("row %zu has no string field \"%s\"", i, key);
	return v->valuestring;
}

/* Asserts that row i is an error at line whose message contains text. */
static void assert_row_error(const struct result *r, size_t i, int line, const char *text)
{
	assert_true(i < r->n);
	if (r->rows[i].ev) {
		char *s = cJSON_PrintUnformatted(r->rows[i].ev);
		fail_msg("row %zu should be an error, is %s", i, s);
	}
	assert_int_equal(r->rows[i].err.line, line);
	if (!strstr(r->rows[i].err.message, text))
		fail_msg("row %zu: \"%s\" does not say \"%s\"", i, r->rows[i].err.message, text);
}

static void assert_row_event(const struct result *r, size_t i, int line)
{
	assert_true(i < r->n);
	if (!r->rows[i].ev)
		fail_msg("row %zu (line %d) is an error: %s", i, r->rows[i].line, r->rows[i].err.message);
	assert_int_equal(r->rows[i].line, line);
}

static int count_keys(const cJSON *obj)
{
	int n = 0;
	for (const cJSON *c = obj->child; c; c = c->next)
		n++;
	return n;
}

/* Writes len bytes (strlen when len is -1) to tmpdir/name; returns the path
 * in a static buffer. */
static const char *write_file(const char *name, const char *data, long len)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	size_t n = len < 0 ? strlen(data) : (size_t)len;
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	return path;
}

static struct tr_source plain_source(const char *encoding)
{
	struct tr_source s = {0};
	s.encoding = (char *)encoding;
	s.timezone = "UTC";
	return s;
}

/* ---- the shared samples ---- */

static void test_format_for(void **state)
{
	(void)state;
	struct tr_source s = plain_source("utf-8");
	assert_int_equal(tr_format_for("/x/a.ndjson", NULL), TR_FMT_NDJSON);
	assert_int_equal(tr_format_for("a.jsonl", NULL), TR_FMT_NDJSON);
	assert_int_equal(tr_format_for("a.json", NULL), TR_FMT_JSON);
	assert_int_equal(tr_format_for("EXPORT.CSV", NULL), TR_FMT_CSV);
	assert_int_equal(tr_format_for("a.tsv", NULL), TR_FMT_TSV);
	assert_int_equal(tr_format_for("a.yml", NULL), TR_FMT_YAML);
	assert_int_equal(tr_format_for("a.yaml", &s), TR_FMT_YAML);
	assert_int_equal(tr_format_for("a.txt", NULL), -1);
	assert_int_equal(tr_format_for("dir.csv/noext", NULL), -1);
	s.format = "csv";
	assert_int_equal(tr_format_for("a.txt", &s), TR_FMT_CSV);
	s.format = "xml";
	assert_int_equal(tr_format_for("a.csv", &s), -1);
}

static struct tr_column feedback_columns[] = {
	{"店铺", "account"}, {"站点", "marketplace"}, {"订单号", "order_id"}, {"买家", "buyer"},
	{"评分", "rating"}, {"评论内容", "comment"}, {"日期", "occurred_at"},
};
static char *order_id_field[] = {"order_id"};

static struct tr_source feedback_source(const char *encoding)
{
	struct tr_source s = plain_source(encoding);
	s.type = "feedback.new";
	s.timezone = "Asia/Shanghai";
	s.columns = feedback_columns;
	s.ncolumns = sizeof(feedback_columns) / sizeof(feedback_columns[0]);
	s.id_fields = order_id_field;
	s.nid_fields = 1;
	return s;
}

static void test_sample_feedback_gbk(void **state)
{
	(void)state;
	struct tr_source s = feedback_source("gbk");
	struct result r;
	decode(SAMPLES "feedback_20261123.csv", &s, 0, &r);
	assert_int_equal(r.open_rc, 0);
	assert_int_equal(r.end_rc, 0);
	assert_int_equal(r.n, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_row_event(&r, i, (int)i + 2);
		assert_string_equal(field(&r, i, "type"), "feedback.new");
		assert_string_equal(field(&r, i, "id"), field(&r, i, "order_id"));
		assert_int_equal(count_keys(r.rows[i].ev), 9); /* 7 columns, type, id */
	}
	assert_string_equal(field(&r, 0, "account"), "acme-us");
	assert_string_equal(field(&r, 0, "marketplace"), "US");
	assert_string_equal(field(&r, 0, "order_id"), "113-4567890-1234567");
	assert_string_equal(field(&r, 0, "rating"), "1");
	assert_string_equal(field(&r, 0, "comment"), "Item arrived broken, box was crushed.");
	assert_string_equal(field(&r, 0, "occurred_at"), "2026-11-23 08:15:00");
	assert_string_equal(field(&r, 2, "buyer"), "Jürgen W.");
	assert_string_equal(field(&r, 2, "marketplace"), "DE");
	assert_string_equal(field(&r, 3, "comment"), "还可以,包装一般");
	assert_string_equal(field(&r, 4, "buyer"), "Sam \"Sparky\" O'Neil");
	assert_string_equal(field(&r, 4, "comment"),
			    "Stopped working after 2 days, \"customer service\" never answered");
	assert_string_equal(field(&r, 4, "occurred_at"), "2026-11-23 12:00:00");
	result_free(&r);
}

static void test_sample_feedback_sjis(void **state)
{
	(void)state;
	struct tr_column cols[] = {
		{"店舗", "account"}, {"注文番号", "order_id"}, {"評価", "rating"},
		{"コメント", "comment"}, {"日付", "occurred_at"},
	};
	struct tr_source s = plain_source("shift_jis");
	s.type = "feedback.new";
	s.timezone = "Asia/Tokyo";
	s.columns = cols;
	s.ncolumns = 5;
	s.id_fields = order_id_field;
	s.nid_fields = 1;
	struct result r;
	decode(SAMPLES "feedback_jp_20261123.csv", &s, 0, &r);
	assert_int_equal(r.open_rc, 0);
	assert_int_equal(r.n, 2);
	assert_row_event(&r, 0, 2);
	assert_row_event(&r, 1, 3);
	assert_string_equal(field(&r, 0, "account"), "acme-jp");
	assert_string_equal(field(&r, 0, "comment"), "商品が壊れていました");
	assert_string_equal(field(&r, 0, "rating"), "1");
	assert_string_equal(field(&r, 0, "occurred_at"), "2026/11/23 18:00");
	assert_string_equal(field(&r, 1, "comment"), "良い商品です");
	assert_string_equal(field(&r, 1, "id"), "503-7654321-1234567");
	result_free(&r);
}

static void test_sample_messages_bom(void **state)
{
	(void)state;
	struct tr_column cols[] = {
		{"店铺", "account"}, {"站点", "marketplace"}, {"消息ID", "id"}, {"订单号", "order_id"},
		{"买家", "buyer"}, {"主题", "subject"}, {"内容", "body"}, {"接收时间", "occurred_at"},
	};
	struct tr_source s = plain_source("utf-8");
	s.type = "message.new";
	s.columns = cols;
	s.ncolumns = 8;
	struct result r;
	decode(SAMPLES "messages_20261124.csv", &s, 0, &r);
	assert_int_equal(r.open_rc, 0);
	assert_int_equal(r.n, 3);
	assert_row_event(&r, 0, 2);
	assert_row_event(&r, 1, 4); /* the first row takes lines 2-3 */
	assert_row_event(&r, 2, 5);
	/* The BOM is gone: the first header matched its column. */
	assert_string_equal(field(&r, 0, "account"), "acme-us");
	assert_string_equal(field(&r, 0, "id"), "msg-0001");
	assert_string_equal(field(&r, 0, "body"), "The item arrived broken.\nCan I get a replacement?");
	assert_string_equal(field(&r, 1, "buyer"), "山田太郎");
	assert_string_equal(field(&r, 1, "occurred_at"), "2026-11-24T02:00:00+09:00");
	assert_string_equal(field(&r, 2, "body"), "Got it, thanks!");
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(field(&r, i, "type"), "message.new");
		assert_int_equal(count_keys(r.rows[i].ev), 9);
	}
	result_free(&r);
}

static void test_sample_bad_feedback(void **state)
{
	(void)state;
	struct tr_source s = feedback_source("utf-8");
	struct result r;
	decode(SAMPLES "bad_feedback.csv", &s, 0, &r);
	assert_int_equal(r.open_rc, 0);
	assert_int_equal(r.end_rc, 0);
	assert_int_equal(r.n, 4);
	assert_row_event(&r, 0, 2);
	assert_string_equal(field(&r, 0, "rating"), "six"); /* the event layer judges ratings */
	assert_row_error(&r, 1, 3, "unclosed quote");
	assert_row_error(&r, 2, 4, "expected 7 fields, found 6");
	assert_row_event(&r, 3, 5);
	assert_string_equal(field(&r, 3, "order_id"), "113-0000000-0000012");
	assert_string_equal(field(&r, 3, "comment"), "valid row after bad ones");
	assert_string_equal(r.rows[1].err.file, SAMPLES "bad_feedback.csv");
	result_free(&r);
}

/* The decoder's part of bad_events.ndjson: lines 2 (broken JSON), 4 (an
 * array) and 7 (truncated) are row errors here; lines 3 (no type) and 5 (a
 * bad type name) are well-formed objects that the event layer rejects, which
 * makes the README's 5 rejections. */
static void test_sample_bad_events(void **state)
{
	(void)state;
	struct result r;
	decode(SAMPLES "bad_events.ndjson", NULL, 0, &r);
	assert_int_equal(r.open_rc, 0);
	assert_int_equal(r.end_rc, 0);
	assert_int_equal(r.n, 7);
	assert_row_event(&r, 0, 1);
	assert_string_equal(field(&r, 0, "id"), "ok-1");
	assert_row_error(&r, 1, 2, "invalid JSON");
	assert_row_event(&r, 2, 3);
	assert_null(cJSON_GetObjectItem(r.rows[2].ev, "type"));
	assert_row_error(&r, 3, 4, "not an object");
	assert_row_event(&r, 4, 5);
	assert_string_equal(field(&r, 4, "type"), "Bad Type!");
	assert_row_event(&r, 5, 6);
	assert_string_equal(field(&r, 5, "id"), "ok-2");
	assert_int_equal(cJSON_GetObjectItem(r.rows[5].ev, "rating")->valueint, 2);
	assert_row_error(&r, 6, 7, "invalid JSON");
	result_free(&r);
}

static void test_sample_events_ndjson(void **state)
{
	(void)state;
	struct result r;
	decode(SAMPLES "events_20261124.ndjson", NULL, 0, &r);
	assert_int_equal(r.n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_row_event(&r, i, (int)i + 1);
	assert_string_equal(field(&r, 1, "type"), "message.replied");
	assert_string_equal(field(&r, 4, "buyer"), "佐藤");
	assert_string_equal(field(&r, 4, "body"), "サイズが合わないので返品したいです。");
	result_free(&r);
}

static void test_sample_cases_json(void **state)
{
	(void)state;
	struct result r;
	decode(SAMPLES "cases_20261124.json", NULL, 0, &r);
	assert_int_equal(r.open_rc, 0);
	assert_int_equal(r.end_rc, 0);
	assert_int_equal(r.n, 4);
	int lines[] = {2, 12, 23, 33};
	for (size_t i = 0; i < 4; i++)
		assert_row_event(&r, i, lines[i]);
	assert_string_equal(field(&r, 0, "type"), "case.opened");
	assert_string_equal(field(&r, 0, "id"), "17234567891@2026-11-20T02:00:00Z");
	assert_string_equal(field(&r, 1, "status"), "answered");
	assert_string_equal(field(&r, 2, "status"), "closed");
	assert_string_equal(field(&r, 3, "case_id"), "17299990000");
	assert_string_equal(field(&r, 3, "channel"), "phone");
	result_free(&r);
}

static void test_sample_alerts_yaml(void **state)
{
	(void)state;
	struct result r;
	decode(SAMPLES "alerts_20261124.yaml", NULL, 0, &r);
	assert_int_equal(r.open_rc, 0);
	assert_int_equal(r.end_rc, 0);
	assert_int_equal(r.n, 2);
	assert_row_event(&r, 0, 1);
	assert_row_event(&r, 1, 9);
	assert_string_equal(field(&r, 0, "type"), "account.alert");
	assert_string_equal(field(&r, 0, "id"), "ah-0302");
	assert_string_equal(field(&r, 0, "kind"), "policy_warning");
	assert_string_equal(field(&r, 0, "reason"), "Late shipment rate 6.1% (target < 4%)");
	assert_string_equal(field(&r, 0, "occurred_at"), "2026-11-24T08:00:00Z");
	assert_string_equal(field(&r, 1, "asin"), "B0C1112223");
	assert_int_equal(count_keys(r.rows[0].ev), 8);
	result_free(&r);
}

/* ---- encodings ---- */

static void test_gb18030_four_byte(void **state)
{
	(void)state;
	const char *p = write_file("four.csv", "name,n\n\x95\x32\x82\x36,1\n\xd6\xd0,2\n", -1);
	struct tr_source s = plain_source("gbk");
	struct result r;
	decode(p, &s, 0, &r);
	assert_int_equal(r.n, 2);
	assert_string_equal(field(&r, 0, "name"), "\xf0\xa0\x80\x80"); /* U+20000 */
	assert_string_equal(field(&r, 1, "name"), "中");
	result_free(&r);
}

/* A source's time_format: occurred_at is read with it in the source's zone
 * and handed on as RFC 3339 UTC; a row that does not match is a row error
 * naming the field, and the rows after it still come. */
static void test_time_format(void **state)
{
	(void)state;
	const char *p = write_file("dated.csv",
				   "id,occurred_at\n"
				   "a,24.11.2026 09:30\n"
				   "b,2026-11-24 09:30\n"
				   "c,31.02.2026 09:30\n"
				   "d,1.3.2026 00:05\n", -1);
	struct tr_source s = plain_source("utf-8");
	s.type = "x.y";
	s.time_format = "%d.%m.%Y %H:%M";
	s.timezone = "Asia/Shanghai";
	struct result r;
	decode(p, &s, 0, &r);
	assert_int_equal(r.n, 4);
	assert_string_equal(field(&r, 0, "occurred_at"), "2026-11-24T01:30:00Z");
	for (size_t i = 1; i <= 2; i++) {
		assert_null(r.rows[i].ev);
		assert_string_equal(r.rows[i].err.field, "occurred_at");
		assert_non_null(strstr(r.rows[i].err.message, "does not match time_format"));
	}
	assert_int_equal(r.rows[1].line, 3);
	assert_string_equal(field(&r, 3, "occurred_at"), "2026-02-28T16:05:00Z");
	result_free(&r);
}

static void test_cp932_wave_dash(void **state)
{
	(void)state;
	const char *p = write_file("wave.csv", "t\n\x81\x60\n\x87\x40\n\xb1\xb2\n", -1);
	struct tr_source s = plain_source("shift_jis");
	struct result r;
	decode(p, &s, 0, &r);
	assert_int_equal(r.n, 3);
	assert_string_equal(field(&r, 0, "t"), "\xef\xbd\x9e"); /* U+FF5E, not U+301C */
	assert_string_equal(field(&r, 1, "t"), "①");           /* an NEC special character */
	assert_string_equal(field(&r, 2, "t"), "ｱｲ");           /* half-width katakana */
	result_free(&r);
}

static void test_invalid_gbk_byte(void **state)
{
	(void)state;
	const char *p = write_file("badgbk.csv", "a,b\nx,\xd6\xd0\ny,\x81\x20z\nw,1\nv,2\n", -1);
	struct tr_source s = plain_source("gbk");
	struct result r;
	decode(p, &s, 0, &r);
	assert_int_equal(r.open_rc, 0);
	assert_int_equal(r.n, 4);
	assert_row_event(&r, 0, 2);
	assert_string_equal(field(&r, 0, "b"), "中");
	assert_row_error(&r, 1, 3, "invalid GB18030 byte sequence 0x81 0x20");
	assert_int_equal(r.rows[1].err.column, 3);
	assert_row_event(&r, 2, 4);
	assert_string_equal(field(&r, 2, "a"), "w");
	assert_row_event(&r, 3, 5);
	result_free(&r);
}

/* A bad byte inside a quoted field over several lines makes that record an
 * error; the field's other lines are not read as rows. */
static void test_invalid_byte_in_multiline_field(void **state)
{
	(void)state;
	const char *p = write_file("badml.csv",
				   "a,b\n1,\"line one\nbad \x81\x20 line\nstill inside, 2\",x\n3,4\n", -1);
	struct tr_source s = plain_source("gbk");
	struct result r;
	decode(p, &s, 0, &r);
	assert_int_equal(r.n, 2);
	assert_row_error(&r, 0, 3, "invalid GB18030 byte sequence 0x81 0x20");
	assert_int_equal(r.rows[0].line, 2);
	assert_int_equal(r.rows[0].err.column, 5);
	assert_row_event(&r, 1, 5);
	assert_string_equal(field(&r, 1, "b"), "4");
	result_free(&r);
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	/* an overlong '/', a surrogate, a NUL, then a good line */
	static const char text[] =
		"{\"a\":\"\xc0\xaf\"}\n{\"a\":\"\xed\xa0\x80\"}\n{\"a\":\"x\0\"}\n{\"a\":\"ok\"}\n";
	const char *p = write_file("bad8.ndjson", text, sizeof(text) - 1);
	struct result r;
	decode(p, NULL, 0, &r);
	assert_int_equal(r.n, 4);
	assert_row_error(&r, 0, 1, "invalid UTF-8");
	assert_row_error(&r, 1, 2, "invalid UTF-8");
	assert_row_error(&r, 2, 3, "NUL");
	assert_row_event(&r, 3, 4);
	assert_string_equal(field(&r, 3, "a"), "ok");
	result_free(&r);
}

static void test_bom_wins_and_utf16(void **state)
{
	(void)state;
	const char *p = write_file("bom.csv", "\xef\xbb\xbf" "名,v\n中文,1\n", -1);
	struct tr_source s = plain_source("gbk"); /* the BOM says UTF-8 */
	struct result r;
	decode(p, &s, 0, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(field(&r, 0, "名"), "中文");
	result_free(&r);

	p = write_file("u16.csv", "\xff\xfe" "a\0,\0b\0\n\0", 10);
	decode(p, NULL, 0, &r);
	assert_int_equal(r.open_rc, -EINVAL);
	assert_int_equal(r.open_errs.n, 1);
	assert_non_null(strstr(r.open_errs.items[0].message, "UTF-16"));
	result_free(&r);
}

/* ---- CSV ---- */

static void test_csv_quotes_and_line_ends(void **state)
{
	(void)state;
	const char *p = write_file("q.csv",
				   "a,b,c\r\n"
				   "1,\"x\r\ny\",3\r\n"
				   "\r\n"
				   " 4 , \"5,\"\"five\"\"\" ,6\r\n"
				   "7,,\"\"\r\n"
				   "8,9,10", -1);
	struct result r;
	decode(p, NULL, 0, &r);
	assert_int_equal(r.n, 4);
	assert_row_event(&r, 0, 2);
	assert_string_equal(field(&r, 0, "b"), "x\ny"); /* line breaks come out as \n */
	assert_row_event(&r, 1, 5);                       /* the blank line 4 is skipped */
	assert_string_equal(field(&r, 1, "a"), "4");
	assert_string_equal(field(&r, 1, "b"), "5,\"five\"");
	assert_row_event(&r, 2, 6);
	assert_string_equal(field(&r, 2, "b"), "");
	assert_string_equal(field(&r, 2, "c"), "");
	assert_row_event(&r, 3, 7); /* no newline at the end */
	assert_string_equal(field(&r, 3, "c"), "10");
	result_free(&r);

	/* Old Mac line ends: a lone CR is a line break too. */
	p = write_file("mac.csv", "a,b\r1,2\r3,4\r", -1);
	decode(p, NULL, 0, &r);
	assert_int_equal(r.n, 2);
	assert_row_event(&r, 1, 3);
	assert_string_equal(field(&r, 1, "b"), "4");
	result_free(&r);
}

static void test_csv_trailing_empty_column(void **state)
{
	(void)state;
	const char *p = write_file("trail.csv", "a,b,\n1,2,\n3,4\n5,6,x\n7\n", -1);
	struct result r;
	decode(p, NULL, 0, &r);
	assert_int_equal(r.n, 4);
	assert_row_event(&r, 0, 2);
	assert_int_equal(count_keys(r.rows[0].ev), 2);
	assert_string_equal(field(&r, 0, "b"), "2");
	assert_row_event(&r, 1, 3);
	assert_string_equal(field(&r, 1, "a"), "3");
	assert_row_error(&r, 2, 4, "no name");
	assert_row_error(&r, 3, 5, "expected 2 fields, found 1");
	result_free(&r);
}

static void test_tsv(void **state)
{
	(void)state;
	const char *p = write_file("t.tsv", "a\tb\tc\n1\t\"x\ty\"\t z \n\t\t\n", -1);
	struct result r;
	decode(p, NULL, 0, &r);
	assert_int_equal(r.n, 2);
	assert_string_equal(field(&r, 0, "a"), "1");
	assert_string_equal(field(&r, 0, "b"), "x\ty");
	assert_string_equal(field(&r, 0, "c"), "z");
	assert_string_equal(field(&r, 1, "a"), "");
	result_free(&r);
}

static void test_csv_unclosed_quote_multiline(void **state)
{
	(void)state;
	/* A good quoted field over lines 2-3, then a quote opened on line 4
	 * that never closes: the rows after it are still read. */
	const char *p = write_file("open.csv", "a,b\n1,\"two\nlines\"\n2,\"x\n3,y\n4,z\n", -1);
	struct result r;
	decode(p, NULL, 0, &r);
	assert_int_equal(r.n, 4);
	assert_row_event(&r, 0, 2);
	assert_string_equal(field(&r, 0, "b"), "two\nlines");
	assert_row_error(&r, 1, 4, "unclosed quote");
	assert_row_event(&r, 2, 5);
	assert_string_equal(field(&r, 2, "b"), "y");
	assert_row_event(&r, 3, 6);
	result_free(&r);

	/* The same when the row outgrows max_row_bytes before the end. */
	char *big = malloc(200000);
	assert_non_null(big);
	size_t n = (size_t)sprintf(big, "a,b\n1,\"x\n");
	for (int i = 0; i < 5000; i++)
		n += (size_t)sprintf(big + n, "%d,filler line\n", i);
	p = write_file("open2.csv", big, (long)n);
	decode(p, NULL, 1000, &r);
	assert_int_equal(r.n, 5001);
	assert_row_error(&r, 0, 2, "unclosed quote");
	assert_row_event(&r, 1, 3);
	assert_string_equal(field(&r, 1, "a"), "0");
	assert_row_event(&r, 5000, 5002);
	result_free(&r);
	free(big);
}

/* A file where every line opens a quote that never closes (libcsv keeps
 * quoting after "x"y) would make going back after each one quadratic: past
 * a budget the rest is reported as read into the field instead. */
static void test_csv_unclosed_quote_budget(void **state)
{
	(void)state;
	enum { LINES = 40000 };
	char *text = malloc(6 * LINES + 8);
	assert_non_null(text);
	size_t n = (size_t)sprintf(text, "a\n");
	for (int i = 0; i < LINES; i++)
		n += (size_t)sprintf(text + n, "\"x\"y\n");
	const char *p = write_file("quotes.csv", text, (long)n);
	struct result r;
	decode(p, NULL, 0, &r);
	assert_true(r.n > 10 && r.n < 2000);
	for (size_t i = 0; i + 1 < r.n; i++)
		assert_row_error(&r, i, (int)i + 2, "unclosed quote");
	assert_row_error(&r, r.n - 1, (int)r.n + 1, "to the end were read as part of it");
	result_free(&r);

	decode(p, NULL, 1000, &r); /* the same when the limit stops each one */
	assert_true(r.n > 10 && r.n < LINES / 2);
	for (size_t i = 0; i < r.n; i++)
		assert_null(r.rows[i].ev);
	result_free(&r);
	free(text);
}

static void test_csv_header_problems(void **state)
{
	(void)state;
	struct result r;
	const char *p = write_file("empty.csv", "", 0);
	decode(p, NULL, 0, &r);
	assert_int_equal(r.open_rc, 0);
	assert_int_equal(r.end_rc, 0);
	assert_int_equal(r.n, 0);
	result_free(&r);

	p = write_file("header.csv", "\n\na,b,c\r\n\r\n", -1);
	decode(p, NULL, 0, &r);
	assert_int_equal(r.open_rc, 0);
	assert_int_equal(r.n, 0);
	result_free(&r);

	p = write_file("dup.csv", "a,b,a\n1,2,3\n", -1);
	decode(p, NULL, 0, &r);
	assert_int_equal(r.open_rc, TR_EPARSE);
	assert_non_null(strstr(r.open_errs.items[0].message, "columns 1 and 3"));
	result_free(&r);

	p = write_file("hole.csv", "a,,b\n1,2,3\n", -1);
	decode(p, NULL, 0, &r);
	assert_int_equal(r.open_rc, TR_EPARSE);
	assert_non_null(strstr(r.open_errs.items[0].message, "column 2 has no name"));
	result_free(&r);

	p = write_file("badhdr.csv", "a,\xff\n1,2\n", -1);
	decode(p, NULL, 0, &r);
	assert_int_equal(r.open_rc, TR_EPARSE);
	assert_int_equal(r.open_errs.items[0].line, 1);
	assert_non_null(strstr(r.open_errs.items[0].message, "invalid UTF-8"));
	result_free(&r);
}

static void test_csv_long_row(void **state)
{
	(void)state;
	char *big = malloc(300000);
	assert_non_null(big);
	size_t n = (size_t)sprintf(big, "a,b\n1,");
	memset(big + n, 'x', 200000); /* longer than the read buffer too */
	n += 200000;
	n += (size_t)sprintf(big + n, "\n2,ok\n3,\"");
	memset(big + n, 'y', 5000);
	n += 5000;
	n += (size_t)sprintf(big + n, "\"\n4,ok\n");
	const char *p = write_file("long.csv", big, (long)n);
	struct result r;
	decode(p, NULL, 1000, &r);
	assert_int_equal(r.n, 4);
	assert_row_error(&r, 0, 2, "larger than 1000 bytes");
	assert_row_event(&r, 1, 3);
	assert_string_equal(field(&r, 1, "b"), "ok");
	assert_row_error(&r, 2, 4, "larger than 1000 bytes");
	assert_row_event(&r, 3, 5);
	result_free(&r);

	/* Under the limit, a 200 kB field spread over read buffers is whole. */
	decode(p, NULL, 0, &r);
	assert_int_equal(r.n, 4);
	assert_int_equal(strlen(field(&r, 0, "b")), 200000);
	assert_int_equal(strlen(field(&r, 2, "b")), 5000);
	result_free(&r);
	free(big);
}

/* Lines longer than the 64 KiB read buffer come in pieces: characters cut
 * at a piece's end and a CRLF split across two reads must come out whole. */
static void test_lines_across_buffers(void **state)
{
	(void)state;
	enum { N = 100000 };
	char *gbk = malloc(4 * N + 256), *want = malloc(4 * N + 256);
	assert_non_null(gbk);
	assert_non_null(want);
	size_t n = (size_t)sprintf(gbk, "a\nx");
	size_t w = (size_t)sprintf(want, "x");
	for (int i = 0; i < N; i++) {
		memcpy(gbk + n, i % 1000 ? "\xd6\xd0" : "\x95\x32", 2); /* 中, or half of U+20000 */
		n += 2;
		if (i % 1000 == 0) {
			memcpy(gbk + n, "\x82\x36", 2);
			n += 2;
		}
		w += (size_t)sprintf(want + w, "%s", i % 1000 ? "中" : "\xf0\xa0\x80\x80");
	}
	n += (size_t)sprintf(gbk + n, "\r\ny\r\n");
	struct tr_source s = plain_source("gbk");
	struct result r;
	decode(write_file("longgbk.csv", gbk, (long)n), &s, 0, &r);
	assert_int_equal(r.n, 2);
	assert_string_equal(field(&r, 0, "a"), want);
	assert_row_event(&r, 1, 3);
	assert_string_equal(field(&r, 1, "a"), "y");
	result_free(&r);

	/* UTF-8, with the CR of a CRLF as the very last byte of a full buffer. */
	n = (size_t)sprintf(gbk, "a\n");
	memset(gbk + n, 'x', 65535);
	n += 65535;
	n += (size_t)sprintf(gbk + n, "\r\nx"); /* odd: a read ends inside an é */
	for (int i = 0; i < 40000; i++)
		n += (size_t)sprintf(gbk + n, "\xc3\xa9");
	n += (size_t)sprintf(gbk + n, "\r\n");
	decode(write_file("longutf8.csv", gbk, (long)n), NULL, 0, &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(strlen(field(&r, 0, "a")), 65535);
	assert_row_event(&r, 1, 3);
	assert_int_equal(strlen(field(&r, 1, "a")), 1 + 2 * 40000);
	result_free(&r);
	free(gbk);
	free(want);
}

static void test_csv_type_and_id(void **state)
{
	(void)state;
	const char *p = write_file("ids.csv", "shop,order,type,id\nacme,1,x.y,\nacme,2,x.y,own\n,,x.y,\n", -1);
	struct tr_column cols[] = {{"shop", "account"}, {"order", "order_id"}};
	char *ids[] = {"account", "order_id"};
	struct tr_source s = plain_source("utf-8");
	s.columns = cols;
	s.ncolumns = 2;
	s.id_fields = ids;
	s.nid_fields = 2;
	struct result r;
	decode(p, &s, 0, &r);
	assert_int_equal(r.n, 3);
	assert_string_equal(field(&r, 0, "type"), "x.y"); /* no source type: the row's own */
	assert_string_equal(field(&r, 0, "id"), "acme:1");
	assert_string_equal(field(&r, 1, "id"), "own");
	assert_string_equal(field(&r, 2, "id"), ":");
	result_free(&r);

	s.type = "feedback.new";
	char *missing[] = {"order_id", "nope"};
	s.id_fields = missing;
	decode(p, &s, 0, &r);
	assert_int_equal(r.n, 3);
	assert_row_error(&r, 0, 2, "missing id field \"nope\"");
	assert_string_equal(r.rows[0].err.field, "nope");
	assert_string_equal(field(&r, 1, "type"), "feedback.new"); /* the source's type wins */
	assert_string_equal(field(&r, 1, "id"), "own");
	result_free(&r);
}

/* The line splitter and libcsv give the same rows. */
static void test_csv_split_matches_libcsv(void **state)
{
	(void)state;
	const char *p = write_file("same.csv",
				   "a,b,c\n"
				   "  plain , text\t,  \n"
				   "\"q\" , \"\"\"\" ,\"a,b\"\n"
				   "x\"y,\"z\",3\n"
				   "1,\"multi\nline\",3\n"
				   "   \n"
				   " , ,\n"
				   ",,\n"
				   "\"\",\"\",\"\"\n"
				   "1,2\n"
				   "\"a\"b,2,3\n", -1);
	struct result fast, slow;
	decode(p, NULL, 0, &fast);
	tr_decode_csv_split = false;
	decode(p, NULL, 0, &slow);
	tr_decode_csv_split = true;
	assert_int_equal(fast.n, slow.n);
	assert_int_equal(fast.n, 9);
	for (size_t i = 0; i < fast.n; i++) {
		assert_int_equal(fast.rows[i].line, slow.rows[i].line);
		if (!fast.rows[i].ev) {
			assert_null(slow.rows[i].ev);
			assert_string_equal(fast.rows[i].err.message, slow.rows[i].err.message);
			continue;
		}
		char *a = cJSON_PrintUnformatted(fast.rows[i].ev), *b = cJSON_PrintUnformatted(slow.rows[i].ev);
		assert_string_equal(a, b);
		free(a);
		free(b);
	}
	assert_string_equal(field(&fast, 0, "b"), "text");
	assert_string_equal(field(&fast, 1, "b"), "\"");
	assert_string_equal(field(&fast, 2, "a"), "x\"y");
	assert_string_equal(field(&fast, 3, "b"), "multi\nline");
	assert_row_error(&fast, 7, 11, "expected 3 fields, found 2");
	/* libcsv goes on quoting after "a"b, so the quote never closes */
	assert_row_error(&fast, 8, 12, "unclosed quote");
	result_free(&fast);
	result_free(&slow);
}

static void test_csv_half_million_rows(void **state)
{
	(void)state;
	char path[512];
	snprintf(path, sizeof(path), "%s/big.csv", tmpdir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "id,account,body\n");
	for (int i = 0; i < 500000; i++)
		fprintf(f, i % 7 ? "m-%d,acme-%d,hello %d\n" : "m-%d,acme-%d,\"multi\nline, %d\"\n", i, i % 5, i);
	assert_int_equal(fclose(f), 0);

	struct tr_decoder *d;
	struct tr_errors errs = {0};
	assert_int_equal(tr_decoder_open(path, NULL, 0, &d, &errs), 0);
	struct tr_row row;
	long rows = 0;
	size_t early = 0, late = 0;
	int rc;
	while ((rc = tr_decoder_next(d, &row)) == 1) {
		assert_non_null(row.event);
		cJSON_Delete(row.event);
		if (++rows == 1000)
			early = heap_in_use();
		else if (rows == 499000)
			late = heap_in_use();
	}
	assert_int_equal(rc, 0);
	assert_int_equal(rows, 500000);
	tr_decoder_close(d);
	tr_errors_free(&errs);
	/* SPEC §4 constant memory: nothing grows with the rows read. */
	assert_true(late < early + 256 * 1024);
	unlink(path);
}

/* ---- NDJSON and JSON ---- */

static void test_ndjson_mapping_and_lines(void **state)
{
	(void)state;
	char *ids[] = {"account", "n"};
	struct tr_column cols[] = {{"店铺", "account"}};
	struct tr_source s = plain_source("utf-8");
	s.type = "t.x";
	s.columns = cols;
	s.ncolumns = 1;
	s.id_fields = ids;
	s.nid_fields = 2;
	const char *p = write_file("m.ndjson",
				   "{\"店铺\":\"a\",\"n\":12,\"type\":\"other\"}\r\n"
				   "   \n"
				   "{\"店铺\":\"b\",\"account\":\"lost\",\"n\":1.5}\n"
				   "{\"店铺\":\"c\",\"n\":true} trailing\n"
				   "{\"店铺\":\"d\",\"n\":null}\n"
				   "{\"id\":\"mine\"}", -1);
	struct result r;
	decode(p, &s, 0, &r);
	assert_int_equal(r.n, 5);
	assert_row_event(&r, 0, 1);
	assert_string_equal(field(&r, 0, "account"), "a");
	assert_string_equal(field(&r, 0, "type"), "t.x");
	assert_string_equal(field(&r, 0, "id"), "a:12");
	assert_row_event(&r, 1, 3);
	assert_string_equal(field(&r, 1, "account"), "b");
	assert_int_equal(count_keys(r.rows[1].ev), 4);
	assert_string_equal(field(&r, 1, "id"), "b:1.5");
	assert_row_error(&r, 2, 4, "invalid JSON");
	assert_int_equal(r.rows[2].err.column, 25);
	assert_row_error(&r, 3, 5, "id field \"n\"");
	assert_row_event(&r, 4, 6);
	assert_string_equal(field(&r, 4, "id"), "mine");
	result_free(&r);
}

/* A key given twice (issue 17): with a column map the decoder refuses the
 * row itself, since renaming would silently keep one value; without one
 * both values reach the event check, which refuses the row naming the key,
 * whatever the format, at any depth (YAML used to keep the last value). */
static void test_duplicate_keys(void **state)
{
	(void)state;
	struct tr_column cols[] = {{"店铺", "account"}};
	struct tr_source s = plain_source("utf-8");
	s.columns = cols;
	s.ncolumns = 1;
	const char *p = write_file("dup.ndjson",
				   "{\"type\":\"a.b\",\"店铺\":\"a\",\"id\":\"1\"}\n"
				   "{\"type\":\"a.b\",\"店铺\":\"a\",\"店铺\":\"b\",\"id\":\"2\"}\n", -1);
	struct result r;
	decode(p, &s, 0, &r);
	assert_int_equal(r.n, 2);
	assert_row_event(&r, 0, 1);
	assert_row_error(&r, 1, 2, "the key \"店铺\" is given more than once");
	assert_string_equal(r.rows[1].err.field, "店铺");
	result_free(&r);

	p = write_file("dupmap.yaml", "- {type: a.b, 店铺: a, 店铺: b, id: '1'}\n", -1);
	decode(p, &s, 0, &r);
	assert_int_equal(r.n, 1);
	assert_row_error(&r, 0, 1, "the key \"店铺\" is given more than once");
	result_free(&r);

	static const struct { const char *name, *text, *path; int line; } unmapped[] = {
		{"dup.yaml", "- type: a.b\n  id: '1'\n- type: a.b\n  occurred_at: 2026-11-24T05:00:00Z\n"
			     "  id: '2'\n  occurred_at: 2020-01-01T00:00:00Z\n", "occurred_at", 3},
		{"dupdeep.yaml", "- type: a.b\n  id: '1'\n  order: {buyer: {n: x, n: y}}\n", "order.buyer.n", 1},
		{"dup.json", "[{\"type\":\"a.b\",\"id\":\"1\"},\n {\"type\":\"a.b\",\"type\":\"c.d\",\"id\":\"2\"}]\n",
			     "type", 2},
	};
	for (size_t i = 0; i < sizeof(unmapped) / sizeof(unmapped[0]); i++) {
		decode(write_file(unmapped[i].name, unmapped[i].text, -1), NULL, 0, &r);
		assert_true(r.n >= 1);
		size_t last = r.n - 1;
		assert_row_event(&r, last, unmapped[i].line);
		char err[256], needle[128];
		struct tr_event ev;
		int rc = tr_event_init(&ev, r.rows[last].ev, NULL, "t", 1795500000, err, sizeof(err));
		r.rows[last].ev = NULL; /* taken */
		assert_int_equal(rc, TR_EPARSE);
		snprintf(needle, sizeof(needle), "field \"%s\": the key is given more than once", unmapped[i].path);
		if (!strstr(err, needle))
			fail_msg("%s: \"%s\" does not say \"%s\"", unmapped[i].name, err, needle);
		result_free(&r);
	}
}

static void test_ndjson_long_line(void **state)
{
	(void)state;
	char *big = malloc(200100);
	assert_non_null(big);
	size_t n = (size_t)sprintf(big, "{\"a\":\"");
	memset(big + n, 'x', 199990);
	n += 199990;
	n += (size_t)sprintf(big + n, "\"}\n{\"b\":1}\n");
	const char *p = write_file("long.ndjson", big, (long)n);
	struct result r;
	decode(p, NULL, 1000, &r);
	assert_int_equal(r.n, 2);
	assert_row_error(&r, 0, 1, "longer than 1000 bytes");
	assert_row_event(&r, 1, 2);
	result_free(&r);
	decode(p, NULL, 0, &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(strlen(field(&r, 0, "a")), 199990);
	result_free(&r);
	free(big);
}

static void test_json_array_10000(void **state)
{
	(void)state;
	char path[512];
	snprintf(path, sizeof(path), "%s/many.json", tmpdir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "[\n");
	for (int i = 0; i < 10000; i++)
		fprintf(f, "%s{\"id\": \"e-%d\", \"text\": \"a [tricky] {string} \\\" with, commas\"}\n",
			i ? "," : " ", i);
	fprintf(f, "]\n");
	assert_int_equal(fclose(f), 0);
	struct result r;
	decode(path, NULL, 0, &r);
	assert_int_equal(r.end_rc, 0);
	assert_int_equal(r.n, 10000);
	assert_row_event(&r, 0, 2);
	assert_string_equal(field(&r, 0, "id"), "e-0");
	assert_row_event(&r, 9999, 10001);
	assert_string_equal(field(&r, 9999, "id"), "e-9999");
	assert_string_equal(field(&r, 9999, "text"), "a [tricky] {string} \" with, commas");
	result_free(&r);
}

static void test_json_deep_nesting(void **state)
{
	(void)state;
	enum { DEPTH = 10000 };
	char *deep = malloc(2 * DEPTH + 16);
	assert_non_null(deep);
	memset(deep, '[', DEPTH);
	memset(deep + DEPTH, ']', DEPTH);
	strcpy(deep + 2 * DEPTH, "\n");
	struct result r;
	decode(write_file("deep.json", deep, -1), NULL, 0, &r);
	assert_int_equal(r.n, 1);
	assert_row_error(&r, 0, 1, "nested deeper than 1000 levels");
	result_free(&r);
	decode(write_file("deep.ndjson", deep, -1), NULL, 0, &r);
	assert_int_equal(r.n, 1);
	assert_row_error(&r, 0, 1, "invalid JSON");
	result_free(&r);

	/* An object nested 10,000 deep as the top-level value. */
	size_t n = 0;
	char *obj = malloc(7 * DEPTH + 16);
	assert_non_null(obj);
	for (int i = 0; i < DEPTH; i++)
		n += (size_t)sprintf(obj + n, "{\"a\":");
	n += (size_t)sprintf(obj + n, "1");
	memset(obj + n, '}', DEPTH);
	n += DEPTH;
	decode(write_file("deepobj.json", obj, (long)n), NULL, 0, &r);
	assert_int_equal(r.n, 1);
	assert_row_error(&r, 0, 1, "nested deeper than 1000 levels");
	result_free(&r);
	free(obj);
	free(deep);
}

/* Scans text (its first byte taken by tr_json_scan_begin) in pieces of
 * piece bytes. Returns the value's length, -1 when the text ends first. */
static long scan_value(const char *text, size_t piece, struct tr_json_scan *s)
{
	size_t len = strlen(text), pos = 1;
	bool done = false;
	tr_json_scan_begin(s, text[0]);
	while (pos < len && !done) {
		size_t n = len - pos < piece ? len - pos : piece;
		size_t took = tr_json_scan_next(s, text + pos, n, &done);
		assert_true(took <= n);
		assert_true(done || took == n);
		pos += took;
	}
	return done ? (long)pos : -1;
}

/* The element scanner the JSON decoder and triagectl share: where each kind
 * of value ends, whatever the pieces the text comes in. */
static void test_json_scan(void **state)
{
	(void)state;
	static const struct { const char *text; long len; int max_depth; bool whole_at_end; } cases[] = {
		{ "{\"a\":\"}]\\\"[\",\"b\":[1,{}]}, {}", 24, 3, false },
		{ "[[[]]]]", 6, 3, false },
		{ "\"a\\\\\", \"b\"", 5, 0, false },  /* "a\\" then , "b" */
		{ "\"say \\\"hi\\\"\"]", 12, 0, false },
		{ "123, 4", 3, 0, true },
		{ "true]", 4, 0, true },
		{ "-1.5e3\n", 6, 0, true },
		{ "nul\tl", 3, 0, true },
		{ "{]", 2, 1, false },     /* depth only: cJSON judges the shape */
		{ "123", -1, 0, true },      /* ends with the text: whole */
		{ "{\"a\":[1,{", -1, 3, false },
		{ "\"open\\\"", -1, 0, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t piece = 1; piece <= 64; piece *= 4) {
			struct tr_json_scan s;
			long len = scan_value(cases[i].text, piece, &s);
			if (len != cases[i].len)
				fail_msg("case %zu (%s) in pieces of %zu: %ld, not %ld", i, cases[i].text, piece,
					 len, cases[i].len);
			if (cases[i].max_depth)
				assert_int_equal(s.max_depth, cases[i].max_depth);
			assert_int_equal(tr_json_scan_whole_at_end(&s), cases[i].whole_at_end);
		}
	}
}

static void test_json_errors_and_resync(void **state)
{
	(void)state;
	struct result r;
	decode(write_file("resync.json",
			  "[{\"a\":1},\n"
			  " {\"a\":tru},\n"
			  " 7,\n"
			  " {\"a\":4} {\"a\":5},\n"
			  " {\"a\":\"]}\"},\n"
			  "]", -1), NULL, 0, &r);
	assert_int_equal(r.end_rc, 0);
	assert_int_equal(r.n, 7);
	assert_row_event(&r, 0, 1);
	assert_row_error(&r, 1, 2, "invalid JSON");
	assert_int_equal(r.rows[1].err.column, 7);
	assert_row_error(&r, 2, 3, "not an object");
	assert_row_event(&r, 3, 4);
	assert_row_error(&r, 4, 4, "expected ','");
	assert_row_event(&r, 5, 4);
	assert_row_event(&r, 6, 5);
	assert_string_equal(field(&r, 6, "a"), "]}");
	result_free(&r);

	/* Broken structure: the rest of the file is one error. */
	decode(write_file("broken.json", "[{\"a\":1},\n{\"a\":\"open},\n{\"a\":3}]\n", -1), NULL, 0, &r);
	assert_int_equal(r.n, 2);
	assert_row_event(&r, 0, 1);
	assert_row_error(&r, 1, 2, "the file ends inside this element");
	result_free(&r);
	decode(write_file("broken2.json", "[{\"a\":1},{\"a\":[1,2},{\"a\":3}]\n", -1), NULL, 0, &r);
	assert_int_equal(r.n, 3);
	assert_row_event(&r, 0, 1);
	assert_row_error(&r, 1, 1, "invalid JSON");
	assert_row_error(&r, 2, 1, "before the JSON array is closed");
	result_free(&r);

	decode(write_file("trunc.json", "[{\"a\":1},\n{\"a\":2}", -1), NULL, 0, &r);
	assert_int_equal(r.n, 3);
	assert_row_event(&r, 1, 2);
	assert_row_error(&r, 2, 2, "before the JSON array is closed");
	result_free(&r);

	decode(write_file("garbage.json", "\n  hello world\n{\"a\":1}\n", -1), NULL, 0, &r);
	assert_int_equal(r.open_rc, 0);
	assert_int_equal(r.n, 1);
	assert_row_error(&r, 0, 2, "not JSON");
	assert_int_equal(r.rows[0].err.column, 3);
	result_free(&r);

	/* An error on a later line of an element, strings as elements. */
	decode(write_file("lines.json", "[\n {\"a\": 1,\n  \"b\": x},\n \"str\", {\"c\":3}]", -1), NULL, 0, &r);
	assert_int_equal(r.n, 3);
	assert_row_error(&r, 0, 3, "invalid JSON");
	assert_int_equal(r.rows[0].line, 2);
	assert_int_equal(r.rows[0].err.column, 8);
	assert_row_error(&r, 1, 4, "not an object");
	assert_row_event(&r, 2, 4);
	result_free(&r);

	/* Bad bytes inside an element over several lines, and in one of the
	 * elements on a line: only the elements holding them are errors. */
	struct tr_source gbk = plain_source("gbk");
	decode(write_file("bad.json",
			  "[\n {\"a\": 1,\n  \"b\": \"\x81\x20\",\n  \"d\": 4},\n"
			  " {\"c\": \"\xd6\xd0\"}, {\"e\": \"\x80\"}, {\"f\": 6}\n]\n", -1),
	       &gbk, 0, &r);
	assert_int_equal(r.n, 4);
	assert_row_error(&r, 0, 3, "invalid GB18030 byte sequence 0x81 0x20");
	assert_int_equal(r.rows[0].line, 2);
	assert_int_equal(r.rows[0].err.column, 9);
	assert_row_event(&r, 1, 5);
	assert_string_equal(field(&r, 1, "c"), "中");
	assert_row_error(&r, 2, 5, "invalid GB18030 byte sequence 0x80");
	assert_row_event(&r, 3, 5);
	result_free(&r);

	decode(write_file("badtop.json", "\x81\x20[{\"a\":1}]\n", -1), &gbk, 0, &r);
	assert_int_equal(r.n, 1);
	assert_row_error(&r, 0, 1, "invalid GB18030");
	result_free(&r);

	decode(write_file("one.json", "{\"type\":\"x.y\",\"id\":\"1\"}", -1), NULL, 0, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(field(&r, 0, "type"), "x.y");
	result_free(&r);

	decode(write_file("empty.json", " \n", -1), NULL, 0, &r);
	assert_int_equal(r.open_rc, 0);
	assert_int_equal(r.n, 0);
	result_free(&r);

	decode(write_file("toobig.json", "[{\"a\":\"0123456789012345678901234567890123456789\"},{\"b\":1}]", -1),
	       NULL, 20, &r);
	assert_int_equal(r.n, 2);
	assert_row_error(&r, 0, 1, "larger than 20 bytes");
	assert_row_event(&r, 1, 1);
	result_free(&r);
}

/* ---- hostile sizes (issue 17): refused fast, with file and line ---- */

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A CSV whose header has n columns c0..c<n-1> (the last one named like
 * column 0 when repeat), then one row of n values. */
static const char *wide_csv(const char *name, int n, int repeat)
{
	size_t cap = (size_t)n * 10 + 64;
	char *text = malloc(cap), *p = text;
	assert_non_null(text);
	for (int i = 0; i < n; i++)
		p += sprintf(p, "%sc%d", i ? "," : "", repeat && i == n - 1 ? 0 : i);
	*p++ = '\n';
	for (int i = 0; i < n; i++)
		p += sprintf(p, "%sv", i ? "," : "");
	*p++ = '\n';
	const char *path = write_file(name, text, (long)(p - text));
	free(text);
	return path;
}

static void test_csv_too_many_columns(void **state)
{
	(void)state;
	struct result r;
	/* Excel's limit is read */
	decode(wide_csv("w16k.csv", 16384, 0), NULL, 0, &r);
	assert_int_equal(r.open_rc, 0);
	assert_int_equal(r.n, 1);
	assert_row_event(&r, 0, 2);
	result_free(&r);
	/* 100,000 columns: refused at the header's line, in a fraction of a
	 * second (11 s before) */
	double t0 = seconds();
	decode(wide_csv("w100k.csv", 100000, 0), NULL, 0, &r);
	double took = seconds() - t0;
	assert_int_equal(r.open_rc, TR_EPARSE);
	assert_int_equal(r.open_errs.n, 1);
	assert_int_equal(r.open_errs.items[0].line, 1);
	assert_non_null(strstr(r.open_errs.items[0].file, "w100k.csv"));
	assert_non_null(strstr(r.open_errs.items[0].message, "100000 columns, more than the 16384 allowed"));
	result_free(&r);
	if (took > 0.5)
		fail_msg("a 100,000-column header took %.2f s to refuse", took);
	/* a repeated name in a wide header is found (sorted, not pairwise) */
	t0 = seconds();
	decode(wide_csv("w16k-dup.csv", 16384, 1), NULL, 0, &r);
	took = seconds() - t0;
	assert_int_equal(r.open_rc, TR_EPARSE);
	assert_non_null(strstr(r.open_errs.items[0].message, "columns 1 and 16384 both give field \"c0\""));
	result_free(&r);
	if (took > 0.5)
		fail_msg("a 16,384-column header took %.2f s to check", took);
}

static void test_yaml_too_deep(void **state)
{
	(void)state;
	enum { DEEP = 100000 };
	static const struct { const char *name, *open, *close, *lead; } shapes[] = {
		{"deep-flow.yaml", "[", "]", "- "},
		{"deep-map.yaml", "{a: ", "}", "- {type: a.b, x: "},
		{"deep-block.yaml", "- ", "", ""},
	};
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		size_t lo = strlen(shapes[i].open), lc = strlen(shapes[i].close);
		char *text = malloc(DEEP * (lo + lc) + 256), *p = text;
		assert_non_null(text);
		p += sprintf(p, "- {type: a.b, id: ok}\n%s", shapes[i].lead);
		for (int k = 0; k < DEEP; k++, p += lo)
			memcpy(p, shapes[i].open, lo);
		*p++ = '1';
		for (int k = 0; k < DEEP; k++, p += lc)
			memcpy(p, shapes[i].close, lc);
		p += sprintf(p, "%s\n- {type: a.b, id: after}\n", strlen(shapes[i].lead) > 2 ? "}" : "");
		const char *path = write_file(shapes[i].name, text, (long)(p - text));
		free(text);
		struct result r;
		double t0 = seconds();
		decode(path, NULL, 0, &r);
		double took = seconds() - t0;
		/* the row before is read; the deep one ends the file (libyaml
		 * cannot resume), saying so at its line */
		assert_int_equal(r.n, 2);
		assert_row_event(&r, 0, 1);
		assert_row_error(&r, 1, 2, "nested deeper than 256 levels");
		assert_non_null(strstr(r.rows[1].err.message, "the rest of the file was not read"));
		assert_non_null(strstr(r.rows[1].err.file, shapes[i].name));
		result_free(&r);
		if (took > 0.5) /* 27 s and 42 s before */
			fail_msg("%s took %.2f s to refuse", shapes[i].name, took);
	}
	/* Deeper than a row may be but not absurdly so: that item alone is a
	 * row error and reading goes on. */
	char text[1024] = "- {type: a.b, x: ";
	for (int k = 0; k < 100; k++)
		strcat(text, "[");
	for (int k = 0; k < 100; k++)
		strcat(text, "]");
	strcat(text, "}\n- {type: a.b, id: after}\n");
	struct result r;
	decode(write_file("deep100.yaml", text, -1), NULL, 0, &r);
	assert_int_equal(r.n, 2);
	assert_row_error(&r, 0, 1, "nested deeper than 64 levels");
	assert_row_event(&r, 1, 2);
	result_free(&r);
}

/* ---- YAML ---- */

static void test_yaml_rows(void **state)
{
	(void)state;
	struct tr_column cols[] = {{"店铺", "account"}};
	struct tr_source s = plain_source("utf-8");
	s.columns = cols;
	s.ncolumns = 1;
	struct result r;
	decode(write_file("r.yaml",
			  "- 店铺: acme\n"
			  "  n: 123\n"
			  "  q: \"123\"\n"
			  "  yes: true\n"
			  "  empty:\n"
			  "  tags: [a, b]\n"
			  "  nested: {k: v}\n"
			  "- just a string\n"
			  "- [1, 2]\n"
			  "- &x {a: 1}\n"
			  "- b: *x\n"
			  "- last: row\n", -1), &s, 0, &r);
	assert_int_equal(r.end_rc, 0);
	assert_int_equal(r.n, 6);
	assert_row_event(&r, 0, 1);
	assert_string_equal(field(&r, 0, "account"), "acme");
	assert_string_equal(field(&r, 0, "n"), "123");
	assert_string_equal(field(&r, 0, "q"), "123");
	assert_string_equal(field(&r, 0, "yes"), "true");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(r.rows[0].ev, "empty")));
	const cJSON *tags = cJSON_GetObjectItem(r.rows[0].ev, "tags");
	assert_int_equal(cJSON_GetArraySize(tags), 2);
	assert_string_equal(cJSON_GetArrayItem(tags, 1)->valuestring, "b");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(r.rows[0].ev, "nested"), "k")->valuestring, "v");
	assert_row_error(&r, 1, 8, "not a mapping");
	assert_row_error(&r, 2, 9, "not a mapping");
	assert_row_event(&r, 3, 10);
	assert_row_error(&r, 4, 11, "aliases are not supported");
	assert_row_event(&r, 5, 12);
	assert_string_equal(field(&r, 5, "last"), "row");
	result_free(&r);
}

static void test_yaml_errors(void **state)
{
	(void)state;
	struct result r;
	decode(write_file("bad.yaml", "- a: 1\n- b: [1, 2\n- c: 3\n", -1), NULL, 0, &r);
	assert_int_equal(r.end_rc, 0);
	assert_int_equal(r.n, 2);
	assert_row_event(&r, 0, 1);
	assert_true(r.rows[1].ev == NULL);
	assert_true(r.rows[1].err.line >= 2 && r.rows[1].err.line <= 3);
	assert_true(r.rows[1].err.column > 0);
	assert_non_null(strstr(r.rows[1].err.message, "invalid YAML"));
	result_free(&r);

	decode(write_file("ctl.yaml", "- a: 1\n- b: \"x\x01y\"\n- c: 3\n", -1), NULL, 0, &r);
	assert_int_equal(r.n, 2);
	assert_row_error(&r, 1, 2, "control character U+0001");
	assert_int_equal(r.rows[1].err.column, 8);
	result_free(&r);

	/* Bad bytes: libyaml cannot go on; the items before them are rows. */
	struct tr_source gbk = plain_source("gbk");
	decode(write_file("gbk.yaml", "- a: 1\n- b: \xd6\xd0\n- c: \x81\x20\n- d: 4\n", -1), &gbk, 0, &r);
	assert_int_equal(r.n, 3);
	assert_row_event(&r, 0, 1);
	assert_row_event(&r, 1, 2);
	assert_string_equal(field(&r, 1, "b"), "中");
	assert_row_error(&r, 2, 3, "invalid GB18030 byte sequence 0x81 0x20");
	assert_int_equal(r.rows[2].err.column, 6);
	assert_non_null(strstr(r.rows[2].err.message, "the rest of the file was not read"));
	result_free(&r);
	decode(write_file("gbk2.yaml", "- a: 1\n  b: \x81\x20\n- d: 4\n", -1), &gbk, 0, &r);
	assert_int_equal(r.n, 1);
	assert_row_error(&r, 0, 2, "invalid GB18030");
	assert_int_equal(r.rows[0].line, 1); /* the item holding the bad bytes */
	assert_non_null(strstr(r.rows[0].err.message, "the item from line 1 on"));
	result_free(&r);

	decode(write_file("keys.yaml", "- a: \"x\\0y\"\n- {[k]: v}\n- ok: \"\xef\xbf\xbe\"\n", -1), NULL, 0, &r);
	assert_int_equal(r.n, 3);
	assert_row_error(&r, 0, 1, "NUL character");
	assert_row_error(&r, 1, 2, "as a key is not supported");
	assert_row_error(&r, 2, 3, "control character U+FFFE");
	result_free(&r);

	decode(write_file("docs.yaml", "---\n---\n- a: 1\n...\n--- {b: 2}\n", -1), NULL, 0, &r);
	assert_int_equal(r.n, 2);
	assert_row_event(&r, 0, 3);
	assert_row_event(&r, 1, 5);
	assert_string_equal(field(&r, 1, "b"), "2");
	result_free(&r);

	decode(write_file("one.yml", "a: 1\nb: two\n", -1), NULL, 0, &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(field(&r, 0, "b"), "two");
	result_free(&r);

	decode(write_file("scalar.yaml", "hello\n", -1), NULL, 0, &r);
	assert_int_equal(r.n, 1);
	assert_row_error(&r, 0, 1, "not a YAML list of mappings");
	result_free(&r);

	decode(write_file("empty.yaml", "", 0), NULL, 0, &r);
	assert_int_equal(r.open_rc, 0);
	assert_int_equal(r.n, 0);
	result_free(&r);

	char deep[400] = "- ";
	for (int i = 0; i < 70; i++)
		strcat(deep, "[");
	for (int i = 0; i < 70; i++)
		strcat(deep, "]");
	strcat(deep, "\n- a: b\n");
	decode(write_file("deep.yaml", deep, -1), NULL, 0, &r);
	assert_int_equal(r.n, 2);
	assert_row_error(&r, 0, 1, "nested deeper than 64 levels");
	assert_row_event(&r, 1, 2);
	result_free(&r);

	char *big = malloc(300000);
	assert_non_null(big);
	size_t n = (size_t)sprintf(big, "- a: ");
	memset(big + n, 'x', 250000);
	n += 250000;
	n += (size_t)sprintf(big + n, "\n- b: 1\n");
	decode(write_file("big.yaml", big, (long)n), NULL, 1000, &r);
	assert_int_equal(r.n, 1);
	assert_row_error(&r, 0, 1, "larger than 1000 bytes");
	result_free(&r);
	free(big);
}

/* ---- opening ---- */

static void test_open_errors(void **state)
{
	(void)state;
	struct result r;
	decode(write_file("x.txt", "a", -1), NULL, 0, &r);
	assert_int_equal(r.open_rc, -EINVAL);
	assert_non_null(strstr(r.open_errs.items[0].message, "unknown file type"));
	result_free(&r);

	struct tr_source s = plain_source("latin-9");
	decode(write_file("x.csv", "a\n1\n", -1), &s, 0, &r);
	assert_int_equal(r.open_rc, -EINVAL);
	assert_non_null(strstr(r.open_errs.items[0].message, "unknown encoding"));
	result_free(&r);

	decode(TR_SHARED_DIR "/samples/no_such_file.csv", NULL, 0, &r);
	assert_int_equal(r.open_rc, -ENOENT);
	assert_int_equal(r.open_errs.n, 1);
	result_free(&r);

	s = plain_source("GB-18030");
	s.format = "tsv";
	decode(write_file("x.data", "a\tb\n1\t2\n", -1), &s, 0, &r);
	assert_int_equal(r.open_rc, 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(field(&r, 0, "b"), "2");
	result_free(&r);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(tmpdir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_for),
		cmocka_unit_test(test_sample_feedback_gbk),
		cmocka_unit_test(test_sample_feedback_sjis),
		cmocka_unit_test(test_sample_messages_bom),
		cmocka_unit_test(test_sample_bad_feedback),
		cmocka_unit_test(test_sample_bad_events),
		cmocka_unit_test(test_sample_events_ndjson),
		cmocka_unit_test(test_sample_cases_json),
		cmocka_unit_test(test_sample_alerts_yaml),
		cmocka_unit_test(test_gb18030_four_byte),
		cmocka_unit_test(test_time_format),
		cmocka_unit_test(test_cp932_wave_dash),
		cmocka_unit_test(test_invalid_gbk_byte),
		cmocka_unit_test(test_invalid_byte_in_multiline_field),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_bom_wins_and_utf16),
		cmocka_unit_test(test_csv_quotes_and_line_ends),
		cmocka_unit_test(test_csv_trailing_empty_column),
		cmocka_unit_test(test_tsv),
		cmocka_unit_test(test_csv_unclosed_quote_multiline),
		cmocka_unit_test(test_csv_unclosed_quote_budget),
		cmocka_unit_test(test_csv_header_problems),
		cmocka_unit_test(test_csv_long_row),
		cmocka_unit_test(test_lines_across_buffers),
		cmocka_unit_test(test_csv_type_and_id),
		cmocka_unit_test(test_csv_split_matches_libcsv),
		cmocka_unit_test(test_csv_half_million_rows),
		cmocka_unit_test(test_ndjson_mapping_and_lines),
		cmocka_unit_test(test_ndjson_long_line),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_json_array_10000),
		cmocka_unit_test(test_json_deep_nesting),
		cmocka_unit_test(test_json_errors_and_resync),
		cmocka_unit_test(test_json_scan),
		cmocka_unit_test(test_csv_too_many_columns),
		cmocka_unit_test(test_yaml_too_deep),
		cmocka_unit_test(test_yaml_rows),
		cmocka_unit_test(test_yaml_errors),
		cmocka_unit_test(test_open_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
