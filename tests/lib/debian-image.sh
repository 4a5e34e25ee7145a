# SPDX-License-Identifier: Apache-2.0
# A real Debian 12 base image for the tests, made by mmdebstrap from Debian's
# package archive (as apt fetches: the only network the tests use) and kept
# under /var/cache, keyed by what went into it, so reruns are offline.
#
#   . tests/lib/debian-image.sh
#   tar=$(debian_image) || need "a Debian 12 image"
#
# The image is minbase plus DEBIAN_IMAGE_PACKAGES: ca-certificates holds
# names that are not ASCII (NetLock_Arany_=Class_Gold=_Főtanúsítvány.pem and
# a symlink to it), iputils-ping a file capability (cap_net_raw on
# /usr/bin/ping), libcap2-bin getcap to see it; minbase itself has setuid
# binaries (passwd, su) and hard links (perl).  $CAIRN_TEST_IMAGE_CACHE
# overrides the cache directory.

DEBIAN_IMAGE_SUITE=bookworm
DEBIAN_IMAGE_PACKAGES=ca-certificates,iputils-ping,libcap2-bin

# The image's path if it is made already (nothing is fetched), else false:
# for suites that use it only when it is cheap.
debian_image_at_hand() {
        local dir=${CAIRN_TEST_IMAGE_CACHE:-/var/cache/cairn-tests}
        local key
        key=$(printf '%s\n' "mmdebstrap --variant=minbase $DEBIAN_IMAGE_SUITE $DEBIAN_IMAGE_PACKAGES" |
                sha256sum | cut -c1-16)
        [ -s "$dir/debian12-$key.tar" ] && printf '%s\n' "$dir/debian12-$key.tar"
}

debian_image() {
        local dir=${CAIRN_TEST_IMAGE_CACHE:-/var/cache/cairn-tests}
        local key tar log
        key=$(printf '%s\n' "mmdebstrap --variant=minbase $DEBIAN_IMAGE_SUITE $DEBIAN_IMAGE_PACKAGES" |
                sha256sum | cut -c1-16)
        tar=$dir/debian12-$key.tar
        mkdir -p "$dir" || return 1
        # Two suites may want it at once: one makes it, the other waits.
        (
                flock 9
                [ -s "$tar" ] && exit 0
                log=$dir/debian12-$key.log
                if ! mmdebstrap --quiet --format=tar --variant=minbase --include="$DEBIAN_IMAGE_PACKAGES" \
                        "$DEBIAN_IMAGE_SUITE" "$dir/tmp-$key.tar" >"$log" 2>&1; then
                        echo "debian_image: mmdebstrap failed (log: $log):" >&2
                        tail -n 20 "$log" >&2
                        rm -rf "$dir/tmp-$key.tar"
                        exit 1
                fi
                mv "$dir/tmp-$key.tar" "$tar"
        ) 9>"$dir/.lock" || return 1
        printf '%s\n' "$tar"
}
