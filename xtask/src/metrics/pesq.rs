//! Wideband PESQ (ITU-T P.862.2) through the pure-Rust `pesq` crate, at any input rate.

use anyhow::{anyhow, bail, Context};

use super::resample::resample;

/// P.862.2 is defined at 16 kHz only.
const RATE: u32 = 16_000;
/// The `pesq` crate's minimum, 0.25 s; checked here for a clearer message.
const MIN_SAMPLES: usize = RATE as usize / 4;

/// Wideband PESQ MOS-LQO of `processed` against `clean`, both at `rate` Hz (about 1.0–4.64;
/// higher is better).
///
/// Signals at other rates are resampled to 16 kHz with [`resample`](super::resample). The two
/// may differ in length: PESQ aligns them itself. Both are scaled by one common gain so the
/// louder peak sits at 16-bit full scale before quantising to the `i16` the crate takes; PESQ
/// normalises levels itself, so this only keeps quantisation noise out of the score (the same
/// common peak normalisation as the PyPI `pesq` wrapper of the ITU C code).
///
/// # Errors
/// A zero rate; an empty signal or one with NaN/∞ samples; less than 0.25 s of audio; a silent
/// (all-zero) clean or processed signal; or no speech found by PESQ's voice-activity detector.
pub fn pesq_wb(clean: &[f32], processed: &[f32], rate: u32) -> anyhow::Result<f64> {
    if rate == 0 {
        bail!("PESQ: sample rate is 0");
    }
    super::check_pair(clean, processed, false).map_err(|problem| anyhow!("PESQ: {problem}"))?;
    let (clean, processed) = (resample(clean, rate, RATE), resample(processed, rate, RATE));
    let shortest = clean.len().min(processed.len());
    if shortest < MIN_SAMPLES {
        bail!(
            "PESQ needs at least 0.25 s of audio ({MIN_SAMPLES} samples at 16 kHz); the shorter \
             signal has {shortest} samples ({:.3} s)",
            shortest as f64 / f64::from(RATE)
        );
    }
    let peak = |x: &[f32]| x.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    let (clean_peak, processed_peak) = (peak(&clean), peak(&processed));
    if clean_peak == 0.0 {
        bail!("PESQ: the clean reference is silent");
    }
    if processed_peak == 0.0 {
        // PESQ's level alignment divides by the signal's power; there is no score to give.
        bail!("PESQ: the processed signal is silent");
    }
    let gain = f32::from(i16::MAX) / clean_peak.max(processed_peak);
    let to_pcm = |x: &[f32]| -> Vec<i16> {
        // `as` saturates, and the gain keeps every sample within ±32767 anyway.
        x.iter().map(|&s| (s * gain).round() as i16).collect()
    };
    let score = ::pesq::pesq_wb(&to_pcm(&clean), &to_pcm(&processed)).context("PESQ-WB scoring")?;
    let score = f64::from(score);
    if !score.is_finite() {
        bail!("PESQ returned a non-finite score ({score})");
    }
    Ok(score)
}
