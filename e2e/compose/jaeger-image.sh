#!/usr/bin/env bash
# Builds the compose test's Jaeger image from the cached source build
# (scripts/jaeger.sh; no image registry here), FROM scratch; kept while the
# binary is unchanged. Users get the official jaegertracing/jaeger image,
# which has the UI too. Usage: jaeger-image.sh TAG
set -euo pipefail
tag=$1
bin=$("$(dirname "$0")/../../scripts/jaeger.sh")
key=$(stat -c '%s-%Y' "$bin")
if [ "$(docker image inspect -f '{{index .Config.Labels "io.glsotel.source"}}' "$tag" 2>/dev/null)" = "$key" ]; then
	exit 0
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$bin" "$ctx/jaeger"
printf 'FROM scratch\nLABEL io.glsotel.source="%s"\nCOPY jaeger /jaeger\nENTRYPOINT ["/jaeger"]\n' "$key" >"$ctx/Dockerfile"
DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" >/dev/null
