/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The containerd sandbox: one `ctr run --rm --config config.json ID` per
 * step, on the snapshot the containerd store prepared.
 *
 * Linux: the store has mounted the snapshot at cfg->rootfs, which becomes
 * root.path (with --config, ctr passes no rootfs of its own).  The config
 * is runc's as OBuilder writes it (reference 5.1).  (network host) shares
 * the host's network, or, when the store has a cni-conf-dir, gives the
 * container its own network namespace set up by `--cni` from that
 * directory: ctr reads only the fixed /etc/cni/net.d, so ctr runs in a
 * private mount namespace where the directory is mounted there.
 *
 * Windows (HCS): layerFolders come from the step's layerinfo, and
 * (network host) gets an HCN namespace made by the hcn-namespace tool
 * before the run and deleted after it, always.
 *
 * Never through ctr's stdin (containerd#4489 loses a short input's EOF):
 * stdin is /dev/null.  Cancel with `ctr task kill -s SIGKILL` (ctr forwards
 * SIGTERM to PID 1, which ignores it).  After a failed run the task and
 * container are removed, since a failed CNI setup leaves both behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/process.h"
#include "base/strbuf.h"
#include "base/units.h"
#include "containerd/ctr.h"
#include "containerd/cni.h"
#include "sandbox/sandbox.h"

struct kill_arg {
        const struct cairn_ctr *ctr;
        const char *id;
};

static void kill_task(void *ud)
{
        struct kill_arg *k = ud;
        struct cairn_error *e = NULL;
        if (cairn_ctr(k->ctr, NULL, &e, "task", "kill", "-s", "SIGKILL", k->id, NULL) < 0) {
                cairn_debug("%s", e->message);
                cairn_error_free(e);
        }
}

/* The hcn-namespace tool: `create` prints a GUID, `delete GUID`. */
static int hcn_namespace(const struct cairn_ctr *c, const char *verb, const char *guid, char **ret_guid,
                         struct cairn_error **err)
{
        const char *tool = c->hcn_namespace ? c->hcn_namespace : "hcn-namespace";
        const char *argv[] = { tool, verb, guid, NULL };
        struct cairn_buf out = CAIRN_BUF_INIT_CAP(1 << 16), errout = CAIRN_BUF_INIT_CAP(1 << 16);
        struct cairn_process p = { .argv = argv, .out = &out, .errout = &errout };
        int status = 0;
        int r = cairn_process_run(&p, &status, err);
        if (r >= 0 && status != 0) {
                char sbuf[64];
                r = cairn_error_set(err, -EIO, "`%s %s%s%s` failed (%s): %s", tool, verb, guid ? " " : "",
                                    guid ? guid : "", cairn_process_status_string(status, sbuf, sizeof(sbuf)),
                                    errout.data ? errout.data : "no message");
        }
        if (r >= 0 && ret_guid) {
                char *g = out.data ? out.data : "";
                g += strspn(g, " \t\r\n");
                size_t n = strcspn(g, " \t\r\n");
                if (n == 0 || n > 64)
                        r = cairn_error_set(err, -EIO, "`%s create` printed no namespace GUID", tool);
                else
                        *ret_guid = cairn_xstrndup(g, n);
        }
        cairn_buf_release(&out);
        cairn_buf_release(&errout);
        return r;
}

