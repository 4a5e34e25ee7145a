/* SPDX-License-Identifier: Apache-2.0 */
/* The btrfs store's checks before it touches anything (store/btrfs.c): the
 * kernel it needs, and a path that is not on btrfs.  Its subvolume work
 * needs root and a btrfs filesystem: tests/integration/build.sh
 * (build-btrfs) and obuilder-btrfs.sh test that. */
#include <errno.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "base/alloc.h"
#include "store/store-backend.h"
#include "tap.h"

int main(void)
{
        static const struct {
                const char *release;
                bool ok;
        } kernels[] = {
                { "5.8.0", true },           { "5.10.0-28-amd64", true }, { "6.1.0", true },
                { "6.18.44-fc-v1272", true }, { "10.0", true },           { "5.7.19", false },
                { "4.19.0-26-amd64", false }, { "5", false },             { "", false },
                { "x.y", false },            { "5.", false },
        };
        for (size_t i = 0; i < sizeof(kernels) / sizeof(kernels[0]); i++)
                is_int(cairn_store_btrfs_kernel_ok(kernels[i].release), kernels[i].ok, "kernel \"%s\" %s",
                       kernels[i].release, kernels[i].ok ? "is enough" : "is refused");

        char dir[] = "/tmp/cairn-test-btrfs.XXXXXX";
        ok(mkdtemp(dir) != NULL, "a temporary directory");
        struct statfs sf;
        struct utsname u;
        uname(&u);
        if (statfs(dir, &sf) == 0 && (unsigned long) sf.f_type != (unsigned long) BTRFS_SUPER_MAGIC &&
            cairn_store_btrfs_kernel_ok(u.release)) {
                char *root = cairn_xasprintf("%s/store", dir);
                char *spec = cairn_xasprintf("btrfs:%s", root);
                struct cairn_store *s = NULL;
                struct cairn_error *err = NULL;
                int r = cairn_store_open(&cairn_store_btrfs_ops, spec, root, NULL, &s, &err);
                is_int(r, -ENOTSUP, "opening a btrfs store off btrfs fails");
                has_str(err ? err->message : "", "is not on a btrfs filesystem", "saying so");
                has_str(err ? err->message : "", "mkfs.btrfs", "and how to make one");
                struct stat st;
                ok(stat(root, &st) < 0 && errno == ENOENT, "without making anything there");
                cairn_error_free(err);
                free(root);
                free(spec);
        } else {
                tap_skip("the temporary directory is on btrfs (or the kernel is too old)", "open off btrfs");
        }
        rmdir(dir);
        return tap_done();
}
