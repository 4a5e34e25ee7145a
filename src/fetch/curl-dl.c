/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl's functions as cairn calls them, forwarded to the library loaded
 * on first use (curl-dl.h).  A function used in cairn and missing here is
 * an undefined symbol at link time. */

/* The stubs are the functions themselves, not curl.h's type-checking
 * macros of the same names. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <stdarg.h>

#include "base/dl.h"
#include "fetch/curl-dl.h"

/* X(return type, name, (parameters), (arguments)); XV for void functions;
 * XX for the variadic ones, whose stubs are written out below (base/dl.h). */
#define CURL_FUNCTIONS(X, XV, XX)                                                                                      \
        X(CURLcode, curl_global_init, (long flags), (flags))                                                    \
        X(CURL *, curl_easy_init, (void), ())                                                                   \
        XV(curl_easy_cleanup, (CURL * h), (h))                                                                  \
        XV(curl_easy_reset, (CURL * h), (h))                                                                    \
        X(CURLcode, curl_easy_perform, (CURL * h), (h))                                                         \
        X(const char *, curl_easy_strerror, (CURLcode c), (c))                                                  \
        X(char *, curl_easy_escape, (CURL * h, const char *s, int n), (h, s, n))                                \
        XV(curl_free, (void *p), (p))                                                                           \
        X(struct curl_slist *, curl_slist_append, (struct curl_slist * l, const char *s), (l, s))               \
        XV(curl_slist_free_all, (struct curl_slist * l), (l))                                                   \
        X(CURLM *, curl_multi_init, (void), ())                                                                 \
        X(CURLMcode, curl_multi_cleanup, (CURLM * m), (m))                                                      \
        X(CURLMcode, curl_multi_add_handle, (CURLM * m, CURL * h), (m, h))                                      \
        X(CURLMcode, curl_multi_remove_handle, (CURLM * m, CURL * h), (m, h))                                   \
        X(CURLMcode, curl_multi_perform, (CURLM * m, int *running), (m, running))                               \
        X(CURLMcode, curl_multi_poll, (CURLM * m, struct curl_waitfd * fds, unsigned n, int ms, int *ret),      \
          (m, fds, n, ms, ret))                                                                                 \
        X(CURLMsg *, curl_multi_info_read, (CURLM * m, int *left), (m, left))                                    \
        XX(curl_easy_setopt)                                                                                     \
        XX(curl_easy_getinfo)

CAIRN_DL_LIBRARY(CURL_FUNCTIONS, .name = "libcurl",
                 .sonames = (const char *const[]) { "libcurl.so.4", NULL },
                 .hint = "libcurl4 (Debian, Ubuntu) or libcurl (Fedora, Alpine)")

/* An option's one argument has the type its number's range says (curl.h's
 * CURLOPTTYPE_*), which is how libcurl itself reads it. */
CURLcode curl_easy_setopt(CURL *h, CURLoption option, ...)
{
        CURLcode (*f)(CURL *, CURLoption, ...) = CAIRN_DL_FN(curl_easy_setopt);
        va_list ap;
        va_start(ap, option);
        CURLcode rc;
        if (option < CURLOPTTYPE_OBJECTPOINT)
                rc = f(h, option, va_arg(ap, long));
        else if (option < CURLOPTTYPE_FUNCTIONPOINT)
                rc = f(h, option, va_arg(ap, void *));
        else if (option < CURLOPTTYPE_OFF_T)
                rc = f(h, option, va_arg(ap, void (*)(void)));
        else if (option < CURLOPTTYPE_BLOB)
                rc = f(h, option, va_arg(ap, curl_off_t));
        else
                rc = f(h, option, va_arg(ap, void *));
        va_end(ap);
        return rc;
}

/* Every CURLINFO_* takes a pointer to where the answer goes. */
CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
        CURLcode (*f)(CURL *, CURLINFO, ...) = CAIRN_DL_FN(curl_easy_getinfo);
        va_list ap;
        va_start(ap, info);
        CURLcode rc = f(h, info, va_arg(ap, void *));
        va_end(ap);
        return rc;
}

int cairn_curl_load(struct cairn_error **err)
{
        return cairn_dl_load(&dl_library, err);
}
