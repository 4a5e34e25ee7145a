# SPDX-License-Identifier: Apache-2.0
# The Windows build both hcs tests run (tests/integration/hcs.sh with the
# Linux cairn, tests/windows/engine.sh with cairn.exe under wine): in the
# current directory, ctx/ (a.txt, dir/b.txt), secret.txt and win.spec, a
# spec with a copy, a cache, a secret, a user by name and (network host).
mkdir -p ctx/dir
echo one >ctx/a.txt
echo two >ctx/dir/b.txt
printf 'tok' >secret.txt
cat >win.spec <<'SPEC'
((from mcr.microsoft.com/windows/nanoserver:ltsc2022)
 (workdir C:/)
 (shell cmd /S /C)
 (run (shell "echo first"))
 (copy (src a.txt dir) (dst C:/Users/x/))
 (run (cache (pkgs (target C:/cache))) (secrets (tok (target C:/secret.txt))) (shell "type C:\\secret.txt"))
 (user (name ContainerUser))
 (run (network host) (shell "ping example.com")))
SPEC
