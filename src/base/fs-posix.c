/* SPDX-License-Identifier: Apache-2.0 */
#include "base/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/file.h"
#include "base/strbuf.h"

int cairn_mkdir_p(const char *path, mode_t mode, struct cairn_error **err)
{
        /* Usually the whole path is there already: one stat, not a mkdir
         * for each of its components (every store directory at open). */
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
                return 0;
        _cleanup_free_ char *p = cairn_xstrdup(path);
        for (char *s = p + 1; ; s++) {
                if (*s == '/' || *s == '\0') {
                        char c = *s;
                        *s = '\0';
                        if (mkdir(p, mode) < 0 && errno != EEXIST)
                                return cairn_error_set_errno(err, errno, "cannot create the directory \"%s\"", p);
                        *s = c;
                        if (!c)
                                break;
                }
        }
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
                return cairn_error_set(err, -ENOTDIR, "\"%s\" exists and is not a directory", path);
        return 0;
}

static int rm_children(int dfd, dev_t dev, struct cairn_error **err)
{
        int dup_fd = dup(dfd);
        DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
        if (!d) {
                if (dup_fd >= 0)
                        close(dup_fd);
                return cairn_error_set_errno(err, errno, "cannot list a directory to delete it");
        }
        int r = 0;
        for (struct dirent *de; (de = readdir(d));) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                struct stat st;
                if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;
                        r = cairn_error_set_errno(err, errno, "cannot delete \"%s\"", de->d_name);
                        break;
                }
                if (S_ISDIR(st.st_mode)) {
                        if (st.st_dev != dev) {
                                r = cairn_error_set(err, -EBUSY, "cannot delete \"%s\": something is mounted there",
                                                    de->d_name);
                                break;
                        }
                        int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0) {
                                r = cairn_error_set_errno(err, errno, "cannot delete \"%s\"", de->d_name);
                                break;
                        }
                        r = rm_children(sub, dev, err);
                        close(sub);
                        if (r < 0)
                                break;
                        if (unlinkat(dfd, de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
                                r = cairn_error_set_errno(err, errno, "cannot delete the directory \"%s\"", de->d_name);
                                break;
                        }
                } else if (unlinkat(dfd, de->d_name, 0) < 0 && errno != ENOENT) {
                        r = cairn_error_set_errno(err, errno, "cannot delete \"%s\"", de->d_name);
                        break;
                }
        }
        closedir(d);
        return r;
}

int cairn_rm_rf_at(int dirfd, const char *name, struct cairn_error **err)
{
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return cairn_error_set_errno(err, errno, "cannot delete \"%s\"", name);
        }
        if (!S_ISDIR(st.st_mode)) {
                if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
                        return cairn_error_set_errno(err, errno, "cannot delete \"%s\"", name);
                return 0;
        }
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return cairn_error_set_errno(err, errno, "cannot delete \"%s\"", name);
        int r = rm_children(fd, st.st_dev, err);
        close(fd);
        if (r < 0)
                return cairn_error_prefix(err, "deleting \"%s\"", name);
        if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return cairn_error_set_errno(err, errno, "cannot delete the directory \"%s\"", name);
        return 0;
}

int cairn_rm_rf(const char *path, struct cairn_error **err)
{
        return cairn_rm_rf_at(AT_FDCWD, path, err);
}

int cairn_write_file(const char *path, const void *data, size_t len, mode_t mode, struct cairn_error **err)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return cairn_error_set_errno(err, errno, "cannot create \"%s\"", path);
        int r = cairn_write_all(fd, data, len, NULL);
        return r < 0 ? cairn_error_set_errno(err, -r, "cannot write \"%s\"", path) : 0;
}

char *cairn_read_link(const char *path)
{
        char buf[PATH_MAX + 1];
        ssize_t n = readlink(path, buf, sizeof(buf) - 1);
        if (n < 0)
                return NULL;
        return cairn_xstrndup(buf, (size_t) n);
}

int cairn_open_in_root(int rootfd, const char *path, int flags, mode_t mode)
{
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC),
                .mode = (flags & O_CREAT) ? mode : 0,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        for (;;) {
                long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
                if (fd >= 0 || errno != EAGAIN)
                        return (int) fd;
        }
}

int cairn_open_beneath(int dirfd, const char *path, int flags)
{
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC | O_NOFOLLOW),
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        for (;;) {
                long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
                if (fd >= 0 || errno != EAGAIN)
                        return (int) fd;
        }
}

