/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `cairn hcn` (in cairn.exe) and cairn-hcn.exe: HCN namespaces and the
 * containerd CNI config, on Windows.
 *
 *   cairn-hcn namespace create | delete GUID | list
 *   cairn-hcn network list
 *   cairn-hcn cni-config [--network NAME] [--out PATH] [--check]
 *   cairn-hcn create | delete GUID      OBuilder's hcn-namespace contract
 *
 * Exit status 0 on success, 1 on failure, 2 on a usage error.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/error.h"
#include "base/file.h"
#include "base/fs.h"
#include "cli/cli.h"
#include "hcn/hcn.h"
#include "base/win.h"

/* Where `ctr run --cni` reads its config: go-cni's fixed Windows default
 * (types_windows.go, DefaultNetDir; not %ProgramFiles%, and not
 * containerd's config file, which only its CRI plugin reads), under the
 * name containerd's install script gives it. */
#define DEFAULT_CNI_CONF "C:\\Program Files\\containerd\\cni\\conf\\0-containerd-nat.conf"

static const char usage[] =
        "Usage: cairn-hcn namespace create | namespace delete GUID | namespace list\n"
        "       cairn-hcn network list\n"
        "       cairn-hcn cni-config [--network NAME] [--out PATH] [--check]\n"
        "       cairn-hcn create | delete GUID     (OBuilder's hcn-namespace)\n"
        "\n"
        "namespace create prints the new namespace's GUID.  cni-config writes the\n"
        "nat plugin's CNI config for the NAT network's subnet and gateway, as read\n"
        "from HNS, where ctr --cni reads it (" DEFAULT_CNI_CONF ";\n"
        "--out elsewhere), only when what the plugin reads changed; --network NAME\n"
        "chooses between several NAT networks.  With --check it writes nothing and\n"
        "exits 1, saying which field differs, if the file is not up to date.\n";

static int fail(struct cairn_error *err)
{
        for (struct cairn_error *e = err; e; e = e->next)
                fprintf(stderr, "cairn-hcn: %s\n", e->message);
        cairn_error_free(err);
        return 1;
}

static int bad_usage(const char *what)
{
        fprintf(stderr, "cairn-hcn: %s\n%s", what, usage);
        return 2;
}

