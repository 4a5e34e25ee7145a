/* SPDX-License-Identifier: Apache-2.0 */
/*
 * base/fs.h on Windows: the host-side helpers (mkdir -p, rm -rf, writing a
 * file), on the wide-character API so any path works.  Never follows a
 * reparse point (symlink or junction) it did not ask for: rm -rf removes
 * the link, not what it points to.  The *_in_root functions have no
 * Windows version: a Windows container's root is only visible inside it.
 */
#include "base/fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "base/win.h"

#include "base/alloc.h"
#include "base/file.h"


static int win_error(struct cairn_error **err, DWORD code, const char *what, const char *path)
{
        return cairn_error_set(err, -cairn_win_errno(code), "%s \"%s\" (Windows error %lu)", what, path, (unsigned long) code);
}

int cairn_mkdir_p(const char *path, mode_t mode, struct cairn_error **err)
{
        (void) mode;
        char *copy = cairn_xstrdup(path);
        int r = 0;
        for (char *p = copy; r == 0; p++) {
                /* Each prefix ending at a separator, then the whole path;
                 * not the drive ("C:") nor a UNC server's name. */
                bool end = *p == '\0';
                if (!end && *p != '\\' && *p != '/')
                        continue;
                char saved = *p;
                *p = '\0';
                size_t len = strlen(copy);
                bool skip = len == 0 || (len == 2 && copy[1] == ':') || copy[len - 1] == '\\';
                if (!skip) {
                        wchar_t *w = cairn_win_wide(copy);
                        if (!CreateDirectoryW(w, NULL)) {
                                DWORD code = GetLastError();
                                DWORD attrs = GetFileAttributesW(w);
                                if (code != ERROR_ALREADY_EXISTS || attrs == INVALID_FILE_ATTRIBUTES ||
                                    !(attrs & FILE_ATTRIBUTE_DIRECTORY))
                                        r = win_error(err, code, "cannot create the directory", copy);
                        }
                        free(w);
                }
                *p = saved;
                if (end)
                        break;
        }
        free(copy);
        return r;
}

/* Call fn for each entry of dir but "." and "..", with its full path,
 * until fn returns non-zero (which is returned). */
static int each_entry(const wchar_t *dir, int (*fn)(const wchar_t *child, const WIN32_FIND_DATAW *fd, void *ud),
                      void *ud)
{
        size_t n = wcslen(dir);
        wchar_t *pattern = cairn_xmalloc((n + 3) * sizeof(wchar_t));
        wcscpy(pattern, dir);
        wcscpy(pattern + n, L"\\*");
        WIN32_FIND_DATAW fd;
        HANDLE h = FindFirstFileExW(pattern, FindExInfoBasic, &fd, FindExSearchNameMatch, NULL, 0);
        free(pattern);
        int r = 0;
        if (h == INVALID_HANDLE_VALUE)
                return 0;
        do {
                if (wcscmp(fd.cFileName, L".") == 0 || wcscmp(fd.cFileName, L"..") == 0)
                        continue;
                size_t m = wcslen(fd.cFileName);
                wchar_t *child = cairn_xmalloc((n + m + 2) * sizeof(wchar_t));
                wcscpy(child, dir);
                child[n] = L'\\';
                wcscpy(child + n + 1, fd.cFileName);
                r = fn(child, &fd, ud);
                free(child);
        } while (r == 0 && FindNextFileW(h, &fd));
        FindClose(h);
        return r;
}

struct removal {
        const char *shown;
        struct cairn_error **err;
};

static int remove_tree(const wchar_t *path, const char *shown, struct cairn_error **err);

static int remove_entry(const wchar_t *child, const WIN32_FIND_DATAW *fd, void *ud)
{
        struct removal *rm = ud;
        return remove_tree(child, rm->shown, rm->err);
}

static int remove_tree(const wchar_t *path, const char *shown, struct cairn_error **err)
{
        DWORD attrs = GetFileAttributesW(path);
        if (attrs == INVALID_FILE_ATTRIBUTES)
                return GetLastError() == ERROR_FILE_NOT_FOUND || GetLastError() == ERROR_PATH_NOT_FOUND
                               ? 0
                               : win_error(err, GetLastError(), "cannot remove", shown);
        if (attrs & FILE_ATTRIBUTE_READONLY)
                SetFileAttributesW(path, attrs & ~FILE_ATTRIBUTE_READONLY);
        if (!(attrs & FILE_ATTRIBUTE_DIRECTORY))
                return DeleteFileW(path) ? 0 : win_error(err, GetLastError(), "cannot remove", shown);
        /* A directory symlink or junction: remove the link only. */
        if (!(attrs & FILE_ATTRIBUTE_REPARSE_POINT)) {
                struct removal rm = { shown, err };
                int r = each_entry(path, remove_entry, &rm);
                if (r < 0)
                        return r;
        }
        return RemoveDirectoryW(path) ? 0 : win_error(err, GetLastError(), "cannot remove", shown);
}