int cairn_mkdir_p_in_root(int rootfd, const char *path, mode_t mode, uid_t uid, gid_t gid, int *ret_fd,
                          struct cairn_error **err)
{
        _cleanup_free_ char *p = cairn_xstrdup(path);
        int dfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
        if (dfd < 0)
                return cairn_error_set_errno(err, errno, "dup");
        char *save = NULL;
        struct cairn_buf done = CAIRN_BUF_INIT;
        int r = 0;
        for (char *c = strtok_r(p, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                if (strcmp(c, ".") == 0)
                        continue;
                cairn_buf_printf(&done, "/%s", c);
                /* Resolve what exists so far again from the root, so ".." and
                 * symlinks met on the way stay inside it. */
                int next = cairn_open_in_root(rootfd, cairn_buf_str(&done), O_PATH | O_DIRECTORY, 0);
                if (next < 0 && errno == ENOENT) {
                        if (mkdirat(dfd, c, mode) < 0 && errno != EEXIST) {
                                r = cairn_error_set_errno(err, errno, "cannot create the directory \"%s\"",
                                                          cairn_buf_str(&done));
                                break;
                        }
                        if (uid != (uid_t) -1 && fchownat(dfd, c, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
                                r = cairn_error_set_errno(err, errno, "cannot set the owner of \"%s\"",
                                                          cairn_buf_str(&done));
                                break;
                        }
                        /* mkdir's mode is filtered by the umask. */
                        int tmp = openat(dfd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (tmp >= 0) {
                                (void) !fchmod(tmp, mode);
                                close(tmp);
                        }
                        next = cairn_open_in_root(rootfd, cairn_buf_str(&done), O_PATH | O_DIRECTORY, 0);
                }
                if (next < 0) {
                        r = cairn_error_set_errno(err, errno, "cannot open the directory \"%s\"", cairn_buf_str(&done));
                        break;
                }
                close(dfd);
                dfd = next;
        }
        cairn_buf_release(&done);
        if (r < 0) {
                close(dfd);
                return r;
        }
        if (ret_fd)
                *ret_fd = dfd;
        else
                close(dfd);
        return 0;
}

int cairn_open_parent_in_root(int rootfd, const char *path, int *ret_dirfd, const char **ret_name,
                              struct cairn_error **err)
{
        const char *end = path + strlen(path);
        while (end > path && end[-1] == '/')
                end--;
        const char *slash = end;
        while (slash > path && slash[-1] != '/')
                slash--;
        if (slash == end)
                return cairn_error_set(err, -EINVAL, "\"%s\" names no file", path);
        _cleanup_free_ char *parent = cairn_xstrndup(path, (size_t) (slash - path));
        int fd = cairn_open_in_root(rootfd, *parent ? parent : "/", O_PATH | O_DIRECTORY, 0);
        if (fd < 0)
                return cairn_error_set_errno(err, errno, "cannot open the directory \"%s\"", *parent ? parent : "/");
        *ret_dirfd = fd;
        *ret_name = slash;
        return 0;
}

static unsigned long long du_at(int dirfd)
{
        unsigned long long total = 0;
        int fd = dup(dirfd);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d)
                return 0;
        for (struct dirent *de; (de = readdir(d));) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                struct stat st;
                if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                total += (unsigned long long) st.st_blocks * 512;
                if (S_ISDIR(st.st_mode)) {
                        int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub >= 0) {
                                total += du_at(sub);
                                close(sub);
                        }
                }
        }
        closedir(d);
        return total;
}

unsigned long long cairn_disk_usage(const char *dir)
{
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        unsigned long long total = du_at(fd);
        close(fd);
        return total;
}

int cairn_fs_space(const char *path, unsigned long long *ret_avail, unsigned long long *ret_total)
{
        struct statvfs sv;
        if (statvfs(path, &sv) < 0)
                return -errno;
        *ret_avail = (unsigned long long) sv.f_bavail * sv.f_frsize;
        *ret_total = (unsigned long long) sv.f_blocks * sv.f_frsize;
        return 0;
}

int cairn_fs_on_system_volume(const char *path, char **ret_volume, char **ret_system)
{
        (void) path;
        (void) ret_volume;
        (void) ret_system;
        return 1;
}

int cairn_file_mtime(const char *path, struct timespec *ret)
{
        struct stat st;
        if (stat(path, &st) < 0)
                return -errno;
        *ret = st.st_mtim;
        return 0;
}

int cairn_map_file(const char *path, size_t max, const char **ret_data, size_t *ret_len)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;
        *ret_len = (size_t) st.st_size;
        if (!st.st_size) {
                *ret_data = "";
                return 0;
        }
        void *p = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        *ret_data = p;
        return 0;
}

void cairn_unmap_file(const char *data, size_t len)
{
        if (data && len)
                munmap((void *) data, len);
}

int cairn_remove_contents(const char *dir, struct cairn_error **err)
{
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return cairn_error_set_errno(err, errno, "cannot open \"%s\"", dir);
        DIR *d = fdopendir(dup(fd));
        if (!d)
                return cairn_error_set_errno(err, errno, "cannot list \"%s\"", dir);
        int r = 0;
        for (struct dirent *de; (de = readdir(d)) && r >= 0;) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                r = cairn_rm_rf_at(fd, de->d_name, err);
        }
        closedir(d);
        return r;
}

int cairn_fs_sync(const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return syncfs(fd) < 0 ? -errno : 0;
}

int cairn_fs_sync_dir(const char *dir)
{
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return fsync(fd) < 0 ? -errno : 0;
}
