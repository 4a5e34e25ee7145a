/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcurl, loaded on first use (base/dl.h): only a pull talks to a
 * registry, and libcurl with what it links (TLS, Kerberos, LDAP, SSH, ...)
 * is the largest part of what the loader would otherwise map on every run.
 * curl-dl.c defines the libcurl functions cairn calls as stubs that forward
 * to the library's.
 */
#ifndef CAIRN_FETCH_CURL_DL_H
#define CAIRN_FETCH_CURL_DL_H

#include "base/error.h"

/* Load libcurl if it is not yet: call before the first curl_* call of a
 * command, for a clear error when the library is missing. */
int cairn_curl_load(struct cairn_error **err);

#endif
