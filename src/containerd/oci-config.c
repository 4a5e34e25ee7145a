/* SPDX-License-Identifier: Apache-2.0 */
/* OCI runtime configs for `ctr run --config`. */
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "containerd/ctr.h"

static json_t *strings(const char *const *v)
{
        json_t *a = json_array();
        for (size_t i = 0; v && v[i]; i++)
                json_array_append_new(a, json_string(v[i]));
        return a;
}

static json_t *strings_n(size_t n, ...)
{
        json_t *a = json_array();
        va_list ap;
        va_start(ap, n);
        for (size_t i = 0; i < n; i++)
                json_array_append_new(a, json_string(va_arg(ap, const char *)));
        va_end(ap);
        return a;
}

static char *dump(json_t *j)
{
        char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(j);
        if (!s)
                abort();
        /* jansson allocates with malloc unless told otherwise. */
        return s;
}

static json_t *mount(const char *dst, const char *type, const char *src, json_t *options)
{
        json_t *m = json_object();
        json_object_set_new(m, "destination", json_string(dst));
        json_object_set_new(m, "type", json_string(type));
        json_object_set_new(m, "source", json_string(src));
        json_object_set_new(m, "options", options);
        return m;
}

/* As OBuilder's runc sandbox (reference 5.1): Docker's default
 * capabilities minus NET_RAW and NET_BIND_SERVICE. */
static const char *const caps[] = {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE", NULL,
};

static const char *const masked[] = {
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi", NULL,
};

static const char *const readonly[] = {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

char *cairn_oci_config_linux(const struct cairn_oci_spec *s)
{
        json_t *j = json_object();
        json_object_set_new(j, "ociVersion", json_string("1.0.2"));
        json_t *p = json_object();
        json_object_set_new(p, "terminal", json_false());
        json_t *user = json_object();
        json_object_set_new(user, "uid", json_integer(s->uid));
        json_object_set_new(user, "gid", json_integer(s->gid));
        json_object_set_new(p, "user", user);
        json_object_set_new(p, "args", strings(s->argv));
        json_object_set_new(p, "env", strings(s->env));
        json_object_set_new(p, "cwd", json_string(s->cwd ? s->cwd : "/"));
        json_t *c = json_object();
        static const char *const sets[] = { "bounding", "effective", "inheritable", "permitted" };
        for (size_t i = 0; i < 4; i++)
                json_object_set_new(c, sets[i], strings(caps));
        json_object_set_new(p, "capabilities", c);
        json_t *rl = json_object();
        json_object_set_new(rl, "type", json_string("RLIMIT_NOFILE"));
        json_object_set_new(rl, "hard", json_integer(1024));
        json_object_set_new(rl, "soft", json_integer(1024));
        json_t *rls = json_array();
        json_array_append_new(rls, rl);
        json_object_set_new(p, "rlimits", rls);
        json_object_set_new(p, "noNewPrivileges", json_false());
        json_object_set_new(j, "process", p);
        json_t *root = json_object();
        json_object_set_new(root, "path", json_string(s->root_path ? s->root_path : ""));
        json_object_set_new(root, "readonly", json_false());
        json_object_set_new(j, "root", root);
        json_object_set_new(j, "hostname", json_string(s->hostname ? s->hostname : "builder"));
        json_t *ms = json_array();
        json_array_append_new(ms, mount("/proc", "proc", "proc", strings_n(3, "nosuid", "noexec", "nodev")));
        json_array_append_new(ms, mount("/dev", "tmpfs", "tmpfs",
                                        strings_n(4, "nosuid", "strictatime", "mode=755", "size=65536k")));
        json_array_append_new(ms, mount("/dev/pts", "devpts", "devpts",
                                        strings_n(6, "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                                                  "gid=5")));
        json_array_append_new(ms, mount("/dev/shm", "tmpfs", "shm",
                                        strings_n(5, "nosuid", "noexec", "nodev", "mode=1777", "size=65536k")));
        json_array_append_new(ms, mount("/dev/mqueue", "mqueue", "mqueue", strings_n(3, "nosuid", "noexec", "nodev")));
        json_array_append_new(ms, mount("/sys", "sysfs", "sysfs", strings_n(4, "nosuid", "noexec", "nodev", "ro")));
        for (size_t i = 0; i < s->n_mounts; i++) {
                const struct cairn_oci_mount *m = &s->mounts[i];
                json_array_append_new(ms, mount(m->dst, "bind", m->src,
                                                m->readonly ? strings_n(3, "rbind", "rprivate", "ro")
                                                            : strings_n(4, "rbind", "rprivate", "nosuid", "nodev")));
        }
        json_object_set_new(j, "mounts", ms);
        json_t *lx = json_object();
        json_t *ns = json_array();
        static const char *const kinds[] = { "pid", "ipc", "uts", "mount", "network" };
        for (size_t i = 0; i < 5; i++) {
                if (i == 4 && s->host_network)
                        break;
                json_t *o = json_object();
                json_object_set_new(o, "type", json_string(kinds[i]));
                json_array_append_new(ns, o);
        }
        json_object_set_new(lx, "namespaces", ns);
        json_object_set_new(lx, "maskedPaths", strings(masked));
        json_object_set_new(lx, "readonlyPaths", strings(readonly));
        json_object_set_new(j, "linux", lx);
        return dump(j);
}

char *cairn_oci_config_windows(const struct cairn_oci_spec *s)
{
        json_t *j = json_object();
        json_object_set_new(j, "ociVersion", json_string("1.1.0"));
        json_t *p = json_object();
        json_object_set_new(p, "terminal", json_false());
        json_t *user = json_object();
        json_object_set_new(user, "username", json_string(s->username ? s->username : "ContainerAdministrator"));
        json_object_set_new(p, "user", user);
        json_object_set_new(p, "args", strings(s->argv));
        json_object_set_new(p, "env", strings(s->env));
        json_object_set_new(p, "cwd", json_string(s->cwd ? s->cwd : "C:\\"));
        json_object_set_new(j, "process", p);
        json_t *root = json_object();
        json_object_set_new(root, "path", json_string(""));
        json_object_set_new(root, "readonly", json_false());
        json_object_set_new(j, "root", root);
        json_object_set_new(j, "hostname", json_string(s->hostname ? s->hostname : "builder"));
        json_t *w = json_object();
        json_object_set_new(w, "layerFolders", strings(s->layer_folders));
        json_object_set_new(w, "ignoreFlushesDuringBoot", json_true());
        if (s->network_namespace) {
                json_t *n = json_object();
                json_object_set_new(n, "allowUnqualifiedDNSQuery", json_true());
                json_object_set_new(n, "networkNamespace", json_string(s->network_namespace));
                json_object_set_new(w, "network", n);
        }
        json_object_set_new(j, "windows", w);
        if (s->n_mounts) {
                json_t *ms = json_array();
                for (size_t i = 0; i < s->n_mounts; i++)
                        json_array_append_new(ms, mount(s->mounts[i].dst, "bind", s->mounts[i].src,
                                                        strings_n(3, s->mounts[i].readonly ? "ro" : "rw", "rbind",
                                                                  "rprivate")));
                json_object_set_new(j, "mounts", ms);
        }
        return dump(j);
}
