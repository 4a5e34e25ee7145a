/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The stat cache's file (manifest/stat-cache.h), little-endian binary so
 * that loading 20,000 entries costs little more than reading it:
 *
 *   "cairn-stat-cache 2\n" ROOT "\0"
 *   per entry: DEV u64, INO u64, SIZE i64, MTIME s i64 ns u32, CTIME s i64
 *   ns u32, MODE u32, KIND u8, AGE u8, PATHLEN u16, SHA-256 (32 bytes),
 *   PATH, "\0"
 *   then the SHA-256 of everything before it (32 bytes).
 *
 * Paths of loaded entries point into the file's buffer, which the cache
 * keeps.
 */
#include "manifest/stat-cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/compat.h"
#include "base/file.h"
#include "base/fs.h"
#include "base/strbuf.h"

#define MAGIC "cairn-stat-cache 2\n"
#define RECORD_FIXED (8 + 8 + 8 + 8 + 4 + 8 + 4 + 4 + 1 + 1 + 2 + 32)
#define SUM_LEN 32
/* A cache file larger than this is not read. */
#define MAX_FILE_BYTES ((int64_t) 1 << 30)

struct entry {
        const char *path;
        struct cairn_context_stat st;
        unsigned char sum[32];
        unsigned char age;
        bool owned;       /* path is malloc'd (else it points into data) */
        bool seen;        /* used or recorded by this process */
        bool trusted;     /* older than the walk that hashed it: may be saved and used */
};

struct slot {
        uint32_t index;   /* into entries, + 1; 0 when free */
        uint32_t hash;
};

struct cairn_stat_cache {
        char *path, *root;
        const char *data;       /* the file as loaded (cairn_map_file) */
        size_t data_len;
        struct entry *entries;
        size_t n, cap;
        struct slot *slots;
        size_t n_slots;
        size_t hits;
        bool dirty;
};

static uint32_t hash_path(const char *s)
{
        uint64_t h = 1469598103934665603ull;
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 1099511628211ull;
        return (uint32_t) (h ^ (h >> 32));
}

static void slot_put(struct cairn_stat_cache *c, uint32_t hash, size_t index)
{
        size_t s = hash & (c->n_slots - 1);
        while (c->slots[s].index)
                s = (s + 1) & (c->n_slots - 1);
        c->slots[s] = (struct slot) { (uint32_t) index + 1, hash };
}

static void grow_slots(struct cairn_stat_cache *c, size_t want)
{
        /* At most a quarter full after growing, half full before the next. */
        size_t n = 256;
        while (n < want * 4)
                n *= 2;
        free(c->slots);
        c->n_slots = n;
        c->slots = cairn_xzalloc(n * sizeof(*c->slots));
        for (size_t i = 0; i < c->n; i++)
                slot_put(c, hash_path(c->entries[i].path), i);
}

static struct entry *find(struct cairn_stat_cache *c, const char *path, uint32_t hash)
{
        if (!c->n_slots)
                return NULL;
        for (size_t s = hash & (c->n_slots - 1); c->slots[s].index; s = (s + 1) & (c->n_slots - 1))
                if (c->slots[s].hash == hash && strcmp(c->entries[c->slots[s].index - 1].path, path) == 0)
                        return &c->entries[c->slots[s].index - 1];
        return NULL;
}

/* A new entry for path (not copied: the caller sets owned). */
static struct entry *add(struct cairn_stat_cache *c, const char *path, uint32_t hash)
{
        if (c->n == c->cap) {
                c->cap = c->cap ? c->cap * 2 : 256;
                c->entries = cairn_xreallocarray(c->entries, c->cap, sizeof(*c->entries));
        }
        struct entry *e = &c->entries[c->n];
        memset(e, 0, sizeof(*e));
        e->path = path;
        c->n++;
        if (c->n * 2 > c->n_slots)
                grow_slots(c, c->n);
        else
                slot_put(c, hash, c->n - 1);
        return e;
}

static uint64_t get64(const unsigned char *p)
{
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--)
                v = v << 8 | p[i];
        return v;
}

