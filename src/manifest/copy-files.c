/* SPDX-License-Identifier: Apache-2.0 */
/* A copy's record (manifest/copy.h), on every platform. */
#include "manifest/copy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/hash.h"

struct file_entry {
        const char *path;     /* into data */
        const char *hash;     /* into data, NUL-terminated there */
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
        for (char *p = f->data, *end = f->data + len, *next; p < end; p = next) {
                /* "HASH PATH" */
                size_t l = strlen(p);
                next = p + l + 1;
                if (l < CAIRN_SHA256_HEX_LEN + 2 || p[CAIRN_SHA256_HEX_LEN] != ' ') {
                        cairn_copy_files_free(f);
                        return NULL;
                }
                p[CAIRN_SHA256_HEX_LEN] = '\0';
                if (!cairn_is_sha256_hex(p)) {
                        cairn_copy_files_free(f);
                        return NULL;
                }
                const char *path = p + CAIRN_SHA256_HEX_LEN + 1;
                size_t s = hash_path(path) & (f->n_slots - 1);
                while (f->slots[s].path && strcmp(f->slots[s].path, path) != 0)
                        s = (s + 1) & (f->n_slots - 1);
                /* A later line for the same path replaces the earlier. */
                f->slots[s] = (struct file_entry) { path, p };
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

const char *cairn_copy_files_hash(const struct cairn_copy_files *f, const char *path)
{
        for (size_t s = hash_path(path) & (f->n_slots - 1); f->slots[s].path; s = (s + 1) & (f->n_slots - 1))
                if (strcmp(f->slots[s].path, path) == 0)
                        return f->slots[s].hash;
        return NULL;
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
