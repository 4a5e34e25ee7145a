# SPDX-License-Identifier: Apache-2.0
# A real registry for the tests: Debian's docker-registry on 127.0.0.1, its
# data under $tmp/data.  Source with $tmp set (the test's directory, which
# is also the working directory); sets $reg (HOST:PORT).
#
#   start_registry [AUTH-YAML]    start it (with an auth: section, if given;
#                                 with deletes enabled when $registry_delete is 1)
#   stop_registry                 stop it (call from the EXIT trap too)
#   registry_basic_auth USER PASS the auth: section for Basic auth with one
#                                 user (its htpasswd file under $tmp), to
#                                 give start_registry

regpid=
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
reg=127.0.0.1:$port

registry_basic_auth() { # USER PASSWORD
        # A low bcrypt cost: the registry checks the password on every
        # request, and at the default cost a test of a few hundred takes minutes.
        python3 -W ignore -c "import crypt, sys; print(sys.argv[1] + ':' + crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))" \
                "$1" "$2" >"$tmp/htpasswd" || return 1
        printf 'auth:\n  htpasswd:\n    realm: cairn-test\n    path: %s\n' "$tmp/htpasswd"
}

stop_registry() {
        [ -n "$regpid" ] && kill "$regpid" 2>/dev/null && wait "$regpid" 2>/dev/null
        regpid=
}

start_registry() { # [auth yaml]
        cat >"$tmp/config.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $tmp/data
$([ "${registry_delete:-0}" = 1 ] && printf '  delete:\n    enabled: true\n')
http:
  addr: $reg
${1:-}
YAML
        docker-registry serve "$tmp/config.yml" >"$tmp/registry.log" 2>&1 &
        regpid=$!
        for i in $(seq 100); do
                curl -s -o /dev/null "http://$reg/v2/" && return 0
                sleep 0.1
        done
        cat "$tmp/registry.log"
        return 1
}
