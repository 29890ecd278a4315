#!/usr/bin/env bash
# Open the chinwag desktop app: installs chinwag if needed; the app starts a local registry when
# none answers (and stops it when it quits). Run it again, in a second terminal, to chat with
# yourself.   scripts/run.sh [NAME] [more chinwag flags]   (no NAME: the app asks)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/emoji_font.sh  # emoji as pictures, not boxes (installs fonts-symbola where it can)
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    user="$1"
    shift
    exec .venv/bin/chinwag --user "$user" "$@"
fi
exec .venv/bin/chinwag "$@"
