#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, types, architecture contracts, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy --strict"
.venv/bin/mypy
echo "== import-linter"
.venv/bin/lint-imports
# install_missing BINARY PACKAGES WHY: install Debian packages with apt-get (as root, or through
# sudo) when BINARY is not there; on failure say which tests will fail or skip, and go on.
install_missing() {
  local binary="$1" packages="$2" why="$3"
  if command -v "$binary" >/dev/null || [ -x "/usr/sbin/$binary" ]; then return 0; fi
  echo "== installing $binary (apt-get install $packages) for $why"
  local sudo=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then sudo="sudo"; fi
  # A package's own service (redis-server, nginx) must not start system-wide on install: a
  # policy-rc.d that answers 101 ("action forbidden") stops invoke-rc.d, unless one is there.
  local policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod 755 "$policy" \
      || policy=""
  fi
  # shellcheck disable=SC2086 # $packages is a list of words
  { $sudo apt-get update -qq \
    && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages; } \
    || echo "could not install $packages: $why will fail or skip and say so"
  if [ -n "$policy" ]; then $sudo rm -f "$policy"; fi
}
# The Tk window tests (tests/integration/test_tk_view.py) run on a private X server.
install_missing Xvfb xvfb "the Tk window tests"
scripts/emoji_font.sh  # the Tk tests check that emoji are drawn, not boxes
# The terminal client's tests (tests/integration/test_terminal_tmux.py) type into tmux.
install_missing tmux tmux "the terminal client tests"
# The registry's store and WebSocket tests run a real redis-server and an nginx in front
# (tests/services.py starts them on free ports; the packages' own services stay stopped).
install_missing redis-server redis-server "the Redis tests"
install_missing nginx nginx "the nginx (WebSocket proxy) tests"
# An exported HTML page is opened by a real headless browser (tests/integration/test_export_import.py).
install_missing chromium chromium "the HTML export's browser test"
echo "== pytest"
.venv/bin/pytest "$@"
