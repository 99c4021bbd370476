/* Events accepted by type and source (tr_event_counts.h): a small open
 * addressing table, looked up once per accepted event, so a hash and a
 * compare or two, not a scan of every type. Not the printing (metrics.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "tr_event_counts.h"

/* Twice the pairs that can ever be kept (the named ones, plus one
 * TR_EVENT_COUNTS_OTHER per source), so probes stay short. */
#define SLOTS 512

struct tr_event_count_slot {
	char *type;          /* NULL: free */
	const char *source;  /* one of sources[] */
	uint64_t n;          /* committed */
	uint64_t batch;      /* counted in the open transaction */
};

/* The sources an event can name (tr_event.h): a bounded label set. */
static const char *const sources[] = {"socket", "file", "timer", "test", "other"};
#define NSOURCES (sizeof(sources) / sizeof(sources[0]))

_Static_assert(TR_EVENT_COUNTS_TYPES + NSOURCES <= SLOTS / 2, "the table stays at most half full");

static const char *source_class(const char *source)
{
	size_t n = source ? strcspn(source, ":") : 0;
	for (size_t i = 0; i + 1 < NSOURCES; i++)
		if (strlen(sources[i]) == n && strncmp(source, sources[i], n) == 0)
			return sources[i];
	return sources[NSOURCES - 1];
}

static size_t hash(const char *type, const char *source)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ (uintptr_t)source;
	for (const unsigned char *p = (const unsigned char *)type; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return (size_t)(h ^ (h >> 29));
}

/* The slot of (type, source): found, or the free one where it would go. */
static struct tr_event_count_slot *find(struct tr_event_counts *c, const char *type, const char *source)
{
	size_t i = hash(type, source) & (SLOTS - 1);
	for (;;) {
		struct tr_event_count_slot *s = &c->slots[i];
		if (!s->type || (s->source == source && strcmp(s->type, type) == 0))
			return s;
		i = (i + 1) & (SLOTS - 1);
	}
}

int tr_event_counts_add(struct tr_event_counts *c, const char *type, const char *source)
{
	if (!c->slots) {
		c->slots = calloc(SLOTS, sizeof(*c->slots));
		c->touched = calloc(SLOTS, sizeof(*c->touched));
		if (!c->slots || !c->touched) {
			tr_event_counts_free(c);
			return -ENOMEM;
		}
	}
	const char *from = source_class(source);
	struct tr_event_count_slot *s = find(c, type, from);
	/* SPEC §6 never grows memory without bound: types past the cap are one */
	if (!s->type && c->pairs >= TR_EVENT_COUNTS_TYPES)
		s = find(c, type = TR_EVENT_COUNTS_OTHER, from);
	if (!s->type) {
		if (!(s->type = strdup(type)))
			return -ENOMEM;
		s->source = from;
		if (strcmp(type, TR_EVENT_COUNTS_OTHER) != 0)
			c->pairs++;
	}
	if (s->batch++ == 0)
		c->touched[c->ntouched++] = (uint16_t)(s - c->slots);
	return 0;
}

void tr_event_counts_end(struct tr_event_counts *c, int committed)
{
	for (size_t i = 0; i < c->ntouched; i++) {
		struct tr_event_count_slot *s = &c->slots[c->touched[i]];
		if (committed)
			s->n += s->batch;
		s->batch = 0;
	}
	c->ntouched = 0;
}

int tr_event_counts_each(const struct tr_event_counts *c,
			 int (*fn)(void *ud, const char *type, const char *source, uint64_t n), void *ud)
{
	for (size_t i = 0; c->slots && i < SLOTS; i++) {
		const struct tr_event_count_slot *s = &c->slots[i];
		int rc = s->type && s->n ? fn(ud, s->type, s->source, s->n) : 0;
		if (rc)
			return rc;
	}
	return 0;
}

void tr_event_counts_free(struct tr_event_counts *c)
{
	for (size_t i = 0; c->slots && i < SLOTS; i++)
		free(c->slots[i].type);
	free(c->slots);
	free(c->touched);
	memset(c, 0, sizeof(*c));
}
