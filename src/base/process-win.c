/* SPDX-License-Identifier: Apache-2.0 */
/*
 * base/process.h on Windows: CreateProcessW, one thread per output pipe,
 * and a job object holding the child and everything it starts.
 *
 * The faults that made OBuilder unreliable on Windows (seed 001: exits never
 * noticed, waits that hang, pipe writes that hang, output read only now and
 * then) come from mixing asynchronous pipe I/O with process waits in one
 * event loop.  Here each pipe has its own thread doing plain blocking
 * ReadFile until end of file, the child's exit is a WaitForSingleObject on
 * its handle, and neither waits on the other: a child that exits at once,
 * or writes megabytes on both pipes, cannot block us or itself.  The child
 * gets the NUL device as stdin, so nothing is ever written to it.
 *
 * The job (kill-on-close) means a cancelled step's processes all die, and
 * that no grandchild keeps our pipes open for ever after the child exits.
 * child_setup is a POSIX notion and is ignored here.
 */
#include "base/process.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "base/win.h"

#include "base/alloc.h"
#include "base/strbuf.h"

struct reader {
        HANDLE pipe;
        bool is_err;
        const struct cairn_process *p;
        CRITICAL_SECTION *lock;     /* output() and the buffers are called under it */
};


static DWORD WINAPI read_thread(LPVOID arg)
{
        struct reader *r = arg;
        char chunk[65536];
        DWORD n;
        while (ReadFile(r->pipe, chunk, sizeof(chunk), &n, NULL) && n > 0) {
                EnterCriticalSection(r->lock);
                cairn_process_deliver(r->p, r->is_err, chunk, n);
                LeaveCriticalSection(r->lock);
        }
        return 0;
}

/* One argument as CommandLineToArgvW reads it back: quoted when it has
 * blanks or quotes (or is empty), backslashes doubled before a quote. */
static void quote_arg(struct cairn_buf *b, const char *a)
{
        if (*a && !strpbrk(a, " \t\n\v\"")) {
                cairn_buf_adds(b, a);
                return;
        }
        cairn_buf_addc(b, '"');
        for (const char *p = a;; p++) {
                size_t slashes = 0;
                while (*p == '\\') {
                        p++;
                        slashes++;
                }
                if (!*p) {
                        cairn_buf_addn(b, '\\', slashes * 2);
                        break;
                }
                if (*p == '"') {
                        cairn_buf_addn(b, '\\', slashes * 2 + 1);
                        cairn_buf_addc(b, '"');
                } else {
                        cairn_buf_addn(b, '\\', slashes);
                        cairn_buf_addc(b, *p);
                }
        }
        cairn_buf_addc(b, '"');
}


static int win_error(struct cairn_error **err, DWORD code, const char *what, const char *arg)
{
        return cairn_error_set(err, -EIO, "cannot run \"%s\": %s (Windows error %lu)", arg, what, (unsigned long) code);
}

