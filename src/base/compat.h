/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What mingw-w64 lacks of POSIX, in one place (as git's compat/), for the
 * sources the Windows build shares with the native one.
 */
#ifndef CAIRN_BASE_COMPAT_H
#define CAIRN_BASE_COMPAT_H

#include <fcntl.h>
#include <sys/types.h>

#ifdef _WIN32
/* Windows handles are not inherited unless asked, and there is no
 * controlling terminal to take. */
#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif
#ifndef O_NOCTTY
#define O_NOCTTY 0
#endif
/* Files are read as bytes, not text with CR LF turned into LF. */
#define CAIRN_O_BINARY O_BINARY
#ifndef O_NOFOLLOW
#define O_NOFOLLOW 0
#endif
/* Owners are POSIX's; on Windows they are names, given to the container,
 * and the host's files keep theirs. */
typedef int uid_t;
typedef int gid_t;
static inline int chown(const char *path, uid_t uid, gid_t gid)
{
        (void) path, (void) uid, (void) gid;
        return 0;
}
/* mkdir has no mode on Windows. */
#include <direct.h>
#define mkdir(path, mode) _mkdir(path)
/* base/fs-win.c */
char *mkdtemp(char *template);
/* base/win.c: at an offset (unlike POSIX, the file position moves). */
ssize_t pread(int fd, void *buf, size_t count, off_t offset);
ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset);
/* realpath(path, NULL): the absolute path, allocated. */
#include <stdlib.h>
#define realpath(path, resolved) _fullpath((resolved), (path), _MAX_PATH)
#else
#define CAIRN_O_BINARY 0
#endif

#endif
