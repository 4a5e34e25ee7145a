/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Names in tar layers are bytes (base/tar.h): a layer written as Go's tar
 * writer writes one (PAX "path" and "linkpath" records holding UTF-8, or
 * any bytes, with no hdrcharset) unpacks to exactly those bytes, under the
 * C locale and under C.UTF-8; names cairn writes read back the same; a bad
 * name is refused with the name escaped in the message.
 */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fs.h"
#include "base/path.h"
#include "base/tar.h"
#include "fetch/extract.h"
#include "tap.h"

#define UTF8_NAME "NetLock_Arany_=Class_Gold=_F\xc5\x91tan\xc3\xbas\xc3\xadtv\xc3\xa1ny.pem"
#define RAW_NAME "latin1-caf\xe9-\xff\xfe"

/* A tar in memory, written block by block as Go's archive/tar does for
 * names that are not ASCII: a PAX header ('x') first. */
struct tar {
        char data[1 << 16];
        size_t len;
};

static void octal(char *field, size_t width, unsigned long v)
{
        snprintf(field, width, "%0*lo", (int) width - 1, v);
}

static void block(struct tar *t, char type, const char *name, const char *link, const void *body, size_t len)
{
        char *h = t->data + t->len;
        memset(h, 0, 512);
        snprintf(h, 100, "%s", name);
        octal(h + 100, 8, type == '5' ? 0755 : 0644);
        octal(h + 108, 8, 0);
        octal(h + 116, 8, 0);
        octal(h + 124, 12, (type == '0' || type == 'x') ? len : 0);
        octal(h + 136, 12, 1700000000);
        h[156] = type;
        if (link)
                snprintf(h + 157, 100, "%s", link);
        memcpy(h + 257, "ustar\0" "00", 8);
        memset(h + 148, ' ', 8);
        unsigned sum = 0;
        for (int i = 0; i < 512; i++)
                sum += (unsigned char) h[i];
        snprintf(h + 148, 8, "%06o", sum);
        t->len += 512;
        if (len) {
                memcpy(t->data + t->len, body, len);
                t->len += (len + 511) / 512 * 512;
        }
}

static void record(char *out, size_t *len, const char *key, const char *value)
{
        size_t body = strlen(key) + strlen(value) + 3;   /* " " "=" "\n" */
        size_t digits = 1;
        while (snprintf(NULL, 0, "%zu", body + digits) > (int) digits)
                digits++;
        *len += (size_t) sprintf(out + *len, "%zu %s=%s\n", body + digits, key, value);
}

/* One entry with its names in a PAX header, as Go writes them. */
static void entry(struct tar *t, char type, const char *name, const char *link, const char *body)
{
        char pax[1024];
        size_t n = 0;
        record(pax, &n, "path", name);
        if (link)
                record(pax, &n, "linkpath", link);
        block(t, 'x', "PaxHeaders/x", NULL, pax, n);
        block(t, type, "placeholder", link ? "placeholder" : NULL, body, body ? strlen(body) : 0);
}

static const char *write_layer(const char *dir, const struct tar *t)
{
        static char path[4096];
        snprintf(path, sizeof(path), "%s/layer.tar", dir);
        FILE *f = fopen(path, "wb");
        fwrite(t->data, 1, t->len, f);
        static const char end[1024];
        fwrite(end, 1, sizeof(end), f);
        fclose(f);
        return path;
}

