/* The WAL-append VFS (see tr_wal_vfs.h): a shim over the default VFS whose
 * WAL files hold consecutive appends in a buffer and hand them to the
 * kernel in one write, at the latest when the commit frame is complete.
 * Every other file, and every other operation, passes straight through.
 * Not a cache: nothing is ever read from the buffer; any operation on the
 * WAL other than an append writes the buffer out first. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "tr_wal_vfs.h"

#define BUF_BYTES (64u << 10)  /* per WAL file: ~15 frames of 4 KiB per write; the
				* unix VFS writes at most 128 KiB - 1 in one call */
#define WAL_HEADER 32          /* the file header; frames follow */
#define FRAME_HEADER 24        /* page number, then the database size on a commit frame, ... */

struct wal_file {
	sqlite3_file base;        /* our methods; must be first */
	sqlite3_file *real;       /* the default VFS's file, in the same allocation */
	unsigned char *buf;       /* held appends (BUF_BYTES, owned, freed at close);
				   * NULL for other files, or when out of memory */
	size_t len;
	sqlite3_int64 start;      /* file offset of buf[0] */
	sqlite3_int64 commit_end; /* end of a commit frame not yet written out, or 0 */
	uint32_t page_size;       /* from the WAL header; 0 while unknown, and then
				   * frames cannot be told apart: nothing is held */
};

#define REAL_OFFSET ((sizeof(struct wal_file) + 7) & ~(size_t)7)

static sqlite3_vfs vfs;
static const char *registered;
static uint64_t asked, made;

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The page size a WAL header at offset 0 declares, or 0 if it is not one. */
static uint32_t header_page_size(const unsigned char *hdr)
{
	uint32_t magic = be32(hdr), size = be32(hdr + 8);
	if ((magic & 0xFFFFFFFEu) != 0x377F0682u)
		return 0;
	if (size == 1)
		return 65536;
	return size >= 512 && size <= 32768 && (size & (size - 1)) == 0 ? size : 0;
}

static int write_out(struct wal_file *f)
{
	if (f->len == 0)
		return SQLITE_OK;
	int rc = f->real->pMethods->xWrite(f->real, f->buf, (int)f->len, f->start);
	__atomic_fetch_add(&made, 1, __ATOMIC_RELAXED);
	if (f->commit_end && f->commit_end <= f->start + (sqlite3_int64)f->len)
		f->commit_end = 0;
	f->len = 0;
	return rc;
}

static int w_close(sqlite3_file *file)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc = write_out(f);
	int rc2 = f->real->pMethods->xClose(f->real);
	free(f->buf);
	f->buf = NULL;
	return rc != SQLITE_OK ? rc : rc2;
}

static int w_read(sqlite3_file *file, void *data, int amt, sqlite3_int64 off)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc = write_out(f);
	if (rc != SQLITE_OK)
		return rc;
	rc = f->real->pMethods->xRead(f->real, data, amt, off);
	if (f->buf && off == 0 && amt >= WAL_HEADER && rc == SQLITE_OK)
		f->page_size = header_page_size(data); /* recovery reads the header */
	return rc;
}

/* SPEC §3: an append is held only while the commit frame it belongs to is
 * incomplete; the write that completes it writes everything out and
 * returns that write's error, so SQLite fails the commit if it fails. */
