/* SPDX-License-Identifier: Apache-2.0 */
#include "containerd/ctr.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/hash.h"
#include "base/process.h"
#include "base/strbuf.h"

static const struct {
        const char *key;
        size_t offset;
} options[] = {
        { "ctr", offsetof(struct cairn_ctr, ctr) },
        { "address", offsetof(struct cairn_ctr, address) },
        { "namespace", offsetof(struct cairn_ctr, namespace) },
        { "snapshotter", offsetof(struct cairn_ctr, snapshotter) },
        { "runtime", offsetof(struct cairn_ctr, runtime) },
        { "platform", offsetof(struct cairn_ctr, platform) },
        { "cni-conf-dir", offsetof(struct cairn_ctr, cni_conf_dir) },
        { "hcn-namespace", offsetof(struct cairn_ctr, hcn_namespace) },
};

int cairn_ctr_set_option(struct cairn_ctr *c, const char *opt, struct cairn_error **err)
{
        const char *eq = strchr(opt, '=');
        if (!eq || eq == opt)
                return cairn_error_set(err, -EINVAL, "store option \"%s\": expected KEY=VALUE", opt);
        size_t klen = (size_t) (eq - opt);
        if (klen == 4 && strncmp(opt, "copy", 4) == 0) {
                if (strcmp(eq + 1, "container") != 0 && strcmp(eq + 1, "host") != 0)
                        return cairn_error_set(err, -EINVAL, "store option \"%s\": expected copy=container or copy=host",
                                               opt);
                c->copy_in_container = strcmp(eq + 1, "container") == 0;
                return 0;
        }
        if (klen == 9 && strncmp(opt, "isolation", 9) == 0) {
                if (strcmp(eq + 1, "process") == 0)
                        return 0;
                /* Under Hyper-V, hcsshim makes each mount a VSMB share of
                 * a utility VM and the layers go through that VM: none of
                 * which the configs cairn writes provide for. */
                if (strcasecmp(eq + 1, "hyperv") == 0 || strcasecmp(eq + 1, "hyper-v") == 0)
                        return cairn_error_set(err, -ENOTSUP,
                                               "store option \"%s\": Hyper-V isolation is not supported yet (the "
                                               "container configs are made for process isolation, whose host build "
                                               "must match the image's); use isolation=process",
                                               opt);
                return cairn_error_set(err, -EINVAL, "store option \"%s\": expected isolation=process", opt);
        }
        for (size_t i = 0; i < CAIRN_ARRAY_SIZE(options); i++) {
                if (strlen(options[i].key) != klen || strncmp(opt, options[i].key, klen) != 0)
                        continue;
                char **field = (char **) ((char *) c + options[i].offset);
                free(*field);
                *field = eq[1] ? cairn_xstrdup(eq + 1) : NULL;
                return 0;
        }
        struct cairn_buf names = CAIRN_BUF_INIT;
        for (size_t i = 0; i < CAIRN_ARRAY_SIZE(options); i++)
                cairn_buf_printf(&names, "%s%s", i ? ", " : "", options[i].key);
        cairn_buf_adds(&names, ", copy, isolation");
        int r = cairn_error_set(err, -EINVAL, "unknown containerd store option \"%.*s\": expected one of %s", (int) klen,
                                opt, cairn_buf_str(&names));
        cairn_buf_release(&names);
        return r;
}

void cairn_ctr_clear(struct cairn_ctr *c)
{
        free(c->cni_state_dir);
        c->cni_state_dir = NULL;
        free(c->run_prefix);
        c->run_prefix = NULL;
        for (size_t i = 0; i < CAIRN_ARRAY_SIZE(options); i++) {
                char **field = (char **) ((char *) c + options[i].offset);
                free(*field);
                *field = NULL;
        }
}

char *cairn_ctr_run_prefix(const char *root)
{
        size_t len = strlen(root);
        while (len > 1 && (root[len - 1] == '/' || root[len - 1] == '\\'))
                len--;
        char hex[CAIRN_SHA256_HEX_LEN + 1];
        cairn_sha256_hex(root, len, hex);
        /* 48 bits: the stores sharing one containerd namespace are few. */
        return cairn_xasprintf("cairn-run-%.12s", hex);
}

const char *cairn_ctr_namespace(const struct cairn_ctr *c)
{
        /* OBuilder's HCS backend uses containerd's default namespace. */
        return c->namespace ? c->namespace : c->windows ? "default" : "cairn";
}

char **cairn_ctr_argv(const struct cairn_ctr *c, const char *const *args)
{
        size_t n = cairn_strv_length(args);
        char **argv = cairn_xzalloc((n + 6) * sizeof(char *));
        size_t k = 0;
        argv[k++] = cairn_xstrdup(c->ctr ? c->ctr : "ctr");
        if (c->address)
                argv[k++] = cairn_xasprintf("--address=%s", c->address);
        argv[k++] = cairn_xasprintf("--namespace=%s", cairn_ctr_namespace(c));
        for (size_t i = 0; i < n; i++) {
                argv[k++] = cairn_xstrdup(args[i]);
                if (i == 0 && strcmp(args[0], "snapshot") == 0 && c->snapshotter)
                        argv[k++] = cairn_xasprintf("--snapshotter=%s", c->snapshotter);
        }
        return argv;
}

