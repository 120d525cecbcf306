#!/usr/bin/env bash
# Installs from Debian packages, when missing, what building BPF objects
# needs (clang, llvm, libbpf headers; the generated objects are committed,
# so `go build` needs none of it) and what the tests need (a PostgreSQL
# server, which the tests start themselves on a private port; GNU objdump,
# which the RET decoder's test checks it against; a Docker engine and
# docker-compose for the compose end-to-end test, started by scripts/docker.sh).
set -euo pipefail
need=()
command -v clang >/dev/null || need+=(clang)
command -v llvm-strip >/dev/null || need+=(llvm)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
command -v setpriv >/dev/null || need+=(util-linux)
command -v objdump >/dev/null || need+=(binutils)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
if [ ${#need[@]} -gt 0 ]; then
	echo "installing: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# apt's own output goes to a log (maintainer scripts can disturb a shared
	# stdout); it is shown only when the install fails.
	log=$(mktemp)
	if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${need[@]}"; } </dev/null >"$log" 2>&1; then
		cat "$log" >&2
		echo "install-deps: apt-get install ${need[*]} failed" >&2
		exit 1
	fi
	rm -f "$log"
fi
