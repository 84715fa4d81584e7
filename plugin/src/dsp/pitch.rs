//! Pitch correlation per band (RNNoise, PercepNet): how strongly each band of the current frame
//! repeats one pitch period earlier. Band energies cannot tell a voice from noise with the same
//! spectral envelope (babble, a hum with its overtones, a fan); periodicity can: a voiced band
//! correlates near 1 with itself a period back, noise near 0.
//!
//! Per hop: a coarse normalised cross-correlation search on a boxcar-decimated copy of the
//! input (≈ 8 kHz), refined at the host rate around the best coarse lag; then the frame one
//! period back is windowed and transformed like the current frame, and each band's correlation
//! is `Re Σ X·P* / √(Σ|X|² · Σ|P|²)` pooled with the band layout's own weights. Fixed-size after
//! construction: the engine's audio thread calls it.

use realfft::num_complex::Complex32;
use realfft::RealFftPlanner;

use super::bands::BandLayout;
use super::stft::{FrameTransform, StftSize};

/// Pitch range searched: 62.5–500 Hz, i.e. periods of 2–16 ms (RNNoise's range at 48 kHz).
pub const MIN_PERIOD_S: f32 = 0.002;
pub const MAX_PERIOD_S: f32 = 0.016;
/// Rate of the coarse search (approximately: the decimation factor is a whole number).
const COARSE_RATE_HZ: f32 = 8_000.0;
/// Per full lag range, how much the coarse score is lowered for the longest lag against the
/// shortest: a perfectly periodic frame correlates as well at twice its period, and this makes
/// the true period win the tie.
const LONG_LAG_PENALTY: f32 = 0.1;
/// Features `PitchTracker::analyze` writes after the band correlations: the normalised
/// correlation at the chosen period (voicing) and the period itself.
pub const GLOBAL_FEATURES: usize = 2;

/// Dot product with eight independent accumulators, so the compiler vectorises it (a plain
/// iterator sum must add in order and does not).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Normalised cross-correlation of `now` with `then` (same length), 0 when either is silent.
fn nccf(now: &[f32], now_energy: f32, then: &[f32], then_energy: f32) -> f32 {
    let denom = now_energy * then_energy;
    if denom > 1e-20 { dot(now, then) / denom.sqrt() } else { 0.0 }
}

/// The best-scoring lag in `lo..=hi`: `now` against the window of its length that ends `lag`
/// samples before `end`, `x[end - win - lag..end - lag]`. The window's energy
/// slides with the lag (one sample in, one out) instead of being summed again per lag; it is
/// kept in f64 so ~100 updates do not drift. `penalty(lag)` is subtracted from each score.
fn best_lag(x: &[f32], end: usize, now: &[f32], lo: usize, hi: usize, penalty: impl Fn(usize) -> f32) -> (usize, f32) {
    let win = now.len();
    let now_energy = dot(now, now);
    let mut then_energy = x[end - win - lo..end - lo].iter().map(|&v| v as f64 * v as f64).sum::<f64>();
    let mut best = (lo, f32::MIN);
    for lag in lo..=hi {
        if lag > lo {
            let (entering, leaving) = (x[end - win - lag] as f64, x[end - lag] as f64);
            then_energy = (then_energy + entering * entering - leaving * leaving).max(0.0);
        }
        let score = nccf(now, now_energy, &x[end - win - lag..end - lag], then_energy as f32) - penalty(lag);
        if score > best.1 {
            best = (lag, score);
        }
    }
    best
}

/// Streaming pitch-period search and per-band pitch correlation for one (mono) stream.
pub struct PitchTracker {
    size: StftSize,
    /// Decimation factor of the coarse search.
    decimation: usize,
    /// Period range in host samples.
    min_lag: usize,
    max_lag: usize,
    /// Host-rate input, oldest first: a frame plus the longest period plus one coarse step.
    history: Vec<f32>,
    /// Decimated `history` (means of `decimation` samples, aligned to its end).
    coarse: Vec<f32>,
    /// 1 / the longest period in host samples: the period feature is the period as a fraction
    /// of it.
    period_scale: f32,
    transform: FrameTransform,
    /// Spectrum of the frame one period back.
    delayed: Vec<Complex32>,
    cross: Vec<f32>,
    power_now: Vec<f32>,
    power_then: Vec<f32>,
    band_cross: Vec<f32>,
    band_now: Vec<f32>,
    band_then: Vec<f32>,
}

