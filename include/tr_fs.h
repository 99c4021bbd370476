/* File-system helpers shared by the state folder, the spool and dir
 * outputs. */
#ifndef TR_FS_H
#define TR_FS_H

#include <sys/types.h>

/* mkdir -p: creates path and its missing parents with mode. 0, or -errno
 * (-ENOTDIR when path exists and is not a folder, -ENAMETOOLONG past
 * PATH_MAX). */
int tr_mkdirs(const char *path, mode_t mode);

#endif
