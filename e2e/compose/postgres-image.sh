#!/usr/bin/env bash
# Builds the compose test's PostgreSQL image from this host's PostgreSQL 15
# (no image registry here): FROM scratch with the server, its shared
# libraries, its data files, /bin/sh (initdb needs one) and pgentry as
# the entry point. Users get the
# official postgres image instead. Usage: postgres-image.sh TAG
set -euo pipefail
tag=$1
here="$(cd "$(dirname "$0")" && pwd)"
pg=/usr/lib/postgresql/15
[ -x "$pg/bin/postgres" ] || { echo "postgres-image.sh: no PostgreSQL 15 at $pg" >&2; exit 1; }
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/tmp" "$root/etc" "$root/var/lib/postgresql" "$root/usr/share"
chmod 1777 "$root/tmp"
tar -C / --exclude="llvmjit*" -cf - "${pg#/}" usr/share/postgresql/15 usr/share/zoneinfo | tar -C "$root" -xf -
# The libraries the programs and the server's modules load, and the loader.
for f in "$pg"/bin/postgres "$pg"/bin/initdb "$pg"/bin/pg_isready /bin/sh $(ls "$pg"/lib/*.so | grep -v llvmjit); do
	ldd "$f" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }'
done | sort -u | sed 's|^/||' | tar -C / -chf - -T - | tar -C "$root" -xf -
# initdb runs "postgres -V" through popen(3), which needs /bin/sh.
mkdir -p "$root/bin" && cp -L /bin/sh "$root/bin/sh"
printf 'root:x:0:0::/:/\npostgres:x:999:999::/var/lib/postgresql:/\n' >"$root/etc/passwd"
printf 'root:x:0:\npostgres:x:999:\n' >"$root/etc/group"
(cd "$here/pgentry" && CGO_ENABLED=0 go build -trimpath -o "$root/pgentry" .)
cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY rootfs/ /
ENV PATH=$pg/bin
ENTRYPOINT ["/pgentry"]
CMD ["postgres"]
DOCKERFILE
DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" >/dev/null