impl PitchTracker {
    pub fn new(size: StftSize, sample_rate: f32, n_bands: usize, planner: &mut RealFftPlanner<f32>) -> Self {
        let decimation = ((sample_rate / COARSE_RATE_HZ).floor() as usize).max(1);
        let min_lag = ((MIN_PERIOD_S * sample_rate).round() as usize).max(1);
        let max_lag = ((MAX_PERIOD_S * sample_rate).round() as usize).max(min_lag + 1);
        let history_len = size.fft + max_lag + decimation;
        let bins = size.bins();
        Self {
            size,
            decimation,
            min_lag,
            max_lag,
            history: vec![0.0; history_len],
            coarse: vec![0.0; history_len / decimation],
            period_scale: 1.0 / (MAX_PERIOD_S * sample_rate),
            transform: FrameTransform::new(size, planner),
            delayed: vec![Complex32::default(); bins],
            cross: vec![0.0; bins],
            power_now: vec![0.0; bins],
            power_then: vec![0.0; bins],
            band_cross: vec![0.0; n_bands],
            band_now: vec![0.0; n_bands],
            band_then: vec![0.0; n_bands],
        }
    }

    pub fn reset(&mut self) {
        self.history.fill(0.0);
    }

    /// Best period in host samples and its normalised correlation, over the frame that ends now.
    fn find_period(&mut self) -> (usize, f32) {
        let (d, fft) = (self.decimation, self.size.fft);
        let len = self.history.len();
        // Coarse: the decimated frame against itself 2…16 ms earlier.
        let n = self.coarse.len();
        let offset = len - n * d;
        for (i, c) in self.coarse.iter_mut().enumerate() {
            let s = offset + i * d;
            *c = self.history[s..s + d].iter().sum::<f32>() / d as f32;
        }
        let win = fft / d;
        let (lo, hi) = ((self.min_lag / d).max(1), (self.max_lag / d).min(n - win));
        let penalty = |lag: usize| LONG_LAG_PENALTY * (lag - lo) as f32 / (hi - lo).max(1) as f32;
        let coarse_pick = best_lag(&self.coarse, n, &self.coarse[n - win..], lo, hi, penalty).0;
        // Fine: the host-rate frame, within one coarse step of the coarse pick.
        let centre = coarse_pick * d;
        let (lo, hi) = ((centre + 1).saturating_sub(d).max(self.min_lag), (centre + d - 1).min(self.max_lag));
        best_lag(&self.history, len, &self.history[len - fft..], lo, hi, |_| 0.0)
    }

