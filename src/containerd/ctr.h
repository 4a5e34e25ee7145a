/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Talking to containerd through its ctr client, and the formats that go
 * with it: the mount list `ctr snapshot prepare --mounts` prints (overlay
 * and bind on Linux, windows-layer on Windows), OBuilder's layerinfo file,
 * image chain IDs, and the OCI runtime configs `ctr run --config` takes.
 *
 * One struct cairn_ctr describes a containerd (its ctr binary, socket,
 * namespace, snapshotter) and whether it runs Windows containers (HCS) or
 * Linux ones.  The store, sandbox and fetcher of the containerd backend all
 * use the same one.  See docs/containerd.md.
 */
#ifndef CAIRN_CONTAINERD_CTR_H
#define CAIRN_CONTAINERD_CTR_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/compat.h"
#include "base/error.h"

struct cairn_ctr {
        char *ctr;            /* the ctr binary; "ctr" (from PATH) by default */
        char *address;        /* containerd's socket; NULL: ctr's own default */
        char *namespace;      /* NULL: "cairn", or for Windows "default", as OBuilder's HCS backend */
        char *snapshotter;    /* NULL: containerd's default */
        char *runtime;        /* NULL: ctr's default */
        char *platform;       /* images to pull: "linux/amd64", "windows/amd64" */
        char *cni_conf_dir;   /* Linux: CNI config for (network host); NULL: share the host's network */
        char *hcn_namespace;  /* Windows: the `hcn-namespace create|delete` tool */
        char *cni_state_dir;  /* Linux: the CNI plugins' state (/var/lib/cni), kept by the store */
        /* "cairn-run-TAG", TAG naming the store (its root's hash): the
         * prefix of the IDs of its run containers, by which its recovery
         * knows them from other stores' and OBuilder's in the namespace. */
        char *run_prefix;
        bool windows;         /* HCS: windows-layer snapshots, Windows OCI configs */
        /* copy=container: copies go through a tar extracted in the
         * container, as they must on Windows (a way to test that path on
         * Linux); copy=host (the default on Linux) writes them into the
         * mounted snapshot. */
        bool copy_in_container;
};

/* The run_prefix of the store at root. */
char *cairn_ctr_run_prefix(const char *root);

/* The containerd namespace c uses. */
const char *cairn_ctr_namespace(const struct cairn_ctr *c);

/* Set one "key=value" option (docs/containerd.md lists them). */
int cairn_ctr_set_option(struct cairn_ctr *c, const char *opt, struct cairn_error **err);
void cairn_ctr_clear(struct cairn_ctr *c);

/*
 * Run `ctr --address A --namespace N ARGS...` and wait.  Its stdout goes
 * to *ret_out (NULL to discard).  A non-zero exit is an error quoting the
 * command and what ctr said; the code is -ENOENT when ctr said "not found"
 * (a missing snapshot, image or container), -EEXIST for "already exists",
 * else -EIO.
 */
int cairn_ctr_run(const struct cairn_ctr *c, const char *const *args, char **ret_out, struct cairn_error **err);
/* The same with the arguments inline, NULL-terminated. */
int cairn_ctr(const struct cairn_ctr *c, char **ret_out, struct cairn_error **err, ...) __attribute__((sentinel));

/* Remove container id and its task, whatever state they are in (a run
 * that failed to start leaves both); errors are ignored. */
void cairn_ctr_remove_container(const struct cairn_ctr *c, const char *id);

/*
 * `snapshot` commands get --snapshotter when one is set.
 *
 * argv for a long-running ctr command (`ctr run`), global options first:
 * NULL-terminated, the strings owned by the array (cairn_strv_free).
 */
char **cairn_ctr_argv(const struct cairn_ctr *c, const char *const *args);

/* `ctr snapshot ls`: every snapshot's key, parent ("" for none) and kind
 * ("Active", "Committed", "View"). */
struct cairn_ctr_snapshot {
        char *key;
        char *parent;
        char *kind;
};
int cairn_ctr_snapshots(const struct cairn_ctr *c, struct cairn_ctr_snapshot **ret, size_t *ret_n,
                        struct cairn_error **err);
void cairn_ctr_snapshots_free(struct cairn_ctr_snapshot *v, size_t n);
/* Parse that listing (for tests). */
void cairn_ctr_parse_snapshots(const char *text, struct cairn_ctr_snapshot **ret, size_t *ret_n);

/* --- mounts --------------------------------------------------------------- */

struct cairn_ctr_mount {
        char *type;           /* "overlay", "bind", "windows-layer" */
        char *source;
        char **options;       /* NULL-terminated */
};

/*
 * Parse what `ctr snapshot prepare --mounts` prints: a JSON array of
 * {"Type","Source","Options"} (containerd 2.x adds "Target").  *ret is
 * NULL-terminated by a zeroed entry.
 */
int cairn_ctr_parse_mounts(const char *json, struct cairn_ctr_mount **ret, size_t *ret_n, struct cairn_error **err);
void cairn_ctr_mounts_free(struct cairn_ctr_mount *m, size_t n);
/* The value of option "name=..." of m, or NULL. */
const char *cairn_ctr_mount_option(const struct cairn_ctr_mount *m, const char *name);

