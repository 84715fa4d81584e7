//! Network input features from band energies: log energies on an absolute scale, plus the same
//! with a slow running mean removed per band (as in DeepFilterNet's feature path). The first
//! tells the network how loud a band is; the second what changed, independent of level.
//! The lowest ("fine") bins add one mean-removed log power each: against a steady noise floor,
//! which sits near zero, a voice's harmonics stand out as peaks 2–5 bins apart. With deep
//! filtering they also get their phase advance since the previous hop as a unit vector: a steady
//! harmonic advances by a steady angle set by its exact frequency, noise by a random one, and
//! the filter taps that pull the harmonic out depend on that angle.

use realfft::num_complex::Complex32;

use crate::model::ModelConfig;

/// Log-energy floor (dB): silence, and bands above Nyquist, sit here.
const FLOOR_DB: f32 = -120.0;
/// Initial running mean (dB), a quiet room: the first second settles from here.
const MEAN_INIT_DB: f32 = -70.0;

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
        }
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    pub fn reset(&mut self) {
        self.mean_db.fill(MEAN_INIT_DB);
    }

    /// Writes `[absolute; mean-removed; fine mean-removed; fine phase advance (cos, sin)]`
    /// features for one hop's band energies, bin powers (`power`, from bin 0) and, with deep
    /// filtering, the fine bins' `advance` (`accumulate_phase_advance`; ignored otherwise). Fine
    /// bins past the end of `power` or `advance` read as silence.
    pub fn compute(&mut self, energies: &[f32], power: &[f32], advance: &[Complex32], features: &mut [f32]) {
        let n = self.n_bands;
        debug_assert_eq!(energies.len(), n);
        debug_assert_eq!(features.len(), self.n_features());
        let (abs, rel) = features.split_at_mut(n);
        let (band_mean, fine_mean) = self.mean_db.split_at_mut(n);
        let (band_rel, rest) = rel.split_at_mut(n);
        let (fine_rel, phase) = rest.split_at_mut(self.fine_bins);
        let alpha = self.alpha;
        // Moves a running mean towards `db`; returns the mean-removed feature.
        let relative = |mean: &mut f32, db: f32| {
            *mean = alpha * *mean + (1.0 - alpha) * db;
            (db - *mean) / 20.0
        };
        for (((&e, m), a), r) in energies.iter().zip(band_mean).zip(abs).zip(band_rel) {
            let db = to_db(e);
            *a = (db + 40.0) / 30.0;
            *r = relative(m, db);
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
        let config = ModelConfig { n_bands: 4, fine_bins: 3, df_order: 2, ..ModelConfig::default() };
        let mut fx = FeatureExtractor::new(&config, 0.01);
        assert_eq!(fx.n_features(), config.n_features());
        // Bin 0 turns by 0.7 rad at any level, bin 1 is silent, bin 2 does not exist.
        let previous = [Complex32::from_polar(3.0, 0.2), Complex32::default()];
        let current = [Complex32::from_polar(0.001, 0.9), Complex32::default()];
        let mut advance = [Complex32::default(); 2];
        accumulate_phase_advance(&current, &previous, &mut advance);
        let mut features = vec![f32::NAN; config.n_features()];
        fx.compute(&[1.0; 4], &[1.0; 2], &advance, &mut features);
        let phase = &features[2 * 4 + 3..];
        assert!((phase[0] - 0.7f32.cos()).abs() < 1e-5 && (phase[1] - 0.7f32.sin()).abs() < 1e-5, "{phase:?}");
        assert_eq!(&phase[2..], &[0.0; 4]);
        assert!(features.iter().all(|f| f.is_finite()));
    }
}
