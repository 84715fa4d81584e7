//! Per-clip measurements: duration, real bandwidth and speech-active level, and the rule for
//! dropping a clip (silent or too short).
//!
//! **Bandwidth.** The long-term average spectrum (mean power of Hann-windowed frames, ~46 ms at
//! 44.1 kHz, half overlap) is smoothed over 200 Hz so a single tonal bin cannot count as band;
//! the bandwidth is the highest frequency where it is still within [`BANDWIDTH_RANGE_DB`] of
//! its peak (peak searched above 100 Hz, so rumble or DC does not set the reference). Lossy
//! codecs and resampled sources end in a cliff, which this finds; a full-band recording's
//! quiet top octave still counts as long as it is within the range.
//!
//! **Active level.** Mean power over the 20 ms frames (10 ms hop) that are within
//! [`ACTIVE_RANGE_DB`] of the loudest frame, in dB re a full-scale square wave (a full-scale
//! sine reads −3 dB) — a simple form of ITU-T P.56's active speech level.

use realfft::RealFftPlanner;

/// How far below the spectral peak content still counts as band (DATA.md: ~50–60 dB).
pub const BANDWIDTH_RANGE_DB: f64 = 55.0;
/// Frames within this of the loudest frame are "active".
pub const ACTIVE_RANGE_DB: f64 = 40.0;
/// Clips shorter than this are dropped (too short to hold a word or a useful noise sample).
pub const MIN_DURATION_S: f64 = 0.3;
/// Clips whose loudest 20 ms frame is below this are dropped as silent.
pub const SILENCE_DBFS: f64 = -60.0;

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Analysis {
    pub duration_s: f64,
    pub rate: u32,
    pub bandwidth_hz: u32,
    pub active_level_dbfs: f64,
    /// Power of the loudest 20 ms frame, dBFS.
    pub peak_frame_dbfs: f64,
}

impl Analysis {
    /// Why the clip should not be used, if it should not.
    pub fn drop_reason(&self) -> Option<String> {
        if self.duration_s < MIN_DURATION_S {
            Some(format!("too short ({:.3} s < {MIN_DURATION_S} s)", self.duration_s))
        } else if self.peak_frame_dbfs < SILENCE_DBFS {
            Some(format!("silent (loudest frame {:.1} dBFS < {SILENCE_DBFS} dBFS)", self.peak_frame_dbfs))
        } else {
            None
        }
    }
}

pub fn analyze(samples: &[f32], rate: u32) -> Analysis {
    let (active_level_dbfs, peak_frame_dbfs) = active_level(samples, rate);
    // Rounded to what is meaningful, which also makes the numbers survive the JSON cache
    // exactly, so a re-run writes a byte-identical manifest.
    Analysis {
        duration_s: round_to(samples.len() as f64 / rate.max(1) as f64, 1e6),
        rate,
        bandwidth_hz: bandwidth_hz(samples, rate).round() as u32,
        active_level_dbfs: round_to(active_level_dbfs, 100.0),
        peak_frame_dbfs: round_to(peak_frame_dbfs, 100.0),
    }
}

fn round_to(x: f64, per_unit: f64) -> f64 {
    (x * per_unit).round() / per_unit
}

fn db(power: f64) -> f64 {
    10.0 * (power + 1e-20).log10()
}

/// Mean power of each 20 ms frame, 10 ms apart (one frame for a shorter clip).
fn frame_powers(samples: &[f32], rate: u32) -> Vec<f64> {
    let frame = ((rate as f64 * 0.020).round() as usize).max(1);
    let hop = (frame / 2).max(1);
    if samples.len() <= frame {
        vec![mean_square(samples)]
    } else {
        (0..=(samples.len() - frame) / hop).map(|i| mean_square(&samples[i * hop..i * hop + frame])).collect()
    }
}

/// (active level, loudest frame), both dBFS. A clip of digital silence reads −200 dB.
pub fn active_level(samples: &[f32], rate: u32) -> (f64, f64) {
    let powers = frame_powers(samples, rate);
    let loudest = powers.iter().cloned().fold(0.0, f64::max);
    let threshold = loudest * 10f64.powf(-ACTIVE_RANGE_DB / 10.0);
    let active: Vec<f64> = powers.into_iter().filter(|&p| p >= threshold && p > 0.0).collect();
    let level = if active.is_empty() { 0.0 } else { active.iter().sum::<f64>() / active.len() as f64 };
    (db(level), db(loudest))
}

