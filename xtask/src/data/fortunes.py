"""The fortunes of Debian's fortunes-min as the generated voices read them, and the resumable
loop that writes one WAV per sentence. Shared by `piper_voices.py` and `kokoro_voices.py`, which
`cargo xtask data` writes beside this file before running them.

Output of one voice: OUT/<fortune file>/<item>/<sentence>.wav, mono 16-bit at the voice's rate.
Each fortune (item) is written to `<item>.partial` and renamed into place, so an item directory
that exists is complete and a re-run skips it.
"""

import os
import re
import shutil
import sys
import time
import wave

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


def work(text_dir, who):
    """Every fortune as (source, index, text), in corpus order; exits with a clear message if
    a text file is missing."""
    out = []
    for source in SOURCES:
        path = os.path.join(text_dir, source)
        if not os.path.isfile(path):
            sys.exit(f"{who}: {path} is missing (is fortunes-min extracted?)")
        out += [(source, i, t) for i, t in enumerate(items(path))]
    return out


def pending(todo, out):
    """The items of `todo` whose directory under `out` does not exist yet."""
    return [w for w in todo if not os.path.isdir(os.path.join(out, w[0], f"{w[1]:04}"))]


def speak(todo, out, synthesize, who):
    """Speaks each (source, index, text) of `todo` into `out`. `synthesize(source, index,
    text)` yields (int16 mono PCM bytes, sample rate) per sentence."""
    started = time.monotonic()
    seconds = 0.0
    for n, (source, i, text) in enumerate(todo, 1):
        final = os.path.join(out, source, f"{i:04}")
        tmp = final + ".partial"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        for k, (pcm, rate) in enumerate(synthesize(source, i, text)):
            with wave.open(os.path.join(tmp, f"{k:02}.wav"), "wb") as w:
                w.setframerate(rate)
                w.setsampwidth(2)
                w.setnchannels(1)
                w.writeframes(pcm)
            seconds += len(pcm) / (2 * rate)
        os.rename(tmp, final)
        if n % 50 == 0 or n == len(todo):
            el = time.monotonic() - started
            eta = el / n * (len(todo) - n)
            print(f"{who}: {n}/{len(todo)} fortunes, {seconds / 60:.1f} min of speech, {el:.0f} s, eta {eta:.0f} s", flush=True)
