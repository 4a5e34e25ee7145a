/* SPDX-License-Identifier: Apache-2.0 */
/*
 * manifest/context.h on Windows.  A directory is its path and an open handle
 * that does not share delete access, so it cannot be renamed or replaced
 * (by a junction, say) while the walk is inside it; entries are opened with
 * FILE_FLAG_OPEN_REPARSE_POINT, so a symlink or junction is reported, never
 * followed.  The root is named by its final path (links on the way to it
 * resolved once, when it is opened), so retargeting a link cannot move the
 * walk elsewhere half way.  A file's identity is its volume serial number
 * and file index; its change time comes from FILE_BASIC_INFO.
 */
#include "manifest/context.h"

#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "base/win.h"

#include "base/alloc.h"

struct cairn_context_dir {
        wchar_t *path;
        HANDLE h;
};

static wchar_t *child_path(const struct cairn_context_dir *d, const char *name)
{
        /* The root's final path has the \\?\ prefix, which turns off
         * Windows' path normalisation: "." is the directory itself. */
        if (strcmp(name, ".") == 0) {
                wchar_t *p = cairn_xmalloc((wcslen(d->path) + 1) * sizeof(wchar_t));
                wcscpy(p, d->path);
                return p;
        }
        wchar_t *w = cairn_win_wide(name);
        size_t n = wcslen(d->path), m = wcslen(w);
        wchar_t *p = cairn_xmalloc((n + m + 2) * sizeof(wchar_t));
        wcscpy(p, d->path);
        p[n] = L'\\';
        wcscpy(p + n + 1, w);
        free(w);
        return p;
}

static struct timespec from_filetime(uint64_t t)
{
        /* 100 ns ticks since 1601 to the Unix epoch. */
        int64_t u = (int64_t) (t - UINT64_C(116444736000000000));
        struct timespec ts = { (time_t) (u / 10000000), (long) (u % 10000000) * 100 };
        if (ts.tv_nsec < 0) {
                ts.tv_sec--;
                ts.tv_nsec += 1000000000L;
        }
        return ts;
}

static int stat_handle(HANDLE h, struct cairn_context_stat *st)
{
        BY_HANDLE_FILE_INFORMATION info;
        if (!GetFileInformationByHandle(h, &info))
                return -cairn_win_errno(GetLastError());
        FILE_BASIC_INFO basic;
        uint64_t write = (uint64_t) info.ftLastWriteTime.dwHighDateTime << 32 | info.ftLastWriteTime.dwLowDateTime;
        uint64_t change = write;
        if (GetFileInformationByHandleEx(h, FileBasicInfo, &basic, sizeof(basic)) && basic.ChangeTime.QuadPart)
                change = (uint64_t) basic.ChangeTime.QuadPart;
        DWORD a = info.dwFileAttributes;
        if (a & FILE_ATTRIBUTE_REPARSE_POINT) {
                /* Symlinks and junctions are links; other reparse points
                 * (cloud placeholders, deduplicated files) are not files
                 * cairn can read as they are. */
                FILE_ATTRIBUTE_TAG_INFO tag = { 0 };
                bool link = GetFileInformationByHandleEx(h, FileAttributeTagInfo, &tag, sizeof(tag)) &&
                            (tag.ReparseTag == IO_REPARSE_TAG_SYMLINK || tag.ReparseTag == IO_REPARSE_TAG_MOUNT_POINT);
                st->kind = link ? CAIRN_CONTEXT_SYMLINK : CAIRN_CONTEXT_OTHER;
        } else {
                st->kind = a & FILE_ATTRIBUTE_DIRECTORY ? CAIRN_CONTEXT_DIR
                           : a & FILE_ATTRIBUTE_DEVICE  ? CAIRN_CONTEXT_OTHER
                                                        : CAIRN_CONTEXT_FILE;
        }
        /* Windows has no mode bits: a directory 0755, a file 0644. */
        st->mode = st->kind == CAIRN_CONTEXT_DIR ? 0755 : 0644;
        st->size = (int64_t) ((uint64_t) info.nFileSizeHigh << 32 | info.nFileSizeLow);
        st->mtime = from_filetime(write);
        st->ctime = from_filetime(change);
        st->dev = info.dwVolumeSerialNumber;
        st->ino = (uint64_t) info.nFileIndexHigh << 32 | info.nFileIndexLow;
        return 0;
}

