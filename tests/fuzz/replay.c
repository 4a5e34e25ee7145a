/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Run a fuzz target over every file of a corpus directory, printing TAP.
 * Used by the normal test run so the corpus is a regression suite, with or
 * without libFuzzer.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
                return 2;
        }
        DIR *d = opendir(argv[1]);
        if (!d) {
                perror(argv[1]);
                return 1;
        }
        char **names = NULL;
        size_t n = 0;
        for (struct dirent *e; (e = readdir(d));) {
                if (e->d_name[0] == '.')
                        continue;
                names = realloc(names, (n + 1) * sizeof(*names));
                names[n++] = strdup(e->d_name);
        }
        closedir(d);
        qsort(names, n, sizeof(*names), cmp);
        for (size_t i = 0; i < n; i++) {
                char path[4096];
                snprintf(path, sizeof(path), "%s/%s", argv[1], names[i]);
                char *data = NULL;
                size_t len = 0;
                struct cairn_error *err = NULL;
                if (cairn_read_file(path, 64u << 20, &data, &len, &err) < 0) {
                        printf("not ok %zu - %s: %s\n", i + 1, names[i], err->message);
                        cairn_error_free(err);
                        continue;
                }
                /* A crash or sanitizer report ends the run, and the test fails. */
                LLVMFuzzerTestOneInput((const uint8_t *) data, len);
                printf("ok %zu - %s\n", i + 1, names[i]);
                free(data);
                free(names[i]);
        }
        printf("1..%zu\n", n);
        free(names);
        return n ? 0 : 1;
}