int cairn_rm_rf(const char *path, struct cairn_error **err)
{
        wchar_t *w = cairn_win_wide(path);
        int r = remove_tree(w, path, err);
        free(w);
        return r;
}

int cairn_write_file(const char *path, const void *data, size_t len, mode_t mode, struct cairn_error **err)
{
        (void) mode;
        wchar_t *w = cairn_win_wide(path);
        /* Not through a link: one in the way is replaced, not followed. */
        DWORD attrs = GetFileAttributesW(w);
        if (attrs != INVALID_FILE_ATTRIBUTES && (attrs & FILE_ATTRIBUTE_REPARSE_POINT))
                DeleteFileW(w);
        HANDLE f = CreateFileW(w, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
        free(w);
        if (f == INVALID_HANDLE_VALUE)
                return win_error(err, GetLastError(), "cannot create", path);
        const char *p = data;
        int r = 0;
        while (len > 0 && r == 0) {
                DWORD chunk = len > (1u << 30) ? (1u << 30) : (DWORD) len, done = 0;
                if (!WriteFile(f, p, chunk, &done, NULL) || done == 0)
                        r = win_error(err, GetLastError(), "cannot write", path);
                p += done;
                len -= done;
        }
        CloseHandle(f);
        return r;
}

/* cairn_clone_tree: directories made, files copied with their attributes
 * and times (CopyFileExW), links copied as links, never followed. */
struct cloning {
        const wchar_t *dst;
        const char *shown;
        struct cairn_error **err;
};

static int clone_path(const wchar_t *src, const wchar_t *dst, const char *shown, struct cairn_error **err);

static int clone_child(const wchar_t *child, const WIN32_FIND_DATAW *fd, void *ud)
{
        struct cloning *c = ud;
        size_t n = wcslen(c->dst), m = wcslen(fd->cFileName);
        wchar_t *target = cairn_xmalloc((n + m + 2) * sizeof(wchar_t));
        wcscpy(target, c->dst);
        target[n] = L'\\';
        wcscpy(target + n + 1, fd->cFileName);
        int r = clone_path(child, target, c->shown, c->err);
        free(target);
        return r;
}

static int clone_path(const wchar_t *src, const wchar_t *dst, const char *shown, struct cairn_error **err)
{
        DWORD attrs = GetFileAttributesW(src);
        if (attrs == INVALID_FILE_ATTRIBUTES)
                return win_error(err, GetLastError(), "cannot clone", shown);
        if (!(attrs & FILE_ATTRIBUTE_DIRECTORY) || (attrs & FILE_ATTRIBUTE_REPARSE_POINT)) {
                if (!CopyFileExW(src, dst, NULL, NULL, NULL, COPY_FILE_FAIL_IF_EXISTS | COPY_FILE_COPY_SYMLINK))
                        return win_error(err, GetLastError(),
                                         attrs & FILE_ATTRIBUTE_REPARSE_POINT && attrs & FILE_ATTRIBUTE_DIRECTORY
                                                 ? "cannot clone a junction or directory link (not supported) in"
                                                 : "cannot clone a file of",
                                         shown);
                return 0;
        }
        if (!CreateDirectoryExW(src, dst, NULL) && !CreateDirectoryW(dst, NULL))
                return win_error(err, GetLastError(), "cannot clone a directory of", shown);
        struct cloning c = { dst, shown, err };
        return each_entry(src, clone_child, &c);
}

int cairn_clone_tree(const char *src, const char *dst, struct cairn_error **err)
{
        wchar_t *s = cairn_win_wide(src), *d = cairn_win_wide(dst);
        int r = clone_path(s, d, src, err);
        free(s);
        free(d);
        return r;
}

char *cairn_read_link(const char *path)
{
        (void) path;
        return NULL;
}

char *mkdtemp(char *template)
{
        /* XXXXXX from the time and a counter; CreateDirectory refuses an
         * existing name, so a collision only means another try. */
        size_t n = strlen(template);
        if (n < 6 || strcmp(template + n - 6, "XXXXXX") != 0) {
                errno = EINVAL;
                return NULL;
        }
        static volatile LONG counter;
        for (int attempt = 0; attempt < 100; attempt++) {
                unsigned long v = (unsigned long) GetTickCount() ^ ((unsigned long) GetCurrentProcessId() << 8) ^
                                  (unsigned long) InterlockedIncrement(&counter) * 7919u;
                static const char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
                for (int i = 0; i < 6; i++) {
                        template[n - 6 + i] = digits[v % 36];
                        v /= 36;
                }
                wchar_t *w = cairn_win_wide(template);
                BOOL ok = CreateDirectoryW(w, NULL);
                DWORD code = GetLastError();
                free(w);
                if (ok)
                        return template;
                if (code != ERROR_ALREADY_EXISTS) {
                        errno = EIO;
                        return NULL;
                }
        }
        errno = EEXIST;
        return NULL;
}

static unsigned long long usage_of(const wchar_t *dir);

static int add_usage(const wchar_t *child, const WIN32_FIND_DATAW *fd, void *ud)
{
        unsigned long long *total = ud;
        *total += ((unsigned long long) fd->nFileSizeHigh << 32) | fd->nFileSizeLow;
        /* Into directories, not through links to elsewhere. */
        if ((fd->dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) && !(fd->dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT))
                *total += usage_of(child);
        return 0;
}

static unsigned long long usage_of(const wchar_t *dir)
{
        unsigned long long total = 0;
        each_entry(dir, add_usage, &total);
        return total;
}

unsigned long long cairn_disk_usage(const char *dir)
{
        wchar_t *w = cairn_win_wide(dir);
        unsigned long long total = usage_of(w);
        free(w);
        return total;
}

int cairn_fs_space(const char *path, unsigned long long *ret_avail, unsigned long long *ret_total)
{
        wchar_t *w = cairn_win_wide(path);
        ULARGE_INTEGER avail, total;
        BOOL ok = GetDiskFreeSpaceExW(w, &avail, &total, NULL);
        free(w);
        if (!ok)
                return -EIO;
        *ret_avail = avail.QuadPart;
        *ret_total = total.QuadPart;
        return 0;
}

int cairn_fs_on_system_volume(const char *path, char **ret_volume, char **ret_system)
{
        wchar_t windir[MAX_PATH], sysvol[MAX_PATH], vol[MAX_PATH];
        wchar_t *w = cairn_win_wide(path);
        /* The volume's mount point, so a volume mounted in a folder of C:
         * counts as the other volume it is. */
        BOOL ok = GetVolumePathNameW(w, vol, MAX_PATH);
        free(w);
        UINT n = GetSystemWindowsDirectoryW(windir, MAX_PATH);
        if (!ok || n == 0 || n >= MAX_PATH || !GetVolumePathNameW(windir, sysvol, MAX_PATH))
                return 1;
        if (_wcsicmp(vol, sysvol) == 0)
                return 1;
        *ret_volume = cairn_win_utf8(vol);
        *ret_system = cairn_win_utf8(sysvol);
        return 0;
}

int cairn_map_file(const char *path, size_t max, const char **ret_data, size_t *ret_len)
{
        char *data = NULL;
        size_t len = 0;
        struct cairn_error *err = NULL;
        if (cairn_read_file(path, max, &data, &len, &err) < 0) {
                int r = err->code;
                cairn_error_free(err);
                return r;
        }
        *ret_data = data;
        *ret_len = len;
        return 0;
}

void cairn_unmap_file(const char *data, size_t len)
{
        (void) len;
        free((char *) data);
}

int cairn_file_mtime(const char *path, struct timespec *ret)
{
        wchar_t *w = cairn_win_wide(path);
        WIN32_FILE_ATTRIBUTE_DATA data;
        BOOL ok = GetFileAttributesExW(w, GetFileExInfoStandard, &data);
        free(w);
        if (!ok)
                return -ENOENT;
        /* 100 ns intervals since 1601 to the Unix epoch. */
        unsigned long long t = ((unsigned long long) data.ftLastWriteTime.dwHighDateTime << 32) |
                               data.ftLastWriteTime.dwLowDateTime;
        t -= 116444736000000000ULL;
        ret->tv_sec = (time_t) (t / 10000000ULL);
        ret->tv_nsec = (long) (t % 10000000ULL) * 100;
        return 0;
}

int cairn_remove_contents(const char *dir, struct cairn_error **err)
{
        wchar_t *w = cairn_win_wide(dir);
        struct removal rm = { dir, err };
        int r = each_entry(w, remove_entry, &rm);
        free(w);
        return r;
}

int cairn_fs_sync(const char *path)
{
        (void) path;
        return 0;
}

int cairn_fs_sync_dir(const char *dir)
{
        (void) dir;
        return 0;
}
