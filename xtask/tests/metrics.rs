//! Checks of `xtask::metrics` against reference implementations and closed forms.
//!
//! Reference values (pystoi 0.4.1 for STOI, the ITU C code via PyPI `pesq` 0.0.4 for PESQ) are
//! in `fixtures/metrics/reference.json`, written by `fixtures/metrics/reference.py`:
//!
//! ```sh
//! python3 -m venv /tmp/stoi-venv
//! /tmp/stoi-venv/bin/pip install numpy scipy pystoi pesq
//! /tmp/stoi-venv/bin/python xtask/tests/fixtures/metrics/reference.py
//! ```
//!
//! The fixture signals are not stored: `fixture_signal` below generates the same float32
//! samples as the Python script (checked by the `*_fnv1a` hashes in the JSON).

use serde::Deserialize;
use xtask::metrics::{
    band_energy_ratio_db, pesq_wb, resample, si_sdr, stoi, DEFAULT_ACTIVE_RANGE_DB,
};

// ---------------------------------------------------------------- fixtures shared with Python

#[derive(Debug, Deserialize)]
struct Fixture {
    name: String,
    rate: u32,
    noise_gain: f64,
    noise_seed: u32,
    moving_average: usize,
    snr_db: f64,
    clean_fnv1a: String,
    processed_fnv1a: String,
    stoi: f64,
    /// The C code on float input (as PyPI `pesq` users call it).
    pesq_wb: Option<f64>,
    /// The C code on the 16-bit PCM our wrapper hands the `pesq` crate.
    pesq_wb_pcm16: Option<f64>,
}

fn fixtures() -> Vec<Fixture> {
    #[derive(Deserialize)]
    struct File {
        fixtures: Vec<Fixture>,
    }
    let json = include_str!("fixtures/metrics/reference.json");
    serde_json::from_str::<File>(json)
        .expect("reference.json parses")
        .fixtures
}

fn fixture(name: &str) -> Fixture {
    fixtures()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no fixture {name}"))
}

const SECONDS: usize = 3;
const SYLLABLE: f64 = 0.45;
const VOICED: f64 = 0.30;

/// `voiced()` of reference.py, operation for operation: harmonic chirps with 1/k amplitudes and
/// a sin² envelope, 0.30 s on, 0.15 s of digital silence.
fn voiced(rate: u32) -> Vec<f32> {
    use std::f64::consts::PI;
    let cap = 7000.min(rate as i64 * 45 / 100);
    (0..SECONDS * rate as usize)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let s = (t / SYLLABLE).floor();
            let tau = t - s * SYLLABLE;
            if tau >= VOICED {
                return 0.0;
            }
            let s = s as i64;
            let f_start = 100 + 25 * (s % 4);
            let (slope, f_peak) = if s % 2 == 0 {
                (150, f_start + 45)
            } else {
                (-100, f_start)
            };
            let base = f_start as f64 * tau + 0.5 * slope as f64 * tau * tau;
            let mut acc = 0.0;
            for k in 1..=cap / f_peak {
                acc += (2.0 * PI * k as f64 * base).sin() / k as f64;
            }
            let env = (PI * tau / VOICED).sin();
            (0.1 * env * env * acc) as f32
        })
        .collect()
}

/// Uniform noise in [-1, 1): top 24 bits of a 32-bit LCG, exact in f32.
fn lcg_noise(n: usize, seed: u32) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / 16_777_216.0 * 2.0 - 1.0
        })
        .collect()
}

fn moving_average(x: &[f32], m: usize) -> Vec<f32> {
    let mut acc = x.to_vec();
    for j in 1..m {
        for n in j..x.len() {
            acc[n] += x[n - j];
        }
    }
    let scale = (1.0 / m as f64) as f32;
    acc.iter().map(|a| a * scale).collect()
}

fn fnv1a(x: &[f32]) -> String {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in x.iter().flat_map(|s| s.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
    }
    format!("{h:016x}")
}

