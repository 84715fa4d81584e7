"""Speaks the fortunes of Debian's fortunes-min with a Piper voice, one WAV per sentence.

Run by `cargo xtask data --piper` in a venv holding piper-tts and the voice package (the Rust
side installs them and passes the paths). Output (`fortunes.py`): OUT/<fortune file>/<item>/
<sentence>.wav, 22.05 kHz mono 16-bit, resumable item by item.

Piper's generator draws its noise inside onnxruntime without a seed, so two runs give
slightly different audio; the speaking rate per item is drawn from a seeded generator.
"""

import argparse
import random

from piper import PiperVoice
from piper.config import SynthesisConfig

from fortunes import items, pending, speak, work  # noqa: F401 (items: the tests read it here)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--text-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--min-length-scale", type=float, default=0.85)
    ap.add_argument("--max-length-scale", type=float, default=1.2)
    args = ap.parse_args()

    every = work(args.text_dir, "piper_voices")
    todo = pending(every, args.out)
    print(f"piper: {len(every)} fortunes, {len(every) - len(todo)} already spoken", flush=True)
    if not todo:
        return

    voice = PiperVoice.load(args.model)
    rng = random.Random(args.seed)
    # One draw per fortune in corpus order, so an item's rate does not depend on what a
    # previous run already finished.
    scale_of = {(s, i): rng.uniform(args.min_length_scale, args.max_length_scale) for s, i, _ in every}

    def synthesize(source, i, text):
        config = SynthesisConfig(length_scale=scale_of[(source, i)])
        for chunk in voice.synthesize(text, syn_config=config):
            assert chunk.sample_width == 2 and chunk.sample_channels == 1
            yield chunk.audio_int16_bytes, chunk.sample_rate

    speak(todo, args.out, synthesize, "piper")


if __name__ == "__main__":
    main()
