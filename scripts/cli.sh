#!/usr/bin/env bash
# Chat from this terminal: installs chinwag if needed, starts a local registry if none answers,
# then runs the terminal client.   scripts/cli.sh [NAME] [more chinwag-cli flags]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh

registry="${CHINWAG_REGISTRY:-127.0.0.1:7420}"
host="${registry%:*}"
port="${registry##*:}"
user="${1:-${CHINWAG_USER:-$(id -un)}}"
[ $# -gt 0 ] && shift

answers() { .venv/bin/python -c "import socket,sys; socket.create_connection(('$host', $port), 1)" 2>/dev/null; }

if ! answers; then
    log="${TMPDIR:-/tmp}/chinwag-registry-$port.log"
    echo "No registry answers at $host:$port; starting one (log: $log; it stops when you quit)."
    .venv/bin/chinwag-registry --host "$host" --port "$port" >> "$log" 2>&1 &
    registry_pid=$!
    trap 'kill $registry_pid 2>/dev/null || true' EXIT
    for _ in $(seq 50); do answers && break; sleep 0.1; done
fi
.venv/bin/chinwag-cli --user "$user" --registry "$host:$port" "$@"
