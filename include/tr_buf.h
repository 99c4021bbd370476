/* A growable byte buffer, the one the printers, report writers and
 * decoders share. The bytes are kept NUL-terminated; after a failed
 * allocation the buffer is marked oom and later appends do nothing, so a
 * caller checks once at the end. p is malloc'd and owned by the buffer's
 * holder: take it (and zero the struct) or free it with tr_buf_free. */
#ifndef TR_BUF_H
#define TR_BUF_H

#include <stddef.h>

struct tr_buf {
	char *p;    /* NULL until the first append */
	size_t len, cap;
	int oom;
};

void tr_buf_add(struct tr_buf *b, const char *s, size_t n);
void tr_buf_free(struct tr_buf *b);

#endif
