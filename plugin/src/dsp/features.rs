//! Network input features from band energies: log energies on an absolute scale, plus the same
//! with a slow running mean removed per band (as in DeepFilterNet's feature path). The first
//! tells the network how loud a band is; the second what changed, independent of level.
//! The lowest ("fine") bins add one mean-removed log power each: against a steady noise floor,
//! which sits near zero, a voice's harmonics stand out as peaks 2–5 bins apart. With deep
//! filtering they also get their phase advance since the previous hop as a unit vector: a steady
//! harmonic advances by a steady angle set by its exact frequency, noise by a random one, and
//! the filter taps that pull the harmonic out depend on that angle.

use realfft::num_complex::Complex32;

use super::snr::SnrEstimator;
use crate::model::ModelConfig;

/// Log-energy floor (dB): silence, and bands above Nyquist, sit here.
const FLOOR_DB: f32 = -120.0;
/// Initial running mean (dB), a quiet room: the first second settles from here.
const MEAN_INIT_DB: f32 = -70.0;
/// The noise floor is the minimum band energy over this long (minimum statistics: long enough
/// to span a pause between syllables, short enough to follow noise that gets louder)…
pub const NOISE_FLOOR_WINDOW_S: f32 = 1.5;
/// …kept as the minima of this many sub-windows, so a minimum leaves the window a sub-window
/// at a time instead of needing the whole history.
const NOISE_FLOOR_SUBWINDOWS: usize = 6;
/// Band energies at or below this (dB) are digital silence to the noise floor.
const SILENCE_DB: f32 = FLOOR_DB + 20.0;

/// Adds `scale · |X_k|²` for one channel's spectrum into `power`. Called once per channel with
/// `scale = 1 / (fft_size · channels)` this gives the channels' mean power per bin, normalised
/// so that white noise of variance σ² reads ≈ σ²/2 per bin whatever the FFT size.
pub fn accumulate_power(spectrum: &[Complex32], scale: f32, power: &mut [f32]) {
    debug_assert_eq!(spectrum.len(), power.len());
    for (p, x) in power.iter_mut().zip(spectrum) {
        *p += scale * x.norm_sqr();
    }
}

fn to_db(energy: f32) -> f32 {
    (10.0 * (energy + 1e-12).log10()).max(FLOOR_DB)
}

/// Adds `X_t · conj(X_{t−1})` for one channel's fine bins into `advance`: summed over channels,
/// its angle is the bins' phase advance over one hop.
pub fn accumulate_phase_advance(current: &[Complex32], previous: &[Complex32], advance: &mut [Complex32]) {
    for ((a, x), p) in advance.iter_mut().zip(current).zip(previous) {
        *a += x * p.conj();
    }
}

/// Streaming feature extractor for one stream (one set of band energies and bin powers per hop).
#[derive(Debug, Clone)]
pub struct FeatureExtractor {
    n_bands: usize,
    fine_bins: usize,
    /// `ModelConfig::n_features`, the width `compute` writes.
    n_features: usize,
    /// Running means: the bands', then the fine bins'.
    mean_db: Vec<f32>,
    /// Per-hop decay of the running mean.
    alpha: f32,
    /// With `floor_features`, the noise-floor tracker of every band.
    floor: Option<NoiseFloor>,
    /// With `snr_features`, the SNR estimator of every band.
    snr: Option<SnrEstimator>,
    /// With `pitch_features`, how many pitch features each hop takes (bands + frame-wide).
    pitch_width: usize,
}

/// Running minimum of each band's log energy over the last `NOISE_FLOOR_WINDOW_S`: the minima
/// of the current sub-window and of the `NOISE_FLOOR_SUBWINDOWS` − 1 before it. Fixed-size
/// after construction (the engine's audio thread calls `push`).
#[derive(Debug, Clone)]
struct NoiseFloor {
    /// Hops per sub-window.
    hops: usize,
    /// Hops pushed into the current sub-window.
    filled: usize,
    /// Per band: the current sub-window's minimum.
    current: Vec<f32>,
    /// Sub-window-major: the finished sub-windows' minima, oldest overwritten first.
    past: Vec<f32>,
    /// Next sub-window slot in `past` to overwrite.
    slot: usize,
}

