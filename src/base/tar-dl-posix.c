/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libarchive, loaded on first use (base/dl.h): a stub for each function
 * cairn calls, forwarding to the library's.  A function used anywhere in
 * cairn or its tests and missing here is an undefined symbol at link time.
 */
#include <stdarg.h>
#include <stdio.h>

#include "base/dl.h"
#include "base/tar.h"

/* X(return type, name, (parameters), (arguments)); XV for void functions;
 * XX for the variadic ones, whose stubs are written out below (base/dl.h). */
#define ARCHIVE_FUNCTIONS(X, XV, XX)                                                                                  \
        X(struct archive *, archive_read_new, (void), ())                                                        \
        X(int, archive_read_free, (struct archive * a), (a))                                                     \
        X(int, archive_read_support_filter_all, (struct archive * a), (a))                                       \
        X(int, archive_read_support_format_all, (struct archive * a), (a))                                       \
        X(int, archive_read_support_format_gnutar, (struct archive * a), (a))                                    \
        X(int, archive_read_support_format_raw, (struct archive * a), (a))                                       \
        X(int, archive_read_support_format_tar, (struct archive * a), (a))                                       \
        X(int, archive_read_open,                                                                                \
          (struct archive * a, void *d, archive_open_callback *o, archive_read_callback *r,                      \
           archive_close_callback *c),                                                                           \
          (a, d, o, r, c))                                                                                       \
        X(int, archive_read_open_filename, (struct archive * a, const char *f, size_t n), (a, f, n))             \
        X(int, archive_read_open_memory, (struct archive * a, const void *b, size_t n), (a, b, n))               \
        X(int, archive_read_next_header, (struct archive * a, struct archive_entry **e), (a, e))                 \
        X(int, archive_read_data_block, (struct archive * a, const void **b, size_t *n, la_int64_t *o),          \
          (a, b, n, o))                                                                                          \
        X(int, archive_read_data_into_fd, (struct archive * a, int fd), (a, fd))                                 \
        X(int, archive_filter_count, (struct archive * a), (a))                                                  \
        X(const char *, archive_error_string, (struct archive * a), (a))                                         \
        X(struct archive *, archive_write_new, (void), ())                                                       \
        X(int, archive_write_free, (struct archive * a), (a))                                                    \
        X(int, archive_write_close, (struct archive * a), (a))                                                   \
        X(int, archive_write_add_filter_gzip, (struct archive * a), (a))                                         \
        X(int, archive_write_set_format_pax, (struct archive * a), (a))                                          \
        X(int, archive_write_set_format_pax_restricted, (struct archive * a), (a))                               \
        X(int, archive_write_set_format_raw, (struct archive * a), (a))                                          \
        X(int, archive_write_set_filter_option, (struct archive * a, const char *m, const char *o, const char *v), \
          (a, m, o, v))                                                                                          \
        X(int, archive_write_set_format_option, (struct archive * a, const char *m, const char *o, const char *v), \
          (a, m, o, v))                                                                                          \
        X(int, archive_write_set_bytes_in_last_block, (struct archive * a, int n), (a, n))                       \
        X(int, archive_write_open2,                                                                              \
          (struct archive * a, void *d, archive_open_callback *o, archive_write_callback *w,                     \
           archive_close_callback *c, archive_free_callback *f),                                                 \
          (a, d, o, w, c, f))                                                                                    \
        X(int, archive_write_open_filename, (struct archive * a, const char *f), (a, f))                         \
        X(int, archive_write_open_memory, (struct archive * a, void *b, size_t n, size_t *u), (a, b, n, u))      \
        X(int, archive_write_header, (struct archive * a, struct archive_entry * e), (a, e))                     \
        X(la_ssize_t, archive_write_data, (struct archive * a, const void *b, size_t n), (a, b, n))              \
        X(struct archive_entry *, archive_entry_new, (void), ())                                                 \
        XV(archive_entry_free, (struct archive_entry * e), (e))                                                  \
        XV(archive_entry_copy_stat, (struct archive_entry * e, const struct stat *st), (e, st))                  \
        XV(archive_entry_unset_atime, (struct archive_entry * e), (e))                                           \
        XV(archive_entry_unset_ctime, (struct archive_entry * e), (e))                                           \
        X(__LA_MODE_T, archive_entry_filetype, (struct archive_entry * e), (e))                                  \
        X(__LA_MODE_T, archive_entry_perm, (struct archive_entry * e), (e))                                      \
        X(la_int64_t, archive_entry_uid, (struct archive_entry * e), (e))                                        \
        X(la_int64_t, archive_entry_gid, (struct archive_entry * e), (e))                                        \
        X(la_int64_t, archive_entry_size, (struct archive_entry * e), (e))                                       \
        X(time_t, archive_entry_mtime, (struct archive_entry * e), (e))                                          \
        X(long, archive_entry_mtime_nsec, (struct archive_entry * e), (e))                                       \
        X(dev_t, archive_entry_rdevmajor, (struct archive_entry * e), (e))                                       \
        X(dev_t, archive_entry_rdevminor, (struct archive_entry * e), (e))                                       \
        X(const char *, archive_entry_pathname, (struct archive_entry * e), (e))                                 \
        X(const char *, archive_entry_hardlink, (struct archive_entry * e), (e))                                 \
        X(const char *, archive_entry_symlink, (struct archive_entry * e), (e))                                  \
        XV(archive_entry_set_filetype, (struct archive_entry * e, unsigned int t), (e, t))                       \
        XV(archive_entry_set_perm, (struct archive_entry * e, __LA_MODE_T m), (e, m))                            \
        XV(archive_entry_set_uid, (struct archive_entry * e, la_int64_t u), (e, u))                              \
        XV(archive_entry_set_gid, (struct archive_entry * e, la_int64_t g), (e, g))                              \
        XV(archive_entry_set_uname, (struct archive_entry * e, const char *s), (e, s))                           \
        XV(archive_entry_set_gname, (struct archive_entry * e, const char *s), (e, s))                           \
        XV(archive_entry_set_size, (struct archive_entry * e, la_int64_t n), (e, n))                             \
        XV(archive_entry_set_mtime, (struct archive_entry * e, time_t t, long ns), (e, t, ns))                   \
        XV(archive_entry_set_pathname, (struct archive_entry * e, const char *s), (e, s))                        \
        XV(archive_entry_set_hardlink, (struct archive_entry * e, const char *s), (e, s))                        \
        XV(archive_entry_set_symlink, (struct archive_entry * e, const char *s), (e, s))                         \
        XV(archive_entry_xattr_add_entry, (struct archive_entry * e, const char *n, const void *v, size_t s),    \
           (e, n, v, s))                                                                                         \
        X(int, archive_entry_xattr_reset, (struct archive_entry * e), (e))                                       \
        X(int, archive_entry_xattr_next, (struct archive_entry * e, const char **n, const void **v, size_t *s),  \
          (e, n, v, s))                                                                                          \
        XX(archive_set_error)

CAIRN_DL_LIBRARY(ARCHIVE_FUNCTIONS, .name = "libarchive",
                 .sonames = (const char *const[]) { "libarchive.so.13", NULL },
                 .hint = "libarchive13 (Debian, Ubuntu) or libarchive (Fedora, Alpine)",
                 .loaded = cairn_tar_locale)

/* The message is formatted here and passed on as "%s". */
void archive_set_error(struct archive *a, int code, const char *fmt, ...)
{
        char msg[1024] = "";
        if (fmt) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(msg, sizeof(msg), fmt, ap);
                va_end(ap);
        }
        void (*f)(struct archive *, int, const char *, ...) = CAIRN_DL_FN(archive_set_error);
        if (fmt)
                f(a, code, "%s", msg);
        else
                f(a, code, NULL);
}

int cairn_tar_load(struct cairn_error **err)
{
        return cairn_dl_load(&dl_library, err);
}
