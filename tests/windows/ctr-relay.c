/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctr.exe for the tests under wine: a STAND-IN that relays its command line
 * to tests/windows/ctr-relay-server.py on 127.0.0.1:$CAIRN_CTR_RELAY_PORT,
 * which runs tests/lib/fake-ctr.py (the stand-in for ctr and containerd on
 * Windows) on the host and sends back its output and exit status.  Wine can
 * start a Unix program, but without the pipes or the exit status a
 * Windows parent gives it, so cairn.exe needs a Windows program to talk to.
 *
 * Request: each argument as a 4-byte little-endian length and its bytes,
 * then 0xffffffff.  Reply: the status, the stdout length and bytes, the
 * stderr length and bytes (lengths and status 4-byte little-endian).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <winsock2.h>
#include <ws2tcpip.h>

#include <fcntl.h>
#include <io.h>

static int send_all(SOCKET s, const void *data, size_t len)
{
        const char *p = data;
        while (len) {
                int n = send(s, p, len > 65536 ? 65536 : (int) len, 0);
                if (n <= 0)
                        return -1;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

static int recv_all(SOCKET s, void *data, size_t len)
{
        char *p = data;
        while (len) {
                int n = recv(s, p, len > 65536 ? 65536 : (int) len, 0);
                if (n <= 0)
                        return -1;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

static int send_u32(SOCKET s, uint32_t v)
{
        unsigned char b[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };
        return send_all(s, b, 4);
}

static int recv_u32(SOCKET s, uint32_t *v)
{
        unsigned char b[4];
        if (recv_all(s, b, 4) < 0)
                return -1;
        *v = (uint32_t) b[0] | (uint32_t) b[1] << 8 | (uint32_t) b[2] << 16 | (uint32_t) b[3] << 24;
        return 0;
}

/* Copy len bytes from the socket to fd. */
static int relay(SOCKET s, uint32_t len, FILE *to)
{
        char buf[65536];
        while (len) {
                uint32_t n = len > sizeof(buf) ? sizeof(buf) : len;
                if (recv_all(s, buf, n) < 0)
                        return -1;
                fwrite(buf, 1, n, to);
                len -= n;
        }
        fflush(to);
        return 0;
}

int main(int argc, char **argv)
{
        _setmode(_fileno(stdout), _O_BINARY);
        _setmode(_fileno(stderr), _O_BINARY);
        const char *port = getenv("CAIRN_CTR_RELAY_PORT");
        if (!port) {
                fprintf(stderr, "ctr (test relay): CAIRN_CTR_RELAY_PORT is not set\n");
                return 125;
        }
        WSADATA wsa;
        if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
                return 125;
        SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
        struct sockaddr_in a = { 0 };
        a.sin_family = AF_INET;
        a.sin_port = htons((u_short) atoi(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (s == INVALID_SOCKET || connect(s, (struct sockaddr *) &a, sizeof(a)) != 0) {
                fprintf(stderr, "ctr (test relay): cannot reach 127.0.0.1:%s\n", port);
                return 125;
        }
        int bad = 0;
        for (int i = 1; i < argc && !bad; i++)
                bad = send_u32(s, (uint32_t) strlen(argv[i])) < 0 || send_all(s, argv[i], strlen(argv[i])) < 0;
        uint32_t status = 125, out_len = 0, err_len = 0;
        if (bad || send_u32(s, 0xffffffffu) < 0 || recv_u32(s, &status) < 0 || recv_u32(s, &out_len) < 0 ||
            relay(s, out_len, stdout) < 0 || recv_u32(s, &err_len) < 0 || relay(s, err_len, stderr) < 0) {
                fprintf(stderr, "ctr (test relay): the relay server went away\n");
                return 125;
        }
        closesocket(s);
        WSACleanup();
        return (int) status;
}
