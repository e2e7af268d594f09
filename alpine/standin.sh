#!/bin/sh
# Makes a local stand-in for the Alpine base image, for machines with no registry:
# Debian's static busybox (the same tool set as Alpine's) with its links, /etc/passwd and
# /etc/group. Usage: alpine/standin.sh IMAGE_NAME [PODMAN...]   (default podman command: podman)
set -eu
name=$1; shift
[ $# -gt 0 ] || set -- podman
bb=$(command -v busybox) || { echo "standin: busybox not found (apt-get install busybox-static)" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc" "$root/tmp" "$root/root"
chmod 1777 "$root/tmp"
cp "$bb" "$root/bin/busybox"
for a in $("$bb" --list); do [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' > "$root/etc/group"
tar -C "$root" -c . | "$@" import -q --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$name" >/dev/null
echo "$name"