/// (clean, processed) of a fixture, as reference.py makes them.
fn fixture_signal(f: &Fixture) -> (Vec<f32>, Vec<f32>) {
    let clean = voiced(f.rate);
    let mut processed = clean.clone();
    if f.noise_gain > 0.0 {
        let gain = f.noise_gain as f32;
        let noise = lcg_noise(clean.len(), f.noise_seed);
        processed = clean
            .iter()
            .zip(&noise)
            .map(|(c, n)| c + gain * n)
            .collect();
    }
    if f.moving_average > 0 {
        processed = moving_average(&processed, f.moving_average);
    }
    (clean, processed)
}

/// The sinusoids go through the platform libm `sin` on both sides (Python's `math.sin`, Rust's
/// `f64::sin`); on glibc they agree to the bit. Should another libm differ by an ulp somewhere,
/// this test says so, while the metric tolerances below would be unaffected.
#[test]
fn fixture_signals_are_bit_identical_to_python() {
    for f in fixtures() {
        let (clean, processed) = fixture_signal(&f);
        assert_eq!(fnv1a(&clean), f.clean_fnv1a, "{} clean", f.name);
        assert_eq!(fnv1a(&processed), f.processed_fnv1a, "{} processed", f.name);
    }
}

// ---------------------------------------------------------------- STOI

#[test]
fn stoi_matches_pystoi_within_0_005() {
    let mut worst: f64 = 0.0;
    println!(
        "{:<20} {:>6} {:>7} {:>9} {:>9} {:>9}",
        "fixture", "rate", "SNR dB", "pystoi", "ours", "diff"
    );
    for f in fixtures() {
        let (clean, processed) = fixture_signal(&f);
        let ours = stoi(&clean, &processed, f.rate);
        let diff = ours - f.stoi;
        println!(
            "{:<20} {:>6} {:>7.1} {:>9.5} {:>9.5} {:>+9.5}",
            f.name, f.rate, f.snr_db, f.stoi, ours, diff
        );
        assert!(
            diff.abs() <= 0.005,
            "{}: pystoi {} vs ours {ours}",
            f.name,
            f.stoi
        );
        worst = worst.max(diff.abs());
    }
    println!("worst |diff| {worst:.5}");
}

#[test]
fn stoi_without_resampling_matches_pystoi_to_1e_9() {
    // At 10 kHz there is no resampler in the way, so the algorithm itself must agree exactly.
    let f = fixture("10k_noise_0.05");
    let (clean, processed) = fixture_signal(&f);
    let ours = stoi(&clean, &processed, f.rate);
    assert!(
        (ours - f.stoi).abs() < 1e-9,
        "pystoi {} vs ours {ours}",
        f.stoi
    );
}

#[test]
fn stoi_is_undefined_on_bad_input() {
    let clean = voiced(16_000);
    let noisy: Vec<f32> = clean
        .iter()
        .zip(lcg_noise(clean.len(), 1))
        .map(|(c, n)| c + 0.05 * n)
        .collect();
    assert!(stoi(&[], &[], 16_000).is_nan(), "empty");
    assert!(
        stoi(&clean, &noisy[1..], 16_000).is_nan(),
        "length mismatch"
    );
    assert!(stoi(&clean, &noisy, 0).is_nan(), "zero rate");
    let mut with_nan = noisy.clone();
    with_nan[100] = f32::NAN;
    assert!(stoi(&clean, &with_nan, 16_000).is_nan(), "NaN sample");
    let silence = vec![0.0; clean.len()];
    assert!(stoi(&silence, &noisy, 16_000).is_nan(), "silent clean");
    // 0.3 s: fewer than 30 STFT frames (pystoi would warn and return 1e-5).
    assert!(
        stoi(&clean[..4800], &noisy[..4800], 16_000).is_nan(),
        "too short"
    );
    // A silent processed signal is a valid (terrible) result, not an error.
    let score = stoi(&clean, &silence, 16_000);
    assert!(
        score.is_finite() && score.abs() < 0.01,
        "silent processed: {score}"
    );
}

// ---------------------------------------------------------------- SI-SDR