static int run(const struct cairn_sandbox_config *cfg, int *ret_status, struct cairn_error **err)
{
        static unsigned long counter;
        const struct cairn_ctr *c = cfg->backend;
        if (!c)
                return cairn_error_set(err, -EINVAL, "the containerd sandbox needs the containerd store");
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        /* Unique across the processes sharing a containerd namespace, and
         * named after the store, whose recovery removes what a crash
         * leaves. */
        _cleanup_free_ char *id = cairn_xasprintf("%s-%d-%lu-%lx", c->run_prefix ? c->run_prefix : "cairn-run", (int) getpid(),
                                                  __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED),
                                                  (unsigned long) (now.tv_nsec ^ now.tv_sec));
        /* In the step's temporary result when there is one, so that what
         * a crash leaves is wiped by the store's recovery. */
        _cleanup_free_ char *tmp = cfg->result_dir ? cairn_path_join(cfg->result_dir, ".run-XXXXXX")
                                                   : cairn_xstrdup("/tmp/cairn-ctr-XXXXXX");
        if (!mkdtemp(tmp))
                return cairn_error_set_errno(err, errno, "cannot create a directory for the container's config");
        _cleanup_free_ char *hosts = cairn_path_join(tmp, "hosts");
        _cleanup_free_ char *config_path = cairn_path_join(tmp, "config.json");
        _cleanup_free_ char *cni_state = c->cni_state_dir ? cairn_xstrdup(c->cni_state_dir) : cairn_path_join(tmp, "cni");
        _cleanup_free_ char *netns = NULL;
        _cleanup_free_ char *config = NULL;
        struct cairn_layerinfo li = { 0 };
        const char **folders = NULL;
        bool use_cni = false;
        struct cairn_oci_mount *mounts = cairn_xzalloc((cfg->n_mounts + 2) * sizeof(*mounts));
        size_t nm = 0;
        int r = 0;
        struct cairn_oci_spec spec = {
                .argv = cfg->argv, .env = cfg->env, .cwd = cfg->cwd, .uid = cfg->uid, .gid = cfg->gid,
                .username = cfg->user_name, .hostname = cfg->hostname, .root_path = cfg->rootfs,
                .memory = cfg->limits ? cfg->limits->memory : 0, .pids = cfg->limits ? cfg->limits->pids : 0,
                .cpus = cfg->limits ? cfg->limits->cpus : 0,
        };
        if (!c->windows) {
                static const char hosts_text[] = "127.0.0.1 localhost builder\n";
                if ((r = cairn_write_file(hosts, hosts_text, sizeof(hosts_text) - 1, 0644, err)) < 0)
                        goto out;
                mounts[nm++] = (struct cairn_oci_mount) { hosts, "/etc/hosts", true };
                if (cfg->network_host) {
                        mounts[nm++] = (struct cairn_oci_mount) { "/etc/resolv.conf", "/etc/resolv.conf", true };
                        use_cni = c->cni_conf_dir != NULL;
                        spec.host_network = !use_cni;
                }
                for (size_t i = 0; i < cfg->n_mounts; i++)
                        mounts[nm++] = (struct cairn_oci_mount) { cfg->mounts[i].src, cfg->mounts[i].dst,
                                                                  cfg->mounts[i].readonly };
                spec.mounts = mounts;
                spec.n_mounts = nm;
                config = cairn_oci_config_linux(&spec);
        } else {
                int found = cfg->result_dir ? cairn_layerinfo_load(cfg->result_dir, &li, err) : 0;
                if (found < 0) {
                        r = found;
                        goto out;
                }
                if (found == 0) {
                        r = cairn_error_set(err, -ENOENT, "No layerinfo found in %s",
                                            cfg->result_dir ? cfg->result_dir : "(none)");
                        goto out;
                }
                size_t n = cairn_strv_length((const char *const *) li.parents);
                folders = cairn_xzalloc((n + 2) * sizeof(char *));
                for (size_t i = 0; i < n; i++)
                        folders[i] = li.parents[i];
                folders[n] = li.source;
                spec.layer_folders = folders;
                for (size_t i = 0; i < cfg->n_mounts; i++)
                        mounts[nm++] = (struct cairn_oci_mount) { cfg->mounts[i].src, cfg->mounts[i].dst,
                                                                  cfg->mounts[i].readonly };
                spec.mounts = mounts;
                spec.n_mounts = nm;
                if (cfg->network_host) {
                        if ((r = hcn_namespace(c, "create", NULL, &netns, err)) < 0)
                                goto out;
                        spec.network_namespace = netns;
                        use_cni = true;
                }
                config = cairn_oci_config_windows(&spec);
        }
        if ((r = cairn_write_file(config_path, config, strlen(config), 0600, err)) < 0)
                goto out;
        cairn_debug("container %s: %s", id, config);
        {
                const char *args[12];
                size_t k = 0;
                args[k++] = "run";
                args[k++] = "--rm";
                if (use_cni)
                        args[k++] = "--cni";
                _cleanup_free_ char *runtime = c->runtime ? cairn_xasprintf("--runtime=%s", c->runtime) : NULL;
                if (runtime)
                        args[k++] = runtime;
                args[k++] = "--config";
                args[k++] = config_path;
                args[k++] = id;
                args[k] = NULL;
                char **argv = cairn_ctr_argv(c, args);
                struct cairn_cni_setup cs = { c->cni_conf_dir, cni_state };
                struct kill_arg ka = { c, id };
                bool timed_out = false;
                struct cairn_process p = {
                        .argv = (const char *const *) argv, .merge_stderr = true,
                        .output = cfg->output, .userdata = cfg->userdata,
                        .cancel = cfg->cancel, .on_cancel = kill_task, .cancel_userdata = &ka,
                        .timeout_ms = cfg->limits ? cfg->limits->timeout_ms : 0, .ret_timed_out = &timed_out,
                };
                if (use_cni && !c->windows) {
                        if ((r = cairn_mkdir_p(cni_state, 0700, err)) < 0 ||
                            (r = cairn_mkdir_p(CAIRN_CNI_CONF_DIR, 0755, err)) < 0 ||
                            (r = cairn_mkdir_p(CAIRN_CNI_STATE_DIR, 0755, err)) < 0) {
                                cairn_strv_free(argv);
                                goto out;
                        }
                        p.child_setup = cairn_cni_child_setup;
                        p.setup_userdata = &cs;
                }
                int status = 0;
                r = cairn_process_run(&p, &status, err);
                cairn_strv_free(argv);
                bool cancelled = cfg->cancel && *cfg->cancel;
                /* --rm removes the container of a run that started; a
                 * failed start (CNI, say) leaves it, and the task. */
                if (r < 0 || status != 0 || cancelled || timed_out)
                        cairn_ctr_remove_container(c, id);
                char shown[64];
                if (r >= 0 && cancelled)
                        r = cairn_error_set(err, -ECANCELED, "cancelled");
                else if (r >= 0 && timed_out)
                        r = cairn_error_set(err, -ETIMEDOUT, "killed: timed out after %s",
                                            cairn_format_duration_ms(cfg->limits->timeout_ms, shown, sizeof(shown)));
                if (r >= 0)
                        *ret_status = status;
        }
out:
        if (netns) {
                struct cairn_error *e = NULL;
                if (hcn_namespace(c, "delete", netns, NULL, &e) < 0) {
                        cairn_warn("%s", e->message);
                        cairn_error_free(e);
                }
        }
        cairn_layerinfo_clear(&li);
        free(folders);
        free(mounts);
        cairn_rm_rf(tmp, NULL);
        return r;
}

const struct cairn_sandbox_ops cairn_sandbox_containerd_ops = {
        .kind = "containerd",
        .run = run,
};
