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
if ! command -v Xvfb >/dev/null; then
  # The Tk window tests (tests/integration/test_tk_view.py) run on a private X server.
  echo "== installing Xvfb (apt-get install xvfb) for the Tk window tests"
  sudo=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then sudo="sudo"; fi
  { $sudo apt-get update -qq \
    && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb; } \
    || echo "could not install Xvfb: the Tk window tests will fail and say so"
fi
scripts/emoji_font.sh  # the Tk tests check that emoji are drawn, not boxes
if ! command -v tmux >/dev/null; then
  # The terminal client's tests (tests/integration/test_terminal_tmux.py) type into tmux.
  echo "== installing tmux (apt-get install tmux) for the terminal client tests"
  sudo=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then sudo="sudo"; fi
  { $sudo apt-get update -qq \
    && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux; } \
    || echo "could not install tmux: the terminal client tests will fail and say so"
fi
echo "== pytest"
.venv/bin/pytest "$@"
