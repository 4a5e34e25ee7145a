/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared libraries loaded on first use.
 *
 * libarchive and libcurl (with what they link: gnutls, krb5, ldap, libxml2,
 * ICU, ...) are most of what the dynamic loader maps and relocates when
 * cairn starts, yet only a pull, an import, an export or a copy needs them.
 * cairn is not linked against them: the functions it calls are defined by
 * small forwarding stubs (base/tar-dl-posix.c, fetch/curl-dl.c) that open
 * the library with dlopen the first time one of them is called, or when the
 * code about to use it asks with cairn_dl_load, which reports a missing
 * library as an error instead.  Windows links libarchive statically and
 * has no loader here.
 *
 * A struct cairn_dl is a static object per library, shared by all threads:
 * loading is serialised, and a library is loaded at most once and never
 * closed.
 */
#ifndef CAIRN_BASE_DL_H
#define CAIRN_BASE_DL_H

#include <stddef.h>

#include "base/error.h"

struct cairn_dl {
        const char *name;                /* "libarchive", for messages */
        const char *const *sonames;      /* tried in order; NULL-terminated */
        const char *hint;                /* what to install, for messages */
        const char *const *symbols;      /* NULL-terminated */
        void **fns;                      /* one slot per symbol, filled by the load */
        int state;                       /* private: 0 not tried, 1 loaded, < 0 failed */
};

/* Load dl (once) and resolve every symbol; an error names the library, the
 * loader's reason and what to install. */
int cairn_dl_load(struct cairn_dl *dl, struct cairn_error **err);

/* Symbol i of dl, loading it first if needed: for the stubs.  A library
 * that cannot be loaded here is fatal (a message on stderr and exit status
 * 1): callers that can fail cleanly call cairn_dl_load first. */
void *cairn_dl_fn(struct cairn_dl *dl, size_t i);

#endif