/// Frames quieter than this (−90 dBFS) are digital silence, not a recording's noise floor.
const DIGITAL_SILENCE_POWER: f64 = 1e-9;
/// The noise floor is this percentile of a clip's frame powers.
const FLOOR_PERCENTILE: f64 = 5.0;

/// A recording's own noise floor in dBFS: the 5th percentile of its 20 ms frame powers,
/// digital silence left out (a clip padded with zeros is not the quieter for it). In a clip
/// with pauses that is the room and the mic; in one with none it is the quietest speech, so it
/// reads high only when the clip is too short to have pauses. `None` for digital silence.
pub fn noise_floor_db(samples: &[f32], rate: u32) -> Option<f64> {
    let mut powers: Vec<f64> = frame_powers(samples, rate).into_iter().filter(|&p| p > DIGITAL_SILENCE_POWER).collect();
    if powers.is_empty() {
        return None;
    }
    powers.sort_by(f64::total_cmp);
    let k = ((powers.len() - 1) as f64 * FLOOR_PERCENTILE / 100.0).round() as usize;
    Some(db(powers[k]))
}

fn mean_square(x: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    x.iter().map(|&s| s as f64 * s as f64).sum::<f64>() / x.len() as f64
}

/// The long-term average power spectrum (mean DC removed), with the bin spacing in Hz.
pub fn average_spectrum(samples: &[f32], rate: u32) -> (Vec<f64>, f64) {
    let n = if rate <= 24_000 { 1024 } else { 2048 };
    let hop = n / 2;
    let mean = samples.iter().map(|&s| s as f64).sum::<f64>() / samples.len().max(1) as f64;
    let window: Vec<f64> = (0..n).map(|i| (std::f64::consts::PI * (i as f64 + 0.5) / n as f64).sin().powi(2)).collect();
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut acc = vec![0.0f64; n / 2 + 1];
    // Short clips are zero-padded into one frame rather than skipped.
    let frames = if samples.len() <= n { 1 } else { (samples.len() - n) / hop + 1 };
    for f in 0..frames {
        for (i, x) in input.iter_mut().enumerate() {
            *x = samples.get(f * hop + i).map_or(0.0, |&s| (s as f64 - mean) * window[i]);
        }
        if fft.process(&mut input, &mut spectrum).is_err() {
            continue;
        }
        for (a, c) in acc.iter_mut().zip(&spectrum) {
            *a += c.norm_sqr();
        }
    }
    acc.iter_mut().for_each(|a| *a /= frames as f64);
    (acc, rate as f64 / n as f64)
}

/// Highest frequency within [`BANDWIDTH_RANGE_DB`] of the smoothed spectrum's peak; 0 for
/// silence.
pub fn bandwidth_hz(samples: &[f32], rate: u32) -> f64 {
    if samples.is_empty() || rate == 0 {
        return 0.0;
    }
    let (spectrum, bin_hz) = average_spectrum(samples, rate);
    let smooth = moving_average(&spectrum, (100.0 / bin_hz).ceil() as usize);
    let first = ((100.0 / bin_hz).ceil() as usize).min(smooth.len() - 1);
    let peak = smooth[first..].iter().cloned().fold(0.0, f64::max);
    if peak <= 0.0 {
        return 0.0;
    }
    let floor = peak * 10f64.powf(-BANDWIDTH_RANGE_DB / 10.0);
    smooth.iter().rposition(|&p| p >= floor).map_or(0.0, |k| k as f64 * bin_hz)
}

/// Mean over `±half` bins (fewer at the ends).
fn moving_average(x: &[f64], half: usize) -> Vec<f64> {
    let mut prefix = vec![0.0; x.len() + 1];
    for (i, v) in x.iter().enumerate() {
        prefix[i + 1] = prefix[i] + v;
    }
    (0..x.len())
        .map(|i| {
            let (lo, hi) = (i.saturating_sub(half), (i + half + 1).min(x.len()));
            (prefix[hi] - prefix[lo]) / (hi - lo) as f64
        })
        .collect()
}
