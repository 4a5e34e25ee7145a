/* SPDX-License-Identifier: Apache-2.0 */
/* A copy's record (manifest/copy.h), on every platform. */
#include "manifest/copy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/hash.h"

#define HEADER "cairn copy-files 2"

struct file_entry {
        const char *path;     /* into data */
        struct cairn_copy_file file;   /* hash into data, NUL-terminated there */
};

struct cairn_copy_files {
        char *data;
        struct file_entry *slots;
        size_t n_slots;
};

static size_t hash_path(const char *s)
{
        uint64_t h = 1469598103934665603ull;
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 1099511628211ull;
        return (size_t) (h ^ (h >> 29));
}

/* A decimal number and the space after it at *p, at most max. */
static bool field(char **p, uint64_t max, uint64_t *ret)
{
        char *s = *p;
        uint64_t v = 0;
        if (*s < '0' || *s > '9')
                return false;
        for (; *s >= '0' && *s <= '9'; s++) {
                if (v > (max - (uint64_t) (*s - '0')) / 10)
                        return false;
                v = v * 10 + (uint64_t) (*s - '0');
        }
        if (*s != ' ')
                return false;
        *p = s + 1;
        *ret = v;
        return true;
}

/* One line of a record, at p (NUL-terminated): the hash's end is made a
 * NUL; false if the line is malformed. */
static bool parse_line(char *p, bool with_meta, struct file_entry *ret)
{
        if (strlen(p) < CAIRN_SHA256_HEX_LEN + 2 || p[CAIRN_SHA256_HEX_LEN] != ' ')
                return false;
        p[CAIRN_SHA256_HEX_LEN] = '\0';
        if (!cairn_is_sha256_hex(p))
                return false;
        *ret = (struct file_entry) { .file = { .hash = p, .has_meta = with_meta } };
        char *q = p + CAIRN_SHA256_HEX_LEN + 1;
        if (with_meta) {
                uint64_t size, mode, uid, gid, sec, nsec;
                if (!field(&q, INT64_MAX, &size) || !field(&q, 07777, &mode) || !field(&q, UINT32_MAX, &uid) ||
                    !field(&q, UINT32_MAX, &gid))
                        return false;
                /* A time before 1970 is negative. */
                bool negative = *q == '-';
                q += negative;
                if (!field(&q, INT64_MAX, &sec) || !field(&q, 999999999, &nsec))
                        return false;
                ret->file.size = (int64_t) size;
                ret->file.mode = (uint32_t) mode;
                ret->file.uid = (uint32_t) uid;
                ret->file.gid = (uint32_t) gid;
                ret->file.mtime = (struct timespec) { negative ? -(time_t) sec : (time_t) sec, (long) nsec };
        }
        if (!*q)
                return false;
        ret->path = q;
        return true;
}

struct cairn_copy_files *cairn_copy_files_parse(const char *data, size_t len)
{
        size_t n = 0;
        for (size_t i = 0; i < len; i++)
                if (data[i] == '\0')
                        n++;
        if (len && data[len - 1] != '\0')
                return NULL;
        struct cairn_copy_files *f = cairn_xzalloc(sizeof(*f));
        f->data = cairn_xmalloc(len + 1);
        memcpy(f->data, data, len);
        f->data[len] = '\0';
        f->n_slots = 16;
        while (f->n_slots < n * 2 + 2)
                f->n_slots *= 2;
        f->slots = cairn_xzalloc(f->n_slots * sizeof(*f->slots));
        char *p = f->data, *end = f->data + len;
        bool with_meta = len >= sizeof(HEADER) && memcmp(p, HEADER, sizeof(HEADER)) == 0;
        if (with_meta)
                p += sizeof(HEADER);
        for (char *next; p < end; p = next) {
                next = p + strlen(p) + 1;
                struct file_entry e;
                if (!parse_line(p, with_meta, &e)) {
                        cairn_copy_files_free(f);
                        return NULL;
                }
                size_t s = hash_path(e.path) & (f->n_slots - 1);
                while (f->slots[s].path && strcmp(f->slots[s].path, e.path) != 0)
                        s = (s + 1) & (f->n_slots - 1);
                /* A later line for the same path replaces the earlier. */
                f->slots[s] = e;
        }
        return f;
}

void cairn_copy_files_free(struct cairn_copy_files *f)
{
        if (!f)
                return;
        free(f->slots);
        free(f->data);
        free(f);
}

const struct cairn_copy_file *cairn_copy_files_get(const struct cairn_copy_files *f, const char *path)
{
        for (size_t s = hash_path(path) & (f->n_slots - 1); f->slots[s].path; s = (s + 1) & (f->n_slots - 1))
                if (strcmp(f->slots[s].path, path) == 0)
                        return &f->slots[s].file;
        return NULL;
}

static void add_number(struct cairn_buf *b, uint64_t v)
{
        char digits[24];
        size_t i = sizeof(digits);
        digits[--i] = ' ';
        do
                digits[--i] = (char) ('0' + v % 10);
        while ((v /= 10) != 0);
        cairn_buf_add(b, digits + i, sizeof(digits) - i);
}

void cairn_copy_files_add(struct cairn_buf *b, const char *path, const struct cairn_copy_file *file)
{
        if (!b->len)
                cairn_buf_add(b, HEADER, sizeof(HEADER));
        cairn_buf_add(b, file->hash, CAIRN_SHA256_HEX_LEN);
        cairn_buf_addc(b, ' ');
        add_number(b, (uint64_t) file->size);
        add_number(b, file->mode & 07777);
        add_number(b, file->uid);
        add_number(b, file->gid);
        if (file->mtime.tv_sec < 0)
                cairn_buf_addc(b, '-');
        add_number(b, file->mtime.tv_sec < 0 ? -(uint64_t) file->mtime.tv_sec : (uint64_t) file->mtime.tv_sec);
        add_number(b, (uint64_t) file->mtime.tv_nsec);
        cairn_buf_add(b, path, strlen(path) + 1);
}

void cairn_copy_reuse_release(struct cairn_copy_reuse *r)
{
        cairn_buf_release(&r->record);
}

void cairn_copy_links_free(struct cairn_copy_link *links, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(links[i].path);
        free(links);
}

static int cmp_ptr(const void *a, const void *b)
{
        uintptr_t x = (uintptr_t) * (const void *const *) a, y = (uintptr_t) * (const void *const *) b;
        return x < y ? -1 : x > y;
}

void cairn_copy_sort_links(const struct cairn_manifest **nodes, size_t n)
{
        qsort(nodes, n, sizeof(*nodes), cmp_ptr);
}