/// A sine and a cosine of different whole numbers of cycles over `n` samples: zero-mean and
/// orthogonal to each other (to rounding), so SI-SDR has a closed form.
fn orthogonal_pair(n: usize) -> (Vec<f32>, Vec<f32>) {
    use std::f64::consts::TAU;
    let wave = |cycles: f64, phase: f64| -> Vec<f32> {
        (0..n)
            .map(|i| (TAU * cycles * i as f64 / n as f64 + phase).sin() as f32)
            .collect()
    };
    (wave(37.0, 0.0), wave(101.0, 0.25 * TAU))
}

#[test]
fn si_sdr_closed_form() {
    let n = 16_000;
    let (reference, unit_noise) = orthogonal_pair(n);
    // estimate = 0.5·ref + σ·noise, both unit-amplitude sinusoids of equal power, so
    // SI-SDR = 10·log10(0.25 / σ²). With a DC offset on both, which zero-meaning must remove.
    for (sigma, offset) in [(0.5f32, 0.0f32), (0.1, 0.3), (0.02, -1.0), (1.0, 0.0)] {
        let estimate: Vec<f32> = reference
            .iter()
            .zip(&unit_noise)
            .map(|(r, e)| 0.5 * r + sigma * e + offset)
            .collect();
        let expected = 10.0 * (0.25 / f64::from(sigma).powi(2)).log10();
        let got = si_sdr(&reference, &estimate);
        assert!(
            (got - expected).abs() < 1e-4,
            "σ = {sigma}: expected {expected}, got {got}"
        );
        // Scale invariance: any gain on the estimate leaves the value unchanged.
        let louder: Vec<f32> = estimate.iter().map(|v| -3.0 * v).collect();
        assert!(
            (si_sdr(&reference, &louder) - got).abs() < 1e-6,
            "σ = {sigma}: not scale-invariant"
        );
    }
}

#[test]
fn si_sdr_limits_and_bad_input() {
    let (reference, orthogonal) = orthogonal_pair(8_000);
    let scaled: Vec<f32> = reference.iter().map(|r| 0.5 * r).collect();
    assert_eq!(si_sdr(&reference, &scaled), f64::INFINITY, "exact multiple");
    assert!(si_sdr(&reference, &orthogonal) < -100.0, "orthogonal");
    assert_eq!(
        si_sdr(&reference, &vec![0.25; 8_000]),
        f64::NEG_INFINITY,
        "constant estimate"
    );
    assert!(
        si_sdr(&vec![0.25; 8_000], &reference).is_nan(),
        "constant reference"
    );
    assert!(si_sdr(&[], &[]).is_nan(), "empty");
    assert!(si_sdr(&reference, &scaled[1..]).is_nan(), "length mismatch");
    let mut with_inf = scaled.clone();
    with_inf[7] = f32::INFINITY;
    assert!(si_sdr(&reference, &with_inf).is_nan(), "infinite sample");
}

// ---------------------------------------------------------------- PESQ

#[test]
fn pesq_matches_the_itu_c_code() {
    println!(
        "{:<16} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "fixture", "rate", "SNR dB", "C float", "C pcm16", "ours", "Δ float", "Δ pcm16"
    );
    for f in fixtures() {
        let (Some(float), Some(pcm16)) = (f.pesq_wb, f.pesq_wb_pcm16) else {
            continue;
        };
        let (clean, processed) = fixture_signal(&f);
        let ours = pesq_wb(&clean, &processed, f.rate).expect("scores");
        println!(
            "{:<16} {:>6} {:>6.1} {:>8.4} {:>8.4} {:>8.4} {:>+8.4} {:>+8.4}",
            f.name,
            f.rate,
            f.snr_db,
            float,
            pcm16,
            ours,
            ours - float,
            ours - pcm16
        );
        // 16-bit quantisation alone moves the C score by up to +0.03 on these signals, and at
        // 48 kHz the two sides decimate with different resamplers (scipy vs ours), so the bound
        // against float input, and at 48 kHz, is the ±0.05 of P.862 conformance.
        assert!(
            (ours - float).abs() <= 0.05,
            "{}: C {float} vs ours {ours}",
            f.name
        );
        // On identical 16 kHz PCM the crate reproduces the C code.
        if f.rate == 16_000 {
            assert!(
                (ours - pcm16).abs() <= 0.005,
                "{}: C {pcm16} vs ours {ours}",
                f.name
            );
        } else {
            assert!(
                (ours - pcm16).abs() <= 0.05,
                "{}: C {pcm16} vs ours {ours}",
                f.name
            );
        }
    }
}

