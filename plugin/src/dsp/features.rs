//! Network input features from band energies: log energies on an absolute scale, plus the same
//! with a slow running mean removed per band (as in DeepFilterNet's feature path). The first
//! tells the network how loud a band is; the second what changed, independent of level.

use realfft::num_complex::Complex32;

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

/// Streaming feature extractor for one stream (one set of band energies per hop).
#[derive(Debug, Clone)]
pub struct FeatureExtractor {
    mean_db: Vec<f32>,
    /// Per-hop decay of the running mean.
    alpha: f32,
}

impl FeatureExtractor {
    /// `tau_s`: time constant of the running mean; `hop_s`: hop duration in seconds.
    pub fn new(n_bands: usize, tau_s: f32, hop_s: f32) -> Self {
        Self {
            mean_db: vec![MEAN_INIT_DB; n_bands],
            alpha: (-hop_s / tau_s).exp(),
        }
    }

    /// Two features per band.
    pub fn n_features(&self) -> usize {
        2 * self.mean_db.len()
    }

    pub fn reset(&mut self) {
        self.mean_db.fill(MEAN_INIT_DB);
    }

    /// Writes `[absolute; mean-removed]` features for one hop's band energies.
    pub fn compute(&mut self, energies: &[f32], features: &mut [f32]) {
        let n = self.mean_db.len();
        debug_assert_eq!(energies.len(), n);
        debug_assert_eq!(features.len(), 2 * n);
        let (abs, rel) = features.split_at_mut(n);
        for (((&e, m), a), r) in energies.iter().zip(&mut self.mean_db).zip(abs).zip(rel) {
            let db = (10.0 * (e + 1e-12).log10()).max(FLOOR_DB);
            *m = self.alpha * *m + (1.0 - self.alpha) * db;
            *a = (db + 40.0) / 30.0;
            *r = (db - *m) / 20.0;
        }
    }
}
