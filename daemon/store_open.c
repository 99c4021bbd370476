/* Opening the store (tr_store.h): the database connected and migrated
 * (store.c), then what each table family keeps in memory loaded from it:
 * the timer id counter, the open tickets' keys, the quarantine. It sits
 * above the families so that store.c, which they all use, calls none of
 * them. */
#include <stdio.h>
#include "store_internal.h"

int tr_store_open(const char *path, enum tr_durability durability, struct tr_store **out,
		  char *err, size_t errlen)
{
	struct tr_store *s;
	int rc = tr_store_connect(path, durability, &s, err, errlen);
	if (rc)
		return rc;
	if (tr_store_timer_ids_load(s)) {
		snprintf(err, errlen, "cannot read the timer id counter: %s", sqlite3_errmsg(s->db));
		tr_store_close(s);
		return TR_ESTORE;
	}
	if (tr_store_open_keys_load(s)) {
		snprintf(err, errlen, "cannot read the open tickets: %s", sqlite3_errmsg(s->db));
		tr_store_close(s);
		return TR_ESTORE;
	}
	tr_store_quarantine_load(s);
	*out = s;
	return 0;
}
