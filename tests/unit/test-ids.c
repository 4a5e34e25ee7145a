/* SPDX-License-Identifier: Apache-2.0 */
/* Step IDs against the values published in the OBuilder reference
 * (section 2).  Portable: also built for Windows and run under wine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/strbuf.h"
#include "engine/ids.h"
#include "manifest/manifest.h"
#include "tap.h"

static void test_base_ids(void)
{
        char id[65];
        cairn_base_id("busybox", id);
        is_str(id, "9d75f0d7c398df565d7ac04c6819b62d6d8f9560f5eb4672596ecd8f7e96ae91", "reference 2.1: base ID of busybox");
        cairn_base_id("mcr.microsoft.com/windows/servercore:ltsc2022", id);
        ok(strncmp(id, "bc3bc840", 8) == 0 && strcmp(id + 59, "aef1d") == 0,
           "reference 2.5: base ID of servercore:ltsc2022 is bc3bc840...aef1d (%s)", id);
        ok(cairn_is_sha256_hex(id) && !cairn_is_sha256_hex("ABC") && !cairn_is_sha256_hex(
                   "9D75f0d7c398df565d7ac04c6819b62d6d8f9560f5eb4672596ecd8f7e96ae91"), "ID syntax check");
}

static void test_run_ids(void)
{
        struct cairn_spec_user root = { .by_name = false, .uid = 0, .gid = 0 };
        struct cairn_env_var path = { "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };
        const char *sh[] = { "/bin/sh", "-c" };
        struct cairn_run_key k = {
                .base = "9d75f0d7c398df565d7ac04c6819b62d6d8f9560f5eb4672596ecd8f7e96ae91",
                .workdir = "/", .user = &root, .env = &path, .n_env = 1, .cmd = "echo healthcheck",
                .shell = sh, .n_shell = 2,
        };
        char id[65];
        struct cairn_buf mach = CAIRN_BUF_INIT;
        cairn_run_id(&k, id, &mach);
        is_str(cairn_buf_str(&mach),
               "((base 9d75f0d7c398df565d7ac04c6819b62d6d8f9560f5eb4672596ecd8f7e96ae91)(workdir /)(user((uid 0)(gid 0)))"
               "(env((PATH /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)))(cmd\"echo healthcheck\")"
               "(shell(/bin/sh -c))(network())(mount_secrets()))",
               "reference 2.2: the run key serialisation");
        is_str(id, "849be1f0bfad511b4bb7fa02312079870a5dda1d6b57b57c90913b9482305987", "reference 2.2: the run ID");

        /* The Windows trace of reference 2.5: two Docker-builder steps. */
        char base[65], step1[65], step2[65];
        cairn_base_id("mcr.microsoft.com/windows/servercore:ltsc2022", base);
        struct cairn_spec_user admin = { .by_name = true, .name = "ContainerAdministrator" };
        const char *cmd[] = { "cmd", "/S", "/C" };
        struct cairn_run_key w = { .base = base, .workdir = "C:/", .user = &admin, .cmd = "echo hello > world",
                                   .shell = cmd, .n_shell = 3 };
        cairn_run_id(&w, step1, NULL);
        ok(strncmp(step1, "ac4488b2", 8) == 0 && strcmp(step1 + 60, "b2bd") == 0,
           "reference 2.5: Windows step 1 is ac4488b2...b2bd (%s)", step1);
        w.base = step1;
        w.cmd = "type world";
        cairn_run_id(&w, step2, NULL);
        ok(strncmp(step2, "7332a056", 8) == 0 && strcmp(step2 + 60, "1153") == 0,
           "reference 2.5: Windows step 2 is 7332a056...1153 (%s)", step2);

        /* Secrets: values included, reverse order; network listed. */
        struct cairn_secret_value secrets[] = { { "s3cr3t\n", 7, "/run/secrets/t" }, { "x", 1, "/b" } };
        const char *net[] = { "host" };
        k.secrets = secrets;
        k.n_secrets = 2;
        k.network = net;
        k.n_network = 1;
        cairn_buf_reset(&mach);
        char with_secrets[65];
        cairn_run_id(&k, with_secrets, &mach);
        has_str(cairn_buf_str(&mach),
                "(network(host))(mount_secrets(((value x)(target /b))((value\"s3cr3t\\n\")(target /run/secrets/t)))))",
                "secrets are hashed with their values, last first");
        ok(strcmp(with_secrets, id) != 0, "secrets change the ID");
        secrets[0].value = "other";
        secrets[0].len = 5;
        char rotated[65];
        cairn_run_id(&k, rotated, NULL);
        ok(strcmp(rotated, with_secrets) != 0, "a new secret value changes the ID (as in OBuilder)");
        cairn_buf_release(&mach);
}

/* Copy IDs from manifests made by hand (the filesystem side is in
 * test-manifest.c): the reference 2.3 serialisation, here and on Windows. */
static void test_copy_ids(void)
{
        char hf[65], h2[65];
        cairn_sha256_hex("file-data", 9, hf);
        cairn_sha256_hex("file2-data", 10, h2);
        struct cairn_manifest file = { .kind = CAIRN_MANIFEST_FILE, .path = "file" };
        struct cairn_manifest file2 = { .kind = CAIRN_MANIFEST_FILE, .path = "dir1/dir2/file2" };
        memcpy(file.hash, hf, sizeof(hf));
        memcpy(file2.hash, h2, sizeof(h2));
        struct cairn_manifest *in_dir2[] = { &file2 };
        struct cairn_manifest dir2 = { .kind = CAIRN_MANIFEST_DIR, .path = "dir1/dir2", .children = in_dir2, .n_children = 1 };
        struct cairn_manifest *in_dir1[] = { &dir2 };
        struct cairn_manifest dir1 = { .kind = CAIRN_MANIFEST_DIR, .path = "dir1", .children = in_dir1, .n_children = 1 };
        struct cairn_manifest *items[] = { &file, &dir1 };
        struct cairn_spec_user u = { .uid = 1000, .gid = 1000 };
        char id[65], want[65], exp[1024];
        struct cairn_buf mach = CAIRN_BUF_INIT;
        cairn_copy_id("BASEID", &u, true, items, 2, "C:/Users/x/", id, &mach);
        snprintf(exp, sizeof(exp),
                 "((base BASEID)(user((uid 1000)(gid 1000)))(op(Copy_items(((File(file %s))"
                 "(Dir(dir1((Dir(dir1/dir2((File(dir1/dir2/file2 %s)))))))))C:/Users/x/))))",
                 hf, h2);
        is_str(cairn_buf_str(&mach), exp, "reference 2.3: the copy-items key serialisation");
        cairn_sha256_hex(mach.data, mach.len, want);
        is_str(id, want, "the copy ID is the hash of that text");
        cairn_buf_release(&mach);
}

int main(void)
{
        test_base_ids();
        test_run_ids();
        test_copy_ids();
        return tap_done();
}
