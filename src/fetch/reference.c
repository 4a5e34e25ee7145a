/* SPDX-License-Identifier: Apache-2.0 */
#include "fetch/reference.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/strbuf.h"

void cairn_image_ref_free(struct cairn_image_ref *r)
{
        if (!r)
                return;
        free(r->domain);
        free(r->path);
        free(r->tag);
        free(r->digest);
        free(r->api_host);
        free(r);
}

static bool is_lower_alnum(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)* */
static const char *check_component(const char *s, size_t n)
{
        if (n == 0)
                return "an empty path component";
        if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1])) {
                for (size_t i = 0; i < n; i++)
                        if (s[i] >= 'A' && s[i] <= 'Z')
                                return "repository names must be lowercase";
                return "a path component must start and end with a letter or digit";
        }
        for (size_t i = 0; i < n;) {
                if (is_lower_alnum(s[i])) {
                        i++;
                        continue;
                }
                if (s[i] >= 'A' && s[i] <= 'Z')
                        return "repository names must be lowercase";
                size_t j = i;
                while (j < n && !is_lower_alnum(s[j]))
                        j++;
                size_t len = j - i;
                bool ok = (len == 1 && (s[i] == '.' || s[i] == '_' || s[i] == '-')) ||
                          (len == 2 && s[i] == '_' && s[i + 1] == '_');
                if (!ok) {
                        ok = true;
                        for (size_t k = i; k < j; k++)
                                ok = ok && s[k] == '-';
                }
                if (!ok)
                        return "a path component may only hold a-z, 0-9 and single separators (., _, __, -)";
                i = j;
        }
        return NULL;
}

static bool valid_tag(const char *t)
{
        size_t n = strlen(t);
        if (n == 0 || n > 128)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = t[i];
                bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
                if (!word && (i == 0 || (c != '.' && c != '-')))
                        return false;
        }
        return true;
}

static bool valid_domain(const char *d)
{
        if (!*d)
                return false;
        for (const char *p = d; *p; p++) {
                char c = *p;
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '-' || c == ':' || c == '[' || c == ']'))
                        return false;
        }
        return true;
}

int cairn_image_ref_parse(const char *s, struct cairn_image_ref **ret, struct cairn_error **err)
{
#define FAIL(...) return cairn_error_set(err, -EINVAL, "invalid image reference \"%s\": " __VA_ARGS__)
        if (!*s)
                return cairn_error_set(err, -EINVAL, "invalid image reference: it is empty");
        _cleanup_free_ char *name = cairn_xstrdup(s);
        _cleanup_free_ char *digest = NULL, *tag = NULL, *domain = NULL;
        char *at = strchr(name, '@');
        if (at) {
                *at = '\0';
                digest = cairn_xstrdup(at + 1);
                if (strncmp(digest, "sha256:", 7) != 0)
                        FAIL("only sha256 digests are supported, not \"%s\"", s, digest);
                if (!cairn_is_sha256_hex(digest + 7))
                        FAIL("the digest must be sha256: and 64 lowercase hex digits", s);
        }
        char *last_slash = strrchr(name, '/');
        char *colon = strrchr(last_slash ? last_slash : name, ':');
        if (colon) {
                *colon = '\0';
                tag = cairn_xstrdup(colon + 1);
                if (!valid_tag(tag))
                        FAIL("invalid tag \"%s\" (letters, digits, _, . and -, at most 128, not starting with . or -)",
                             s, tag);
        }
        char *path = name;
        char *slash = strchr(name, '/');
        if (slash) {
                size_t n = (size_t) (slash - name);
                if (memchr(name, '.', n) || memchr(name, ':', n) || (n == 9 && strncmp(name, "localhost", 9) == 0)) {
                        domain = cairn_xstrndup(name, n);
                        path = slash + 1;
                        if (!valid_domain(domain))
                                FAIL("invalid registry \"%s\"", s, domain);
                }
        }
        if (!*path)
                FAIL("no repository name", s);
        for (const char *p = path;;) {
                const char *e = strchr(p, '/');
                size_t n = e ? (size_t) (e - p) : strlen(p);
                const char *why = check_component(p, n);
                if (why)
                        FAIL("%s", s, why);
                if (!e)
                        break;
                p = e + 1;
        }
        struct cairn_image_ref *r = cairn_xzalloc(sizeof(*r));
        if (!domain || strcmp(domain, "index.docker.io") == 0 || strcmp(domain, "docker.io") == 0) {
                r->domain = cairn_xstrdup("docker.io");
                r->api_host = cairn_xstrdup("registry-1.docker.io");
                r->path = strchr(path, '/') ? cairn_xstrdup(path) : cairn_xasprintf("library/%s", path);
        } else {
                r->domain = cairn_xstrdup(domain);
                r->api_host = cairn_xstrdup(domain);
                r->path = cairn_xstrdup(path);
        }
        if (strlen(r->domain) + 1 + strlen(r->path) > 255) {
                cairn_image_ref_free(r);
                FAIL("the name is longer than 255 characters", s);
        }
        r->digest = TAKE_PTR(digest);
        r->tag = tag ? TAKE_PTR(tag) : r->digest ? NULL : cairn_xstrdup("latest");
        *ret = r;
        return 0;
#undef FAIL
}

