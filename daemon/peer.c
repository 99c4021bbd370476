/* The name a socket caller is recorded under: the user name of the uid
 * that SO_PEERCRED gave, so a ticket's history says "alice acked", not
 * "uid:1000" that someone must look up later (and that may belong to
 * another person by then). Not reading the credentials (server.c). */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tr_peer.h"
#include "tr_protocol.h"

/* getpwuid_r's scratch: glibc asks for 1024 through sysconf; NSS modules
 * with long gecos fields want more, so start there and grow up to a cap
 * rather than trust sysconf's hint. */
#define PW_BUF_FIRST 1024
#define PW_BUF_MAX (64 * 1024)

static int uid_actor(uid_t uid, char *buf, size_t len)
{
	int n = snprintf(buf, len, "uid:%u", (unsigned)uid);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

/* SPEC §6: mutating operations record the caller; a name when there is one. */
int tr_peer_actor(const struct tr_peer *peer, char *buf, size_t len)
{
	if (!buf || len == 0)
		return -ENOSPC;
	for (size_t size = PW_BUF_FIRST; size <= PW_BUF_MAX; size *= 2) {
		char *scratch = malloc(size);
		if (!scratch)
			break;
		struct passwd pw, *found = NULL;
		int rc = getpwuid_r(peer->uid, &pw, scratch, size, &found);
		if (rc == ERANGE) {
			free(scratch);
			continue;
		}
		int out = -ENOENT;
		if (rc == 0 && found && found->pw_name && *found->pw_name) {
			size_t n = strlen(found->pw_name);
			out = n < len ? 0 : -ENOSPC;
			if (out == 0)
				memcpy(buf, found->pw_name, n + 1);
		}
		free(scratch);
		if (out == 0)
			return 0;
		break;
	}
	return uid_actor(peer->uid, buf, len);
}
