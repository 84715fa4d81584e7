"""What the tests of the data step's voice scripts (`xtask/src/data/*_voices.py`) share: loading
a script as a module, running it, and a tiny fortunes-min to run it on."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "xtask" / "src" / "data"


def load(name: str):
    """The script `DATA/<name>.py` as a module."""
    # The scripts import `fortunes.py` from their own directory, as they do when run.
    sys.path.insert(0, str(DATA))
    spec = importlib.util.spec_from_file_location(name, DATA / f"{name}.py")
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def run(name: str, *args: str) -> subprocess.CompletedProcess:
    """Runs `DATA/<name>.py` with `args`."""
    return subprocess.run([sys.executable, str(DATA / f"{name}.py"), *args], capture_output=True, text=True, timeout=600)


def speak_tiny_text(tmp_path_factory, texts: dict[str, str], speak):
    """Writes `texts` (file name → fortunes) as a text directory, has `speak(text_dir, out)`
    read it, and returns (text_dir, out, the finished process)."""
    root = tmp_path_factory.mktemp("voices")
    text_dir = root / "text"
    text_dir.mkdir()
    for name, text in texts.items():
        (text_dir / name).write_text(text)
    out = root / "out"
    first = speak(text_dir, out)
    assert first.returncode == 0, first.stderr
    return text_dir, out, first


def assert_speech_clips(clips, rate: int, min_seconds: float):
    """Each clip is mono 16-bit at `rate`, between `min_seconds` and 20 s long, and not silent."""
    import wave

    import numpy as np

    for clip in clips:
        with wave.open(str(clip)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (rate, 1, 2), clip
            x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64) / 32768
        assert min_seconds < len(x) / rate < 20, f"{clip}: {len(x) / rate:.2f} s"
        assert 20 * np.log10(np.sqrt(np.mean(x**2))) > -40, f"{clip} is nearly silent"
