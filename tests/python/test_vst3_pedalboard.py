"""End-to-end test of the Lull VST3 bundle inside a real VST3 host (Spotify's pedalboard, JUCE).

Build the bundle first, with the real-time allocation check compiled in:

    cargo xtask bundle lull --features assert_process_allocs
    scripts/python-env.sh
    .venv/bin/python -m pytest tests/python -q

That debug build aborts the whole process if the plugin allocates inside `process()`, so this
suite running to completion is also the real-time-safety check: a crash here is a failure, not
flakiness. Set LULL_VST3 to test a bundle somewhere else.

How pedalboard treats latency (found by experiment, and matching its ExternalPlugin.h):
  * It counts the samples it has fed the plugin since its last reset and drops the first
    `reported_latency_samples` of output. With `reset=True` (the default) it also feeds extra
    silence at the end, so the output has the input's length and is time-aligned with it.
    An identity check at Reduction 0 through that path therefore proves that the plugin's real
    delay equals the latency it reports: any mismatch shows up as a shifted signal.
  * Once more than the latency has been fed since the reset, `reset=False` calls are passed
    through untrimmed, which lets `test_streaming_output_is_input_delayed_by_latency` see the
    raw delay.

Parameter changes made from Python reach the plugin only inside the next `process()` call (the
nice-plug wrapper ignores `setParamNormalized` while the plugin is processing, and JUCE sends the
change with the next block). `settle()` below does that explicitly where a test depends on it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pedalboard
import pytest

REPO = Path(__file__).resolve().parents[2]
BUNDLE = Path(os.environ.get("LULL_VST3", REPO / "target" / "bundled" / "Lull.vst3"))

SR = 48_000
#: The Python attribute names pedalboard derives from the parameter names and units.
PARAMS = {"reduction_db", "output_gain_db", "hum_removal", "bypass"}


def expected_latency(sample_rate: int) -> int:
    """Latency the engine documents (plugin/src/engine.rs): one STFT frame minus one sample,
    `2*hop - 1`, with a 10 ms hop rounded to whole samples. A hop is processed the moment its
    last sample arrives and read out right after, hence the `- 1`. The Rust tests check that the
    engine's real delay equals this; here we check that the host is told the same number.

    Rust's `f32::round` rounds halves away from zero (22.05 kHz: 220.5 -> 221), unlike Python's
    `round`, hence `floor(x + 0.5)`.
    """
    hop = math.floor(sample_rate * 0.010 + 0.5)
    return 2 * hop - 1


def make_signal(channels: int, seconds: float, sample_rate: int = SR, seed: int = 0) -> np.ndarray:
    """A 440 Hz sine plus white noise (different noise per channel), float32, (channels, n)."""
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    rng = np.random.default_rng(seed)
    sine = 0.3 * np.sin(2 * np.pi * 440.0 * t)
    noise = 0.05 * rng.standard_normal((channels, n))
    return (sine[None, :] + noise).astype(np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def settle(plugin, channels: int, sample_rate: int = SR) -> None:
    """Runs 100 ms of silence so pending parameter changes reach the plugin and its smoothers
    settle (50 ms linear for Reduction, 20 ms one-pole for Output Gain). A following
    `process(..., reset=True)` re-activates the plugin, which then starts exactly at the new
    values."""
    plugin.process(np.zeros((channels, sample_rate // 10), np.float32), sample_rate, reset=False)


@pytest.fixture(scope="session")
def bundle() -> Path:
    if not (BUNDLE / "Contents").is_dir():
        pytest.fail(
            f"no VST3 bundle at {BUNDLE}; build it with "
            "`cargo xtask bundle lull --features assert_process_allocs`"
        )
    return BUNDLE


@pytest.fixture
def plugin(bundle):
    """A fresh instance per test, so no test sees another's parameters or audio state."""
    return pedalboard.load_plugin(str(bundle))


def test_bundle_loads_as_lull_effect(plugin):
    assert isinstance(plugin, pedalboard.VST3Plugin)
    assert plugin.name == "Lull"
    assert plugin.is_effect and not plugin.is_instrument


