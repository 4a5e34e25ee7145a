/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The child program of test-process.exe (Windows):
 *   child big MIB        MIB MiB on stdout and on stderr, interleaved
 *   child exit CODE      exit at once with CODE (decimal or 0x hex)
 *   child sleep SECONDS  sleep, then print "woke"
 *   child spawn SECONDS MARKER
 *                        start a grandchild that sleeps SECONDS, then writes
 *                        MARKER (a file); then sleep as long
 *   child args ARG...    print each argument on its own line, as received
 */
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

int main(int argc, char **argv)
{
        if (argc >= 3 && strcmp(argv[1], "big") == 0) {
                /* Binary: exact byte counts, no CR added before each LF. */
                _setmode(_fileno(stdout), _O_BINARY);
                _setmode(_fileno(stderr), _O_BINARY);
                int mib = atoi(argv[2]);
                static char line[1024];
                memset(line, 'x', sizeof(line) - 1);
                line[sizeof(line) - 1] = '\n';
                for (int i = 0; i < mib * 1024; i++) {
                        fwrite(line, 1, sizeof(line), stdout);
                        fwrite(line, 1, sizeof(line), stderr);
                }
                fflush(stdout);
                return 0;
        }
        if (argc >= 3 && strcmp(argv[1], "exit") == 0)
                return (int) strtoul(argv[2], NULL, 0);
        if (argc >= 3 && strcmp(argv[1], "sleep") == 0) {
                Sleep((DWORD) atoi(argv[2]) * 1000);
                printf("woke\n");
                return 0;
        }
        if (argc >= 4 && strcmp(argv[1], "spawn") == 0) {
                char cmd[1024];
                snprintf(cmd, sizeof(cmd), "\"%s\" grandchild %s %s", argv[0], argv[2], argv[3]);
                STARTUPINFOA si;
                memset(&si, 0, sizeof(si));
                si.cb = sizeof(si);
                PROCESS_INFORMATION pi;
                if (!CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
                        return 3;
                printf("spawned\n");
                fflush(stdout);
                Sleep((DWORD) atoi(argv[2]) * 1000);
                return 0;
        }
        if (argc >= 4 && strcmp(argv[1], "grandchild") == 0) {
                Sleep((DWORD) atoi(argv[2]) * 1000);
                FILE *f = fopen(argv[3], "w");
                if (f)
                        fclose(f);
                return 0;
        }
        if (argc >= 2 && strcmp(argv[1], "args") == 0) {
                for (int i = 2; i < argc; i++)
                        printf("[%s]\n", argv[i]);
                return 0;
        }
        return 2;
}
