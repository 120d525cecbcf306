#!/usr/bin/env bash
# Prints the path of a Jaeger binary (the version pinned in deploy/jaeger/go.mod),
# building it once into $HOME/.cache/glsotel/jaeger-<version>/ (≈9 min on 2
# cores; later calls return at once). Tests and the compose e2e use it; users
# run the official image instead (this build has no UI assets).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
mod="$here/deploy/jaeger"
version=$(awk '$1 == "github.com/jaegertracing/jaeger" { print $2; exit }' "$mod/go.mod")
[ -n "$version" ] || { echo "jaeger.sh: no jaeger version in $mod/go.mod" >&2; exit 1; }
out="${GLSOTEL_CACHE:-$HOME/.cache/glsotel}/jaeger-$version/jaeger"
if [ ! -x "$out" ]; then
	echo "jaeger.sh: building Jaeger $version into $out (once; takes minutes)" >&2
	mkdir -p "$(dirname "$out")"
	(cd "$mod" && CGO_ENABLED=0 go build -trimpath -o "$out.tmp" github.com/jaegertracing/jaeger/cmd/jaeger)
	mv "$out.tmp" "$out"
fi
echo "$out"