def test_parameters_names_units_ranges_defaults(plugin):
    params = plugin.parameters
    assert set(params) == PARAMS

    def check_db(key, name, lo, hi, default):
        p = params[key]
        assert p.name == name
        # nice-plug declares units as " dB" (with a leading space, for "30.0 dB" display) and
        # passes that straight through as the VST3 unit string.
        assert p.label.strip() == "dB"
        assert p.units.strip() == "dB"
        assert p.type is float
        assert (p.min_value, p.max_value) == pytest.approx((lo, hi))
        assert p.step_size == pytest.approx(0.1)
        # Both ranges are linear, so the normalized default maps back linearly.
        assert lo + p.default_raw_value * (hi - lo) == pytest.approx(default, abs=1e-4)
        assert float(getattr(plugin, key)) == pytest.approx(default)

    check_db("reduction_db", "Reduction", 0.0, 60.0, 30.0)
    check_db("output_gain_db", "Output Gain", -48.0, 24.0, 0.0)

    bypass = params["bypass"]
    assert bypass.name == "Bypass"
    assert bypass.type is bool
    assert bypass.valid_values == [False, True]
    assert bool(plugin.bypass) is False

    hum = params["hum_removal"]
    assert hum.name == "Hum Removal"
    assert hum.type is bool
    assert hum.valid_values == [False, True]
    assert bool(plugin.hum_removal) is True


@pytest.mark.parametrize("sample_rate", [44_100, 48_000, 22_050, 96_000])
def test_reported_latency(plugin, sample_rate):
    # The plugin reports its latency from activate(), which pedalboard runs (for the rate of the
    # audio) inside process(). Right after load_plugin() the value is for pedalboard's default
    # preparation at 44.1 kHz, so process something at the rate under test first.
    plugin.process(np.zeros((2, 1024), np.float32), sample_rate)
    assert plugin.reported_latency_samples == expected_latency(sample_rate)


def test_expected_latency_helper_matches_documented_values():
    assert [expected_latency(sr) for sr in (22_050, 44_100, 48_000, 96_000)] == [441, 881, 959, 1919]


@pytest.mark.parametrize("channels", [1, 2], ids=["mono", "stereo"])
def test_processes_sine_plus_noise(plugin, channels):
    x = make_signal(channels, seconds=3.0)
    y = plugin.process(x, SR)  # default settings: Reduction 30 dB

    assert y.shape == x.shape
    assert y.dtype == np.float32
    assert np.all(np.isfinite(y))
    latency = expected_latency(SR)
    # A 30 dB floor cannot take the output below -30 dB of the input; -40 dB means "silent".
    for c in range(channels):
        assert rms(y[c, latency:]) > 0.01 * rms(x[c, latency:]), f"channel {c} is silent"
    if channels == 2:
        # Each channel carries its own noise: the plugin must not copy one channel to both.
        assert not np.allclose(y[0], y[1])


@pytest.mark.parametrize("sample_rate", [44_100, 48_000])
@pytest.mark.parametrize("channels", [1, 2], ids=["mono", "stereo"])
def test_zero_reduction_is_transparent(plugin, channels, sample_rate):
    """Reduction 0 dB is the identity apart from the delay. With pedalboard's latency
    compensation (reset=True) the output must equal the input sample for sample, which holds
    only if the real delay equals `reported_latency_samples`."""
    plugin.reduction_db = 0
    settle(plugin, channels, sample_rate)
    x = make_signal(channels, seconds=2.0, sample_rate=sample_rate, seed=1)

    y = plugin.process(x, sample_rate)  # reset=True: re-activated with Reduction already at 0

    assert plugin.reported_latency_samples == expected_latency(sample_rate)
    assert y.shape == x.shape
    assert np.max(np.abs(y - x)) <= 1e-4


def test_streaming_output_is_input_delayed_by_latency(plugin):
    """The same identity without pedalboard's compensation: after `settle()` has fed more than
    the latency since the reset, `reset=False` output is passed through untrimmed."""
    plugin.reduction_db = 0
    plugin.reset()
    settle(plugin, 2)
    x = make_signal(2, seconds=2.0, seed=2)

    y = plugin.process(x, SR, reset=False)

    latency = expected_latency(SR)
    assert y.shape == x.shape
    # Before the signal arrives the output is the tail of the settling silence (up to FFT
    # round-off from frames that already overlap the signal).
    assert np.max(np.abs(y[:, :latency])) <= 1e-4
    assert np.max(np.abs(y[:, latency:] - x[:, :-latency])) <= 1e-4


