/* SPDX-License-Identifier: Apache-2.0 */
/* base/interrupt.h on Windows: a console control handler, and a thread
 * that sleeps for the time limit. */
#include "base/interrupt.h"

#include <windows.h>

static volatile sig_atomic_t *interrupt_flag, *alarm_flag;
static unsigned alarm_seconds;

static BOOL WINAPI on_control(DWORD type)
{
        if (!interrupt_flag)
                return FALSE;
        *interrupt_flag = type == CTRL_C_EVENT ? SIGINT : SIGTERM;
        /* Handled: the build stops its step and exits with 130 or 143. */
        return TRUE;
}

static DWORD WINAPI alarm_thread(LPVOID arg)
{
        Sleep(alarm_seconds * 1000);
        *alarm_flag = 1;
        return 0;
}

void cairn_cancel_on_interrupt(volatile sig_atomic_t *flag)
{
        interrupt_flag = flag;
        SetConsoleCtrlHandler(on_control, TRUE);
}

void cairn_cancel_after(unsigned seconds, volatile sig_atomic_t *flag)
{
        alarm_flag = flag;
        alarm_seconds = seconds;
        HANDLE t = CreateThread(NULL, 0, alarm_thread, NULL, 0, NULL);
        if (t)
                CloseHandle(t);
}