impl NoiseFloor {
    fn new(n_bands: usize, hop_s: f32) -> Self {
        let hops = ((NOISE_FLOOR_WINDOW_S / NOISE_FLOOR_SUBWINDOWS as f32 / hop_s).round() as usize).max(1);
        let mut floor = Self {
            hops,
            filled: 0,
            current: vec![0.0; n_bands],
            past: vec![0.0; n_bands * (NOISE_FLOOR_SUBWINDOWS - 1)],
            slot: 0,
        };
        floor.reset();
        floor
    }

    /// Forgets everything: the first hop pushed is the floor until a lower one comes.
    fn reset(&mut self) {
        self.current.fill(f32::MAX);
        self.past.fill(f32::MAX);
        self.filled = 0;
        self.slot = 0;
    }

    /// Takes band `b`'s log energy for this hop and returns its floor (the window's minimum,
    /// this hop included). Call for every band in order, then `end_hop`. Energies at or below
    /// `SILENCE_DB` (digital silence: a dropout, a gate, NaN input zeroed by the engine) do not
    /// count: otherwise the noise that comes back afterwards would read as far above a floor of
    /// −120 dB for a whole window. Until a band has a floor, it is `db` itself.
    fn push(&mut self, b: usize, db: f32) -> f32 {
        let n = self.current.len();
        let c = &mut self.current[b];
        if db > SILENCE_DB {
            *c = c.min(db);
        }
        let floor = self.past.iter().skip(b).step_by(n).fold(*c, |m, &p| m.min(p));
        if floor == f32::MAX { db } else { floor }
    }

    /// Closes a hop; every `hops` hops the current sub-window becomes the newest past one.
    fn end_hop(&mut self) {
        self.filled += 1;
        if self.filled == self.hops {
            let n = self.current.len();
            self.past[self.slot * n..(self.slot + 1) * n].copy_from_slice(&self.current);
            self.slot = (self.slot + 1) % (NOISE_FLOOR_SUBWINDOWS - 1);
            self.current.fill(f32::MAX);
            self.filled = 0;
        }
    }
}

