/* SPDX-License-Identifier: Apache-2.0 */
/* OCI runtime configs for `ctr run --config`. */
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/strbuf.h"
#include "containerd/ctr.h"
#include "sandbox/sandbox.h"

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_seq(const unsigned char *p)
{
        unsigned char c = p[0];
        if (c < 0x80)
                return 1;
        unsigned char lo = 0x80, hi = 0xbf;
        size_t n;
        /* RFC 3629: no overlong forms, surrogates or code points past
         * U+10FFFF, which jansson refuses as well. */
        if (c >= 0xc2 && c <= 0xdf) {
                n = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
                n = 3;
                lo = c == 0xe0 ? 0xa0 : 0x80;
                hi = c == 0xed ? 0x9f : 0xbf;
        } else if (c >= 0xf0 && c <= 0xf4) {
                n = 4;
                lo = c == 0xf0 ? 0x90 : 0x80;
                hi = c == 0xf4 ? 0x8f : 0xbf;
        } else {
                return 0;
        }
        if (p[1] < lo || p[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if (p[i] < 0x80 || p[i] > 0xbf)
                        return 0;
        return n;
}

/*
 * A JSON string.  json_string() refuses bytes that are not UTF-8 and
 * returns NULL, which json_array_append_new() and json_object_set_new()
 * drop without a word: an argument like "echo caf\xe9" would vanish from
 * the command.  Replace each such byte with U+FFFD instead, as Go's JSON
 * decoder in ctr does with invalid bytes.
 */
static json_t *text(const char *s)
{
        json_t *j = json_string(s);
        if (j || !s)
                return j;
        struct cairn_buf b = CAIRN_BUF_INIT;
        for (const unsigned char *p = (const unsigned char *) s; *p;) {
                size_t n = utf8_seq(p);
                if (n) {
                        cairn_buf_add(&b, (const char *) p, n);
                        p += n;
                } else {
                        cairn_buf_adds(&b, "\xef\xbf\xbd");
                        p++;
                }
        }
        j = json_string(cairn_buf_str(&b));
        cairn_buf_release(&b);
        return j;
}

static json_t *strings(const char *const *v)
{
        json_t *a = json_array();
        for (size_t i = 0; v && v[i]; i++)
                json_array_append_new(a, text(v[i]));
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
        json_object_set_new(m, "destination", text(dst));
        json_object_set_new(m, "type", json_string(type));
        json_object_set_new(m, "source", text(src));
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
        json_object_set_new(p, "cwd", text(s->cwd ? s->cwd : "/"));
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
        json_object_set_new(root, "path", text(s->root_path ? s->root_path : ""));
        json_object_set_new(root, "readonly", json_false());
        json_object_set_new(j, "root", root);
        json_object_set_new(j, "hostname", text(s->hostname ? s->hostname : "builder"));
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
        /* The step's limits, as the native sandbox applies them (runc puts
         * the container in a cgroup of its own and kills it all at the end). */
        json_t *res = json_object();
        long pids = s->pids ? s->pids : CAIRN_DEFAULT_PIDS_LIMIT;
        if (pids > 0) {
                json_t *pl = json_object();
                json_object_set_new(pl, "limit", json_integer(pids));
                json_object_set_new(res, "pids", pl);
        }
        if (s->memory) {
                json_t *m = json_object();
                json_object_set_new(m, "limit", json_integer((json_int_t) s->memory));
                json_object_set_new(m, "swap", json_integer((json_int_t) s->memory));
                json_object_set_new(res, "memory", m);
        }
        if (s->cpus > 0) {
                json_t *cpu = json_object();
                json_object_set_new(cpu, "quota", json_integer((json_int_t) (s->cpus * 100000)));
                json_object_set_new(cpu, "period", json_integer(100000));
                json_object_set_new(res, "cpu", cpu);
        }
        json_object_set_new(lx, "resources", res);
        json_object_set_new(lx, "maskedPaths", strings(masked));
        json_object_set_new(lx, "readonlyPaths", strings(readonly));
        json_object_set_new(j, "linux", lx);
        return dump(j);
}

char *cairn_windows_command_line(const char *const *argv)
{
        size_t n = cairn_strv_length(argv);
        if (n != 4 || (strcasecmp(argv[0], "cmd") != 0 && strcasecmp(argv[0], "cmd.exe") != 0) ||
            strcasecmp(argv[1], "/S") != 0 || strcasecmp(argv[2], "/C") != 0)
                return NULL;
        /* /S: cmd drops the first quote after /C and the last one on the
         * line and runs what is between as it stands. */
        return cairn_xasprintf("%s %s %s \"%s\"", argv[0], argv[1], argv[2], argv[3]);
}

char *cairn_oci_config_windows(const struct cairn_oci_spec *s)
{
        json_t *j = json_object();
        json_object_set_new(j, "ociVersion", json_string("1.1.0"));
        json_t *p = json_object();
        json_object_set_new(p, "terminal", json_false());
        json_t *user = json_object();
        json_object_set_new(user, "username", text(s->username ? s->username : "ContainerAdministrator"));
        json_object_set_new(p, "user", user);
        json_object_set_new(p, "args", strings(s->argv));
        /* hcsshim takes commandLine as it is, and else joins args with
         * Windows' argv quoting (\" for a quote), which cmd does not
         * read. */
        char *cl = cairn_windows_command_line(s->argv);
        if (cl)
                json_object_set_new(p, "commandLine", text(cl));
        free(cl);
        json_object_set_new(p, "env", strings(s->env));
        json_object_set_new(p, "cwd", text(s->cwd ? s->cwd : "C:\\"));
        json_object_set_new(j, "process", p);
        json_t *root = json_object();
        json_object_set_new(root, "path", json_string(""));
        json_object_set_new(root, "readonly", json_false());
        json_object_set_new(j, "root", root);
        json_object_set_new(j, "hostname", text(s->hostname ? s->hostname : "builder"));
        json_t *w = json_object();
        json_object_set_new(w, "layerFolders", strings(s->layer_folders));
        json_object_set_new(w, "ignoreFlushesDuringBoot", json_true());
        if (s->network_namespace) {
                json_t *n = json_object();
                json_object_set_new(n, "allowUnqualifiedDNSQuery", json_true());
                json_object_set_new(n, "networkNamespace", text(s->network_namespace));
                json_object_set_new(w, "network", n);
        }
        json_object_set_new(j, "windows", w);
        if (s->n_mounts) {
                /* As hcsshim reads a mount for process isolation
                 * (internal/hcsoci/hcsdoc_wcow.go): a mapped directory,
                 * which it refuses with any "type" set, read-only when an
                 * option is "ro", every other option ignored; as
                 * containerd's CRI writes them. */
                json_t *ms = json_array();
                for (size_t i = 0; i < s->n_mounts; i++) {
                        json_t *m = json_object();
                        json_object_set_new(m, "destination", text(s->mounts[i].dst));
                        json_object_set_new(m, "source", text(s->mounts[i].src));
                        if (s->mounts[i].readonly)
                                json_object_set_new(m, "options", strings_n(1, "ro"));
                        json_array_append_new(ms, m);
                }
                json_object_set_new(j, "mounts", ms);
        }
        return dump(j);
}

const char *cairn_nanoserver_image(unsigned build)
{
        /* The newest LTSC image not newer than the host (a Windows 11 host,
         * build 22000 and up, runs ltsc2022); ltsc2025 when unknown. */
        if (build >= 26100 || build == 0)
                return "mcr.microsoft.com/windows/nanoserver:ltsc2025";
        if (build >= 20348)
                return "mcr.microsoft.com/windows/nanoserver:ltsc2022";
        if (build >= 17763)
                return "mcr.microsoft.com/windows/nanoserver:ltsc2019";
        return "mcr.microsoft.com/windows/nanoserver:ltsc2025";
}
