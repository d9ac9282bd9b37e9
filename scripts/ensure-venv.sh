#!/usr/bin/env bash
# Create the virtual environment and install LEMONS into it (idempotent).
#   scripts/ensure-venv.sh VENV PYTHON REQUIREMENTS_FILE
# The install is skipped when the requirement files, setup.py and the checkout path are unchanged
# since the last successful install (recorded in VENV/.lemons-installed).
set -euo pipefail

venv=$1
python=$2
requirements=$3
root=$(cd "$(dirname "$0")/.." && pwd)

if ! command -v "$python" >/dev/null 2>&1; then
  echo "error: $python not found; install Python 3.11 or run: make PYTHON=/path/to/python3.11 ..." >&2
  exit 1
fi

stamp="$venv/.lemons-installed"
wanted=$(cd "$root" && cat requirements.txt "$requirements" constraints.txt setup.py | sha256sum | cut -d' ' -f1)
wanted="$wanted $root $requirements"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && [ -x "$venv/bin/python" ]; then
  echo "virtual environment: up to date ($venv)"
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
echo "$wanted" > "$stamp"
