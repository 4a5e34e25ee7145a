/* SPDX-License-Identifier: Apache-2.0 */
#include <stdlib.h>
#include <string.h>

#include "fetch/reference.h"
#include "tap.h"

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void normalises(const char *in, const char *out, const char *api)
{
        struct cairn_image_ref *r = NULL;
        struct cairn_error *err = NULL;
        if (!ok(cairn_image_ref_parse(in, &r, &err) == 0, "parses: %s", in)) {
                tap_diag("%s", err->message);
                cairn_error_free(err);
                return;
        }
        char *s = cairn_image_ref_string(r);
        is_str(s, out, "%s -> %s", in, out);
        is_str(r->api_host, api, "%s: the API is at %s", in, api);
        free(s);
        cairn_image_ref_free(r);
}

static void rejects(const char *in, const char *msg)
{
        struct cairn_image_ref *r = NULL;
        struct cairn_error *err = NULL;
        ok(cairn_image_ref_parse(in, &r, &err) < 0, "rejected: \"%s\"", in);
        has_str(err ? err->message : NULL, msg, "message for \"%s\"", in);
        cairn_error_free(err);
        cairn_image_ref_free(r);
}

static void http_is(const char *in, const char *const *insecure, size_t n, bool want, const char *name)
{
        struct cairn_image_ref *r = NULL;
        struct cairn_error *err = NULL;
        if (cairn_image_ref_parse(in, &r, &err) < 0) {
                ok(0, "parses: %s", in);
                cairn_error_free(err);
                return;
        }
        ok(cairn_image_ref_allows_http(r, insecure, n) == want, "%s", name);
        cairn_image_ref_free(r);
}

int main(void)
{
        static const char *const insecure[] = { "registry.lan:5000" };
        http_is("127.0.0.1:5000/x", NULL, 0, true, "plain HTTP to a loopback registry");
        http_is("localhost:5000/x", NULL, 0, true, "and to localhost");
        http_is("[::1]:5000/x", NULL, 0, true, "and to ::1");
        http_is("registry.lan:5000/x", NULL, 0, false, "not to another registry");
        http_is("registry.lan:5000/x", insecure, 1, true, "unless it is named insecure");
        http_is("busybox", insecure, 1, false, "never to Docker Hub unless named");
        http_is("localhost.example.org:5000/x", NULL, 0, false, "not to a host whose name starts with localhost");
        http_is("127.evil.example:5000/x", NULL, 0, false, "nor to one whose name starts with 127.");
        static const struct {
                const char *host;
                bool loopback;
        } hosts[] = {
                { "127.0.0.1", true }, { "127.0.0.1:5000", true }, { "127.1.2.3:80", true }, { "localhost", true },
                { "localhost:5000", true }, { "[::1]:5000", true }, { "localhost.example.org", false },
                { "127.0.0.1.nip.io", false }, { "127.0.0.256", false }, { "128.0.0.1", false }, { "[::2]:5000", false },
                { "10.0.0.1:5000", false },
        };
        for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
                ok(cairn_host_is_loopback(hosts[i].host) == hosts[i].loopback, "%s is %sloopback", hosts[i].host,
                   hosts[i].loopback ? "" : "not ");
        static const struct {
                const char *url;
                bool may;
        } urls[] = {
                { "https://auth.docker.io/token", true }, { "http://127.0.0.1:5001/token", true },
                { "http://localhost/token?x=1", true }, { "http://auth.example.org/token", false },
                { "http://localhost.example.org/token", false }, { "ftp://127.0.0.1/x", false },
        };
        for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
                ok(cairn_url_may_carry_secrets(urls[i].url) == urls[i].may, "%s %s carry credentials", urls[i].url,
                   urls[i].may ? "may" : "may not");
        normalises("busybox", "docker.io/library/busybox:latest", "registry-1.docker.io");
        normalises("busybox:1.36", "docker.io/library/busybox:1.36", "registry-1.docker.io");
        normalises("ocaml/opam:debian-12-ocaml-4.14", "docker.io/ocaml/opam:debian-12-ocaml-4.14", "registry-1.docker.io");
        normalises("docker.io/busybox", "docker.io/library/busybox:latest", "registry-1.docker.io");
        normalises("index.docker.io/library/busybox:x", "docker.io/library/busybox:x", "registry-1.docker.io");
        normalises("mcr.microsoft.com/windows/servercore:ltsc2022", "mcr.microsoft.com/windows/servercore:ltsc2022",
                   "mcr.microsoft.com");
        normalises("localhost/foo", "localhost/foo:latest", "localhost");
        normalises("localhost:5000/a/b/c:v1.2_3-x", "localhost:5000/a/b/c:v1.2_3-x", "localhost:5000");
        normalises("127.0.0.1:5000/img@" D64, "127.0.0.1:5000/img@" D64, "127.0.0.1:5000");
        normalises("127.0.0.1:5000/img:tag@" D64, "127.0.0.1:5000/img:tag@" D64, "127.0.0.1:5000");
        normalises("a.b__c-d--e", "docker.io/library/a.b__c-d--e:latest", "registry-1.docker.io");
        normalises("Registry.Example.COM/x", "Registry.Example.COM/x:latest", "Registry.Example.COM");
        rejects("", "it is empty");
        rejects("Busybox", "repository names must be lowercase");
        rejects("busybox:", "invalid tag");
        rejects("busybox:-x", "invalid tag");
        rejects("busybox@sha256:abc", "64 lowercase hex digits");
        rejects("busybox@md5:" "0123456789abcdef0123456789abcdef", "only sha256 digests");
        rejects("a//b", "an empty path component");
        rejects("a/b_", "must start and end with a letter or digit");
        rejects("a/b...c", "single separators");
        rejects("exa mple.com/x", "invalid");
        rejects("example.com/", "no repository name");
        return tap_done();
}
