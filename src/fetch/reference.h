/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Image references, parsed and normalised as Docker's distribution/reference
 * grammar does:
 *
 *   busybox                  docker.io/library/busybox:latest
 *   ocaml/opam:debian        docker.io/ocaml/opam:debian
 *   localhost:5000/x@sha256:..   registry localhost:5000, pinned by digest
 *   mcr.microsoft.com/windows/servercore:ltsc2022   stays as it is
 *
 * The first component is a registry when it contains '.' or ':' or is
 * "localhost"; otherwise the image is on Docker Hub, whose API lives at
 * registry-1.docker.io.
 */
#ifndef CAIRN_FETCH_REFERENCE_H
#define CAIRN_FETCH_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

struct cairn_image_ref {
        char *domain;     /* "docker.io", "127.0.0.1:5000", ... */
        char *path;       /* "library/busybox" */
        char *tag;        /* "latest" when neither tag nor digest was given; NULL with a digest alone */
        char *digest;     /* "sha256:HEX" or NULL */
        char *api_host;   /* where the registry API is: registry-1.docker.io for docker.io */
};

int cairn_image_ref_parse(const char *s, struct cairn_image_ref **ret, struct cairn_error **err);
/* Whether r's registry may be spoken to over plain HTTP: a loopback one,
 * or one of `insecure` (by domain or API host: --insecure-registry). */
/* Whether "HOST[:PORT]" is this machine's loopback: localhost, [::1] or
 * an address in 127.0.0.0/8, exactly (not localhost.example.org). */
bool cairn_host_is_loopback(const char *host_port);
/* Whether a password or token may be sent to url: https, or plain http to
 * loopback. */
bool cairn_url_may_carry_secrets(const char *url);

bool cairn_image_ref_allows_http(const struct cairn_image_ref *r, const char *const *insecure, size_t n_insecure);

/* DOMAIN/PATH[:TAG][@DIGEST] */
char *cairn_image_ref_string(const struct cairn_image_ref *r);
void cairn_image_ref_free(struct cairn_image_ref *r);

/* "sha256:" + 64 lowercase hex digits. */
bool cairn_digest_valid(const char *digest);
/* This machine's OCI architecture name ("amd64", "arm64"): the one cairn
 * was built for. */
const char *cairn_host_arch(void);

#endif