    /// Shifts in one hop of the mono input and writes, for the frame that ends with it, each
    /// band's pitch correlation (−1…1), then the voicing (the normalised correlation at the
    /// period found) and the period (as a fraction of the longest searched) into `out`
    /// (`n_bands + GLOBAL_FEATURES` values). `spectrum` is that frame's spectrum, from the
    /// engine's analyzer (the mean over channels): the same window, so the two line up.
    pub fn analyze(&mut self, hop: &[f32], spectrum: &[Complex32], layout: &BandLayout, out: &mut [f32]) {
        debug_assert_eq!(hop.len(), self.size.hop);
        debug_assert_eq!(out.len(), layout.n_bands() + GLOBAL_FEATURES);
        let len = self.history.len();
        self.history.copy_within(hop.len().., 0);
        self.history[len - hop.len()..].copy_from_slice(hop);
        let (period, voicing) = self.find_period();
        let fft = self.size.fft;
        self.transform.forward(&self.history[len - fft - period..len - period], &mut self.delayed);
        for (k, (x, p)) in spectrum.iter().zip(&self.delayed).enumerate() {
            self.cross[k] = x.re * p.re + x.im * p.im;
            self.power_now[k] = x.norm_sqr();
            self.power_then[k] = p.norm_sqr();
        }
        layout.band_energies(&self.cross, &mut self.band_cross);
        layout.band_energies(&self.power_now, &mut self.band_now);
        layout.band_energies(&self.power_then, &mut self.band_then);
        let (bands, global) = out.split_at_mut(layout.n_bands());
        for (((o, &c), &a), &b) in bands.iter_mut().zip(&self.band_cross).zip(&self.band_now).zip(&self.band_then) {
            let denom = a * b;
            // Silent bands (and bands above Nyquist) carry no periodicity.
            *o = if denom > 1e-24 { (c / denom.sqrt()).clamp(-1.0, 1.0) } else { 0.0 };
        }
        global[0] = voicing.clamp(-1.0, 1.0);
        global[1] = period as f32 * self.period_scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::bands::BandCenters;
    use crate::dsp::stft::Analyzer;

    /// Runs `signal` through an analyzer and a tracker at `rate`; returns the last hop's output.
    fn run(signal: &[f32], rate: f32) -> Vec<f32> {
        let size = StftSize::for_rate(rate, 10.0);
        let centers = BandCenters::erb(32, 20_000.0, 100.0);
        let layout = BandLayout::new(&centers, rate, size.fft);
        let mut planner = RealFftPlanner::new();
        let mut analyzer = Analyzer::new(size, &mut planner);
        let mut tracker = PitchTracker::new(size, rate, 32, &mut planner);
        let mut spectrum = vec![Complex32::default(); size.bins()];
        let mut out = vec![f32::NAN; 32 + GLOBAL_FEATURES];
        for hop in signal.chunks_exact(size.hop) {
            analyzer.push_hop(hop, &mut spectrum);
            tracker.analyze(hop, &spectrum, &layout, &mut out);
            assert!(out.iter().all(|v| v.is_finite()), "{out:?}");
        }
        out
    }

    /// A glottal-like pulse train at `f0`: harmonics up to 4 kHz with falling amplitude.
    fn voice(f0: f32, rate: f32, secs: f32) -> Vec<f32> {
        let n = (rate * secs) as usize;
        (0..n)
            .map(|i| {
                let t = i as f32 / rate;
                (1..=(4000.0 / f0) as usize)
                    .map(|h| (std::f32::consts::TAU * f0 * h as f32 * t).sin() / h as f32)
                    .sum::<f32>()
                    * 0.1
            })
            .collect()
    }

    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
            })
            .collect()
    }

    #[test]
    fn a_voice_finds_its_period_and_correlates_in_its_bands_at_every_rate() {
        for rate in [48_000.0, 44_100.0, 22_050.0, 16_000.0] {
            for f0 in [90.0, 150.0, 240.0] {
                let out = run(&voice(f0, rate, 0.3), rate);
                let period_s = out[33] * MAX_PERIOD_S;
                // The period or, at worst, twice it (equally periodic).
                let err = (period_s * f0 - 1.0).abs().min((period_s * f0 - 2.0).abs());
                assert!(err < 0.02, "{rate} Hz, f0 {f0}: period {period_s} s");
                assert!(out[32] > 0.95, "{rate} Hz, f0 {f0}: voicing {}", out[32]);
                // Bands 300 Hz–3 kHz (indices 3..20 or so) repeat almost exactly.
                let centers = BandCenters::erb(32, 20_000.0, 100.0);
                for (b, &hz) in centers.0.iter().enumerate() {
                    if (300.0..3000.0).contains(&hz) {
                        assert!(out[b] > 0.9, "{rate} Hz, f0 {f0}: band {b} ({hz} Hz) reads {}", out[b]);
                    }
                }
            }
        }
    }

    #[test]
    fn noise_does_not_correlate_and_silence_reads_zero() {
        let rate = 48_000.0;
        let out = run(&noise(rate as usize / 2, 7), rate);
        let mid = &out[4..28];
        let mean = mid.iter().sum::<f32>() / mid.len() as f32;
        assert!(mean.abs() < 0.25, "noise bands correlate by {mean}: {mid:?}");
        assert!(out[32] < 0.5, "noise voicing {}", out[32]);
        let out = run(&vec![0.0; rate as usize / 4], rate);
        assert!(out[..33].iter().all(|&v| v == 0.0), "{out:?}");
    }

    #[test]
    fn reset_forgets_the_past() {
        let rate = 48_000.0;
        let size = StftSize::for_rate(rate, 10.0);
        let layout = BandLayout::new(&BandCenters::erb(32, 20_000.0, 100.0), rate, size.fft);
        let mut planner = RealFftPlanner::new();
        let mut tracker = PitchTracker::new(size, rate, 32, &mut planner);
        let mut out = vec![0.0; 32 + GLOBAL_FEATURES];
        let spectrum = vec![Complex32::default(); size.bins()];
        for hop in voice(120.0, rate, 0.2).chunks_exact(size.hop) {
            tracker.analyze(hop, &spectrum, &layout, &mut out);
        }
        tracker.reset();
        tracker.analyze(&vec![0.0; size.hop], &spectrum, &layout, &mut out);
        assert_eq!(out[32], 0.0, "voicing after reset");
    }
}