#[test]
fn pesq_of_identical_signals_is_high_and_falls_with_snr() {
    let f = fixture("16k_identical");
    let (clean, _) = fixture_signal(&f);
    let identical = pesq_wb(&clean, &clean, 16_000).unwrap();
    assert!(identical >= 4.4, "identical: {identical}");

    let mut previous = identical;
    for name in [
        "16k_noise_0.001",
        "16k_noise_0.003",
        "16k_noise_0.01",
        "16k_noise_0.02",
    ] {
        let f = fixture(name);
        let (clean, processed) = fixture_signal(&f);
        let score = pesq_wb(&clean, &processed, f.rate).unwrap();
        assert!(
            score < previous,
            "{name} ({:.1} dB SNR): {score} not below {previous}",
            f.snr_db
        );
        previous = score;
    }
}

#[test]
fn pesq_reports_unscorable_input() {
    let clean = voiced(16_000);
    let silence = vec![0.0f32; clean.len()];
    let err = |c: &[f32], p: &[f32], rate: u32| pesq_wb(c, p, rate).unwrap_err().to_string();
    assert!(err(&clean[..3000], &clean[..3000], 16_000).contains("0.25 s"));
    // 0.2 s at 48 kHz is 9600 samples but only 3200 at 16 kHz.
    assert!(err(&voiced(48_000)[..9600], &voiced(48_000)[..9600], 48_000).contains("0.25 s"));
    assert!(err(&silence, &clean, 16_000).contains("clean reference is silent"));
    assert!(err(&clean, &silence, 16_000).contains("processed signal is silent"));
    assert!(err(&[], &clean, 16_000).contains("empty"));
    assert!(err(&clean, &clean, 0).contains("rate"));
    let mut with_nan = clean.clone();
    with_nan[5] = f32::NAN;
    assert!(err(&clean, &with_nan, 16_000).contains("NaN"));
    // Different lengths are fine: PESQ aligns the signals itself.
    assert!(pesq_wb(&clean, &clean[..clean.len() - 1000], 16_000).is_ok());
}

// ---------------------------------------------------------------- resampler

/// Amplitude and delay (in output samples) of a sine of `hz` in `y` (at `rate`), by projecting
/// the middle of `y`, a whole number of cycles away from the edges, on sin and cos.
fn sine_amplitude_and_delay(y: &[f32], rate: u32, hz: f64) -> (f64, f64) {
    use std::f64::consts::TAU;
    let w = TAU * hz / f64::from(rate);
    let margin = y.len() / 4;
    let cycles = ((y.len() - 2 * margin) as f64 * hz / f64::from(rate)).floor();
    let n = (cycles * f64::from(rate) / hz).round() as usize;
    let (mut s, mut c) = (0.0, 0.0);
    for (i, &v) in y[margin..margin + n].iter().enumerate() {
        let phase = w * (margin + i) as f64;
        s += f64::from(v) * phase.sin();
        c += f64::from(v) * phase.cos();
    }
    let (s, c) = (2.0 * s / n as f64, 2.0 * c / n as f64);
    // y ≈ A·sin(w·(i − d)) = A·cos(w·d)·sin(w·i) − A·sin(w·d)·cos(w·i)
    ((s * s + c * c).sqrt(), (-c).atan2(s) / w)
}

fn sine(rate: u32, hz: f64, seconds: f64) -> Vec<f32> {
    let n = (f64::from(rate) * seconds) as usize;
    (0..n)
        .map(|i| (0.5 * (std::f64::consts::TAU * hz * i as f64 / f64::from(rate)).sin()) as f32)
        .collect()
}

