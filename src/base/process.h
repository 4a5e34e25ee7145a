/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running a helper program (ctr, say) and collecting what it prints.
 *
 * The child's stdin is /dev/null.  Its stdout is either streamed to
 * output() or captured into *out; its stderr is merged into stdout or
 * captured into *errout.  A captured buffer keeps its cap (see strbuf.h):
 * what passes the cap is dropped, not an error.
 *
 * Waiting watches the child itself (a pidfd), not only its pipes, so a
 * grandchild that keeps a pipe open cannot hang the caller.  When *cancel
 * becomes non-zero, on_cancel() is called once (to ask the child to stop,
 * for instance through another command); the wait goes on until the child
 * exits.
 */
#ifndef CAIRN_BASE_PROCESS_H
#define CAIRN_BASE_PROCESS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

struct cairn_buf;

struct cairn_process {
        const char *const *argv;     /* NULL-terminated; argv[0] is looked up in PATH */
        /* Called in the child just before exec (unshare, mounts...); a
         * non-zero return is an errno value and the child exits 127. */
        int (*child_setup)(void *ud);
        void *setup_userdata;
        void (*output)(const char *data, size_t len, void *ud);
        void *userdata;
        struct cairn_buf *out;       /* used when output is NULL; may be NULL to discard */
        struct cairn_buf *errout;    /* may be NULL to discard; ignored with merge_stderr */
        bool merge_stderr;
        volatile sig_atomic_t *cancel;
        void (*on_cancel)(void *ud);
        void *cancel_userdata;
        /* A wall-clock limit (0: none): when it passes, the process is
         * cancelled as by *cancel (on_cancel, else killed) and
         * *ret_timed_out, if given, is set. */
        long long timeout_ms;
        bool *ret_timed_out;
};

/*
 * Run p to completion.  Returns 0 with *ret_status set to its wait(2)
 * status, or < 0 when it could not be started (an exec failure is status
 * 127 with a message on its stderr, as a shell reports it).
 */
int cairn_process_run(const struct cairn_process *p, int *ret_status, struct cairn_error **err);

/* For the implementations (base/process-posix.c, base/process-win.c): one
 * chunk of the child's output, to where p says it goes. */
void cairn_process_deliver(const struct cairn_process *p, bool is_err, const char *data, size_t len);

/* Whether process pid is still running. */
bool cairn_process_alive(int pid);
/* The processors this process may use (at least 1). */
unsigned cairn_cpu_count(void);
/* The Windows build number of this machine (CurrentBuild); 0 elsewhere. */
unsigned cairn_windows_build(void);

/* The exit code in a status, or -1 when the child was killed by a signal. */
int cairn_process_exit_code(int status);

/* "exit status N" / "signal SIGX" for a wait(2) status, in buf. */
const char *cairn_process_status_string(int status, char *buf, size_t size);

#endif