char *cairn_image_ref_string(const struct cairn_image_ref *r)
{
        struct cairn_buf b = CAIRN_BUF_INIT;
        cairn_buf_printf(&b, "%s/%s", r->domain, r->path);
        if (r->tag)
                cairn_buf_printf(&b, ":%s", r->tag);
        if (r->digest)
                cairn_buf_printf(&b, "@%s", r->digest);
        return cairn_buf_steal(&b, NULL);
}

bool cairn_host_is_loopback(const char *host_port)
{
        /* The host alone: up to the port's ':' (after "]" for IPv6). */
        size_t n;
        if (host_port[0] == '[') {
                const char *end = strchr(host_port, ']');
                if (!end)
                        return false;
                n = (size_t) (end - host_port) + 1;
        } else {
                const char *colon = strchr(host_port, ':');
                n = colon ? (size_t) (colon - host_port) : strlen(host_port);
        }
        if (host_port[n] && host_port[n] != ':')
                return false;
        if ((n == 9 && strncmp(host_port, "localhost", 9) == 0) || (n == 5 && strncmp(host_port, "[::1]", 5) == 0))
                return true;
        /* 127.0.0.0/8, as four decimal numbers. */
        unsigned a, b, c, d;
        char tail;
        char buf[32];
        if (n >= sizeof(buf))
                return false;
        memcpy(buf, host_port, n);
        buf[n] = '\0';
        return sscanf(buf, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 && c < 256 && d < 256;
}

bool cairn_url_may_carry_secrets(const char *url)
{
        if (strncmp(url, "https://", 8) == 0)
                return true;
        if (strncmp(url, "http://", 7) != 0)
                return false;
        const char *host = url + 7;
        size_t n = strcspn(host, "/?#");
        char buf[300];
        if (n >= sizeof(buf))
                return false;
        memcpy(buf, host, n);
        buf[n] = '\0';
        return cairn_host_is_loopback(buf);
}

bool cairn_image_ref_allows_http(const struct cairn_image_ref *r, const char *const *insecure, size_t n_insecure)
{
        if (cairn_host_is_loopback(r->api_host))
                return true;
        for (size_t i = 0; i < n_insecure; i++)
                if (strcmp(insecure[i], r->domain) == 0 || strcmp(insecure[i], r->api_host) == 0)
                        return true;
        return false;
}

bool cairn_digest_valid(const char *d)
{
        return d && strncmp(d, "sha256:", 7) == 0 && cairn_is_sha256_hex(d + 7);
}

const char *cairn_host_arch(void)
{
#if defined(__aarch64__)
        return "arm64";
#elif defined(__riscv) && __riscv_xlen == 64
        return "riscv64";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        return "ppc64le";
#elif defined(__s390x__)
        return "s390x";
#else
        return "amd64";
#endif
}
