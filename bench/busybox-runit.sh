#!/bin/sh
# busybox-runit.sh DIR: builds DIR/busybox from Debian's busybox source package with only its
# runit applets (runsv, runsvdir, sv, svlogd, chpst) for the bench's busybox column. Debian's
# own busybox builds leave those applets out. The machine needs no deb-src line: apt runs with
# a private source list and state under DIR/apt. On failure DIR/why.txt says which step failed
# (bench.py prints it) and the script exits 0, so `make bench` goes on without the column.
set -u
dir=$1
mkdir -p "$dir" || exit 1
dir=$(cd "$dir" && pwd)
rm -f "$dir/why.txt"
fail() { echo "busybox: $*" >&2; echo "busybox column left out: $*" > "$dir/why.txt"; exit 0; }

. /etc/os-release 2>/dev/null
suite=${VERSION_CODENAME:-bookworm}
a=$dir/apt
mkdir -p "$a/lists/partial" "$a/cache/archives/partial" "$a/src" || fail "cannot create $a"
echo "deb-src http://deb.debian.org/debian $suite main" > "$a/sources.list"
apt_opts="-o Dir::Etc::SourceList=$a/sources.list -o Dir::Etc::SourceParts=/dev/null \
 -o Dir::State::Lists=$a/lists -o Dir::Cache=$a/cache -o Debug::NoLocking=1 -o APT::Sandbox::User=root"
echo "busybox: fetching Debian's busybox source ($suite) with a private apt source list" >&2
# shellcheck disable=SC2086
apt-get -qq $apt_opts update >"$a/update.log" 2>&1 || fail "apt-get update of a deb-src list failed ($(tail -1 "$a/update.log"))"
# shellcheck disable=SC2086
(cd "$a/src" && apt-get -qq $apt_opts source --download-only busybox) >"$a/source.log" 2>&1 ||
	fail "apt-get source busybox failed ($(tail -1 "$a/source.log"))"
rm -rf "$a/tree"
if command -v dpkg-source >/dev/null; then
	dpkg-source -x "$(ls "$a"/src/busybox_*.dsc | head -1)" "$a/tree" >"$a/unpack.log" 2>&1 ||
		fail "dpkg-source -x failed ($(tail -1 "$a/unpack.log"))"
else
	mkdir -p "$a/tree" && tar -xjf "$(ls "$a"/src/busybox_*.orig.tar.bz2 | head -1)" -C "$a/tree" --strip-components=1 ||
		fail "cannot unpack the busybox source"
fi
cd "$a/tree" || fail "no source tree"
echo "busybox: building with the runit applets only" >&2
make allnoconfig >"$a/build.log" 2>&1 || fail "make allnoconfig failed"
for o in BUSYBOX RUNSV RUNSVDIR SV SVLOGD CHPST; do
	sed -i "s/^# CONFIG_$o is not set\$/CONFIG_$o=y/" .config
done
yes "" | make oldconfig >>"$a/build.log" 2>&1 || fail "make oldconfig failed"
make -j"$(nproc)" busybox >>"$a/build.log" 2>&1 || fail "the build failed ($(tail -1 "$a/build.log"))"
cp busybox "$dir/busybox.new" && mv "$dir/busybox.new" "$dir/busybox" || fail "cannot copy the binary"
echo "busybox: $dir/busybox, $(stat -c %s "$dir/busybox") bytes: $(./busybox --list | tr '\n' ' ')" >&2
