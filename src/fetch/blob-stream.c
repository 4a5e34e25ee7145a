/* SPDX-License-Identifier: Apache-2.0 */
#include "fetch/blob-stream.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/alloc.h"

struct cairn_blob_stream {
        pthread_mutex_t lock;
        pthread_cond_t changed;
        int refs;
        char *digest;
        int fd;                /* the file holding the blob's first `size` bytes, or -1 */
        uint64_t size;
        bool finished;
        int result;
        bool waiting;          /* a reader waits: writers signal only then */
};

struct cairn_blob_stream *cairn_blob_stream_new(const char *digest)
{
        struct cairn_blob_stream *s = cairn_xzalloc(sizeof(*s));
        s->digest = cairn_xstrdup(digest);
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->changed, NULL);
        s->refs = 1;
        s->fd = -1;
        return s;
}

const char *cairn_blob_stream_digest(const struct cairn_blob_stream *s)
{
        return s->digest;
}

struct cairn_blob_stream *cairn_blob_stream_ref(struct cairn_blob_stream *s)
{
        pthread_mutex_lock(&s->lock);
        s->refs++;
        pthread_mutex_unlock(&s->lock);
        return s;
}

void cairn_blob_stream_unref(struct cairn_blob_stream *s)
{
        if (!s)
                return;
        pthread_mutex_lock(&s->lock);
        bool last = --s->refs == 0;
        pthread_mutex_unlock(&s->lock);
        if (!last)
                return;
        if (s->fd >= 0)
                close(s->fd);
        pthread_cond_destroy(&s->changed);
        pthread_mutex_destroy(&s->lock);
        free(s->digest);
        free(s);
}

static void wake(struct cairn_blob_stream *s)
{
        if (s->waiting)
                pthread_cond_broadcast(&s->changed);
}

void cairn_blob_stream_set_file(struct cairn_blob_stream *s, int fd, uint64_t size)
{
        int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        int e = copy < 0 ? errno : 0;
        pthread_mutex_lock(&s->lock);
        if (s->fd >= 0)
                close(s->fd);
        s->fd = copy;
        s->size = size;
        if (copy < 0 && !s->finished) {
                s->finished = true;
                s->result = e ? -e : -EBADF;
        }
        wake(s);
        pthread_mutex_unlock(&s->lock);
}

void cairn_blob_stream_grew(struct cairn_blob_stream *s, uint64_t size)
{
        pthread_mutex_lock(&s->lock);
        s->size = size;
        wake(s);
        pthread_mutex_unlock(&s->lock);
}

void cairn_blob_stream_finish(struct cairn_blob_stream *s, int result)
{
        pthread_mutex_lock(&s->lock);
        if (!s->finished) {
                s->finished = true;
                s->result = result;
                wake(s);
        }
        pthread_mutex_unlock(&s->lock);
}

ssize_t cairn_blob_stream_read(struct cairn_blob_stream *s, uint64_t offset, void *buf, size_t len)
{
        pthread_mutex_lock(&s->lock);
        for (;;) {
                if (s->finished && s->result < 0) {
                        int r = s->result;
                        pthread_mutex_unlock(&s->lock);
                        return r;
                }
                if (s->fd >= 0 && s->size > offset)
                        break;
                if (s->finished) {
                        pthread_mutex_unlock(&s->lock);
                        return 0;
                }
                s->waiting = true;
                pthread_cond_wait(&s->changed, &s->lock);
                s->waiting = false;
        }
        if (len > s->size - offset)
                len = (size_t) (s->size - offset);
        /* The file is read under the lock: a new file cannot replace it
         * half way.  The bytes are in the page cache; this is quick. */
        ssize_t n;
        do
                n = pread(s->fd, buf, len, (off_t) offset);
        while (n < 0 && errno == EINTR);
        int e = errno;
        pthread_mutex_unlock(&s->lock);
        if (n < 0)
                return -e;
        return n == 0 ? -EIO : n;   /* shorter than it said it was */
}

int cairn_blob_stream_verdict(struct cairn_blob_stream *s)
{
        pthread_mutex_lock(&s->lock);
        while (!s->finished) {
                s->waiting = true;
                pthread_cond_wait(&s->changed, &s->lock);
                s->waiting = false;
        }
        int r = s->result;
        pthread_mutex_unlock(&s->lock);
        return r;
}
