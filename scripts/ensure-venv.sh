#!/usr/bin/env bash
# Create the virtual environment and install LEMONS into it (idempotent).
#   scripts/ensure-venv.sh VENV PYTHON REQUIREMENTS_FILE
# The install is skipped when REQUIREMENTS_FILE, or a file that includes it, was installed into VENV
# from this checkout and none of what it reads has changed since (scripts/venv_stamp.py keeps the
# record in VENV/.lemons-installed): `make test` installs requirements-dev.txt, which includes
# requirements.txt, so a `make demo` after it installs nothing.
set -euo pipefail

venv=$1
python=$2
requirements=$3
root=$(cd "$(dirname "$0")/.." && pwd)

if ! command -v "$python" >/dev/null 2>&1; then
  echo "error: $python not found; install Python 3.11 or run: make PYTHON=/path/to/python3.11 ..." >&2
  exit 1
fi

stamp=("$python" "$root/scripts/venv_stamp.py")
if [ -x "$venv/bin/python" ] && "${stamp[@]}" check "$venv" "$root" "$requirements"; then
  echo "virtual environment: up to date ($venv, $requirements)"
  exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "creating virtual environment in $venv"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
echo "installing $requirements into $venv (the first time this downloads several GB)"
"$venv/bin/python" -m pip install -q -r "$root/$requirements" -c "$root/constraints.txt"
"$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e "$root"
"$venv/bin/python" -m pip check
"${stamp[@]}" record "$venv" "$root" "$requirements"
