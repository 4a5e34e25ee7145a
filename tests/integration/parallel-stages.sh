#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# (build ...) stages that do not need each other, built at once (--jobs):
# they overlap, a stage waits for the one it copies from, the log and the
# result are the sequential build's, a failure is the sequential one's,
# SIGINT and kill -9 leave neither processes nor partial results.  As root,
# on a real store (CAIRN_TEST_STORE_KIND: overlayfs or copy), with Debian's
# busybox-static as the image.
set -u
: "${CAIRN:?path to the cairn binary}" "${CAIRN_SRCDIR:?source tree}"
. "$CAIRN_SRCDIR/tests/lib/tap.sh"
. "$CAIRN_SRCDIR/tests/lib/debian-image.sh"

[ "$(id -u)" = 0 ] || need "needs root"
BUSYBOX=/bin/busybox
[ -x "$BUSYBOX" ] || need "needs busybox-static"
command -v strace >/dev/null || need "needs strace"
kind=${CAIRN_TEST_STORE_KIND:-overlayfs}
case $kind in
overlayfs)
        grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
        grep -qw overlay /proc/filesystems || need "needs overlayfs"
        tempdirs="in-progress merged work cache-result cache-work cache-merged"
        ;;
copy) tempdirs="result-tmp cache-tmp" ;;
*)      echo "unknown CAIRN_TEST_STORE_KIND $kind" >&2; exit 2 ;;
esac