const RATE_PAIRS: [(u32, u32); 10] = [
    (48_000, 16_000),
    (44_100, 16_000),
    (22_050, 16_000),
    (48_000, 10_000),
    (16_000, 10_000),
    (44_100, 48_000),
    (48_000, 44_100),
    (22_050, 48_000),
    (48_000, 22_050),
    (16_000, 48_000),
];

#[test]
fn resampler_is_aligned_and_flat() {
    println!(
        "{:>6} → {:>6} {:>8} {:>11} {:>12}",
        "from", "to", "tone Hz", "gain dB", "delay smp"
    );
    for (from, to) in RATE_PAIRS {
        let odd_length = vec![0.1f32; 12_345];
        let expected_len = (12_345 * u64::from(to)).div_ceil(u64::from(from)) as usize;
        assert_eq!(
            resample(&odd_length, from, to).len(),
            expected_len,
            "{from} → {to} length"
        );
        // A low tone and one at 85 % of the lower Nyquist frequency, the top of the passband
        // the metrics rely on (7.2 kHz at 16 kHz, 4.25 kHz at 10 kHz).
        for hz in [997.0, 0.85 * f64::from(from.min(to)) / 2.0] {
            let output = resample(&sine(from, hz, 1.0), from, to);
            let (amplitude, delay) = sine_amplitude_and_delay(&output, to, hz);
            let gain_db = 20.0 * (amplitude / 0.5).log10();
            println!("{from:>6} → {to:>6} {hz:>8.0} {gain_db:>+11.5} {delay:>+12.5}");
            assert!(
                delay.abs() < 0.01,
                "{from} → {to}, {hz} Hz: delay {delay} samples"
            );
            assert!(
                gain_db.abs() < 0.01,
                "{from} → {to}, {hz} Hz: gain {gain_db} dB"
            );
        }
    }
}

#[test]
fn resampler_rejects_what_the_output_cannot_hold() {
    // 12 kHz at 48 kHz is above the 8 kHz Nyquist frequency of 16 kHz: it must not alias to 4 kHz.
    let output = resample(&sine(48_000, 12_000.0, 1.0), 48_000, 16_000);
    let (alias, _) = sine_amplitude_and_delay(&output, 16_000, 4_000.0);
    // Away from the edges, where the tone's abrupt start and end are legitimately audible.
    let middle = &output[output.len() / 4..output.len() * 3 / 4];
    let rms =
        (middle.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / middle.len() as f64).sqrt();
    assert!(
        20.0 * (alias / 0.5).log10() < -80.0,
        "4 kHz alias at {alias}"
    );
    assert!(20.0 * (rms / 0.5).log10() < -80.0, "residual rms {rms}");
}

#[test]
fn resampler_edge_cases() {
    let x = sine(48_000, 440.0, 0.1);
    assert_eq!(resample(&x, 48_000, 48_000), x, "same rate is a copy");
    assert!(resample(&[], 48_000, 16_000).is_empty());
    assert!(resample(&x, 0, 16_000).is_empty());
    assert!(resample(&x, 48_000, 0).is_empty());
    assert_eq!(resample(&[1.0], 48_000, 16_000).len(), 1);
    assert_eq!(resample(&x[..7], 44_100, 48_000).len(), 8);
    // Coprime rates work too (one large FFT block).
    assert_eq!(
        resample(&x, 48_000, 44_101).len(),
        (x.len() as u64 * 44_101).div_ceil(48_000) as usize
    );
}

// ---------------------------------------------------------------- band energy

/// The voiced fixture plus a little broadband noise under the voicing only, so that there is
/// energy above 8 kHz where the clean signal is active, and digital silence in the pauses.
fn breathy(rate: u32) -> Vec<f32> {
    let voiced = voiced(rate);
    let noise = lcg_noise(voiced.len(), 42);
    voiced
        .iter()
        .zip(&noise)
        .map(|(&v, &n)| if v == 0.0 { 0.0 } else { v + 0.005 * n })
        .collect()
}

