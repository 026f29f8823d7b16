#!/usr/bin/env bash
# Assembles the runtime image's whole file system in DEST: the gatehouse binary, the shared
# libraries it links (its `ldd` closure, with the dynamic loader), CA certificates, a passwd and
# group naming the unprivileged user, and the writable data directory. No shell, no package
# manager, no curl: deploy/Dockerfile copies DEST into an empty (`scratch`) image.
#
#   deploy/rootfs.sh BINARY DEST [UID]
#
# tests/deploy/check.sh runs it on this machine (the same Debian release as the build image) and
# starts the binary chrooted in DEST, so a missing library fails CI, not a deployment.
set -euo pipefail

binary=$1
dest=$2
uid=${3:-10001}

rm -rf "$dest"
install -d "$dest/usr/local/bin" "$dest/etc/ssl/certs" "$dest/var/lib/gatehouse"
install -d -m 1777 "$dest/tmp"
install -m 0755 "$binary" "$dest/usr/local/bin/gatehouse"

# Every library the binary loads, and the loader itself, at the paths the binary looks for them.
ldd "$binary" | awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }' | sort -u |
  while read -r lib; do
    cp --parents -L "$lib" "$dest"
  done

# OpenSSL (libpq's TLS, lettre and reqwest use rustls with these roots too).
cp -L /etc/ssl/certs/ca-certificates.crt "$dest/etc/ssl/certs/ca-certificates.crt"

printf 'root:x:0:0:root:/:/sbin/nologin\ngatehouse:x:%s:%s:gatehouse:/var/lib/gatehouse:/sbin/nologin\n' \
  "$uid" "$uid" >"$dest/etc/passwd"
printf 'root:x:0:\ngatehouse:x:%s:\n' "$uid" >"$dest/etc/group"
chown "$uid:$uid" "$dest/var/lib/gatehouse" 2>/dev/null || true
chmod 0700 "$dest/var/lib/gatehouse"
