/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry client (fetch/repo.h) from the command line, for
 * tests/integration/cache-remote.sh:
 *
 *   repo-tool put-blob NAME FILE         "uploaded DIGEST" or "present DIGEST"
 *   repo-tool put-data NAME FILE         the same, through cairn_repo_blob_put_data
 *   repo-tool blob-head NAME DIGEST      "present" or "absent"
 *   repo-tool head NAME REF              "found DIGEST" or "absent"
 *   repo-tool head-many NAME REF...      the refs found, one a line
 *   repo-tool put-manifest NAME TAG FILE [MEDIA-TYPE]   the digest
 *   repo-tool get NAME REF OUT           the body to OUT; "DIGEST MEDIA-TYPE", or "absent"
 *   repo-tool get-blob NAME ROOT DIGEST  into the blob store ROOT: "stored" or "absent"
 *   repo-tool get-blob-mem NAME DIGEST   the bytes on stdout, or "absent"
 *   repo-tool tags NAME                  one a line
 *   repo-tool delete NAME DIGEST         "deleted" or "absent"
 *
 * The environment: REPO_TOOL_AUTH (USER:PASSWORD), REPO_TOOL_INSECURE (a
 * registry allowed plain HTTP), REPO_TOOL_PAGE (tags per page).  An error
 * prints "error ENAME: MESSAGE" on stderr and exits 1; a usage error 2.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/file.h"
#include "base/hash.h"
#include "fetch/repo.h"

static char *slurp(const char *path, size_t *ret_len)
{
        FILE *f = fopen(path, "re");
        if (!f) {
                perror(path);
                exit(2);
        }
        char *data = NULL;
        size_t len = 0, alloc = 0, n;
        char buf[65536];
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
                if (len + n > alloc) {
                        alloc = (len + n) * 2;
                        data = cairn_xrealloc(data, alloc);
                }
                memcpy(data + len, buf, n);
                len += n;
        }
        fclose(f);
        *ret_len = len;
        return data ? data : cairn_xzalloc(1);
}

static char *file_digest(const char *path, uint64_t *ret_size)
{
        size_t len;
        char *data = slurp(path, &len);
        char hex[65];
        cairn_sha256_hex(data, len, hex);
        free(data);
        *ret_size = len;
        return cairn_xasprintf("sha256:%s", hex);
}

static int failed(struct cairn_error *err)
{
        const char *name = strerrorname_np(-err->code);
        for (struct cairn_error *e = err; e; e = e->next)
                fprintf(stderr, "error %s: %s\n", name ? name : "?", e->message);
        cairn_error_free(err);
        return 1;
}

