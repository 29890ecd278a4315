#!/usr/bin/env bash
# Make sure some installed font draws emoji, so the desktop app never shows them as empty boxes:
# installs Debian's fonts-symbola (monochrome, which Tk 8.6 draws safely; colour emoji fonts
# such as Noto Color Emoji crash or misdraw Tk 8.6's Xft) with apt-get when running as root or
# with password-less sudo, and otherwise says how. The app spells out any symbol no font has.
set -uo pipefail
# A font with emoji (U+1F44D, thumbs up) is there? (fontconfig's fc-list says; Tk finds its
# fonts through fontconfig, so without it, install it too.)
if command -v fc-list >/dev/null && [ -n "$(fc-list ':charset=1f44d' family 2>/dev/null)" ]; then
  exit 0
fi
if command -v apt-get >/dev/null; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo="none"; fi
  fi
  if [ "$sudo" != "none" ]; then
    echo "== installing an emoji font (apt-get install fontconfig fonts-symbola)"
    { $sudo apt-get update -qq \
      && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fontconfig fonts-symbola; } \
      && exit 0
  fi
  echo "note: no font here draws emoji; chinwag spells them out (:thumbs up sign:)." \
    "For pictures: sudo apt-get install fonts-symbola" >&2
else
  echo "note: no font here draws emoji; chinwag spells them out (:thumbs up sign:)." \
    "Install a monochrome emoji font such as Symbola for pictures." >&2
fi
exit 0