static int w_write(sqlite3_file *file, const void *data, int amt, sqlite3_int64 off)
{
	struct wal_file *f = (struct wal_file *)file;
	if (!f->buf)
		return f->real->pMethods->xWrite(f->real, data, amt, off);
	__atomic_fetch_add(&asked, 1, __ATOMIC_RELAXED);
	int rc;
	if (f->len && (off != f->start + (sqlite3_int64)f->len || f->len + (size_t)amt > BUF_BYTES) &&
	    (rc = write_out(f)) != SQLITE_OK)
		return rc;
	if (off == 0 && amt >= WAL_HEADER)
		f->page_size = header_page_size(data);
	if (!f->page_size || (size_t)amt > BUF_BYTES) {
		__atomic_fetch_add(&made, 1, __ATOMIC_RELAXED);
		return f->real->pMethods->xWrite(f->real, data, amt, off);
	}
	if (off >= WAL_HEADER && (off - WAL_HEADER) % (FRAME_HEADER + f->page_size) == 0 && amt >= 8 &&
	    be32((const unsigned char *)data + 4) != 0)
		f->commit_end = off + FRAME_HEADER + f->page_size;
	if (f->len == 0)
		f->start = off;
	memcpy(f->buf + f->len, data, (size_t)amt);
	f->len += (size_t)amt;
	if (f->commit_end && f->start + (sqlite3_int64)f->len >= f->commit_end)
		return write_out(f);
	return SQLITE_OK;
}