int main(int argc, char **argv)
{
        if (argc < 3) {
                fprintf(stderr, "usage: repo-tool COMMAND NAME ARGS...\n");
                return 2;
        }
        const char *cmd = argv[1];
        const char *auth = getenv("REPO_TOOL_AUTH");
        struct cairn_registry_options o = { .credentials = auth && *auth ? auth : NULL };
        const char *insecure = getenv("REPO_TOOL_INSECURE");
        if (insecure && *insecure) {
                o.insecure = &insecure;
                o.n_insecure = 1;
        }
        if (getenv("REPO_TOOL_PAGE"))
                o.tags_page = (unsigned) atoi(getenv("REPO_TOOL_PAGE"));
        bool push = strncmp(cmd, "put", 3) == 0 || strcmp(cmd, "delete") == 0;
        struct cairn_error *err = NULL;
        struct cairn_repo *r = NULL;
        if (cairn_repo_open(argv[2], push, &o, &r, &err) < 0)
                return failed(err);
        int rc = 0;
#define NEED(k)                                                                                                  \
        do {                                                                                                     \
                if (argc < (k)) {                                                                                \
                        fprintf(stderr, "repo-tool %s: missing arguments\n", cmd);                               \
                        return 2;                                                                                \
                }                                                                                                \
        } while (0)
        if (strcmp(cmd, "put-blob") == 0) {
                NEED(4);
                uint64_t size;
                char *digest = file_digest(argv[3], &size);
                rc = cairn_repo_blob_put_file(r, argv[3], digest, size, &err);
                if (rc >= 0)
                        printf("%s %s\n", rc ? "uploaded" : "present", digest);
                free(digest);
        } else if (strcmp(cmd, "put-data") == 0) {
                NEED(4);
                size_t len;
                char *data = slurp(argv[3], &len), *digest = NULL;
                rc = cairn_repo_blob_put_data(r, data, len, &digest, &err);
                if (rc >= 0)
                        printf("%s %s\n", rc ? "uploaded" : "present", digest);
                free(digest);
                free(data);
        } else if (strcmp(cmd, "blob-head") == 0) {
                NEED(4);
                rc = cairn_repo_blob_head(r, argv[3], &err);
                if (rc >= 0)
                        printf("%s\n", rc ? "present" : "absent");
        } else if (strcmp(cmd, "head") == 0) {
                NEED(4);
                char *digest = NULL;
                rc = cairn_repo_manifest_head(r, argv[3], &digest, &err);
                if (rc > 0)
                        printf("found %s\n", digest ? digest : "(no digest)");
                else if (rc == 0)
                        printf("absent\n");
                free(digest);
        } else if (strcmp(cmd, "head-many") == 0) {
                size_t n = (size_t) (argc - 3);
                bool *found = cairn_xzalloc(n + 1);
                rc = cairn_repo_manifest_head_many(r, (const char *const *) argv + 3, n, found, &err);
                for (size_t i = 0; rc >= 0 && i < n; i++)
                        if (found[i])
                                printf("%s\n", argv[3 + i]);
                free(found);
        } else if (strcmp(cmd, "put-manifest") == 0) {
                NEED(5);
                size_t len;
                char *body = slurp(argv[4], &len), *digest = NULL;
                rc = cairn_repo_manifest_put(r, argv[3], argc > 5 ? argv[5] : CAIRN_MEDIA_OCI_MANIFEST, body, len,
                                             &digest, &err);
                if (rc >= 0)
                        printf("%s\n", digest);
                free(digest);
                free(body);
        } else if (strcmp(cmd, "get") == 0) {
                NEED(5);
                char *body = NULL, *digest = NULL, *mt = NULL;
                size_t len = 0;
                rc = cairn_repo_manifest_get(r, argv[3], &body, &len, &digest, &mt, &err);
                if (rc > 0) {
                        FILE *f = fopen(argv[4], "we");
                        if (!f || fwrite(body, 1, len, f) != len || fclose(f) != 0) {
                                perror(argv[4]);
                                return 1;
                        }
                        printf("%s %s\n", digest, mt);
                } else if (rc == 0) {
                        printf("absent\n");
                }
                free(body);
                free(digest);
                free(mt);
        } else if (strcmp(cmd, "get-blob") == 0) {
                NEED(5);
                rc = cairn_repo_blob_get(r, argv[3], argv[4], UINT64_C(1) << 32, &err);
                if (rc >= 0)
                        printf("%s\n", rc ? "stored" : "absent");
        } else if (strcmp(cmd, "get-blob-mem") == 0) {
                NEED(4);
                char *data = NULL;
                size_t len = 0;
                rc = cairn_repo_blob_get_mem(r, argv[3], 1 << 20, &data, &len, &err);
                if (rc > 0)
                        fwrite(data, 1, len, stdout);
                else if (rc == 0)
                        printf("absent\n");
                free(data);
        } else if (strcmp(cmd, "tags") == 0) {
                char **tags = NULL;
                rc = cairn_repo_tags(r, &tags, &err);
                for (size_t i = 0; rc >= 0 && tags[i]; i++)
                        printf("%s\n", tags[i]);
                if (rc >= 0)
                        cairn_strv_free(tags);
        } else if (strcmp(cmd, "delete") == 0) {
                NEED(4);
                rc = cairn_repo_manifest_delete(r, argv[3], &err);
                if (rc >= 0)
                        printf("%s\n", rc ? "deleted" : "absent");
        } else {
                fprintf(stderr, "repo-tool: unknown command \"%s\"\n", cmd);
                return 2;
        }
        cairn_repo_close(r);
        return rc < 0 ? failed(err) : 0;
}