int cairn_process_run(const struct cairn_process *p, int *ret_status, struct cairn_error **err)
{
        SECURITY_ATTRIBUTES inherit = { sizeof(inherit), NULL, TRUE };
        HANDLE out_r = NULL, out_w = NULL, err_r = NULL, err_w = NULL, nul = INVALID_HANDLE_VALUE, job = NULL;
        HANDLE threads[2] = { NULL, NULL };
        PROCESS_INFORMATION pi = { 0 };
        int r = 0;
        struct cairn_buf cmd = CAIRN_BUF_INIT;
        for (size_t i = 0; p->argv[i]; i++) {
                if (i)
                        cairn_buf_addc(&cmd, ' ');
                quote_arg(&cmd, p->argv[i]);
        }
        wchar_t *wcmd = cairn_win_wide(cairn_buf_str(&cmd));
        cairn_buf_release(&cmd);
        CRITICAL_SECTION lock;
        InitializeCriticalSection(&lock);
        struct reader readers[2] = { { NULL, false, p, &lock }, { NULL, true, p, &lock } };

        if (!CreatePipe(&out_r, &out_w, &inherit, 0) || !SetHandleInformation(out_r, HANDLE_FLAG_INHERIT, 0)) {
                r = win_error(err, GetLastError(), "CreatePipe", p->argv[0]);
                goto out;
        }
        if (!p->merge_stderr &&
            (!CreatePipe(&err_r, &err_w, &inherit, 0) || !SetHandleInformation(err_r, HANDLE_FLAG_INHERIT, 0))) {
                r = win_error(err, GetLastError(), "CreatePipe", p->argv[0]);
                goto out;
        }
        nul = CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &inherit, OPEN_EXISTING, 0, NULL);
        job = CreateJobObjectW(NULL, NULL);
        if (nul == INVALID_HANDLE_VALUE || !job) {
                r = win_error(err, GetLastError(), nul == INVALID_HANDLE_VALUE ? "NUL" : "CreateJobObject", p->argv[0]);
                goto out;
        }
        JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits = { 0 };
        limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        SetInformationJobObject(job, JobObjectExtendedLimitInformation, &limits, sizeof(limits));

        /* Only these handles are inherited, not whatever else is open. */
        HANDLE inherited[3] = { nul, out_w, p->merge_stderr ? out_w : err_w };
        SIZE_T size = 0;
        InitializeProcThreadAttributeList(NULL, 1, 0, &size);
        LPPROC_THREAD_ATTRIBUTE_LIST attrs = cairn_xmalloc(size);
        InitializeProcThreadAttributeList(attrs, 1, 0, &size);
        UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, inherited,
                                  (p->merge_stderr ? 2 : 3) * sizeof(HANDLE), NULL, NULL);
        STARTUPINFOEXW si = { 0 };
        si.StartupInfo.cb = sizeof(si);
        si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
        si.StartupInfo.hStdInput = nul;
        si.StartupInfo.hStdOutput = out_w;
        si.StartupInfo.hStdError = p->merge_stderr ? out_w : err_w;
        si.lpAttributeList = attrs;
        /* Suspended until it is in the job, so nothing it starts escapes.
         * ERROR_INTERNAL_ERROR means no process was made (wine gives it now
         * and then when many threads start processes at once): try again. */
        BOOL created = FALSE;
        DWORD code = 0;
        for (int attempt = 0; attempt < 4; attempt++) {
                if (attempt)
                        Sleep(20u << attempt);
                created = CreateProcessW(NULL, wcmd, NULL, NULL, TRUE,
                                         CREATE_SUSPENDED | CREATE_NO_WINDOW | EXTENDED_STARTUPINFO_PRESENT, NULL,
                                         NULL, &si.StartupInfo, &pi);
                code = GetLastError();
                if (created || code != ERROR_INTERNAL_ERROR)
                        break;
        }
        DeleteProcThreadAttributeList(attrs);
        free(attrs);
        if (!created) {
                r = win_error(err, code, code == ERROR_FILE_NOT_FOUND ? "no such program" : "CreateProcess", p->argv[0]);
                goto out;
        }
        AssignProcessToJobObject(job, pi.hProcess);
        ResumeThread(pi.hThread);
        /* Our copies of the write ends: the readers see end of file once
         * the child (and its children) close theirs. */
        CloseHandle(out_w);
        out_w = NULL;
        if (err_w) {
                CloseHandle(err_w);
                err_w = NULL;
        }
        readers[0].pipe = out_r;
        readers[1].pipe = err_r;
        for (int i = 0; i < (p->merge_stderr ? 1 : 2); i++)
                threads[i] = CreateThread(NULL, 0, read_thread, &readers[i], 0, NULL);

        DWORD last_cancel = 0, start = GetTickCount();
        bool asked = false, timed_out = false;
        while (WaitForSingleObject(pi.hProcess, p->cancel || p->timeout_ms > 0 ? 100 : INFINITE) == WAIT_TIMEOUT) {
                DWORD now = GetTickCount();
                if (p->timeout_ms > 0 && !timed_out && (long long) (now - start) >= p->timeout_ms) {
                        timed_out = true;
                        if (p->ret_timed_out)
                                *p->ret_timed_out = true;
                }
                if (!timed_out && (!p->cancel || !*p->cancel))
                        continue;
                if (!p->on_cancel) {
                        TerminateJobObject(job, 1);
                } else if (!asked || now - last_cancel >= 1000) {
                        asked = true;
                        last_cancel = now;
                        p->on_cancel(p->cancel_userdata);
                }
        }
        DWORD exit_code = 0;
        GetExitCodeProcess(pi.hProcess, &exit_code);
        /* Wait a little for output still in the pipes; then whatever the
         * child left running goes with the job, which ends the pipes. */
        if (WaitForMultipleObjects(p->merge_stderr ? 1 : 2, threads, TRUE, 2000) == WAIT_TIMEOUT) {
                TerminateJobObject(job, 1);
                WaitForMultipleObjects(p->merge_stderr ? 1 : 2, threads, TRUE, INFINITE);
        }
        *ret_status = (int) exit_code;
out:
        for (int i = 0; i < 2; i++)
                if (threads[i])
                        CloseHandle(threads[i]);
        if (pi.hProcess)
                CloseHandle(pi.hProcess);
        if (pi.hThread)
                CloseHandle(pi.hThread);
        HANDLE handles[] = { out_r, out_w, err_r, err_w, job };
        for (size_t i = 0; i < sizeof(handles) / sizeof(handles[0]); i++)
                if (handles[i])
                        CloseHandle(handles[i]);
        if (nul != INVALID_HANDLE_VALUE)
                CloseHandle(nul);
        DeleteCriticalSection(&lock);
        free(wcmd);
        return r;
}

unsigned cairn_windows_build(void)
{
        wchar_t value[32];
        DWORD size = sizeof(value);
        if (RegGetValueW(HKEY_LOCAL_MACHINE, L"SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion", L"CurrentBuild",
                         RRF_RT_REG_SZ, NULL, value, &size) != ERROR_SUCCESS)
                return 0;
        return (unsigned) wcstoul(value, NULL, 10);
}

unsigned cairn_cpu_count(void)
{
        SYSTEM_INFO si;
        GetSystemInfo(&si);
        return si.dwNumberOfProcessors ? (unsigned) si.dwNumberOfProcessors : 1;
}

bool cairn_process_alive(int pid)
{
        HANDLE h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD) pid);
        if (!h)
                return GetLastError() == ERROR_ACCESS_DENIED;
        DWORD code = 0;
        bool alive = GetExitCodeProcess(h, &code) && code == STILL_ACTIVE;
        CloseHandle(h);
        return alive;
}

int cairn_process_exit_code(int status)
{
        return status;
}

const char *cairn_process_status_string(int status, char *buf, size_t size)
{
        unsigned long code = (unsigned long) (unsigned int) status;
        /* Windows' NTSTATUS exit codes (0xC0000005...) read best in hex. */
        if (code < 256)
                snprintf(buf, size, "exit status %lu", code);
        else
                snprintf(buf, size, "exit status 0x%08lx", code);
        return buf;
}