/* What ctr printed on stderr, as one line for a message: its last
 * non-empty line (ctr ends with "ctr: WHAT"). */
static const char *last_line(struct cairn_buf *b)
{
        if (!b->data)
                return "";
        while (b->len && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r'))
                b->data[--b->len] = '\0';
        char *nl = strrchr(b->data, '\n');
        return nl ? nl + 1 : b->data;
}

int cairn_ctr_run(const struct cairn_ctr *c, const char *const *args, char **ret_out, struct cairn_error **err)
{
        char **argv = cairn_ctr_argv(c, args);
        struct cairn_buf out = CAIRN_BUF_INIT_CAP(64 << 20), errout = CAIRN_BUF_INIT_CAP(1 << 20);
        struct cairn_process p = { .argv = (const char *const *) argv, .out = &out, .errout = &errout };
        int status = 0;
        int r = cairn_process_run(&p, &status, err);
        if (r >= 0 && status != 0) {
                struct cairn_buf cmd = CAIRN_BUF_INIT;
                cairn_buf_adds(&cmd, "ctr");
                for (size_t i = 0; args[i]; i++)
                        cairn_buf_printf(&cmd, " %s", args[i]);
                const char *said = last_line(&errout);
                char sbuf[64];
                int code = -EIO;
                if (strstr(said, "not found") || strstr(said, "does not exist"))
                        code = -ENOENT;
                else if (strstr(said, "already exists"))
                        code = -EEXIST;
                if (cairn_process_exit_code(status) == 127 && !*said)
                        said = "cannot run ctr";
                r = cairn_error_set(err, code, "`%s` failed (%s): %s", cairn_buf_str(&cmd),
                                    cairn_process_status_string(status, sbuf, sizeof(sbuf)),
                                    *said ? said : "no message");
                cairn_buf_release(&cmd);
        }
        if (r >= 0 && ret_out)
                *ret_out = out.data ? cairn_buf_steal(&out, NULL) : cairn_xstrdup("");
        cairn_buf_release(&out);
        cairn_buf_release(&errout);
        cairn_strv_free(argv);
        return r;
}

int cairn_ctr(const struct cairn_ctr *c, char **ret_out, struct cairn_error **err, ...)
{
        const char *args[32];
        size_t n = 0;
        va_list ap;
        va_start(ap, err);
        const char *a;
        while ((a = va_arg(ap, const char *)) && n < CAIRN_ARRAY_SIZE(args) - 1)
                args[n++] = a;
        va_end(ap);
        args[n] = NULL;
        return cairn_ctr_run(c, args, ret_out, err);
}

void cairn_ctr_remove_container(const struct cairn_ctr *c, const char *id)
{
        cairn_ctr(c, NULL, NULL, "task", "delete", "--force", id, NULL);
        cairn_ctr(c, NULL, NULL, "containers", "rm", id, NULL);
}

void cairn_ctr_parse_snapshots(const char *text, struct cairn_ctr_snapshot **ret, size_t *ret_n)
{
        struct cairn_ctr_snapshot *v = NULL;
        size_t n = 0;
        char *copy = cairn_xstrdup(text), *save = NULL;
        bool header = true;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *f[4] = { 0 }, *fs = NULL;
                size_t nf = 0;
                for (char *w = strtok_r(line, " \t\r", &fs); w && nf < 4; w = strtok_r(NULL, " \t\r", &fs))
                        f[nf++] = w;
                if (header) {
                        header = false;
                        if (nf && strcmp(f[0], "KEY") == 0)
                                continue;
                }
                if (nf < 2 || nf > 3)
                        continue;
                v = cairn_xreallocarray(v, n + 1, sizeof(*v));
                /* An empty parent column leaves two fields. */
                v[n++] = (struct cairn_ctr_snapshot) { cairn_xstrdup(f[0]), cairn_xstrdup(nf == 3 ? f[1] : ""),
                                                       cairn_xstrdup(f[nf - 1]) };
        }
        free(copy);
        *ret = v;
        *ret_n = n;
}

int cairn_ctr_snapshots(const struct cairn_ctr *c, struct cairn_ctr_snapshot **ret, size_t *ret_n,
                        struct cairn_error **err)
{
        _cleanup_free_ char *out = NULL;
        int r = cairn_ctr(c, &out, err, "snapshot", "ls", NULL);
        if (r < 0)
                return r;
        cairn_ctr_parse_snapshots(out, ret, ret_n);
        return 0;
}

void cairn_ctr_snapshots_free(struct cairn_ctr_snapshot *v, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(v[i].key);
                free(v[i].parent);
                free(v[i].kind);
        }
        free(v);
}
