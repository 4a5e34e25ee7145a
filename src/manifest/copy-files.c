/* SPDX-License-Identifier: Apache-2.0 */
/* A copy's record (manifest/copy.h), on every platform. */
#include "manifest/copy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/fs.h"
#include "base/hash.h"

#define HEADER "cairn copy-files 2"

/* A line of the record, by the offsets of its start and its path in data. */
struct slot {
        uint32_t line, path;
};

struct cairn_copy_files {
        const char *data;     /* ends in a NUL */
        size_t len;
        bool mapped;          /* else malloc'd */
        bool with_meta;
        struct slot *slots;   /* an empty slot has path 0 (no path starts at 0) */
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
static bool field(const char **p, uint64_t max, uint64_t *ret)
{
        const char *s = *p;
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

static bool hex64(const char *p)
{
        for (size_t i = 0; i < CAIRN_SHA256_HEX_LEN; i++)
                if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
                        return false;
        return true;
}

/* The line at p: its fields into ret, and where its path starts; NULL if it
 * is malformed. */
static const char *read_line(const char *p, bool with_meta, struct cairn_copy_file *ret)
{
        *ret = (struct cairn_copy_file) { .has_meta = with_meta };
        if (strnlen(p, CAIRN_SHA256_HEX_LEN + 2) < CAIRN_SHA256_HEX_LEN + 2 || p[CAIRN_SHA256_HEX_LEN] != ' ' ||
            !hex64(p))
                return NULL;
        memcpy(ret->hash, p, CAIRN_SHA256_HEX_LEN);
        ret->hash[CAIRN_SHA256_HEX_LEN] = '\0';
        const char *q = p + CAIRN_SHA256_HEX_LEN + 1;
        if (with_meta) {
                uint64_t size, mode, uid, gid, sec, nsec;
                if (!field(&q, INT64_MAX, &size) || !field(&q, 07777, &mode) || !field(&q, UINT32_MAX, &uid) ||
                    !field(&q, UINT32_MAX, &gid))
                        return NULL;
                /* A time before 1970 is negative. */
                bool negative = *q == '-';
                q += negative;
                if (!field(&q, INT64_MAX, &sec) || !field(&q, 999999999, &nsec))
                        return NULL;
                ret->size = (int64_t) size;
                ret->mode = (uint32_t) mode;
                ret->uid = (uint32_t) uid;
                ret->gid = (uint32_t) gid;
                ret->mtime = (struct timespec) { negative ? -(time_t) sec : (time_t) sec, (long) nsec };
        }
        return *q ? q : NULL;
}

/* The record in data (len bytes, data[len - 1] a NUL unless len is 0),
 * which it then owns. */
static struct cairn_copy_files *index_record(const char *data, size_t len, bool mapped)
{
        struct cairn_copy_files *f = cairn_xzalloc(sizeof(*f));
        f->data = data;
        f->len = len;
        f->mapped = mapped;
        if ((len && data[len - 1] != '\0') || len >= UINT32_MAX)
                goto bad;
        size_t n = 0;
        for (const char *p = data, *end = data + len; (p = memchr(p, '\0', (size_t) (end - p))) != NULL; p++)
                n++;
        f->n_slots = 16;
        while (f->n_slots < n * 2 + 2)
                f->n_slots *= 2;
        f->slots = cairn_xzalloc(f->n_slots * sizeof(*f->slots));
        const char *p = data, *end = data + len;
        f->with_meta = len >= sizeof(HEADER) && memcmp(p, HEADER, sizeof(HEADER)) == 0;
        if (f->with_meta)
                p += sizeof(HEADER);
        for (const char *next; p < end; p = next) {
                next = p + strlen(p) + 1;
                struct cairn_copy_file file;
                const char *path = read_line(p, f->with_meta, &file);
                if (!path)
                        goto bad;
                size_t s = hash_path(path) & (f->n_slots - 1);
                while (f->slots[s].path && strcmp(f->data + f->slots[s].path, path) != 0)
                        s = (s + 1) & (f->n_slots - 1);
                /* A later line for the same path replaces the earlier. */
                f->slots[s] = (struct slot) { (uint32_t) (p - data), (uint32_t) (path - data) };
        }
        return f;
bad:
        cairn_copy_files_free(f);
        return NULL;
}

struct cairn_copy_files *cairn_copy_files_parse(const char *data, size_t len)
{
        char *copy = cairn_xmalloc(len + 1);
        memcpy(copy, data, len);
        copy[len] = '\0';
        return index_record(copy, len, false);
}

struct cairn_copy_files *cairn_copy_files_load(const char *path, size_t max)
{
        const char *data = NULL;
        size_t len = 0;
        if (cairn_map_file(path, max, &data, &len) < 0)
                return NULL;
        return index_record(data, len, true);
}

void cairn_copy_files_free(struct cairn_copy_files *f)
{
        if (!f)
                return;
        free(f->slots);
        if (f->mapped)
                cairn_unmap_file(f->data, f->len);
        else
                free((char *) f->data);
        free(f);
}

bool cairn_copy_files_get(const struct cairn_copy_files *f, const char *path, struct cairn_copy_file *ret)
{
        for (size_t s = hash_path(path) & (f->n_slots - 1); f->slots[s].path; s = (s + 1) & (f->n_slots - 1))
                if (strcmp(f->data + f->slots[s].path, path) == 0)
                        return read_line(f->data + f->slots[s].line, f->with_meta, ret) != NULL;
        return false;
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