/* The entry at path itself (a link, not its target). */
static HANDLE open_entry(const wchar_t *path, DWORD access, DWORD share)
{
        return CreateFileW(path, access, share, NULL, OPEN_EXISTING,
                           FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
}

/* The directory at path, opened as h (both taken, h possibly
 * INVALID_HANDLE_VALUE): -ENOTDIR, or -ELOOP for a link, when it is not one. */
static int dir_of(HANDLE h, wchar_t *path, struct cairn_context_dir **ret)
{
        int r = h == INVALID_HANDLE_VALUE ? -cairn_win_errno(GetLastError()) : 0;
        struct cairn_context_stat st;
        if (r == 0 && (r = stat_handle(h, &st)) == 0 && st.kind != CAIRN_CONTEXT_DIR)
                r = st.kind == CAIRN_CONTEXT_SYMLINK ? -ELOOP : -ENOTDIR;
        if (r < 0) {
                if (h != INVALID_HANDLE_VALUE)
                        CloseHandle(h);
                free(path);
                return r;
        }
        struct cairn_context_dir *d = cairn_xzalloc(sizeof(*d));
        d->path = path;
        d->h = h;
        *ret = d;
        return 0;
}

int cairn_context_open_root(const char *path, struct cairn_context_dir **ret)
{
        wchar_t *w = cairn_win_wide(path);
        /* The root may be reached through links: followed. */
        HANDLE h = CreateFileW(w, FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                               OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS, NULL);
        struct cairn_context_dir *d = NULL;
        int r = dir_of(h, w, &d);
        if (r < 0)
                return r;
        /* Its final path: what the walk joins names to. */
        DWORD len = GetFinalPathNameByHandleW(h, NULL, 0, FILE_NAME_NORMALIZED | VOLUME_NAME_DOS);
        if (len > 0) {
                wchar_t *final = cairn_xmalloc((len + 1) * sizeof(wchar_t));
                if (GetFinalPathNameByHandleW(h, final, len + 1, FILE_NAME_NORMALIZED | VOLUME_NAME_DOS) > 0) {
                        free(d->path);
                        d->path = final;
                } else {
                        free(final);
                }
        }
        size_t n = wcslen(d->path);
        while (n > 0 && (d->path[n - 1] == L'\\' || d->path[n - 1] == L'/'))
                d->path[--n] = 0;
        *ret = d;
        return 0;
}

int cairn_context_stat(struct cairn_context_dir *d, const char *name, struct cairn_context_stat *st)
{
        wchar_t *p = child_path(d, name);
        HANDLE h = open_entry(p, FILE_READ_ATTRIBUTES, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE);
        free(p);
        if (h == INVALID_HANDLE_VALUE)
                return -cairn_win_errno(GetLastError());
        int r = stat_handle(h, st);
        CloseHandle(h);
        return r;
}

int cairn_context_open_dir(struct cairn_context_dir *d, const char *name, struct cairn_context_dir **ret)
{
        wchar_t *p = child_path(d, name);
        return dir_of(open_entry(p, FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES, FILE_SHARE_READ | FILE_SHARE_WRITE), p,
                      ret);
}

int cairn_context_list(struct cairn_context_dir *d, char ***ret_names, size_t *ret_n)
{
        wchar_t *pattern = child_path(d, "*");
        WIN32_FIND_DATAW fd;
        HANDLE h = FindFirstFileExW(pattern, FindExInfoBasic, &fd, FindExSearchNameMatch, NULL, 0);
        free(pattern);
        if (h == INVALID_HANDLE_VALUE) {
                DWORD code = GetLastError();
                if (code != ERROR_FILE_NOT_FOUND)
                        return -cairn_win_errno(code);
                *ret_names = NULL;
                *ret_n = 0;
                return 0;
        }
        char **names = NULL;
        size_t n = 0, cap = 0;
        do {
                if (wcscmp(fd.cFileName, L".") == 0 || wcscmp(fd.cFileName, L"..") == 0)
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 16;
                        names = cairn_xreallocarray(names, cap, sizeof(*names));
                }
                names[n++] = cairn_win_utf8(fd.cFileName);
        } while (FindNextFileW(h, &fd));
        DWORD code = GetLastError();
        FindClose(h);
        if (code != ERROR_NO_MORE_FILES) {
                /* A listing cut short would be a wrong manifest. */
                for (size_t i = 0; i < n; i++)
                        free(names[i]);
                free(names);
                return -cairn_win_errno(code);
        }
        *ret_names = names;
        *ret_n = n;
        return 0;
}