static char *read_small_file(const char *path, size_t *ret_len)
{
        wchar_t *w = cairn_win_wide(path);
        HANDLE f = CreateFileW(w, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                               OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
        free(w);
        if (f == INVALID_HANDLE_VALUE)
                return NULL;
        char *buf = cairn_xmalloc(65537);
        DWORD got = 0, total = 0;
        while (total < 65536 && ReadFile(f, buf + total, 65536 - total, &got, NULL) && got)
                total += got;
        CloseHandle(f);
        buf[total] = 0;
        *ret_len = total;
        return buf;
}

/* A config file ctr would read: go-cni loads the lexically first one of
 * these in the directory, and no other. */
static bool is_cni_config_name(const wchar_t *name)
{
        const wchar_t *dot = wcsrchr(name, L'.');
        return dot && (_wcsicmp(dot, L".conf") == 0 || _wcsicmp(dot, L".conflist") == 0 || _wcsicmp(dot, L".json") == 0);
}

/* Which config file of dir ctr --cni reads, when it is not `file` (the
 * caller frees); NULL when it is, or when dir holds no other. */
static char *first_config_other_than(const char *dir, const char *file)
{
        char *pattern = cairn_xasprintf("%s\\*", dir);
        wchar_t *w = cairn_win_wide(pattern);
        free(pattern);
        WIN32_FIND_DATAW fd;
        HANDLE h = FindFirstFileW(w, &fd);
        free(w);
        if (h == INVALID_HANDLE_VALUE)
                return NULL;
        wchar_t *first = NULL;
        do {
                if ((fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) || !is_cni_config_name(fd.cFileName))
                        continue;
                /* Go's sort.Strings: by UTF-8 bytes, which for UTF-16 code
                 * units below the surrogates is the same order. */
                if (!first || wcscmp(fd.cFileName, first) < 0) {
                        free(first);
                        first = _wcsdup(fd.cFileName);
                }
        } while (FindNextFileW(h, &fd));
        FindClose(h);
        char *name = first ? cairn_win_utf8(first) : NULL;
        free(first);
        if (name && _stricmp(name, file) == 0) {
                free(name);
                return NULL;
        }
        return name;
}

/* The directory of a Windows path, or NULL for a drive's root or a bare
 * name (the caller frees). */
static char *parent_dir(const char *path)
{
        const char *sep = NULL;
        for (const char *p = path; *p; p++)
                if (*p == '\\' || *p == '/')
                        sep = p;
        if (!sep || sep == path || sep[-1] == ':')
                return NULL;
        return cairn_xstrndup(path, (size_t) (sep - path));
}

static int cni_config(struct cairn_hcn *h, int argc, char **argv)
{
        const char *network = NULL, *out = DEFAULT_CNI_CONF;
        int check = 0;
        for (int i = 0; i < argc; i++) {
                if (strcmp(argv[i], "--network") == 0 && i + 1 < argc)
                        network = argv[++i];
                else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
                        out = argv[++i];
                else if (strcmp(argv[i], "--check") == 0)
                        check = 1;
                else
                        return bad_usage("cni-config: unknown or incomplete option");
        }
        struct cairn_error *err = NULL;
        struct cairn_hcn_network *nets = NULL;
        size_t n = 0;
        if (cairn_hcn_network_list(h, &nets, &n, &err) < 0)
                return fail(err);
        int status = 0;
        int k = cairn_hcn_choose_nat(nets, n, network, &err);
        const struct cairn_hcn_network *nat = k >= 0 ? &nets[k] : NULL;
        if (!nat) {
                status = fail(err);
        } else if (!nat->subnet || !nat->gateway) {
                fprintf(stderr, "cairn-hcn: the network \"%s\" has no subnet or gateway in its IPAM settings\n",
                        nat->name ? nat->name : "?");
                status = 1;
        } else {
                const char *name = nat->name ? nat->name : "nat";
                _cleanup_free_ char *dir = parent_dir(out);
                size_t len = 0;
                char *have = read_small_file(out, &len);
                char *diff = have ? cairn_hcn_cni_config_diff(have, len, name, nat->subnet, nat->gateway) : NULL;
                if (have && !diff) {
                        printf("%s is up to date (network %s, subnet %s, gateway %s)\n", out, name, nat->subnet,
                               nat->gateway);
                } else if (check) {
                        if (have)
                                printf("%s is out of date: %s\n", out, diff);
                        else
                                printf("%s is missing: the %s network has subnet %s, gateway %s\n", out, name,
                                       nat->subnet, nat->gateway);
                        status = 1;
                } else {
                        char *text = cairn_hcn_cni_config(name, nat->subnet, nat->gateway);
                        /* containerd's installer makes neither cni\ nor
                         * cni\conf. */
                        if ((dir && cairn_mkdir_p(dir, 0755, &err) < 0) ||
                            cairn_write_file_atomic(out, text, strlen(text), &err) < 0)
                                status = fail(err);
                        else
                                printf("%s written (network %s, subnet %s, gateway %s)%s%s\n", out, name, nat->subnet,
                                       nat->gateway, diff ? "; it had " : "", diff ? diff : "");
                        free(text);
                }
                /* ctr --cni reads one file, the first of its directory. */
                char *first = dir ? first_config_other_than(dir, out + strlen(dir) + 1) : NULL;
                if (first)
                        fprintf(stderr,
                                "cairn-hcn: warning: ctr --cni reads only the first config file of %s, which is "
                                "\"%s\", not this one\n",
                                dir, first);
                free(first);
                free(diff);
                free(have);
        }
        for (size_t i = 0; i < n; i++)
                cairn_hcn_network_clear(&nets[i]);
        free(nets);
        return status;
}

int cmd_hcn(int argc, char **argv)
{
        if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
                fputs(usage, argc < 2 ? stderr : stdout);
                return argc < 2 ? 2 : 0;
        }
        const char *group = argv[1];
        const char *verb = argc > 2 ? argv[2] : "";
        char **rest = argv + 3;
        int nrest = argc - 3;
        /* OBuilder calls its helper as `hcn-namespace create|delete GUID`. */
        if (strcmp(group, "create") == 0 || strcmp(group, "delete") == 0) {
                verb = group;
                group = "namespace";
                rest = argv + 2;
                nrest = argc - 2;
        }
        int known = (strcmp(group, "namespace") == 0 &&
                     (strcmp(verb, "create") == 0 || strcmp(verb, "delete") == 0 || strcmp(verb, "list") == 0)) ||
                    (strcmp(group, "network") == 0 && strcmp(verb, "list") == 0) || strcmp(group, "cni-config") == 0;
        if (!known)
                return bad_usage("unknown command");
        if (strcmp(group, "namespace") == 0 && strcmp(verb, "delete") == 0 && nrest != 1)
                return bad_usage("namespace delete takes one GUID");
        struct cairn_error *err = NULL;
        struct cairn_hcn *h = NULL;
        if (cairn_hcn_open(&h, &err) < 0)
                return fail(err);
        int status = 0;
        if (strcmp(group, "cni-config") == 0) {
                status = cni_config(h, argc - 2, argv + 2);
        } else if (strcmp(group, "network") == 0) {
                struct cairn_hcn_network *nets = NULL;
                size_t n = 0;
                if (cairn_hcn_network_list(h, &nets, &n, &err) < 0) {
                        status = fail(err);
                } else {
                        for (size_t i = 0; i < n; i++) {
                                printf("%s %s %s %s %s\n", nets[i].id ? nets[i].id : "-", nets[i].name ? nets[i].name : "-",
                                       nets[i].type ? nets[i].type : "-", nets[i].subnet ? nets[i].subnet : "-",
                                       nets[i].gateway ? nets[i].gateway : "-");
                                cairn_hcn_network_clear(&nets[i]);
                        }
                        free(nets);
                }
        } else if (strcmp(verb, "create") == 0) {
                char *guid = NULL;
                if (cairn_hcn_namespace_create(h, &guid, &err) < 0)
                        status = fail(err);
                else
                        printf("%s\n", guid);
                free(guid);
        } else if (strcmp(verb, "delete") == 0) {
                int r = cairn_hcn_namespace_delete(h, rest[0], &err);
                if (r < 0)
                        status = fail(err);
                else if (r == 0)
                        fprintf(stderr, "cairn-hcn: namespace %s was already gone\n", rest[0]);
        } else {
                char **ids = NULL;
                if (cairn_hcn_namespace_list(h, &ids, &err) < 0) {
                        status = fail(err);
                } else {
                        for (size_t i = 0; ids[i]; i++)
                                printf("%s\n", ids[i]);
                        cairn_strv_free(ids);
                }
        }
        (void) nrest;
        cairn_hcn_close(h);
        return status;
}

const struct cairn_verb cairn_hcn_verb = {
        .name = "hcn",
        .run = cmd_hcn,
        .summary = "HCN namespaces and the CNI config for Windows containers",
        .help = usage,
};
