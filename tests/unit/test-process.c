/* SPDX-License-Identifier: Apache-2.0 */
/* base/process-posix.c: running helper programs (ctr) and collecting what they
 * print.  (Its Windows version is tests/windows/test-process.c.) */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/process.h"
#include "base/strbuf.h"
#include "tap.h"

static int sh(const char *script, struct cairn_buf *out, struct cairn_buf *errout, bool merge)
{
        const char *argv[] = { "/bin/sh", "-c", script, NULL };
        struct cairn_process p = { .argv = argv, .out = out, .errout = errout, .merge_stderr = merge };
        int status = -1;
        struct cairn_error *err = NULL;
        if (cairn_process_run(&p, &status, &err) < 0) {
                tap_diag("%s", err->message);
                cairn_error_free(err);
        }
        return status;
}

static double now(void)
{
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double) t.tv_sec + (double) t.tv_nsec / 1e9;
}

static int cancel_calls;

static void on_cancel(void *ud)
{
        cancel_calls++;
}

int main(void)
{
        char text[64];
        is_int(cairn_process_exit_code(sh("exit 7", NULL, NULL, false)), 7, "an exit status");
        is_str(cairn_process_status_string(sh("kill -9 $$", NULL, NULL, false), text, sizeof(text)), "signal SIGKILL",
               "a signal");

        struct cairn_buf out = CAIRN_BUF_INIT, errout = CAIRN_BUF_INIT;
        is_int(sh("head -c 4194304 /dev/zero & head -c 4194304 /dev/zero >&2; wait", &out, &errout, false), 0,
               "4 MiB on stdout and on stderr at once");
        is_int(out.len, 4 << 20, "all of stdout");
        is_int(errout.len, 4 << 20, "all of stderr");
        cairn_buf_release(&out);
        cairn_buf_release(&errout);

        double t0 = now();
        is_int(sh("sleep 5 & echo started", &out, NULL, true), 0, "a child whose own child keeps the pipe open");
        ok(now() - t0 < 3, "is waited for, not the grandchild (%.1f s)", now() - t0);
        is_str(cairn_buf_str(&out), "started\n", "and its output is there");
        cairn_buf_release(&out);

        const char *missing[] = { "/no/such/program", NULL };
        struct cairn_process p = { .argv = missing, .errout = &errout };
        int status = 0;
        struct cairn_error *err = NULL;
        ok(cairn_process_run(&p, &status, &err) == 0 && cairn_process_exit_code(status) == 127,
           "a program that cannot be run exits 127, as a shell's");
        has_str(cairn_buf_str(&errout), "/no/such/program: No such file or directory", "saying why");
        cairn_buf_release(&errout);

        struct cairn_buf capped = CAIRN_BUF_INIT_CAP(10);
        sh("printf 12345678; sleep 0.2; printf abcdefgh; sleep 0.2; printf xy", &capped, NULL, true);
        is_str(cairn_buf_str(&capped), "12345678", "a capped capture keeps its beginning, nothing spliced after it");
        cairn_buf_release(&capped);

        volatile sig_atomic_t cancel = 1;
        const char *slow[] = { "/bin/sh", "-c", "sleep 2.5", NULL };
        struct cairn_process c = { .argv = slow, .cancel = &cancel, .on_cancel = on_cancel };
        cairn_process_run(&c, &status, &err);
        ok(cancel_calls >= 2, "cancelling asks again while the child lives (%d times in 2.5 s)", cancel_calls);

        /* A time limit: without on_cancel the child is killed; with it,
         * on_cancel is asked (as a cancel) and must end the child. */
        const char *sleeper[] = { "/bin/sh", "-c", "exec sleep 30", NULL };
        bool timed_out = false;
        struct cairn_process t = { .argv = sleeper, .timeout_ms = 300, .ret_timed_out = &timed_out };
        t0 = now();
        ok(cairn_process_run(&t, &status, &err) == 0, "a child past its time limit");
        ok(timed_out, "is reported timed out");
        is_str(cairn_process_status_string(status, text, sizeof(text)), "signal SIGKILL", "killed");
        ok(now() - t0 < 3, "promptly (%.1f s)", now() - t0);
        timed_out = false;
        struct cairn_process q = { .argv = (const char *[]) { "/bin/sh", "-c", "sleep 0.1", NULL }, .timeout_ms = 5000,
                                   .ret_timed_out = &timed_out };
        ok(cairn_process_run(&q, &status, &err) == 0 && status == 0 && !timed_out, "one that ends in time is not");
        return tap_done();
}