tmp=$(mktemp -d /tmp/cairn-parallel-test.XXXXXX)
cleanup() {
        grep " $tmp" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"
# A marker unique to this run: tests running at once do not see each
# other's processes.
marker="cairn-parallel-test-$$-$RANDOM"

mkdir -p rootfs/bin rootfs/etc rootfs/tmp rootfs/root ctx
chmod 1777 rootfs/tmp
cp "$BUSYBOX" rootfs/bin/busybox
for a in $(rootfs/bin/busybox --list); do [ "$a" = busybox ] || ln -sf busybox "rootfs/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' >rootfs/etc/passwd
printf 'root:x:0:\n' >rootfs/etc/group
tar -C rootfs -cf busybox.tar .
PATHV=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# A store with busybox in it, unpacked (the timings count stages only)
# unless $2 is "packed".
new_store() {
        rm -rf "$tmp/$1"
        "$CAIRN" image import --store="$kind:$tmp/$1" --env "PATH=$PATHV" busybox busybox.tar >/dev/null
        [ "${2:-}" = packed ] && return
        printf '((from busybox))' >base.spec
        "$CAIRN" build --store="$kind:$tmp/$1" -f base.spec ctx >/dev/null
}
leftovers() {
        local d
        for d in $tempdirs; do find "$tmp/$1/$d" -mindepth 1 2>/dev/null; done | wc -l
}
now() { date +%s.%N; }
# Whether $1 < $2, as decimals.
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# Two stages of one second each, printing when they start and end (the
# system's uptime, which the sandbox's /proc shows too), and nothing else to
# build: the timings are the stages'.  $1: a tag that makes the steps new.
timed_spec() {
        cat <<EOF
((build a
  ((from busybox)
   (shell /bin/sh -c)
   (run (shell "echo $1; echo a-start \$(cut -d' ' -f1 /proc/uptime); sleep 1; echo a-end \$(cut -d' ' -f1 /proc/uptime)"))))
 (build b
  ((from busybox)
   (shell /bin/sh -c)
   (run (shell "echo $1; echo b-start \$(cut -d' ' -f1 /proc/uptime); sleep 1; echo b-end \$(cut -d' ' -f1 /proc/uptime)"))))
 (from busybox))
EOF
}
times_of() {
        printf '%s\n' "$1" | awk '$1 ~ /^[ab]-(start|end)$/ { t[$1] = $2 }
                END { print t["a-start"], t["a-end"], t["b-start"], t["b-end"] }'
}

# --- two independent stages overlap ------------------------------------------------
new_store s
export CAIRN_STORE="$kind:$tmp/s"
# On a loaded machine a run can be slow by chance: the bound gets a second
# try (new steps), never a looser bound.
for try in 1 2; do
        timed_spec "par$try" >par.spec
        t0=$(now)
        run_cmd "$CAIRN" build --jobs=2 -f par.spec ctx
        t1=$(now)
        elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
        diag "--jobs=2: ${elapsed}s"
        [ "$status" = 0 ] && lt "$elapsed" 1.8 && break
done
is_status 0 "two independent stages build with --jobs=2"
read -r as ae bs be <<<"$(times_of "$out")"
lt "$bs" "$ae" && lt "$as" "$be"
ok $? "their sleeps overlap (a $as..$ae, b $bs..$be)"
lt "$elapsed" 1.8
ok $? "in well under two seconds (${elapsed}s)"

timed_spec seq >seq.spec
t0=$(now)
run_cmd "$CAIRN" build --jobs=1 -f seq.spec ctx
t1=$(now)
is_status 0 "the same with --jobs=1"
elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
diag "--jobs=1: ${elapsed}s"
read -r as ae bs be <<<"$(times_of "$out")"
lt "$ae" "$bs" || [ "$ae" = "$bs" ]
ok $? "one after the other with --jobs=1 (a $as..$ae, b $bs..$be)"
if lt "$elapsed" 2; then ok 1 "at least two seconds with --jobs=1 (${elapsed}s)"; else ok 0 "at least two seconds with --jobs=1 (${elapsed}s)"; fi

# Both stages unpack the base first: one does, the other follows it, and
# neither waits for the other's step on it.
new_store fresh packed
timed_spec fresh >fresh.spec
run_cmd "$CAIRN" build --store="$kind:$tmp/fresh" --jobs=2 -f fresh.spec ctx
is_status 0 "two stages on a base not unpacked yet"
read -r as ae bs be <<<"$(times_of "$out")"
lt "$bs" "$ae" && lt "$as" "$be"
ok $? "overlap too (a $as..$ae, b $bs..$be)"
is "$(printf '%s\n' "$out" | grep -c '^Unpacking busybox')" 3 "the base's log shown in both stages and the last"
is "$(printf '%s\n' "$out" | grep -c '^---> saved as "9d75f0d7')" 1 "saved as once"
is "$(printf '%s\n' "$out" | grep -c '^---> using "9d75f0d7.*" from cache')" 2 "and then used from the cache (the second stage, the last), as one after the other"

# The default is the number of CPUs; with one, the stages cannot overlap.
timed_spec dflt >dflt.spec
run_cmd "$CAIRN" build -f dflt.spec ctx
read -r as ae bs be <<<"$(times_of "$out")"
if [ "$(nproc)" -ge 2 ]; then
        lt "$bs" "$ae" && lt "$as" "$be"
        ok $? "by default (--jobs = $(nproc) CPUs) they overlap too"
else
        skip "one CPU" "by default they overlap"
fi
printf 'jobs = 1\n' >"$tmp/s/cairn.conf"
timed_spec conf >conf.spec
run_cmd "$CAIRN" build -f conf.spec ctx
read -r as ae bs be <<<"$(times_of "$out")"
lt "$ae" "$bs" || [ "$ae" = "$bs" ]
ok $? "jobs = 1 in cairn.conf builds them one after the other"
printf 'jobs = lots\n' >"$tmp/s/cairn.conf"
run_cmd "$CAIRN" build -f conf.spec ctx
is_status 1 "a bad jobs in cairn.conf is an error"
has "$err" "jobs takes a number from 1 to 1024, not \"lots\"" "saying what it takes"
rm "$tmp/s/cairn.conf"
run_cmd "$CAIRN" build --jobs=0 -f conf.spec ctx
is_status 124 "--jobs=0 is a usage error"
has "$err" "--jobs takes a number from 1 to 1024, not \"0\"" "saying what it takes"

# --- a stage waits for the one it copies from ------------------------------------------
cat >dep.spec <<'EOF'
((build a
  ((from busybox)
   (shell /bin/sh -c)
   (run (shell "sleep 1; cut -d' ' -f1 /proc/uptime >/a.end"))))
 (build b
  ((from busybox)
   (shell /bin/sh -c)
   (run (shell "cut -d' ' -f1 /proc/uptime >/b.start"))))
 (build c
  ((from busybox)
   (shell /bin/sh -c)
   (copy (from (build a)) (src /a.end) (dst /))
   (run (shell "cut -d' ' -f1 /proc/uptime >/c.start"))))
 (from busybox)
 (shell /bin/sh -c)
 (copy (from (build a)) (src /a.end) (dst /))
 (copy (from (build b)) (src /b.start) (dst /))
 (copy (from (build c)) (src /c.start) (dst /))
 (run (shell "echo times $(cat /a.end /b.start /c.start)")))
EOF
run_cmd "$CAIRN" build --jobs=3 -f dep.spec ctx
is_status 0 "a stage that copies from another, with --jobs=3"
read -r ae bs cs <<<"$(printf '%s\n' "$out" | awk '$1 == "times" { print $2, $3, $4 }')"
lt "$ae" "$cs" || [ "$ae" = "$cs" ]
ok $? "starts after it ends (a ends $ae, c starts $cs)"
lt "$bs" "$ae"
ok $? "while the independent one did not wait (b starts $bs)"

# --- stages nested in the only stage ------------------------------------------------
# The first level with stages that do not need each other is the one built
# at once, here inside stage "outer".
cat >nest.spec <<'EOF'
((build outer
  ((build a ((from busybox) (shell /bin/sh -c) (run (shell "echo nested; sleep 1; cut -d' ' -f1 /proc/uptime >/a.end"))))
   (build b ((from busybox) (shell /bin/sh -c) (run (shell "echo nested; cut -d' ' -f1 /proc/uptime >/b.start; sleep 1"))))
   (from busybox)
   (copy (from (build a)) (src /a.end) (dst /))
   (copy (from (build b)) (src /b.start) (dst /))))
 (from busybox)
 (shell /bin/sh -c)
 (copy (from (build outer)) (src /a.end /b.start) (dst /))
 (run (shell "echo times $(cat /a.end /b.start)")))
EOF
run_cmd "$CAIRN" build --jobs=2 -f nest.spec ctx
is_status 0 "two stages nested in the only stage"
read -r ae bs <<<"$(printf '%s\n' "$out" | awk '$1 == "times" { print $2, $3 }')"
lt "$bs" "$ae"
ok $? "are built at once too (b starts $bs, a ends $ae)"
has "$out" '(build "outer" …)
(build "a" …)
(from busybox)' "and logged in spec order"

# --- the log and the result are the sequential build's ----------------------------------
# Stages sharing a step (built once, the other attaches or reuses it), one
# copying from another, a nested stage.
cat >same.spec <<'EOF'
((build a
  ((from busybox)
   (shell /bin/sh -c)
   (run (shell "echo shared; sleep 0.5"))
   (run (shell "echo in a; sleep 1; echo a >/a"))))
 (build b
  ((from busybox)
   (shell /bin/sh -c)
   (run (shell "echo shared; sleep 0.5"))
   (run (shell "echo in b; echo b >/b"))))
 (build c
  ((build inner
    ((from busybox)
     (shell /bin/sh -c)
     (run (shell "echo inner >/inner"))))
   (from busybox)
   (shell /bin/sh -c)
   (copy (from (build inner)) (src /inner) (dst /))
   (copy (from (build a)) (src /a) (dst /))
   (run (shell "echo in c; cat /a /inner"))))
 (from busybox)
 (copy (from (build b)) (src /b) (dst /))
 (copy (from (build c)) (src /a /inner) (dst /)))
EOF
new_store seq
run_cmd "$CAIRN" build --store="$kind:$tmp/seq" --jobs=1 -f same.spec ctx
is_status 0 "the spec builds with --jobs=1"
seq_out=$out
new_store par
run_cmd "$CAIRN" build --store="$kind:$tmp/par" --jobs=3 -f same.spec ctx
is_status 0 "and with --jobs=3, in a fresh store"
is "$out" "$seq_out" "with the same log, line for line, and the same result"
has "$out" '(build "b" …)
(from busybox)' "(the log has each stage whole)"
is "$(ls "$tmp/par/result" | sort)" "$(ls "$tmp/seq/result" | sort)" "the same results, the shared step once"
run_cmd "$CAIRN" fsck --check --store="$kind:$tmp/par"
is "$out" "The store is consistent
" "and the store is consistent"
# Again, everything cached: the same log.
run_cmd "$CAIRN" build --store="$kind:$tmp/seq" --jobs=1 -f same.spec ctx
seq_out=$out
run_cmd "$CAIRN" build --store="$kind:$tmp/par" --jobs=3 -f same.spec ctx
is "$out" "$seq_out" "cached, the same log again"
# Fully cached, the stages are found one after another in cairn's process:
# no stage gets a process (threads aside, and LeakSanitizer's tracer, which
# shares the memory of the process it checks: a stage never does).
processes() { grep -E 'clone|fork' "$1" | grep -v CLONE_THREAD | grep -vc CLONE_VM; }
run_cmd strace -f -qq -e trace=fork,vfork,clone,clone3 -o "$tmp/procs" \
        "$CAIRN" build --store="$kind:$tmp/par" --jobs=3 -f same.spec ctx
is "$out" "$seq_out" "cached, under strace: the same log"
is "$(processes "$tmp/procs")" 0 "fully cached, no process is started for the stages"
# One stage changed: the try of the cached stages is dropped at its step,
# leaving no trace in the log, and the stages get their processes.
sed -i 's/echo in c;/echo in c, changed;/' same.spec
run_cmd "$CAIRN" build --store="$kind:$tmp/seq" --jobs=1 -f same.spec ctx
seq_out=$out
run_cmd strace -f -qq -e trace=fork,vfork,clone,clone3 -o "$tmp/procs" \
        "$CAIRN" build --store="$kind:$tmp/par" --jobs=3 -f same.spec ctx
is "$out" "$seq_out" "one stage changed: the same log as one after another"
has "$out" "in c, changed" "(with the changed step's output)"
ok "$([ "$(processes "$tmp/procs")" -ge 3 ]; echo $?)" "and the stages are built in processes"

# --- a failing stage ------------------------------------------------------------------
# b fails at once, a a second later: the build fails with a's error, as it
# would one stage after another; c is not waited for.
fail_spec() {
        cat <<EOF
((build a
  ((from busybox)
   (shell /bin/sh -c)
   (run (shell "echo $1 a; sleep 1; exit 3"))))
 (build b
  ((from busybox)
   (shell /bin/sh -c)
   (run (shell "echo $1 b; exit 4"))))
 (build c
  ((from busybox)
   (shell /bin/sh -c)
   (run (shell "echo $1 c; sleep 20; echo $marker"))))
 (from busybox))
EOF
}
fail_spec one >fail.spec
new_store fseq
run_cmd "$CAIRN" build --store="$kind:$tmp/fseq" --jobs=1 -f fail.spec ctx
is_status 1 "a failing stage fails the build (--jobs=1)"
seq_out=$out seq_err=$err
new_store fpar
t0=$(now)
run_cmd "$CAIRN" build --store="$kind:$tmp/fpar" --jobs=3 -f fail.spec ctx
t1=$(now)
is_status 1 "and with --jobs=3"
is "$err" "$seq_err" "with the sequential build's error (the first stage's, though another failed first)"
has "$err" "exit status 3" "(a's: exit status 3)"
is "$out" "$seq_out" "and its log"
elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
lt "$elapsed" 10
ok $? "the other stages are cancelled (${elapsed}s, not 20)"
for i in $(seq 50); do pgrep -f "$marker" >/dev/null || break; sleep 0.1; done
ok $(pgrep -f "$marker" >/dev/null && echo 1 || echo 0) "no process of theirs is left"
is "$(leftovers fpar)" 0 "no temporary result is left"
run_cmd "$CAIRN" fsck --check --store="$kind:$tmp/fpar"
is "$out" "The store is consistent
" "the store is consistent"
fail_spec two | sed 's/exit [34]/true/; s/sleep 20/true/' >fixed.spec
run_cmd "$CAIRN" build --store="$kind:$tmp/fpar" --jobs=3 -f fixed.spec ctx
is_status 0 "once fixed, the build succeeds"

# --- SIGINT and kill -9 ------------------------------------------------------------------
cat >slow.spec <<EOF
((build a
  ((from busybox)
   (shell /bin/sh -c)
   (run (shell "echo started; sleep 30; echo $marker-a"))))
 (build b
  ((from busybox)
   (shell /bin/sh -c)
   (run (shell "echo started; sleep 30; echo $marker-b"))))
 (from busybox))
EOF
for how in INT KILL; do
        new_store sig
        "$CAIRN" build --store="$kind:$tmp/sig" --jobs=2 -f slow.spec ctx >slow.out 2>slow.err &
        pid=$!
        for i in $(seq 300); do pgrep -f "echo $marker-a" >/dev/null && pgrep -f "echo $marker-b" >/dev/null && break; sleep 0.1; done
        pgrep -f "echo $marker-a" >/dev/null && pgrep -f "echo $marker-b" >/dev/null
        ok $? "SIG$how: both stages' steps run"
        kill -$how $pid
        { wait $pid; } 2>/dev/null
        st=$?
        if [ $how = INT ]; then
                is "$st" 130 "SIGINT cancels the build (status 130)"
                has "$(cat slow.err)" "Cancelled at user's request" "saying so"
        else
                is "$st" 137 "kill -9 of cairn"
        fi
        for i in $(seq 100); do pgrep -f "echo $marker" >/dev/null || pgrep -f "build --store=$kind:$tmp/sig" >/dev/null || break; sleep 0.1; done
        ok $(pgrep -f "echo $marker" >/dev/null && echo 1 || echo 0) "SIG$how: no step process is left"
        ok $(pgrep -f "build --store=$kind:$tmp/sig" >/dev/null && echo 1 || echo 0) "SIG$how: no stage process is left"
        is "$(leftovers sig)" 0 "SIG$how: no temporary result is left"
        run_cmd "$CAIRN" fsck --check --store="$kind:$tmp/sig"
        is "$out" "The store is consistent
" "SIG$how: the store is consistent"
        is "$(ls "$tmp/sig/result" | wc -l)" 1 "SIG$how: only the base is there"
done

# --- a stage's process killed ------------------------------------------------------------
new_store k9
"$CAIRN" build --store="$kind:$tmp/k9" --jobs=2 -f slow.spec ctx >k9.out 2>k9.err &
pid=$!
for i in $(seq 300); do pgrep -f "echo $marker-a" >/dev/null && pgrep -f "echo $marker-b" >/dev/null && break; sleep 0.1; done
kill -9 $(pgrep -P $pid | head -1)
{ wait $pid; } 2>/dev/null
is "$?" 1 "kill -9 of a stage's process fails the build"
has "$(cat k9.err)" "the process building it was killed by signal 9" "saying so"
for i in $(seq 100); do pgrep -f "echo $marker" >/dev/null || pgrep -f "build --store=$kind:$tmp/k9" >/dev/null || break; sleep 0.1; done
ok $(pgrep -f "echo $marker" >/dev/null && echo 1 || echo 0) "no step process is left"
ok $(pgrep -f "build --store=$kind:$tmp/k9" >/dev/null && echo 1 || echo 0) "no stage process is left"
sed 's/sleep 30/true/' slow.spec >quick.spec
run_cmd "$CAIRN" build --store="$kind:$tmp/k9" --jobs=2 -f quick.spec ctx
is_status 0 "the next build succeeds (what the killed one left is removed)"
is "$(leftovers k9)" 0 "no temporary result is left"
run_cmd "$CAIRN" fsck --check --store="$kind:$tmp/k9"
is "$out" "The store is consistent
" "the store is consistent"

# --- a real Debian image (when tests/lib/debian-image.sh has one at hand) ---------------
# bash, dpkg and getcap in two stages at once, and the same one after the
# other in a second store: the same log.
if debian=$(debian_image_at_hand); then
        cat >deb.spec <<'EOF'
((build a
  ((from debian:12)
   (run (shell "sleep 1; dpkg-query -W -f '${Package}\\n' | sort >/a; cut -d' ' -f1 /proc/uptime >/a.end"))))
 (build b
  ((from debian:12)
   (run (shell "cut -d' ' -f1 /proc/uptime >/b.start; getcap /usr/bin/ping >/b; sleep 1"))))
 (from debian:12)
 (copy (from (build a)) (src /a /a.end) (dst /))
 (copy (from (build b)) (src /b /b.start) (dst /))
 (run (shell "grep -c . /a; cat /b; echo times $(cat /a.end /b.start)")))
EOF
        for s in dseq dpar; do
                rm -rf "${tmp:?}/$s"
                "$CAIRN" image import --store="$kind:$tmp/$s" debian:12 "$debian" >/dev/null
                printf '((from debian:12))' >dbase.spec
                "$CAIRN" build --store="$kind:$tmp/$s" -f dbase.spec ctx >/dev/null
        done
        run_cmd "$CAIRN" build --store="$kind:$tmp/dseq" --jobs=1 -f deb.spec ctx
        is_status 0 "Debian: two stages one after the other"
        seq_out=$out
        run_cmd "$CAIRN" build --store="$kind:$tmp/dpar" --jobs=2 -f deb.spec ctx
        is_status 0 "Debian: and at once"
        read -r ae bs <<<"$(printf '%s\n' "$out" | awk '$1 == "times" { print $2, $3 }')"
        lt "$bs" "$ae"
        ok $? "Debian: they overlap (b starts $bs, a ends $ae)"
        has "$out" "cap_net_raw=ep" "Debian: the file capability is there"
        norm() { printf '%s\n' "$1" | grep -v '^times \|^---> saved as\|^Got: '; }
        is "$(norm "$out")" "$(norm "$seq_out")" "Debian: the same log but for the times and the IDs they change"
        run_cmd "$CAIRN" fsck --check --store="$kind:$tmp/dpar"
        is "$out" "The store is consistent
" "Debian: the store is consistent"
        rm -rf "${tmp:?}/dseq" "${tmp:?}/dpar"
else
        skip "no Debian image at hand (tests/lib/debian-image.sh)" "Debian: two stages at once"
fi

tap_done
