# SPDX-License-Identifier: Apache-2.0
# What the tests under wine share.  Source it after tap.sh.
#
#   wine_setup NAME    needs wine64 and the Windows build; makes a fresh
#                      wine prefix in a temporary directory ($tmp), removed
#                      (and its wineserver stopped) at exit
#   winpath PATH       the Windows name of a host path (Z:\...)
#
# $build is the cross build (CAIRN_WINDOWS_BUILD, default build-windows),
# $WINE the wine64 binary.
build=${CAIRN_WINDOWS_BUILD:-$CAIRN_SRCDIR/build-windows}
WINE=${WINE:-/usr/lib/wine/wine64}

wine_setup() { # NAME
        [ -x "$WINE" ] || need "needs wine64"
        [ -f "$build/src/cairn.exe" ] || need "needs the Windows build (make windows)"
        command -v x86_64-w64-mingw32-gcc >/dev/null || need "needs mingw-w64"
        tmp=$(mktemp -d "/tmp/cairn-wine-$1.XXXXXX")
        export WINEPREFIX=$tmp/prefix WINEDEBUG=-all
        trap 'WINEPREFIX=$tmp/prefix /usr/lib/wine/wineserver64 -k 2>/dev/null; rm -rf "$tmp"' EXIT
        # A fresh prefix (its first start prints wine's own complaints).
        "$WINE" wineboot --init >/dev/null 2>&1
}

winpath() {
        local p=$1
        echo "Z:${p//\//\\}"
}
