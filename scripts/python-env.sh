#!/usr/bin/env bash
# Creates (or reuses) the Python venv at <repo>/.venv and installs tests/python/requirements.txt
# into it. Idempotent: a second run only checks that the pinned packages are present.
#
# Usage: scripts/python-env.sh            then: .venv/bin/python -m pytest tests/python -q
# Env:   PYTHON=python3.11 to choose the interpreter (default: python3).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
req="$repo/tests/python/requirements.txt"
python="${PYTHON:-python3}"

# A venv is usable once its interpreter runs and has pip.
venv_ok() {
    [ -x "$venv/bin/python" ] && "$venv/bin/python" -m pip --version >/dev/null 2>&1
}

if ! venv_ok; then
    # A half-made venv (e.g. from a failed earlier run) would be reused by `venv` as is.
    rm -rf "$venv"
    if ! "$python" -m venv "$venv" >/dev/null 2>&1; then
        # Debian ships `venv`/`ensurepip` separately, in python3-venv.
        echo "python-env: '$python -m venv' failed; installing python3-venv" >&2
        rm -rf "$venv"
        if [ "$(id -u)" -ne 0 ]; then
            echo "python-env: need root to apt-get install python3-venv" >&2
            exit 1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq python3-venv >/dev/null
        "$python" -m venv "$venv"
    fi
    venv_ok || { echo "python-env: venv at $venv has no working pip" >&2; exit 1; }
fi

"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
echo "python-env: ready: $venv ($("$venv/bin/python" --version 2>&1))"
