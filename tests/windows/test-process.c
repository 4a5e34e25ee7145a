/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Windows process layer (base/process-win.c) under wine: many
 * children at once, megabytes on stdout and stderr at the same time,
 * children that exit at once, argument quoting, NTSTATUS exit codes, and
 * cancellation killing the whole job.  The faults of seed 001 (exits not
 * noticed, waits that hang, pipe writes that hang, output lost) would show
 * as a hang (the harness has a time limit) or a wrong count here.
 *
 *   test-process.exe CHILD.EXE DIR     DIR: a scratch directory (Windows path)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "base/process.h"
#include "base/strbuf.h"
#include "tap.h"

static const char *child;

static int run(const char *const *argv, struct cairn_buf *out, struct cairn_buf *errout, bool merge,
               volatile sig_atomic_t *cancel)
{
        struct cairn_process p = { .argv = argv, .out = out, .errout = errout, .merge_stderr = merge, .cancel = cancel };
        int status = -1;
        struct cairn_error *err = NULL;
        if (cairn_process_run(&p, &status, &err) < 0) {
                tap_diag("%s", err->message);
                cairn_error_free(err);
                return -1;
        }
        return status;
}

static size_t count_lines(const struct cairn_buf *b)
{
        size_t n = 0;
        for (size_t i = 0; i < b->len; i++)
                n += b->data[i] == '\n';
        return n;
}

static void test_big_outputs(void)
{
        const char *argv[] = { child, "big", "4", NULL };
        struct cairn_buf out = CAIRN_BUF_INIT, errout = CAIRN_BUF_INIT;
        int status = run(argv, &out, &errout, false, NULL);
        is_int(status, 0, "a child writing 4 MiB on stdout and 4 MiB on stderr at once exits 0");
        is_int(out.len, 4 << 20, "all of its stdout arrives");
        is_int(errout.len, 4 << 20, "all of its stderr arrives");
        cairn_buf_release(&out);
        cairn_buf_release(&errout);
        struct cairn_buf both = CAIRN_BUF_INIT;
        status = run(argv, &both, NULL, true, NULL);
        is_int(status, 0, "merged");
        is_int(both.len, 8 << 20, "both streams arrive in one");
        is_int(count_lines(&both), 8 * 1024, "as whole lines");
        cairn_buf_release(&both);
}

static void test_exits(void)
{
        const char *a[] = { child, "exit", "7", NULL };
        is_int(run(a, NULL, NULL, false, NULL), 7, "a child that exits at once: its status is seen");
        const char *b[] = { child, "exit", "0xC0000005", NULL };
        int s = run(b, NULL, NULL, false, NULL);
        char text[64];
        is_str(cairn_process_status_string(s, text, sizeof(text)), "exit status 0xc0000005",
               "an NTSTATUS exit code reads in hex");
        const char *c[] = { "no-such-program-here.exe", NULL };
        struct cairn_error *err = NULL;
        struct cairn_process p = { .argv = c };
        int status = 0;
        ok(cairn_process_run(&p, &status, &err) < 0 && err, "a missing program is an error, not a hang");
        has_str(err ? err->message : "", "no such program", "saying so");
        cairn_error_free(err);
}

static void test_quoting(void)
{
        const char *argv[] = { child, "args", "plain", "two words", "", "quote\"inside", "trailing\\", "back\\\\\"q",
                               "C:\\Program Files\\x", NULL };
        struct cairn_buf out = CAIRN_BUF_INIT;
        is_int(run(argv, &out, NULL, true, NULL), 0, "arguments with blanks, quotes and backslashes");
        is_str(cairn_buf_str(&out),
               "[plain]\r\n[two words]\r\n[]\r\n[quote\"inside]\r\n[trailing\\]\r\n[back\\\\\"q]\r\n[C:\\Program Files\\x]\r\n",
               "reach the child as they were given");
        cairn_buf_release(&out);
}

struct many_arg {
        int index;
        int failures;
};

static DWORD WINAPI many_thread(LPVOID a)
{
        struct many_arg *m = a;
        for (int i = 0; i < 8; i++) {
                char code[16];
                snprintf(code, sizeof(code), "%d", (m->index * 8 + i) % 100);
                const char *e[] = { child, "exit", code, NULL };
                int status = run(e, NULL, NULL, false, NULL);
                if (status != (m->index * 8 + i) % 100) {
                        tap_diag("thread %d: \"exit %s\" gave status %d", m->index, code, status);
                        m->failures++;
                }
                const char *b[] = { child, "big", "1", NULL };
                struct cairn_buf out = CAIRN_BUF_INIT, errout = CAIRN_BUF_INIT;
                status = run(b, &out, &errout, false, NULL);
                if (status != 0 || out.len != 1 << 20 || errout.len != 1 << 20) {
                        tap_diag("thread %d: \"big 1\" gave status %d, %zu bytes out, %zu bytes err", m->index,
                                 status, out.len, errout.len);
                        m->failures++;
                }
                cairn_buf_release(&out);
                cairn_buf_release(&errout);
        }
        return 0;
}

static void test_many(void)
{
        enum { N = 12 };
        HANDLE t[N];
        struct many_arg args[N];
        for (int i = 0; i < N; i++) {
                args[i] = (struct many_arg) { i, 0 };
                t[i] = CreateThread(NULL, 0, many_thread, &args[i], 0, NULL);
        }
        WaitForMultipleObjects(N, t, TRUE, INFINITE);
        int failures = 0;
        for (int i = 0; i < N; i++) {
                failures += args[i].failures;
                CloseHandle(t[i]);
        }
        is_int(failures, 0, "%d threads each running 16 children at once (exits and 2 MiB outputs): every status and "
                            "every byte is right",
               N);
}

static volatile sig_atomic_t cancel_flag;

static DWORD WINAPI cancel_later(LPVOID a)
{
        Sleep(700);
        cancel_flag = 1;
        return 0;
}

static void test_cancel(const char *dir)
{
        char marker[MAX_PATH];
        snprintf(marker, sizeof(marker), "%s\\grandchild-survived", dir);
        DeleteFileA(marker);
        const char *argv[] = { child, "spawn", "3", marker, NULL };
        struct cairn_buf out = CAIRN_BUF_INIT;
        cancel_flag = 0;
        HANDLE t = CreateThread(NULL, 0, cancel_later, NULL, 0, NULL);
        DWORD start = GetTickCount();
        int status = run(argv, &out, NULL, true, &cancel_flag);
        DWORD took = GetTickCount() - start;
        WaitForSingleObject(t, INFINITE);
        CloseHandle(t);
        ok(status != 0 && status != -1, "a cancelled child is killed (status %d)", status);
        ok(took < 2500, "promptly (%lu ms), not when it would have ended", (unsigned long) took);
        has_str(cairn_buf_str(&out), "spawned", "its output until then is kept");
        Sleep(4000);
        ok(GetFileAttributesA(marker) == INVALID_FILE_ATTRIBUTES,
           "the grandchild it started died with it (the job), and never wrote its marker");
        cairn_buf_release(&out);
}

int main(int argc, char **argv)
{
        if (argc != 3) {
                fprintf(stderr, "usage: test-process CHILD.EXE DIR\n");
                return 2;
        }
        child = argv[1];
        test_exits();
        test_quoting();
        test_big_outputs();
        test_many();
        test_cancel(argv[2]);
        return tap_done();
}