/* The reparse data of a symlink or a junction (ntifs.h's
 * REPARSE_DATA_BUFFER, which mingw's windows.h lacks). */
struct reparse {
        ULONG tag;
        USHORT data_length, reserved;
        USHORT subst_offset, subst_length, print_offset, print_length;
        /* A symlink has ULONG flags here, then the names; a junction has
         * the names here. */
        unsigned char rest[1];
};

int cairn_context_readlink(struct cairn_context_dir *d, const char *name, char **ret_target)
{
        wchar_t *p = child_path(d, name);
        HANDLE h = open_entry(p, FILE_READ_ATTRIBUTES, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE);
        free(p);
        if (h == INVALID_HANDLE_VALUE)
                return -cairn_win_errno(GetLastError());
        union {
                struct reparse r;
                unsigned char bytes[MAXIMUM_REPARSE_DATA_BUFFER_SIZE];
        } buf;
        DWORD got = 0;
        BOOL ok = DeviceIoControl(h, FSCTL_GET_REPARSE_POINT, NULL, 0, &buf, sizeof(buf), &got, NULL);
        DWORD code = GetLastError();
        CloseHandle(h);
        if (!ok)
                return -cairn_win_errno(code);
        const unsigned char *names;
        if (buf.r.tag == IO_REPARSE_TAG_SYMLINK)
                names = buf.r.rest + sizeof(ULONG);
        else if (buf.r.tag == IO_REPARSE_TAG_MOUNT_POINT)
                names = buf.r.rest;
        else
                return -EINVAL;   /* another kind of reparse point: not a link */
        /* The print name is the target as it was given; else the
         * substitute name. */
        USHORT off = buf.r.print_length ? buf.r.print_offset : buf.r.subst_offset;
        USHORT len = buf.r.print_length ? buf.r.print_length : buf.r.subst_length;
        if ((size_t) (names - buf.bytes) + off + len > got)
                return -EINVAL;
        size_t chars = len / sizeof(wchar_t);
        wchar_t *target = cairn_xmalloc((chars + 1) * sizeof(wchar_t));
        memcpy(target, names + off, chars * sizeof(wchar_t));
        target[chars] = 0;
        *ret_target = cairn_win_utf8(target);
        free(target);
        return 0;
}

int cairn_context_fstat(int fd, struct cairn_context_stat *st)
{
        intptr_t h = _get_osfhandle(fd);
        if (h == -1)
                return -EBADF;
        return stat_handle((HANDLE) h, st);
}

static int open_file(const wchar_t *path, const struct cairn_context_stat *expect)
{
        HANDLE h = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                               OPEN_EXISTING, FILE_FLAG_OPEN_REPARSE_POINT | FILE_FLAG_SEQUENTIAL_SCAN, NULL);
        if (h == INVALID_HANDLE_VALUE)
                return -cairn_win_errno(GetLastError());
        struct cairn_context_stat now;
        if (stat_handle(h, &now) < 0 || now.kind != CAIRN_CONTEXT_FILE || now.dev != expect->dev ||
            now.ino != expect->ino) {
                CloseHandle(h);
                return -ENOENT;
        }
        int fd = _open_osfhandle((intptr_t) h, _O_RDONLY | _O_BINARY);
        if (fd < 0) {
                CloseHandle(h);
                return -EMFILE;
        }
        return fd;
}

int cairn_context_open_file(struct cairn_context_dir *d, const char *name, const struct cairn_context_stat *expect)
{
        wchar_t *p = child_path(d, name);
        int r = open_file(p, expect);
        free(p);
        return r;
}

void cairn_context_close(struct cairn_context_dir *d)
{
        if (!d)
                return;
        CloseHandle(d->h);
        free(d->path);
        free(d);
}

void cairn_context_now(struct timespec *ret)
{
        /* NTFS stamps changes with the system time. */
        FILETIME ft;
        GetSystemTimeAsFileTime(&ft);
        *ret = from_filetime((uint64_t) ft.dwHighDateTime << 32 | ft.dwLowDateTime);
}