#[test]
fn band_energy_ratio_identical_scaled_and_low_passed() {
    let clean = breathy(48_000);
    let ratio = |processed: &[f32]| {
        band_energy_ratio_db(
            &clean,
            processed,
            48_000,
            8_000.0,
            20_000.0,
            DEFAULT_ACTIVE_RANGE_DB,
        )
    };
    assert_eq!(ratio(&clean), 0.0, "identical");
    let half: Vec<f32> = clean.iter().map(|v| 0.5 * v).collect();
    assert!(
        (ratio(&half) - 20.0 * 0.5f64.log10()).abs() < 1e-9,
        "−6.02 dB: {}",
        ratio(&half)
    );
    // Band-limit to 8 kHz through a 16 kHz round trip (passband ends ≈ 7.9 kHz).
    let low_passed = resample(&resample(&clean, 48_000, 16_000), 16_000, 48_000);
    let low = ratio(&low_passed);
    assert!(low < -30.0, "low-passed at 8 kHz: {low} dB");
    // ... while the band below 7 kHz is untouched by it.
    let below = band_energy_ratio_db(
        &clean,
        &low_passed,
        48_000,
        100.0,
        7_000.0,
        DEFAULT_ACTIVE_RANGE_DB,
    );
    assert!(below.abs() < 0.1, "0.1–7 kHz: {below} dB");
}

#[test]
fn band_energy_ratio_ignores_inactive_frames() {
    // Loud noise only where the clean signal is digitally silent (mid-pause, clear of the
    // 20 ms frames that touch voicing): the active frames never see it.
    let rate = 16_000;
    let clean = voiced(rate);
    let noise = lcg_noise(clean.len(), 7);
    let pause_noise: Vec<f32> = (0..clean.len())
        .map(|i| {
            let tau = (i as f64 / f64::from(rate)) % SYLLABLE;
            if (VOICED + 0.04..SYLLABLE - 0.04).contains(&tau) {
                clean[i] + 0.3 * noise[i]
            } else {
                clean[i]
            }
        })
        .collect();
    let active_only = band_energy_ratio_db(
        &clean,
        &pause_noise,
        rate,
        4_000.0,
        8_000.0,
        DEFAULT_ACTIVE_RANGE_DB,
    );
    let every_frame = band_energy_ratio_db(&clean, &pause_noise, rate, 4_000.0, 8_000.0, 1_000.0);
    assert!(
        active_only.abs() < 1e-9,
        "active frames only: {active_only} dB"
    );
    assert!(every_frame > 10.0, "all frames: {every_frame} dB");
}

#[test]
fn band_energy_ratio_is_undefined_on_bad_input() {
    let clean = breathy(16_000);
    let nan = |p: &[f32], rate: u32, lo: f64, hi: f64| {
        band_energy_ratio_db(&clean, p, rate, lo, hi, DEFAULT_ACTIVE_RANGE_DB).is_nan()
    };
    assert!(
        nan(&clean[1..], 16_000, 4_000.0, 8_000.0),
        "length mismatch"
    );
    assert!(nan(&clean, 0, 4_000.0, 8_000.0), "zero rate");
    assert!(nan(&clean, 16_000, 6_000.0, 5_000.0), "inverted band");
    assert!(nan(&clean, 16_000, f64::NAN, 5_000.0), "NaN band edge");
    assert!(nan(&clean, 16_000, 9_000.0, 12_000.0), "band above Nyquist");
    assert!(
        band_energy_ratio_db(&[], &[], 16_000, 0.0, 1.0, 40.0).is_nan(),
        "empty"
    );
    let silence = vec![0.0; clean.len()];
    assert!(
        band_energy_ratio_db(&silence, &clean, 16_000, 4e3, 8e3, 40.0).is_nan(),
        "silent clean"
    );
    assert_eq!(
        band_energy_ratio_db(&clean, &silence, 16_000, 4e3, 8e3, 40.0),
        f64::NEG_INFINITY,
        "silent processed"
    );
}