impl FeatureExtractor {
    /// For a model's configuration; `hop_s`: hop duration in seconds.
    pub fn new(config: &ModelConfig, hop_s: f32) -> Self {
        let (n_bands, fine_bins) = (config.n_bands, config.fine_bins);
        Self {
            n_bands,
            fine_bins,
            n_features: config.n_features(),
            mean_db: vec![MEAN_INIT_DB; n_bands + fine_bins],
            alpha: (-hop_s / config.norm_tau_s).exp(),
            floor: config.floor_features.then(|| NoiseFloor::new(n_bands, hop_s)),
            snr: config.snr_features.then(|| SnrEstimator::new(n_bands, hop_s, 10f32.powf(SILENCE_DB / 10.0))),
            pitch_width: config.pitch_inputs(),
        }
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    pub fn reset(&mut self) {
        self.mean_db.fill(MEAN_INIT_DB);
        if let Some(floor) = &mut self.floor {
            floor.reset();
        }
        if let Some(snr) = &mut self.snr {
            snr.reset();
        }
    }

    /// Writes one hop's features: `[absolute; mean-removed; above the noise floor (with
    /// `floor_features`); a-posteriori SNR; a-priori SNR (both with `snr_features`); pitch (with
    /// `pitch_features`: `PitchTracker::analyze`'s band correlations, voicing and period, passed
    /// in `pitch` as they are); fine mean-removed; fine phase advance (cos, sin)]`. Inputs: the
    /// band energies, the bin powers (`power`, from bin 0) and, with deep filtering, the fine
    /// bins' `advance` (`accumulate_phase_advance`; ignored otherwise). Fine bins past the end of
    /// `power` or `advance` read as silence.
    pub fn compute(&mut self, energies: &[f32], power: &[f32], advance: &[Complex32], pitch: &[f32], features: &mut [f32]) {
        let n = self.n_bands;
        debug_assert_eq!(energies.len(), n);
        debug_assert_eq!(features.len(), self.n_features());
        let (abs, rel) = features.split_at_mut(n);
        let (band_mean, fine_mean) = self.mean_db.split_at_mut(n);
        let (band_rel, rest) = rel.split_at_mut(n);
        let (above_floor, rest) = rest.split_at_mut(if self.floor.is_some() { n } else { 0 });
        let (snr_post, rest) = rest.split_at_mut(if self.snr.is_some() { n } else { 0 });
        let (snr_prior, rest) = rest.split_at_mut(if self.snr.is_some() { n } else { 0 });
        let (pitch_out, rest) = rest.split_at_mut(self.pitch_width);
        debug_assert_eq!(pitch.len(), self.pitch_width);
        pitch_out.copy_from_slice(pitch);
        let (fine_rel, phase) = rest.split_at_mut(self.fine_bins);
        let alpha = self.alpha;
        // Moves a running mean towards `db`; returns the mean-removed feature.
        let relative = |mean: &mut f32, db: f32| {
            *mean = alpha * *mean + (1.0 - alpha) * db;
            (db - *mean) / 20.0
        };
        for (b, (((&e, m), a), r)) in energies.iter().zip(band_mean).zip(abs).zip(band_rel).enumerate() {
            let db = to_db(e);
            *a = (db + 40.0) / 30.0;
            *r = relative(m, db);
            if let Some(floor) = &mut self.floor {
                above_floor[b] = (db - floor.push(b, db)) / 20.0;
            }
            if let Some(snr) = &mut self.snr {
                (snr_post[b], snr_prior[b]) = snr.push(b, e);
            }
        }
        if let Some(floor) = &mut self.floor {
            floor.end_hop();
        }
        for (k, (m, r)) in fine_mean.iter_mut().zip(fine_rel).enumerate() {
            *r = relative(m, to_db(power.get(k).copied().unwrap_or(0.0)));
        }
        for (k, p) in phase.chunks_exact_mut(2).enumerate() {
            let a = advance.get(k).copied().unwrap_or_default();
            let norm = a.norm();
            // Below this the bins hold digital silence and the angle means nothing.
            let (c, s) = if norm > 1e-20 { (a.re / norm, a.im / norm) } else { (0.0, 0.0) };
            p[0] = c;
            p[1] = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_advance_features_are_the_unit_vector_of_the_advance() {
        let config = ModelConfig { n_bands: 4, fine_bins: 3, df_order: 2, floor_features: false, ..ModelConfig::default() };
        let mut fx = FeatureExtractor::new(&config, 0.01);
        assert_eq!(fx.n_features(), config.n_features());
        // Bin 0 turns by 0.7 rad at any level, bin 1 is silent, bin 2 does not exist.
        let previous = [Complex32::from_polar(3.0, 0.2), Complex32::default()];
        let current = [Complex32::from_polar(0.001, 0.9), Complex32::default()];
        let mut advance = [Complex32::default(); 2];
        accumulate_phase_advance(&current, &previous, &mut advance);
        let mut features = vec![f32::NAN; config.n_features()];
        fx.compute(&[1.0; 4], &[1.0; 2], &advance, &[], &mut features);
        let phase = &features[2 * 4 + 3..];
        assert!((phase[0] - 0.7f32.cos()).abs() < 1e-5 && (phase[1] - 0.7f32.sin()).abs() < 1e-5, "{phase:?}");
        assert_eq!(&phase[2..], &[0.0; 4]);
        assert!(features.iter().all(|f| f.is_finite()));
    }

    /// Runs `fx` on a band energy of `db` in every band for `hops` hops and returns the
    /// above-the-floor feature of band 0 at each.
    fn floor_feature(fx: &mut FeatureExtractor, n_bands: usize, db: f32, hops: usize) -> Vec<f32> {
        let mut features = vec![f32::NAN; fx.n_features()];
        let e = vec![10f32.powf(db / 10.0); n_bands];
        (0..hops)
            .map(|_| {
                fx.compute(&e, &[], &[], &[], &mut features);
                assert!(features.iter().all(|f| f.is_finite()));
                features[2 * n_bands]
            })
            .collect()
    }

    #[test]
    fn floor_feature_reads_the_level_above_the_quietest_hop_of_the_last_window() {
        let config = ModelConfig { n_bands: 3, floor_features: true, ..ModelConfig::default() };
        assert_eq!(config.n_features(), 9);
        let mut fx = FeatureExtractor::new(&config, 0.01);
        // Steady noise at −50 dB: no SNR from the first hop on.
        assert!(floor_feature(&mut fx, 3, -50.0, 200).iter().all(|&f| f.abs() < 1e-5));
        // Syllables 30 dB up with pauses between: the floor stays on the noise.
        for _ in 0..4 {
            assert!(floor_feature(&mut fx, 3, -20.0, 30).iter().all(|&f| (f - 1.5).abs() < 1e-5));
            assert!(floor_feature(&mut fx, 3, -50.0, 20).iter().all(|&f| f.abs() < 1e-5));
        }
        // The noise steps up 20 dB for good: the old floor holds for at least 1.25 s (the window
        // less a sub-window) and is gone within 1.5 s.
        let up = floor_feature(&mut fx, 3, -30.0, 160);
        assert!(up[..125].iter().all(|&f| (f - 1.0).abs() < 1e-5), "{up:?}");
        assert!(up[150..].iter().all(|&f| f.abs() < 1e-5), "{up:?}");
        // Quieter than the floor: it follows at once.
        assert!(floor_feature(&mut fx, 3, -60.0, 5).iter().all(|&f| f.abs() < 1e-5));
        // Digital silence reads far below the floor but does not become it: the noise that
        // comes back after a dropout reads 0, not +3 (60 dB above −120).
        assert!(floor_feature(&mut fx, 3, -200.0, 50).iter().all(|&f| (f + 3.0).abs() < 1e-5));
        assert!(floor_feature(&mut fx, 3, -60.0, 5).iter().all(|&f| f.abs() < 1e-5));
        // Reset forgets the floor: louder audio after it reads 0 again, as does silence that
        // comes first.
        fx.reset();
        assert_eq!(floor_feature(&mut fx, 3, -200.0, 3), vec![0.0; 3]);
        assert_eq!(floor_feature(&mut fx, 3, -10.0, 1), vec![0.0]);
    }

    #[test]
    fn snr_features_follow_the_floor_features_and_precede_the_pitch_features() {
        let config = ModelConfig { n_bands: 2, floor_features: true, snr_features: true, pitch_features: true, ..ModelConfig::default() };
        assert_eq!(config.n_features(), 6 * 2 + config.frame_features());
        let mut fx = FeatureExtractor::new(&config, 0.01);
        let pitch: Vec<f32> = (0..config.pitch_inputs()).map(|i| 100.0 + i as f32).collect();
        let mut features = vec![f32::NAN; config.n_features()];
        // Steady noise at −50 dB, then 30 dB louder in band 1 only: band 0's SNRs stay near 0 dB
        // and its a-priori SNR at the −25 dB floor; band 1's both read about +30 dB.
        for _ in 0..100 {
            fx.compute(&[1e-5, 1e-5], &[], &[], &pitch, &mut features);
        }
        for _ in 0..10 {
            fx.compute(&[1e-5, 1e-2], &[], &[], &pitch, &mut features);
        }
        assert!(features.iter().all(|f| f.is_finite()));
        let (post, prior) = (&features[6..8], &features[8..10]);
        assert!(post[0].abs() < 1e-3 && (post[1] - 1.5).abs() < 0.05, "{post:?}");
        assert!((prior[0] + 1.25).abs() < 1e-3 && (prior[1] - 1.5).abs() < 0.1, "{prior:?}");
        assert_eq!(&features[10..], &pitch[..]);
    }
}
