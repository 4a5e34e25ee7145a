/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared libraries loaded on first use.
 *
 * libarchive and libcurl (with what they link: gnutls, krb5, ldap, libxml2,
 * ICU, ...) are most of what the dynamic loader maps and relocates when
 * cairn starts, yet only a pull, an import, an export or a copy needs them.
 * cairn is not linked against them: the functions it calls are defined by
 * small forwarding stubs (base/tar-dl-posix.c, fetch/curl-dl.c; SQLite's,
 * libpq's and libcrypto's likewise) that open the library with dlopen the
 * first time one of them is called, or when the code about to use it asks
 * with cairn_dl_load, which reports a missing library as an error instead.
 * Windows links these libraries statically and has no loader here.
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
        void (*loaded)(void);            /* NULL, or called once after the load */
        int state;                       /* private: 0 not tried, 1 loaded, < 0 failed */
};

/* Load dl (once) and resolve every symbol; an error names the library, the
 * loader's reason and what to install. */
int cairn_dl_load(struct cairn_dl *dl, struct cairn_error **err);

/* Symbol i of dl, loading it first if needed: for the stubs.  A library
 * that cannot be loaded here is fatal (a message on stderr and exit status
 * 1): callers that can fail cleanly call cairn_dl_load first. */
void *cairn_dl_fn(struct cairn_dl *dl, size_t i);

/*
 * One library's table and its forwarding stubs, from the list of the
 * functions cairn calls, in a file of its own (one library a file):
 *
 *   #define LIBFOO_FUNCTIONS(X, XV, XX)                          \
 *           X(int, foo_open, (const char *p), (p))               \
 *           XV(foo_free, (struct foo * f), (f))                  \
 *           XX(foo_printf)
 *   CAIRN_DL_LIBRARY(LIBFOO_FUNCTIONS, .name = "libfoo", .sonames = ..., .hint = ...)
 *
 * X is a function returning a value, XV a void one: their stubs are
 * generated.  XX is one whose stub the file writes itself (a variadic
 * function), calling CAIRN_DL_FN(foo_printf).  The file's struct cairn_dl
 * is dl_library (for cairn_dl_load).  A function called in cairn and
 * missing from the list is an undefined symbol at link time.
 */
#define CAIRN_DL_SLOT_(ret, name, params, args) CAIRN_DL_SLOT_##name,
#define CAIRN_DL_SLOTV_(name, params, args) CAIRN_DL_SLOT_##name,
#define CAIRN_DL_SLOTX_(name) CAIRN_DL_SLOT_##name,
#define CAIRN_DL_NAME_(ret, name, params, args) #name,
#define CAIRN_DL_NAMEV_(name, params, args) #name,
#define CAIRN_DL_NAMEX_(name) #name,
#define CAIRN_DL_STUB_(ret, name, params, args)                                                                  \
        ret name params                                                                                          \
        {                                                                                                        \
                return ((ret(*) params) cairn_dl_fn(&dl_library, CAIRN_DL_SLOT_##name)) args;                    \
        }
#define CAIRN_DL_STUBV_(name, params, args)                                                                      \
        void name params                                                                                         \
        {                                                                                                        \
                ((void(*) params) cairn_dl_fn(&dl_library, CAIRN_DL_SLOT_##name)) args;                          \
        }
#define CAIRN_DL_NONE_(name)

#define CAIRN_DL_LIBRARY(LIST, ...)                                                                              \
        enum { LIST(CAIRN_DL_SLOT_, CAIRN_DL_SLOTV_, CAIRN_DL_SLOTX_) CAIRN_DL_N_FUNCTIONS };                    \
        static const char *const dl_symbols[] = { LIST(CAIRN_DL_NAME_, CAIRN_DL_NAMEV_, CAIRN_DL_NAMEX_) NULL }; \
        static void *dl_fns[CAIRN_DL_N_FUNCTIONS];                                                               \
        static struct cairn_dl dl_library = { __VA_ARGS__, .symbols = dl_symbols, .fns = dl_fns };               \
        LIST(CAIRN_DL_STUB_, CAIRN_DL_STUBV_, CAIRN_DL_NONE_)

/* The library's function `name`, for a stub written out by hand. */
#define CAIRN_DL_FN(name) cairn_dl_fn(&dl_library, CAIRN_DL_SLOT_##name)

#endif
