/* SPDX-License-Identifier: Apache-2.0 */
/* A step's root file system seen from the host (Linux): every path is
 * resolved inside it (openat2 RESOLVE_IN_ROOT). */
#include "engine/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"

/* Look up a user name in the image's /etc/passwd, without leaving it. */
int cairn_root_resolve_user(const char *rootfs, const char *name, uid_t *uid, gid_t *gid, struct cairn_error **err)
{
        _cleanup_close_ int rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int fd = rootfd < 0 ? -1 : cairn_open_in_root(rootfd, "/etc/passwd", O_RDONLY, 0);
        if (fd < 0)
                return cairn_error_set(err, -ENOENT, "user \"%s\": the image has no /etc/passwd", name);
        FILE *f = fdopen(fd, "r");
        if (!f)
                return cairn_error_set_errno(err, errno, "fdopen");
        fd = -1;
        char *line = NULL;
        size_t cap = 0;
        int r = cairn_error_set(NULL, -ENOENT, "x");
        while (getline(&line, &cap, f) > 0) {
                char *save = NULL, *fields[4] = { 0 };
                char *p = line;
                for (int i = 0; i < 4; i++) {
                        fields[i] = strsep(&p, ":");
                        if (!fields[i])
                                break;
                }
                (void) save;
                if (fields[3] && strcmp(fields[0], name) == 0) {
                        *uid = (uid_t) strtoul(fields[2], NULL, 10);
                        *gid = (gid_t) strtoul(fields[3], NULL, 10);
                        r = 0;
                        break;
                }
        }
        free(line);
        fclose(f);
        if (r < 0)
                return cairn_error_set(err, -ENOENT, "no user \"%s\" in the image's /etc/passwd", name);
        return 0;
}

/* Did a mount target exist before the run?  Empty files cairn had to create
 * for secret mounts are removed afterwards so nothing of a secret stays. */
bool cairn_root_exists(const char *rootfs, const char *path)
{
        _cleanup_close_ int rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return false;
        int fd = cairn_open_in_root(rootfd, path, O_PATH | O_NOFOLLOW, 0);
        if (fd < 0)
                return false;
        close(fd);
        return true;
}

void cairn_root_remove_empty_file(const char *rootfs, const char *path)
{
        _cleanup_close_ int rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
                return;
        int dirfd;
        const char *name;
        struct cairn_error *ignored = NULL;
        if (cairn_open_parent_in_root(rootfd, path, &dirfd, &name, &ignored) < 0) {
                cairn_error_free(ignored);
                return;
        }
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
                unlinkat(dirfd, name, 0);
        close(dirfd);
}

/* Remove the empty directory a bind mount left at path in rootfs. */
void cairn_root_remove_empty_dir(const char *rootfs, const char *path)
{
        _cleanup_close_ int rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int dirfd;
        const char *name;
        struct cairn_error *ignored = NULL;
        if (rootfd < 0 || cairn_open_parent_in_root(rootfd, path, &dirfd, &name, &ignored) < 0) {
                cairn_error_free(ignored);
                return;
        }
        unlinkat(dirfd, name, AT_REMOVEDIR);
        close(dirfd);
}
