/* Refuses a rules folder that anyone on the machine may change
 * (tr_rules_dir.h): the rules run as the daemon, with its database and its
 * outputs, so others' write permission on a rule, on a module that require
 * reaches or on a folder holding either is a way for anyone to run code as
 * the daemon. Only the mode bits are looked at, with stat(2); owners are
 * not (a package may install the rules as root for a daemon user), nor the
 * rules' text (engine.c loads it). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "tr_rules_dir.h"

/* Folders under lib/ walked at most: require's names are at most 128 bytes
 * (sandbox.c), so no module sits deeper than 64 folders; the count bounds
 * the walk when symlinks make the tree a graph. */
#define LIB_MAX_DEPTH 64
#define LIB_MAX_FOLDERS 4096

struct walk {
	struct tr_errors *errs;
	int nerrors;
	int nfolders;
	struct { dev_t dev; ino_t ino; } seen[LIB_MAX_FOLDERS];  /* folders walked, against loops */
};

static void refuse(struct walk *w, const char *path, const struct stat *st, const char *what)
{
	tr_errors_add(w->errs, path, 0, 0, "rules_dir",
		      "%s is writable by everyone (mode %04o): anyone on this machine could run code "
		      "as the daemon; remove the others' write permission (chmod o-w)",
		      what, (unsigned)(st->st_mode & 07777));
	w->nerrors++;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n > t && strcmp(s + n - t, tail) == 0;
}

/* The engine's choice of rule files (is_rule_file in engine.c). */
static bool is_rule_file(const char *name)
{
	return name[0] != '.' && ends_with(name, ".lua") && !ends_with(name, ".test.lua");
}

/* Each folder above the real rules folder, up to /. Sticky folders pass:
 * others may add to them but not rename or remove what they do not own. */
static void check_above(struct walk *w, const char *rules_dir)
{
	char *p = realpath(rules_dir, NULL);
	if (!p)
		return;
	for (char *slash = strrchr(p, '/'); slash; slash = strrchr(p, '/')) {
		if (slash == p)
			slash[1] = '\0';  /* the root itself */
		else
			*slash = '\0';
		struct stat st;
		if (stat(p, &st) == 0 && (st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
			refuse(w, p, &st, "this folder above the rules, without the sticky bit,");
		if (slash == p)
			break;
	}
	free(p);
}

/* Folder dir of lib/ (already stat'ed as st and checked itself), its
 * modules and the folders under it. */
static void check_lib(struct walk *w, const char *dir, const struct stat *st, int depth)
{
	for (int i = 0; i < w->nfolders; i++)
		if (w->seen[i].dev == st->st_dev && w->seen[i].ino == st->st_ino)
			return;
	if (depth > LIB_MAX_DEPTH || w->nfolders == LIB_MAX_FOLDERS)
		return;  /* require cannot name anything this deep; the count stops a graph */
	w->seen[w->nfolders].dev = st->st_dev;
	w->seen[w->nfolders].ino = st->st_ino;
	w->nfolders++;
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;  /* require refuses names that start with a dot */
		char path[PATH_MAX];
		struct stat kid;
		if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path) ||
		    stat(path, &kid) != 0)
			continue;
		if (S_ISDIR(kid.st_mode)) {
			if (kid.st_mode & S_IWOTH)
				refuse(w, path, &kid, "this module folder");
			check_lib(w, path, &kid, depth + 1);
		} else if (S_ISREG(kid.st_mode) && ends_with(de->d_name, ".lua") && (kid.st_mode & S_IWOTH)) {
			refuse(w, path, &kid, "this module");
		}
	}
	closedir(d);
}

int tr_rules_dir_check(const char *rules_dir, struct tr_errors *errs)
{
	struct walk *w = calloc(1, sizeof(*w));
	if (!w) {
		tr_errors_add(errs, rules_dir, 0, 0, "rules_dir", "out of memory");
		return TR_EPARSE;
	}
	w->errs = errs;
	struct stat st;
	if (stat(rules_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		free(w);
		return 0;  /* the loader says why it cannot read it */
	}
	if (st.st_mode & S_IWOTH)
		refuse(w, rules_dir, &st, "the rules folder");
	check_above(w, rules_dir);

	DIR *d = opendir(rules_dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char path[PATH_MAX];
		struct stat kid;
		if (!is_rule_file(de->d_name) ||
		    snprintf(path, sizeof(path), "%s/%s", rules_dir, de->d_name) >= (int)sizeof(path) ||
		    stat(path, &kid) != 0)
			continue;
		if (kid.st_mode & S_IWOTH)
			refuse(w, path, &kid, "this rule file");
	}
	if (d)
		closedir(d);

	char lib[PATH_MAX];
	if (snprintf(lib, sizeof(lib), "%s/lib", rules_dir) < (int)sizeof(lib) && stat(lib, &st) == 0 &&
	    S_ISDIR(st.st_mode)) {
		if (st.st_mode & S_IWOTH)
			refuse(w, lib, &st, "the lib/ folder of the rules");
		check_lib(w, lib, &st, 0);
	}
	int rc = w->nerrors ? TR_EPARSE : 0;
	free(w);
	return rc;
}