static void check_unpack(const char *locale_name)
{
        char tmpl[] = "/tmp/cairn-tar-names-XXXXXX";
        const char *dir = mkdtemp(tmpl);
        struct tar *t = calloc(1, sizeof(*t));
        entry(t, '5', "etc/", NULL, NULL);
        entry(t, '0', "etc/" UTF8_NAME, NULL, "utf8\n");
        entry(t, '0', "etc/" RAW_NAME, NULL, "raw\n");
        entry(t, '2', "etc/link", UTF8_NAME, NULL);
        entry(t, '2', "etc/rawlink", RAW_NAME, NULL);
        entry(t, '1', "etc/hard-" UTF8_NAME, "etc/" UTF8_NAME, NULL);
        const char *layer = write_layer(dir, t);
        char root[4096];
        snprintf(root, sizeof(root), "%s/root", dir);
        mkdir(root, 0755);
        int rootfd = open(root, O_RDONLY | O_DIRECTORY);
        struct cairn_error *err = NULL;
        int r = cairn_extract_layer(rootfd, layer, NULL, NULL, &err);
        ok(r == 0, "%s: a layer with UTF-8 and non-UTF-8 PAX names unpacks", locale_name);
        if (err)
                tap_diag("%s", err->message);
        cairn_error_free(err);
        struct stat st;
        ok(fstatat(rootfd, "etc/" UTF8_NAME, &st, 0) == 0 && st.st_size == 5, "%s: the UTF-8 name is its bytes",
           locale_name);
        ok(fstatat(rootfd, "etc/" RAW_NAME, &st, 0) == 0 && st.st_size == 4, "%s: the non-UTF-8 name is its bytes",
           locale_name);
        char target[256] = "";
        ssize_t n = readlinkat(rootfd, "etc/link", target, sizeof(target) - 1);
        target[n < 0 ? 0 : n] = '\0';
        is_str(target, UTF8_NAME, "%s: a UTF-8 link target is its bytes", locale_name);
        n = readlinkat(rootfd, "etc/rawlink", target, sizeof(target) - 1);
        target[n < 0 ? 0 : n] = '\0';
        is_str(target, RAW_NAME, "%s: a non-UTF-8 link target is its bytes", locale_name);
        struct stat a, b;
        ok(fstatat(rootfd, "etc/hard-" UTF8_NAME, &a, 0) == 0 && fstatat(rootfd, "etc/" UTF8_NAME, &b, 0) == 0 &&
                   a.st_ino == b.st_ino,
           "%s: a hard link to a UTF-8 name is one inode", locale_name);
        close(rootfd);

        /* An escaping entry is still refused, its name shown escaped. */
        memset(t, 0, sizeof(*t));
        entry(t, '0', "../caf\xe9\n", NULL, "x\n");
        layer = write_layer(dir, t);
        rootfd = open(root, O_RDONLY | O_DIRECTORY);
        err = NULL;
        r = cairn_extract_layer(rootfd, layer, NULL, NULL, &err);
        ok(r < 0 && err, "%s: an entry named ../... is refused", locale_name);
        if (err)
                has_str(err->message, "entry \"../caf\\xe9\\x0a\" escapes the root", "%s: and its name is escaped",
                        locale_name);
        cairn_error_free(err);
        close(rootfd);

        /* A failure deeper down (a directory where a file is) still shows
         * the name escaped: no raw escape sequence reaches the terminal. */
        memset(t, 0, sizeof(*t));
        entry(t, '0', "x\x1b[31mRED", NULL, "file\n");
        entry(t, '0', "x\x1b[31mRED/y", NULL, "below a file\n");
        layer = write_layer(dir, t);
        rootfd = open(root, O_RDONLY | O_DIRECTORY);
        err = NULL;
        r = cairn_extract_layer(rootfd, layer, NULL, NULL, &err);
        ok(r < 0 && err, "%s: an entry below a file is refused", locale_name);
        if (err) {
                has_str(err->message, "entry \"x\\x1b[31mRED/y\": cannot create the directories it is in",
                        "%s: naming the entry escaped", locale_name);
                ok(!strchr(err->message, '\x1b'), "%s: with no raw escape character", locale_name);
        }
        cairn_error_free(err);
        close(rootfd);
        free(t);
        cairn_rm_rf(dir, NULL);
}

/* What cairn writes (export, the copy tar) reads back byte for byte. */
static void check_write(const char *locale_name)
{
        static char buf[1 << 16];
        size_t used = 0;
        struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        archive_write_open_memory(a, buf, sizeof(buf), &used);
        const char *names[] = { UTF8_NAME, RAW_NAME };
        int wrote = 0;
        for (int i = 0; i < 2; i++) {
                struct archive_entry *e = archive_entry_new();
                archive_entry_set_pathname(e, names[i]);
                archive_entry_set_filetype(e, AE_IFLNK);
                archive_entry_set_perm(e, 0777);
                archive_entry_set_symlink(e, names[1 - i]);
                wrote += cairn_tar_write_header(a, e) == ARCHIVE_OK;
                archive_entry_free(e);
        }
        archive_write_close(a);
        archive_write_free(a);
        is_int(wrote, 2, "%s: both names are written without error", locale_name);
        a = archive_read_new();
        archive_read_support_format_tar(a);
        archive_read_open_memory(a, buf, used);
        struct archive_entry *e;
        for (int i = 0; i < 2; i++) {
                int r = cairn_tar_next_header(a, &e);
                is_int(r, ARCHIVE_OK, "%s: entry %d reads back", locale_name, i);
                if (r != ARCHIVE_OK)
                        break;
                is_str(archive_entry_pathname(e), names[i], "%s: its path is the same bytes", locale_name);
                is_str(archive_entry_symlink(e), names[1 - i], "%s: its link target is the same bytes", locale_name);
        }
        archive_read_free(a);
}