def test_bypass_passes_input_through(plugin):
    plugin.reduction_db = 60
    plugin.bypass = True
    settle(plugin, 2)
    x = make_signal(2, seconds=1.0, seed=3)

    y = plugin.process(x, SR)

    assert np.max(np.abs(y - x)) <= 1e-4


def test_hum_removal_takes_mains_hum_out_and_switches_off(plugin):
    """50 Hz hum with strong odd harmonics: at the default 30 dB Reduction the band gains
    alone leave it at the floor; hum removal takes it far below, once it has learned it."""
    t = np.arange(4 * SR) / SR
    hum = sum((0.1 if k % 2 else 0.03) / k * np.sin(2 * np.pi * 50.0 * k * t) for k in range(1, 12))
    x = np.stack([hum, hum]).astype(np.float32)

    def left_db(on: bool) -> float:
        plugin.hum_removal = on
        settle(plugin, 2)
        y = plugin.process(x, SR)
        return 20 * np.log10(rms(y[:, 2 * SR:]) / rms(x[:, 2 * SR:]))

    on, off = left_db(True), left_db(False)
    assert on < -40.0, f"hum left at {on:.1f} dB with hum removal"
    assert off > -35.0, f"hum left at {off:.1f} dB with hum removal off: the floor is -30 dB"


def test_output_is_independent_of_host_block_size(plugin):
    """Hosts pick any block size, including 1 and sizes unrelated to the 480-sample hop. The
    result must not depend on it (all state lives in the engine's FIFOs); the many tiny
    process() calls are also a workout for the allocation check."""
    x = make_signal(2, seconds=0.25, seed=4)
    reference = plugin.process(x, SR)  # pedalboard's default 8192-sample blocks
    for block in (1, 37, 480, 1000):
        y = plugin.process(x, SR, buffer_size=block)
        assert np.max(np.abs(y - reference)) <= 1e-6, f"block size {block}"


def test_parameter_values_stick(plugin):
    plugin.reduction_db = 12
    plugin.output_gain_db = -6.5
    plugin.hum_removal = False
    plugin.bypass = True
    assert float(plugin.reduction_db) == pytest.approx(12.0)
    assert float(plugin.output_gain_db) == pytest.approx(-6.5)
    assert bool(plugin.hum_removal) is False
    assert bool(plugin.bypass) is True
    assert plugin.parameters["reduction_db"].raw_value == pytest.approx(12.0 / 60.0, abs=1e-6)
    assert plugin.parameters["reduction_db"].string_value == "12.0"

    # Still there after audio has gone through (some plugins reset parameters on a render).
    plugin.process(make_signal(2, seconds=0.2), SR)
    assert float(plugin.reduction_db) == pytest.approx(12.0)
    assert float(plugin.output_gain_db) == pytest.approx(-6.5)
    assert bool(plugin.hum_removal) is False
    assert bool(plugin.bypass) is True

    # Values off the 0.1 dB grid snap to it; values outside the range are refused.
    plugin.reduction_db = 12.34
    assert float(plugin.reduction_db) == pytest.approx(12.3)
    with pytest.raises(ValueError):
        plugin.reduction_db = 61


def test_state_round_trip(plugin, bundle):
    plugin.reduction_db = 12
    plugin.output_gain_db = -6.5
    plugin.hum_removal = False
    plugin.bypass = True
    # The plugin learns of the changes in the next process() call (see the module docstring);
    # saved state read before that would still hold the old values.
    settle(plugin, 2)
    state = plugin.raw_state
    assert isinstance(state, bytes) and state

    restored = pedalboard.load_plugin(str(bundle))
    assert float(restored.reduction_db) == pytest.approx(30.0)
    restored.raw_state = state

    assert float(restored.reduction_db) == pytest.approx(12.0)
    assert float(restored.output_gain_db) == pytest.approx(-6.5)
    assert bool(restored.hum_removal) is False
    assert bool(restored.bypass) is True
    # And the restored instance really uses them: bypassed, it passes audio through.
    x = make_signal(2, seconds=0.5, seed=5)
    assert np.max(np.abs(restored.process(x, SR) - x)) <= 1e-4
