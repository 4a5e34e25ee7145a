#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The host side of tests/windows/ctr-relay.c (a STAND-IN ctr.exe for the
tests under wine): listens on 127.0.0.1, runs tests/lib/fake-ctr.py with
each command line relayed to it and sends back its output and exit status.

  ctr-relay-server.py PORTFILE    writes the port it listens on to PORTFILE
"""
import os, socket, socketserver, struct, subprocess, sys

FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib", "fake-ctr.py")


def recv_all(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


class Relay(socketserver.BaseRequestHandler):
    def handle(self):
        args = []
        while True:
            (n,) = struct.unpack("<I", recv_all(self.request, 4))
            if n == 0xFFFFFFFF:
                break
            args.append(recv_all(self.request, n).decode("utf-8", "replace"))
        p = subprocess.run([sys.executable, FAKE] + args, capture_output=True)
        self.request.sendall(struct.pack("<II", p.returncode & 0xFFFFFFFF, len(p.stdout)) + p.stdout +
                             struct.pack("<I", len(p.stderr)) + p.stderr)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


with Server(("127.0.0.1", 0), Relay) as server:
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()
