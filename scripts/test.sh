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
echo "== pytest"
.venv/bin/pytest "$@"
