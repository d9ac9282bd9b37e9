#!/usr/bin/env bash
# Install the Debian/Ubuntu packages LEMONS needs, if any are missing (idempotent).
#   scripts/install-system-deps.sh [EXTRA_PACKAGE ...]
# With root or password-less sudo it installs them; otherwise it prints the command to run.
set -euo pipefail

packages=(mma fluidsynth libfluidsynth3 fluid-soundfont-gm ffmpeg "$@")
missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present (${packages[*]})"
  exit 0
fi

command="apt-get install -y ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  sudo_cmd=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo_cmd=(sudo)
else
  echo "Missing system packages: ${missing[*]}" >&2
  echo "Install them with:" >&2
  echo "  sudo apt-get update && sudo $command" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q "${missing[@]}"