/* Extended attributes in a layer: only user.* (and security.capability)
 * are kept; trusted.* and security.selinux are dropped and counted. */
static void check_xattrs(void)
{
        char tmpl[] = "/tmp/cairn-tar-xattrs-XXXXXX";
        const char *dir = mkdtemp(tmpl);
        static char buf[1 << 16];
        size_t used = 0;
        struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        archive_write_open_memory(a, buf, sizeof(buf), &used);
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, "f");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, 1);
        archive_entry_xattr_add_entry(e, "user.keep", "v", 1);
        archive_entry_xattr_add_entry(e, "trusted.overlay.opaque", "y", 1);
        archive_entry_xattr_add_entry(e, "security.selinux", "x", 1);
        archive_write_header(a, e);
        archive_write_data(a, "x", 1);
        archive_entry_free(e);
        archive_write_close(a);
        archive_write_free(a);
        char layer[600], root[600];
        snprintf(layer, sizeof(layer), "%s/layer.tar", dir);
        snprintf(root, sizeof(root), "%s/root", dir);
        FILE *f = fopen(layer, "wb");
        fwrite(buf, 1, used, f);
        fclose(f);
        mkdir(root, 0755);
        int rootfd = open(root, O_RDONLY | O_DIRECTORY);
        uint64_t dropped = 0;
        struct cairn_error *err = NULL;
        int r = cairn_extract_layer(rootfd, layer, NULL, &dropped, &err);
        is_int(r, 0, "a layer with extended attributes unpacks (%s)", err ? err->message : "");
        cairn_error_free(err);
        char path[700], v[16];
        snprintf(path, sizeof(path), "%s/f", root);
        ok(getxattr(path, "user.keep", v, sizeof(v)) == 1, "user.* is kept");
        ok(getxattr(path, "trusted.overlay.opaque", v, sizeof(v)) < 0, "trusted.* is not");
        ok(getxattr(path, "security.selinux", v, sizeof(v)) < 0 || v[0] != 'x', "nor security.selinux");
        is_int(dropped, 2, "the two dropped are counted");
        close(rootfd);
        cairn_rm_rf(dir, NULL);
}

int main(void)
{
        char *shown = cairn_name_for_message("a\"b\\c\x01\xff" "F\xc5\x91");
        is_str(shown, "a\\\"b\\\\c\\x01\\xff" "F\xc5\x91", "a name in a message: UTF-8 kept, other bytes escaped");
        free(shown);
        shown = cairn_name_for_message("\xed\xa0\x80\xc0\xaf");
        is_str(shown, "\\xed\\xa0\\x80\\xc0\\xaf", "surrogates and overlong forms are not UTF-8");
        free(shown);
        shown = cairn_name_for_message("a\xc2\x9b" "31m\xe2\x80\xae" "b\xe2\x80\x8b");
        is_str(shown, "a\\xc2\\x9b" "31m\\xe2\\x80\\xae" "b\\xe2\\x80\\x8b",
               "C1 controls (CSI), bidi overrides and zero-width spaces are escaped");
        free(shown);

        /* Loading libarchive sets C.UTF-8 (cairn_tar_locale): load it, then
         * take the C locale for the first checks. */
        struct cairn_error *err = NULL;
        ok(cairn_tar_load(&err) == 0, "libarchive loads");
        cairn_error_free(err);
        locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t) 0);
        if (utf8) {
                ok(strstr(setlocale(LC_CTYPE, NULL), "UTF"), "and its loading made LC_CTYPE UTF-8 (%s)",
                   setlocale(LC_CTYPE, NULL));
                freelocale(utf8);
        } else {
                tap_skip("no C.UTF-8 locale", "the locale set by the loading");
        }
        setlocale(LC_ALL, "C");
        check_unpack("C");
        check_write("C");
        cairn_tar_locale();
        if (strstr(setlocale(LC_CTYPE, NULL), "UTF")) {
                check_unpack("C.UTF-8");
                check_write("C.UTF-8");
        } else {
                tap_skip("no C.UTF-8 locale", "C.UTF-8 checks");
        }
        check_xattrs();
        return tap_done();
}
