/* The growable byte buffer (tr_buf.h). */
#include <stdlib.h>
#include <string.h>
#include "tr_buf.h"

void tr_buf_add(struct tr_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void tr_buf_free(struct tr_buf *b)
{
	free(b->p);
	*b = (struct tr_buf){0};
}
