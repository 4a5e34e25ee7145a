/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading a build context (the source directory of copies), the platform
 * part of manifests and copies: directories are opened one component at a
 * time and never through a symlink, so a context cannot lead the walk
 * outside itself.  manifest/context-posix.c does it with openat and fstatat,
 * manifest/context-win.c with Win32 handles (a reparse point is a symlink
 * there).
 *
 * Functions return 0 or -errno.
 */
#ifndef CAIRN_MANIFEST_CONTEXT_H
#define CAIRN_MANIFEST_CONTEXT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum cairn_context_kind {
        CAIRN_CONTEXT_FILE,
        CAIRN_CONTEXT_DIR,
        CAIRN_CONTEXT_SYMLINK,
        CAIRN_CONTEXT_OTHER,
};

/* One version of an entry: a file whose identity, size or times changed is
 * another version. */
struct cairn_context_stat {
        enum cairn_context_kind kind;
        unsigned mode;               /* permission bits (and setuid...), for the copy */
        int64_t size;
        struct timespec mtime, ctime;
        uint64_t dev, ino;           /* the file's identity */
};

struct cairn_context_dir;

/* The directory at path (which may itself be reached through symlinks). */
int cairn_context_open_root(const char *path, struct cairn_context_dir **ret);
/* Its entry `name`, not followed if it is a symlink. */
int cairn_context_stat(struct cairn_context_dir *d, const char *name, struct cairn_context_stat *st);
/* The directory `name` in d; -ENOTDIR or -ELOOP when it is not one. */
int cairn_context_open_dir(struct cairn_context_dir *d, const char *name, struct cairn_context_dir **ret);
/* The names in d, without "." and ".." (malloc'd, as is the array). */
int cairn_context_list(struct cairn_context_dir *d, char ***ret_names, size_t *ret_n);
/* The target of the symlink `name` (malloc'd). */
int cairn_context_readlink(struct cairn_context_dir *d, const char *name, char **ret_target);
/* A file descriptor (read(2)) on the regular file `name`, only if it is
 * still the file `expect` describes (its dev and ino; else -ENOENT). */
int cairn_context_open_file(struct cairn_context_dir *d, const char *name, const struct cairn_context_stat *expect);
/* The same for a path below d ("a/b/c"), one component at a time, never
 * through a symlink. */
int cairn_context_open_path(struct cairn_context_dir *d, const char *path, const struct cairn_context_stat *expect);
/* What an open file is now, to check it against the version hashed. */
int cairn_context_fstat(int fd, struct cairn_context_stat *st);
void cairn_context_close(struct cairn_context_dir *d);
/* The time now on the clock the filesystem stamps changes with (the coarse
 * real-time clock on Linux, the system time on Windows): a file changed
 * after this call has times no earlier than it, to the filesystem's
 * granularity. */
void cairn_context_now(struct timespec *ret);

/* Whether two stats describe the same version of a file. */
static inline int cairn_context_same_version(const struct cairn_context_stat *a, const struct cairn_context_stat *b)
{
        return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
               a->mtime.tv_nsec == b->mtime.tv_nsec && a->ctime.tv_sec == b->ctime.tv_sec &&
               a->ctime.tv_nsec == b->ctime.tv_nsec;
}

#endif
