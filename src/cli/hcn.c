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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "base/alloc.h"
#include "base/error.h"
#include "base/file.h"
#include "cli/cli.h"
#include "hcn/hcn.h"
#include "base/win.h"

#define DEFAULT_CNI_CONF "C:\\Program Files\\containerd\\cni\\conf\\0-containerd-nat.conf"

static const char usage[] =
        "Usage: cairn-hcn namespace create | namespace delete GUID | namespace list\n"
        "       cairn-hcn network list\n"
        "       cairn-hcn cni-config [--network NAME] [--out PATH] [--check]\n"
        "       cairn-hcn create | delete GUID     (OBuilder's hcn-namespace)\n"
        "\n"
        "namespace create prints the new namespace's GUID.  cni-config writes the\n"
        "containerd CNI config for the NAT network's subnet and gateway, as read\n"
        "from HNS (default " DEFAULT_CNI_CONF "), only when it\n"
        "changed; with --check it writes nothing and exits 1 if the file is not\n"
        "up to date.\n";

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
        const struct cairn_hcn_network *nat = NULL;
        for (size_t i = 0; i < n && !nat; i++)
                if (cairn_hcn_network_is_nat(&nets[i], network))
                        nat = &nets[i];
        int status = 0;
        if (!nat) {
                fprintf(stderr,
                        "cairn-hcn: no %s%s%s network in HNS: is Docker, or Windows' Containers feature, set up "
                        "(it creates the NAT network at boot)?\n",
                        network ? "\"" : "NAT", network ? network : "", network ? "\"" : "");
                status = 1;
        } else if (!nat->subnet || !nat->gateway) {
                fprintf(stderr, "cairn-hcn: the network \"%s\" has no subnet or gateway in its IPAM settings\n",
                        nat->name ? nat->name : "?");
                status = 1;
        } else {
                const char *name = nat->name ? nat->name : "nat";
                size_t len = 0;
                char *have = read_small_file(out, &len);
                if (have && cairn_hcn_cni_config_matches(have, len, name, nat->subnet, nat->gateway)) {
                        printf("%s is up to date (subnet %s, gateway %s)\n", out, nat->subnet, nat->gateway);
                } else if (check) {
                        printf("%s is %s: the %s network has subnet %s, gateway %s\n", out,
                               have ? "out of date" : "missing", name, nat->subnet, nat->gateway);
                        status = 1;
                } else {
                        char *text = cairn_hcn_cni_config(name, nat->subnet, nat->gateway);
                        if (cairn_write_file_atomic(out, text, strlen(text), &err) < 0)
                                status = fail(err);
                        else
                                printf("%s written (subnet %s, gateway %s)\n", out, nat->subnet, nat->gateway);
                        free(text);
                }
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