/* Remove snapshot key; one that is not there is fine. */
int cairn_ctr_snapshot_rm(const struct cairn_ctr *c, const char *key, struct cairn_error **err);

/*
 * Prepare snapshot key (removing any stale one first) from parent, and
 * save its layerinfo at layerinfo_path.  The mounts are returned in *ret_m
 * (cairn_ctr_mounts_free) when ret_m is not NULL.
 */
int cairn_ctr_prepare(const struct cairn_ctr *c, const char *key, const char *parent, const char *layerinfo_path,
                      struct cairn_ctr_mount **ret_m, size_t *ret_n, struct cairn_error **err);

/* --- layerinfo (reference 10.1) -------------------------------------------- */

/*
 * What a result's snapshot is: its containerd key, its own directory and
 * its parents' directories, nearest first.  On Windows these are the
 * layerFolders of a run; on Linux (overlayfs snapshotter) each directory
 * holds one layer's changes.  Saved as OBuilder's sexp `layerinfo` file.
 */
struct cairn_layerinfo {
        char *snapshot_key;
        char *source;
        char **parents;       /* NULL-terminated */
};

/*
 * From a prepared snapshot's mounts: windows-layer (Source, and the JSON
 * array in parentLayerPaths=), overlay (upperdir's and lowerdir's
 * directories, which are the snapshots' fs directories) or bind (Source).
 */
int cairn_layerinfo_from_mounts(const struct cairn_ctr_mount *m, size_t n, const char *key,
                                struct cairn_layerinfo *ret, struct cairn_error **err);
/* The file's text: a sexp that OBuilder's reader (Sexp.load_sexp) reads back to the same
 * record; the line breaks differ from sexplib's printer for long paths. */
char *cairn_layerinfo_format(const struct cairn_layerinfo *li);
int cairn_layerinfo_parse(const char *path, const char *text, size_t len, struct cairn_layerinfo *ret,
                          struct cairn_error **err);
/* Read DIR/rootfs/layerinfo, else DIR/layerinfo (as OBuilder's reader):
 * returns 1 and fills *ret, or 0 when neither exists. */
int cairn_layerinfo_load(const char *dir, struct cairn_layerinfo *ret, struct cairn_error **err);
int cairn_layerinfo_save(const char *path, const struct cairn_layerinfo *li, struct cairn_error **err);
void cairn_layerinfo_clear(struct cairn_layerinfo *li);

/* --- images ----------------------------------------------------------------- */

/* The chain ID of layers with these diff IDs ("sha256:HEX" each), written
 * as "sha256:HEX" into out: containerd names an unpacked image's top
 * snapshot by it. */
int cairn_chain_id(const char *const *diff_ids, size_t n, char out[72], struct cairn_error **err);

/* --- OCI runtime configs ------------------------------------------------------ */

struct cairn_oci_mount {
        const char *src;
        const char *dst;
        bool readonly;
};

struct cairn_oci_spec {
        const char *const *argv;
        const char *const *env;          /* "K=V" */
        const char *cwd;
        uid_t uid;                       /* Linux */
        gid_t gid;
        const char *username;            /* Windows: ContainerAdministrator when NULL */
        const char *hostname;
        const char *root_path;           /* Linux: the mounted root filesystem */
        const char *const *layer_folders;   /* Windows: parents nearest first, then the scratch */
        const char *network_namespace;   /* Windows: the HCN namespace of a (network host) run */
        bool host_network;               /* Linux: share the host's network namespace */
        const struct cairn_oci_mount *mounts;
        size_t n_mounts;
        /* Linux: linux.resources, as the native sandbox's limits (0: no
         * limit; pids: 0 for CAIRN_DEFAULT_PIDS_LIMIT, -1 for none). */
        unsigned long long memory;
        long pids;                       /* 0: the default; -1: none */
        double cpus;
};

/* config.json for runc (compact JSON, the caller frees). */
char *cairn_oci_config_linux(const struct cairn_oci_spec *s);
/* config.json for HCS, in the shape of OBuilder's Json_config (reference
 * 10.3), with what hcsshim reads for process isolation: mounts without a
 * type, "ro" their only option; process.commandLine for a cmd /S /C step. */
char *cairn_oci_config_windows(const struct cairn_oci_spec *s);
/* The command line for argv when it is `cmd /S /C STRING` (any case):
 * `cmd /S /C "STRING"`, which reaches cmd.exe with STRING's quotes as
 * written; NULL for any other argv (the caller frees). */
char *cairn_windows_command_line(const char *const *argv);

/* The nanoserver image for a Windows host of build `build` (its registry's
 * CurrentBuild): as OBuilder's healthcheck, ltsc2019 for 17763, ltsc2022
 * for 20348, ltsc2025 for 26100 and when unknown (0); for the builds in
 * between, the newest not newer than the host. */
const char *cairn_nanoserver_image(unsigned build);

#endif
