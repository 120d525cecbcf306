#!/usr/bin/env bash
# Makes sure a Docker engine answers: installs docker.io and docker-compose
# from Debian when missing (scripts/install-deps.sh) and starts dockerd when
# none runs. Our hosts have no bridge or iptables for containers: the engine
# runs with neither, and compose files use the host's network.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
docker info >/dev/null 2>&1 && exit 0
if ! pgrep -x dockerd >/dev/null; then
	log="${GLSOTEL_CACHE:-$HOME/.cache/glsotel}/dockerd.log"
	mkdir -p "$(dirname "$log")"
	echo "docker.sh: starting dockerd (log: $log)" >&2
	setsid nohup dockerd --iptables=false --bridge=none >"$log" 2>&1 </dev/null &
fi
for _ in $(seq 100); do
	docker info >/dev/null 2>&1 && exit 0
	sleep 0.3
done
echo "docker.sh: dockerd does not answer after 30 s; see $log" >&2
exit 1