static uint32_t get32(const unsigned char *p)
{
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static void put64(struct cairn_buf *b, uint64_t v)
{
        unsigned char p[8];
        for (int i = 0; i < 8; i++, v >>= 8)
                p[i] = (unsigned char) v;
        cairn_buf_add(b, p, 8);
}

static void put32(struct cairn_buf *b, uint32_t v)
{
        unsigned char p[4] = { (unsigned char) v, (unsigned char) (v >> 8), (unsigned char) (v >> 16),
                               (unsigned char) (v >> 24) };
        cairn_buf_add(b, p, 4);
}

/* The entries of a cache file (its checksum already checked); false if
 * anything is malformed. */
static bool parse(struct cairn_stat_cache *c, const char *data, size_t len)
{
        size_t magic = strlen(MAGIC);
        if (len < magic || memcmp(data, MAGIC, magic) != 0)
                return false;
        size_t off = magic;
        const char *nul = memchr(data + off, '\0', len - off);
        if (!nul || strcmp(data + off, c->root) != 0)
                return false;
        off = (size_t) (nul - data) + 1;
        /* Room for every record at once: growing by doubling would touch
         * (and fault in) twice the memory. */
        size_t most = (len - off) / (RECORD_FIXED + 2);
        if (most > CAIRN_STAT_CACHE_MAX_ENTRIES)
                most = CAIRN_STAT_CACHE_MAX_ENTRIES;
        c->cap = most ? most : 1;
        c->entries = cairn_xreallocarray(NULL, c->cap, sizeof(*c->entries));
        grow_slots(c, most);
        while (off < len) {
                if (len - off < RECORD_FIXED)
                        return false;
                const unsigned char *p = (const unsigned char *) data + off;
                size_t plen = (size_t) p[55] << 8 | p[54];
                /* Fixed fields, then the path and its NUL. */
                if (plen == 0 || len - off - RECORD_FIXED < plen + 1 || data[off + RECORD_FIXED + plen] != '\0' ||
                    c->n >= CAIRN_STAT_CACHE_MAX_ENTRIES)
                        return false;
                const char *path = data + off + RECORD_FIXED;
                if (strlen(path) != plen)
                        return false;
                uint32_t h = hash_path(path);
                if (find(c, path, h))
                        return false;
                struct entry *e = add(c, path, h);
                e->st = (struct cairn_context_stat) {
                        .dev = get64(p), .ino = get64(p + 8), .size = (int64_t) get64(p + 16),
                        .mtime = { (time_t) (int64_t) get64(p + 24), (long) get32(p + 32) },
                        .ctime = { (time_t) (int64_t) get64(p + 36), (long) get32(p + 44) },
                        .mode = get32(p + 48), .kind = (enum cairn_context_kind) p[52],
                };
                e->age = p[53];
                memcpy(e->sum, p + 56, 32);
                e->trusted = true;
                off += RECORD_FIXED + plen + 1;
        }
        return true;
}

static void clear(struct cairn_stat_cache *c)
{
        for (size_t i = 0; i < c->n; i++)
                if (c->entries[i].owned)
                        free((char *) c->entries[i].path);
        c->n = 0;
        free(c->slots);
        c->slots = NULL;
        c->n_slots = 0;
}

struct cairn_stat_cache *cairn_stat_cache_load(const char *path, const char *root)
{
        struct cairn_stat_cache *c = cairn_xzalloc(sizeof(*c));
        c->path = cairn_xstrdup(path);
        c->root = cairn_xstrdup(root);
        size_t len = 0;
        const char *data = NULL;
        if (cairn_map_file(path, (size_t) MAX_FILE_BYTES, &data, &len) < 0)
                return c;
        c->data = data;
        c->data_len = len;
        if (len < SUM_LEN)
                return c;
        struct cairn_sha256 sha;
        cairn_sha256_init(&sha);
        cairn_sha256_update(&sha, data, len - SUM_LEN);
        char want[CAIRN_SHA256_HEX_LEN + 1], got[CAIRN_SHA256_HEX_LEN + 1];
        cairn_sha256_final_hex(&sha, want);
        cairn_hex_encode((const unsigned char *) data + len - SUM_LEN, SUM_LEN, got);
        if (strcmp(want, got) != 0 || !parse(c, data, len - SUM_LEN))
                clear(c);
        return c;
}

void cairn_stat_cache_free(struct cairn_stat_cache *c)
{
        if (!c)
                return;
        clear(c);
        free(c->entries);
        cairn_unmap_file(c->data, c->data_len);
        free(c->path);
        free(c->root);
        free(c);
}

const char *cairn_stat_cache_root(const struct cairn_stat_cache *c)
{
        return c->root;
}

static bool same(const struct cairn_context_stat *a, const struct cairn_context_stat *b)
{
        return a->kind == b->kind && a->mode == b->mode && cairn_context_same_version(a, b);
}

bool cairn_stat_cache_lookup(struct cairn_stat_cache *c, const char *path, const struct cairn_context_stat *st,
                             char ret_hash[CAIRN_SHA256_HEX_LEN + 1])
{
        struct entry *e = find(c, path, hash_path(path));
        if (!e || !e->trusted || !same(&e->st, st))
                return false;
        if (!e->seen && e->age)
                c->dirty = true;
        e->seen = true;
        c->hits++;
        cairn_hex_encode(e->sum, 32, ret_hash);
        return true;
}

/* Whether a file time t is in a whole second before the walk began: every
 * filesystem cairn reads stamps files to a second or finer, truncating, so
 * a change made after the walk began has a time in its second or later. */
static bool older(struct timespec t, struct timespec walk_start)
{
        return t.tv_sec < walk_start.tv_sec;
}

void cairn_stat_cache_record(struct cairn_stat_cache *c, const char *path, const struct cairn_context_stat *st,
                             const char *hash, struct timespec walk_start)
{
        uint32_t h = hash_path(path);
        size_t plen = strlen(path);
        unsigned char sum[32];
        for (size_t i = 0; i < 32; i++) {
                int hi = cairn_hex_value(hash[2 * i]), lo = cairn_hex_value(hash[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return;
                sum[i] = (unsigned char) (hi << 4 | lo);
        }
        struct entry *e = find(c, path, h);
        if (!e) {
                if (c->n >= CAIRN_STAT_CACHE_MAX_ENTRIES || plen == 0 || plen > UINT16_MAX)
                        return;
                e = add(c, cairn_xstrdup(path), h);
                e->owned = true;
        }
        e->st = *st;
        memcpy(e->sum, sum, sizeof(sum));
        e->age = 0;
        e->seen = true;
        e->trusted = older(st->mtime, walk_start) && older(st->ctime, walk_start);
        c->dirty = true;
}

int cairn_stat_cache_save(struct cairn_stat_cache *c, struct cairn_error **err)
{
        /* Unused entries age: the file changes when any was loaded. */
        for (size_t i = 0; i < c->n && !c->dirty; i++)
                if (!c->entries[i].seen)
                        c->dirty = true;
        if (!c->dirty)
                return 0;
        struct cairn_buf b = CAIRN_BUF_INIT;
        cairn_buf_add(&b, MAGIC, strlen(MAGIC));
        cairn_buf_add(&b, c->root, strlen(c->root) + 1);
        for (size_t i = 0; i < c->n; i++) {
                const struct entry *e = &c->entries[i];
                unsigned age = e->seen ? 0 : e->age + 1u;
                if (!e->trusted || age > CAIRN_STAT_CACHE_MAX_AGE)
                        continue;
                size_t plen = strlen(e->path);
                put64(&b, e->st.dev);
                put64(&b, e->st.ino);
                put64(&b, (uint64_t) e->st.size);
                put64(&b, (uint64_t) (int64_t) e->st.mtime.tv_sec);
                put32(&b, (uint32_t) e->st.mtime.tv_nsec);
                put64(&b, (uint64_t) (int64_t) e->st.ctime.tv_sec);
                put32(&b, (uint32_t) e->st.ctime.tv_nsec);
                put32(&b, e->st.mode);
                unsigned char tail[4] = { (unsigned char) e->st.kind, (unsigned char) age, (unsigned char) plen,
                                          (unsigned char) (plen >> 8) };
                cairn_buf_add(&b, tail, 4);
                cairn_buf_add(&b, e->sum, 32);
                cairn_buf_add(&b, e->path, plen + 1);
        }
        struct cairn_sha256 sha;
        cairn_sha256_init(&sha);
        cairn_sha256_update(&sha, b.data, b.len);
        char hex[CAIRN_SHA256_HEX_LEN + 1];
        cairn_sha256_final_hex(&sha, hex);
        unsigned char sum[32];
        for (size_t i = 0; i < 32; i++)
                sum[i] = (unsigned char) (cairn_hex_value(hex[2 * i]) << 4 | cairn_hex_value(hex[2 * i + 1]));
        cairn_buf_add(&b, sum, 32);
        int r = cairn_write_file_atomic(c->path, b.data, b.len, err);
        cairn_buf_release(&b);
        if (r < 0)
                return r;
        c->dirty = false;
        return 0;
}

size_t cairn_stat_cache_hits(const struct cairn_stat_cache *c)
{
        return c->hits;
}

size_t cairn_stat_cache_size(const struct cairn_stat_cache *c)
{
        return c->n;
}