/* Operations that may look at what was written: the buffer goes first. */
static int w_truncate(sqlite3_file *file, sqlite3_int64 size)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc = write_out(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int w_sync(sqlite3_file *file, int flags)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc = write_out(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int w_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc = write_out(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int w_file_control(sqlite3_file *file, int op, void *arg)
{
	struct wal_file *f = (struct wal_file *)file;
	int rc = write_out(f);
	return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

/* Plain pass-through: these touch no file content (file locks, the
 * shared-memory wal-index and mmap belong to the main database file,
 * which never holds anything). */
static int w_lock(sqlite3_file *file, int level)
{
	struct wal_file *f = (struct wal_file *)file;
	return f->real->pMethods->xLock(f->real, level);
}

static int w_unlock(sqlite3_file *file, int level)
{
	struct wal_file *f = (struct wal_file *)file;
	return f->real->pMethods->xUnlock(f->real, level);
}

static int w_check_reserved(sqlite3_file *file, int *out)
{
	struct wal_file *f = (struct wal_file *)file;
	return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int w_sector_size(sqlite3_file *file)
{
	struct wal_file *f = (struct wal_file *)file;
	return f->real->pMethods->xSectorSize(f->real);
}

static int w_device_characteristics(sqlite3_file *file)
{
	struct wal_file *f = (struct wal_file *)file;
	return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int w_shm_map(sqlite3_file *file, int page, int size, int extend, void volatile **pp)
{
	struct wal_file *f = (struct wal_file *)file;
	return f->real->pMethods->xShmMap(f->real, page, size, extend, pp);
}

static int w_shm_lock(sqlite3_file *file, int offset, int n, int flags)
{
	struct wal_file *f = (struct wal_file *)file;
	return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void w_shm_barrier(sqlite3_file *file)
{
	struct wal_file *f = (struct wal_file *)file;
	f->real->pMethods->xShmBarrier(f->real);
}

static int w_shm_unmap(sqlite3_file *file, int delete_flag)
{
	struct wal_file *f = (struct wal_file *)file;
	return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

static int w_fetch(sqlite3_file *file, sqlite3_int64 off, int amt, void **pp)
{
	struct wal_file *f = (struct wal_file *)file;
	if (f->real->pMethods->iVersion < 3) {
		*pp = NULL;
		return SQLITE_OK;
	}
	return f->real->pMethods->xFetch(f->real, off, amt, pp);
}

static int w_unfetch(sqlite3_file *file, sqlite3_int64 off, void *p)
{
	struct wal_file *f = (struct wal_file *)file;
	if (f->real->pMethods->iVersion < 3)
		return SQLITE_OK;
	return f->real->pMethods->xUnfetch(f->real, off, p);
}

static const sqlite3_io_methods methods = {
	.iVersion = 3,
	.xClose = w_close,
	.xRead = w_read,
	.xWrite = w_write,
	.xTruncate = w_truncate,
	.xSync = w_sync,
	.xFileSize = w_file_size,
	.xLock = w_lock,
	.xUnlock = w_unlock,
	.xCheckReservedLock = w_check_reserved,
	.xFileControl = w_file_control,
	.xSectorSize = w_sector_size,
	.xDeviceCharacteristics = w_device_characteristics,
	.xShmMap = w_shm_map,
	.xShmLock = w_shm_lock,
	.xShmBarrier = w_shm_barrier,
	.xShmUnmap = w_shm_unmap,
	.xFetch = w_fetch,
	.xUnfetch = w_unfetch,
};

static int v_open(sqlite3_vfs *v, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
	sqlite3_vfs *real_vfs = v->pAppData;
	struct wal_file *f = (struct wal_file *)file;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)((char *)f + REAL_OFFSET);
	if (flags & SQLITE_OPEN_WAL)
		f->buf = malloc(BUF_BYTES); /* NULL: this file passes through */
	int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK) {
		if (f->real->pMethods)
			f->real->pMethods->xClose(f->real);
		free(f->buf);
		f->buf = NULL;
		f->base.pMethods = NULL;
		return rc;
	}
	f->base.pMethods = &methods;
	return SQLITE_OK;
}

#define REAL(v) ((sqlite3_vfs *)(v)->pAppData)
static int v_delete(sqlite3_vfs *v, const char *name, int sync) { return REAL(v)->xDelete(REAL(v), name, sync); }
static int v_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
	return REAL(v)->xAccess(REAL(v), name, flags, out);
}
static int v_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
	return REAL(v)->xFullPathname(REAL(v), name, n, out);
}
static void *v_dl_open(sqlite3_vfs *v, const char *name) { return REAL(v)->xDlOpen(REAL(v), name); }
static void v_dl_error(sqlite3_vfs *v, int n, char *msg) { REAL(v)->xDlError(REAL(v), n, msg); }
static void (*v_dl_sym(sqlite3_vfs *v, void *h, const char *sym))(void) { return REAL(v)->xDlSym(REAL(v), h, sym); }
static void v_dl_close(sqlite3_vfs *v, void *h) { REAL(v)->xDlClose(REAL(v), h); }
static int v_randomness(sqlite3_vfs *v, int n, char *out) { return REAL(v)->xRandomness(REAL(v), n, out); }
static int v_sleep(sqlite3_vfs *v, int us) { return REAL(v)->xSleep(REAL(v), us); }
static int v_current_time(sqlite3_vfs *v, double *t) { return REAL(v)->xCurrentTime(REAL(v), t); }
static int v_last_error(sqlite3_vfs *v, int n, char *msg) { return REAL(v)->xGetLastError(REAL(v), n, msg); }
static int v_current_time64(sqlite3_vfs *v, sqlite3_int64 *t) { return REAL(v)->xCurrentTimeInt64(REAL(v), t); }

static void register_vfs(void)
{
	sqlite3_vfs *real = sqlite3_vfs_find(NULL);
	if (!real || real->iVersion < 2)
		return;
	vfs = (sqlite3_vfs){
		.iVersion = 2, /* the system-call overrides (version 3) are the real one's business */
		.szOsFile = (int)(REAL_OFFSET + (size_t)real->szOsFile),
		.mxPathname = real->mxPathname,
		.zName = "triaged-wal",
		.pAppData = real,
		.xOpen = v_open,
		.xDelete = v_delete,
		.xAccess = v_access,
		.xFullPathname = v_full_pathname,
		.xDlOpen = v_dl_open,
		.xDlError = v_dl_error,
		.xDlSym = v_dl_sym,
		.xDlClose = v_dl_close,
		.xRandomness = v_randomness,
		.xSleep = v_sleep,
		.xCurrentTime = v_current_time,
		.xGetLastError = v_last_error,
		.xCurrentTimeInt64 = v_current_time64,
	};
	if (sqlite3_vfs_register(&vfs, 0) == SQLITE_OK)
		registered = vfs.zName;
}

const char *tr_wal_vfs(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, register_vfs);
	return registered;
}

void tr_wal_vfs_counts(uint64_t *asked_out, uint64_t *made_out)
{
	*asked_out = __atomic_load_n(&asked, __ATOMIC_RELAXED);
	*made_out = __atomic_load_n(&made, __ATOMIC_RELAXED);
}
