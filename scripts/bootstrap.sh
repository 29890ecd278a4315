#!/usr/bin/env bash
# Create .venv and install chinwag with its development tools, once per change of pyproject.toml
# or constraints.txt (the versions CI tested, pinned).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "chinwag needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
    exit 1
fi
if ! "$PYTHON" -c 'import tkinter' 2>/dev/null; then
    echo "note: this Python has no tkinter; the terminal client works, the desktop app will not" >&2
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.chinwag-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -c constraints.txt -e '.[dev]'
    touch "$stamp"
fi
