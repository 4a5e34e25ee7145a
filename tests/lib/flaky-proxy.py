#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""An HTTP proxy in front of a registry that breaks the first download of
every blob half-way, to test retries and resumed downloads.

  flaky-proxy.py LISTEN_PORT REGISTRY_HOST:PORT LOG

Blob GETs without a Range header get half of the body and then the
connection is cut; later requests pass through.  Each blob request is
logged as "GET PATH RANGE".
"""
import http.client, http.server, sys

port, upstream, logpath = int(sys.argv[1]), sys.argv[2], sys.argv[3]
broken = set()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        conn = http.client.HTTPConnection(upstream)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request("GET", self.path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        is_blob = "/blobs/" in self.path and resp.status in (200, 206)
        if is_blob:
            with open(logpath, "a") as log:
                log.write(f"GET {self.path} {self.headers.get('Range', '-')}\n")
        cut = is_blob and "Range" not in self.headers and self.path not in broken and len(body) > 1000
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if cut:
            broken.add(self.path)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
