"""Speaks the fortunes of Debian's fortunes-min with a Piper voice, one WAV per sentence.

Run by `cargo xtask data --piper` in a venv holding piper-tts and the voice package (the Rust
side installs them and passes the paths). Output: OUT/<fortune file>/<item>/<sentence>.wav,
22.05 kHz mono 16-bit. Each fortune (item) is written to `<item>.partial` and renamed into
place, so an item directory that exists is complete and a re-run skips it.

Piper's generator draws its noise inside onnxruntime without a seed, so two runs give
slightly different audio; the speaking rate per item is drawn from a seeded generator.
"""

import argparse
import os
import random
import re
import shutil
import sys
import time
import wave

from piper import PiperVoice
from piper.config import SynthesisConfig

# The text files of fortunes-min; `.u8` are UTF-8 copies and `.dat` indexes.
SOURCES = ("fortunes", "literature", "riddles")


def items(path):
    """The fortunes of one file: blocks between `%` lines, whitespace folded, attribution
    dashes and tabs dropped so the voice reads prose."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    for block in re.split(r"^%\s*$", text, flags=re.M):
        lines = [re.sub(r"^\s*--\s*", "", l).strip() for l in block.splitlines()]
        item = " ".join(l for l in lines if l)
        item = re.sub(r"\s+", " ", item).strip()
        if len(re.findall(r"[A-Za-z]", item)) >= 8:
            yield item


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--text-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--min-length-scale", type=float, default=0.85)
    ap.add_argument("--max-length-scale", type=float, default=1.2)
    args = ap.parse_args()

    work = []
    for source in SOURCES:
        path = os.path.join(args.text_dir, source)
        if not os.path.isfile(path):
            sys.exit(f"piper_voices: {path} is missing (is fortunes-min extracted?)")
        work += [(source, i, t) for i, t in enumerate(items(path))]
    todo = [w for w in work if not os.path.isdir(os.path.join(args.out, w[0], f"{w[1]:04}"))]
    print(f"piper: {len(work)} fortunes, {len(work) - len(todo)} already spoken", flush=True)
    if not todo:
        return

    voice = PiperVoice.load(args.model)
    rng = random.Random(args.seed)
    # One draw per fortune in corpus order, so an item's rate does not depend on what a
    # previous run already finished.
    scales = [rng.uniform(args.min_length_scale, args.max_length_scale) for _ in work]
    scale_of = {(s, i): scales[k] for k, (s, i, _) in enumerate(work)}
    started = time.monotonic()
    seconds = 0.0
    for n, (source, i, text) in enumerate(todo, 1):
        final = os.path.join(args.out, source, f"{i:04}")
        tmp = final + ".partial"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        config = SynthesisConfig(length_scale=scale_of[(source, i)])
        for k, chunk in enumerate(voice.synthesize(text, syn_config=config)):
            with wave.open(os.path.join(tmp, f"{k:02}.wav"), "wb") as w:
                w.setframerate(chunk.sample_rate)
                w.setsampwidth(chunk.sample_width)
                w.setnchannels(chunk.sample_channels)
                w.writeframes(chunk.audio_int16_bytes)
            seconds += len(chunk.audio_int16_bytes) / (2 * chunk.sample_rate)
        os.rename(tmp, final)
        if n % 50 == 0 or n == len(todo):
            el = time.monotonic() - started
            eta = el / n * (len(todo) - n)
            print(f"piper: {n}/{len(todo)} fortunes, {seconds / 60:.1f} min of speech, {el:.0f} s, eta {eta:.0f} s", flush=True)


if __name__ == "__main__":
    main()
