//! Network input features from band energies: log energies on an absolute scale, plus the same
//! with a slow running mean removed per band (as in DeepFilterNet's feature path). The first
//! tells the network how loud a band is; the second what changed, independent of level.
//! The lowest ("fine") bins add one mean-removed log power each: against a steady noise floor,
//! which sits near zero, a voice's harmonics stand out as peaks 2–5 bins apart.

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

fn to_db(energy: f32) -> f32 {
    (10.0 * (energy + 1e-12).log10()).max(FLOOR_DB)
}

/// Streaming feature extractor for one stream (one set of band energies and bin powers per hop).
#[derive(Debug, Clone)]
pub struct FeatureExtractor {
    n_bands: usize,
    /// Running means: the bands', then the fine bins'.
    mean_db: Vec<f32>,
    /// Per-hop decay of the running mean.
    alpha: f32,
}

impl FeatureExtractor {
    /// `tau_s`: time constant of the running mean; `hop_s`: hop duration in seconds.
    pub fn new(n_bands: usize, fine_bins: usize, tau_s: f32, hop_s: f32) -> Self {
        Self {
            n_bands,
            mean_db: vec![MEAN_INIT_DB; n_bands + fine_bins],
            alpha: (-hop_s / tau_s).exp(),
        }
    }

    /// Two features per band, one per fine bin.
    pub fn n_features(&self) -> usize {
        self.n_bands + self.mean_db.len()
    }

    pub fn reset(&mut self) {
        self.mean_db.fill(MEAN_INIT_DB);
    }

    /// Writes `[absolute; mean-removed; fine mean-removed]` features for one hop's band energies
    /// and bin powers (`power`, from bin 0; fine bins past its end read as silence).
    pub fn compute(&mut self, energies: &[f32], power: &[f32], features: &mut [f32]) {
        let n = self.n_bands;
        debug_assert_eq!(energies.len(), n);
        debug_assert_eq!(features.len(), self.n_features());
        let (abs, rel) = features.split_at_mut(n);
        let (band_mean, fine_mean) = self.mean_db.split_at_mut(n);
        let (band_rel, fine_rel) = rel.split_at_mut(n);
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
    }
}
