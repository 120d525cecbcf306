#!/usr/bin/env bash
# Builds the compose demo's service images, FROM scratch with the static
# binaries (no Go image is pulled): glsotel-demo-front, glsotel-demo-back
# (tags from DEMO_FRONT_IMAGE / DEMO_BACK_IMAGE, default :latest).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
for app in front back; do
	(cd "$here/demo" && CGO_ENABLED=0 go build -trimpath -o "$ctx/$app/$app" "./$app")
	printf 'FROM scratch\nCOPY %s /%s\nENTRYPOINT ["/%s"]\n' "$app" "$app" "$app" >"$ctx/$app/Dockerfile"
	var="DEMO_$(echo "$app" | tr a-z A-Z)_IMAGE"
	tag="${!var:-glsotel-demo-$app:latest}"
	DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx/$app" >/dev/null
	echo "$tag"
done
