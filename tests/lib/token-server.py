#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A registry token service for the tests (docker's token auth).

  token-server.py PORT KEY.pem CERT.pem ISSUER SERVICE USER:PASSWORD

GET /token?service=S&scope=repository:NAME:ACTIONS with Basic credentials
USER:PASSWORD answers {"token": JWT}: RS256, signed with KEY (through the
openssl command), the certificate in the x5c header, granting the asked
actions.  Anything else is 401.
"""
import base64, http.server, json, subprocess, sys, time, urllib.parse

port, key, cert, issuer, service, creds = sys.argv[1:7]


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], capture_output=True, check=True).stdout


def token(scopes):
    header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
    now = int(time.time())
    access = []
    for scope in scopes:
        parts = scope.split(":")
        if len(parts) == 3:
            access.append({"type": parts[0], "name": parts[1], "actions": parts[2].split(",")})
    claims = {"iss": issuer, "sub": creds.split(":")[0], "aud": service, "exp": now + 300, "nbf": now - 10,
              "iat": now, "jti": str(now), "access": access}
    signing_input = (b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())).encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input,
                         capture_output=True, check=True).stdout
    return signing_input.decode() + "." + b64(sig)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        auth = self.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(creds.encode()).decode()
        if url.path != "/token" or auth != expected:
            self.send_response(401)
            self.end_headers()
            return
        q = urllib.parse.parse_qs(url.query)
        body = json.dumps({"token": token(q.get("scope", []))}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
