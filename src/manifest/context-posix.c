/* SPDX-License-Identifier: Apache-2.0 */
/* manifest/context.h on POSIX: a directory is a file descriptor. */
#include "manifest/context.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"

struct cairn_context_dir {
        int fd;
};

static struct cairn_context_dir *wrap(int fd)
{
        struct cairn_context_dir *d = cairn_xzalloc(sizeof(*d));
        d->fd = fd;
        return d;
}

static void convert(const struct stat *in, struct cairn_context_stat *st)
{
        st->kind = S_ISREG(in->st_mode)   ? CAIRN_CONTEXT_FILE
                   : S_ISDIR(in->st_mode) ? CAIRN_CONTEXT_DIR
                   : S_ISLNK(in->st_mode) ? CAIRN_CONTEXT_SYMLINK
                                          : CAIRN_CONTEXT_OTHER;
        st->mode = in->st_mode & 07777;
        st->size = in->st_size;
        st->mtime = in->st_mtim;
        st->ctime = in->st_ctim;
        st->dev = in->st_dev;
        st->ino = in->st_ino;
}

int cairn_context_open_root(const char *path, struct cairn_context_dir **ret)
{
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret = wrap(fd);
        return 0;
}

int cairn_context_stat(struct cairn_context_dir *d, const char *name, struct cairn_context_stat *st)
{
        struct stat s;
        if (fstatat(d->fd, name, &s, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        convert(&s, st);
        return 0;
}

int cairn_context_open_dir(struct cairn_context_dir *d, const char *name, struct cairn_context_dir **ret)
{
        int fd = openat(d->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret = wrap(fd);
        return 0;
}

int cairn_context_list(struct cairn_context_dir *d, char ***ret_names, size_t *ret_n)
{
        int dup_fd = fcntl(d->fd, F_DUPFD_CLOEXEC, 3);
        DIR *dir = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
        if (!dir) {
                int e = errno;
                if (dup_fd >= 0)
                        close(dup_fd);
                return -e;
        }
        rewinddir(dir);
        char **names = NULL;
        size_t n = 0, cap = 0;
        for (struct dirent *de; (de = readdir(dir));) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 16;
                        names = cairn_xreallocarray(names, cap, sizeof(*names));
                }
                names[n++] = cairn_xstrdup(de->d_name);
        }
        closedir(dir);
        *ret_names = names;
        *ret_n = n;
        return 0;
}

int cairn_context_readlink(struct cairn_context_dir *d, const char *name, char **ret_target)
{
        char target[PATH_MAX + 1];
        ssize_t n = readlinkat(d->fd, name, target, sizeof(target) - 1);
        if (n < 0)
                return -errno;
        *ret_target = cairn_xstrndup(target, (size_t) n);
        return 0;
}

int cairn_context_fstat(int fd, struct cairn_context_stat *st)
{
        struct stat s;
        if (fstat(fd, &s) < 0)
                return -errno;
        convert(&s, st);
        return 0;
}

int cairn_context_open_file(struct cairn_context_dir *d, const char *name, const struct cairn_context_stat *expect)
{
        /* O_NONBLOCK: a FIFO swapped in since the walk must not hang the open
         * (it then fails the identity check). */
        int fd = openat(d->fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        struct cairn_context_stat now;
        if (cairn_context_fstat(fd, &now) < 0 || now.ino != expect->ino || now.dev != expect->dev) {
                close(fd);
                return -ENOENT;
        }
        return fd;
}

void cairn_context_now(struct timespec *ret)
{
#ifdef CLOCK_REALTIME_COARSE
        /* What the kernel stamps inodes with; the fine clock may run ahead
         * of it within a tick. */
        if (clock_gettime(CLOCK_REALTIME_COARSE, ret) == 0)
                return;
#endif
        clock_gettime(CLOCK_REALTIME, ret);
}

void cairn_context_close(struct cairn_context_dir *d)
{
        if (!d)
                return;
        close(d->fd);
        free(d);
}
