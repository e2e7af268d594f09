#!/usr/bin/env bash
# make demo: runs urunit as PID 1 of a new PID namespace (what a container is, see README)
# on each of service-examples/, in a scratch-like root (the static binary, busybox-static for
# the shell scripts, /etc/service): the services start, `sv status` shows them, SIGTERM (what
# `docker stop` sends) stops them gracefully, and every service's ./finish is shown to have run.
# Usage: ./demo.sh BIN [EXAMPLE...]     (needs root, or unprivileged user namespaces)
set -euo pipefail

BIN=$(realpath "${1:?usage: ./demo.sh BIN [EXAMPLE...]}")
shift
HERE=$(cd "$(dirname "$0")" && pwd)
EXAMPLES=("$@")
[ ${#EXAMPLES[@]} -gt 0 ] || EXAMPLES=(web-worker cron-app privdrop critical scratch readiness)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/urunit-demo.XXXXXX")
TAILPID=
PID1=
cleanup() {
    # A demo cut short: SIGKILL to PID 1 ends its whole namespace.
    [ -z "$PID1" ] || kill -KILL "$PID1" 2>/dev/null || true
    [ -z "$TAILPID" ] || kill "$TAILPID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

USERNS=()
[ "$(id -u)" = 0 ] || USERNS=(--user --map-root-user)

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '\033[1m-> %s\033[0m\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

CHROOT=$(command -v chroot) || die "chroot not found"
# A static busybox gives the example scripts a shell inside the root (as Alpine's does).
static_busybox() {
    BUSYBOX=$(command -v busybox || true)
    # ldd fails on a static executable.
    [ -n "$BUSYBOX" ] && ! ldd "$BUSYBOX" >/dev/null 2>&1
}
if ! static_busybox && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "demo: installing busybox-static"
    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
fi
static_busybox || die "no static busybox (apt-get install busybox-static)"

# A root like a container image's: urunit and its links in /usr/bin, /etc/passwd, the example's
# services in /etc/service; busybox's shell and tools in /bin unless the image is FROM scratch.
make_root() { # ROOT EXAMPLE
    local root=$1 ex=$2 p
    mkdir -p "$root"/{bin,usr/bin,usr/local/bin,etc,tmp,proc,dev}
    chmod 1777 "$root/tmp"
    mknod -m 666 "$root/dev/null" c 1 3 # shells start background jobs on /dev/null
    cp "$BIN" "$root/usr/bin/urunit"
    for p in $("$BIN" --list); do ln -s urunit "$root/usr/bin/$p"; done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
    cp -a "$HERE/service-examples/$ex/service" "$root/etc/service"
    if [ "$ex" = scratch ]; then
        rustc --edition 2021 -O -C strip=symbols --target x86_64-unknown-linux-musl \
            "$HERE/service-examples/scratch/demo-app.rs" -o "$root/usr/local/bin/demo-app"
    else
        cp "$BUSYBOX" "$root/bin/busybox"
        for p in $("$BUSYBOX" --list); do
            [ -e "$root/usr/bin/$p" ] || [ "$p" = busybox ] || ln -s busybox "$root/bin/$p"
        done
    fi
}

# Starts PID 1 in the background; sets PID1 (its pid as seen from here) and UNSHARE.
start_pid1() { # ROOT OUT
    local root=$1 out=$2 i
    : >"$out" # before tail opens it
    unshare "${USERNS[@]}" --pid --net --fork --mount-proc="$root/proc" \
        env -i PATH=/usr/bin:/bin:/usr/local/bin URUNIT_STOP_TIMEOUT=7 TICK=2 \
        "$CHROOT" "$root" /usr/bin/runsvdir /etc/service >"$out" 2>&1 &
    UNSHARE=$!
    tail --pid="$UNSHARE" -n +1 -f "$out" | sed -u 's/^/   | /' &
    TAILPID=$!
    for i in $(seq 100); do
        PID1=$(cat "/proc/$UNSHARE/task/$UNSHARE/children" 2>/dev/null | tr -d ' ')
        [ -n "$PID1" ] && return 0
        sleep 0.05
    done
    die "PID 1 did not start"
}

# sv inside the root, as `docker exec CONTAINER sv ...` would run it.
sv_in() { # ROOT ARGS...
    local root=$1
    shift
    env -i PATH=/usr/bin:/bin "$CHROOT" "$root" /usr/bin/sv "$@"
}

# The services as seen inside: /etc/service/NAME...
services() { # ROOT
    local d
    for d in "$1"/etc/service/*/; do printf '/etc/service/%s\n' "$(basename "$d")"; done
}

wait_up() { # ROOT
    local root=$1 i n
    n=$(services "$root" | wc -l)
    for i in $(seq 100); do
        [ "$(sv_in "$root" status $(services "$root") 2>/dev/null | grep -c '^run: ')" = "$n" ] && return 0
        sleep 0.1
    done
    sv_in "$root" status $(services "$root") || true
    die "the services did not come up"
}

# tail ends by itself once PID 1 has exited, after the last line.
stop_tail() {
    wait "$TAILPID" 2>/dev/null || true
    TAILPID=
}

# Every service's finish line, from the container output or its svlogd files.
check_finish() { # ROOT OUT
    local root=$1 out=$2 svc name line bad=0
    for svc in "$root"/etc/service/*; do
        name=${svc##*/}
        [ -e "$svc/finish" ] || [ -L "$svc/finish" ] || continue
        line=$({ grep "^$name: " "$out" || true; cat "$svc/log/main/current" 2>/dev/null || true; } |
            grep -o 'finish ran.*' | tail -1 || true)
        if [ -n "$line" ]; then
            say "$name: ./$line"
        else
            say "$name: ./finish did NOT run"
            bad=1
        fi
    done
    return $bad
}

run_example() { # EXAMPLE
    local ex=$1 root="$WORK/$1/root" out="$WORK/$1/out" rc=0
    bold "$ex: $(grep "^| \`$ex/\`" "$HERE/service-examples/README.md" | cut -d'|' -f3 | sed 's/^ //; s/ $//')"
    make_root "$root" "$ex"
    say "unshare --pid --net --fork chroot ROOT runsvdir /etc/service   (urunit is PID 1)"
    start_pid1 "$root" "$out"
    wait_up "$root"
    say "sv status /etc/service/*"
    sv_in "$root" status $(services "$root") | sed 's/^/   /'
    if [ "$ex" = critical ]; then
        say "main has a ./critical file: waiting for it to exit (it fails with code 3)"
        wait "$UNSHARE" || rc=$?
    else
        sleep 3
        say "kill -TERM PID1   (docker stop / podman stop / Kubernetes pod deletion)"
        kill -TERM "$PID1"
        wait "$UNSHARE" || rc=$?
    fi
    PID1=
    stop_tail
    say "the container's PID 1 exited with status $rc"
    if [ -e "$root/etc/service/periodic/log/main/current" ]; then
        say "periodic's job history, kept by svlogd -tt in log/main/current:"
        sed 's/^/   /' "$root/etc/service/periodic/log/main/current"
    fi
    check_finish "$root" "$out"
}

failed=()
for ex in "${EXAMPLES[@]}"; do
    [ -d "$HERE/service-examples/$ex/service" ] || die "no example $ex"
    run_example "$ex" || failed+=("$ex")
done
bold "demo done"
if [ ${#failed[@]} -gt 0 ]; then
    echo "some finish scripts did not run: ${failed[*]}"
    exit 1
fi
echo "every example started, reported its status, stopped gracefully and ran every ./finish"
