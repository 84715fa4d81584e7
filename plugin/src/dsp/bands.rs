//! Band layout defined in Hz, so one model serves every sample rate without a resampler.
//!
//! Band centres follow the ERB scale (fine at low frequencies, coarse at high ones) with a minimum
//! spacing so every band gets at least two FFT bins. Each bin belongs to two neighbouring bands
//! with triangular weights that sum to one: the same weights pool bin powers into band energies
//! and spread band gains back over the bins, so unit band gains give exactly unit bin gains.

/// Band centres in Hz, computed once from the model's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct BandCenters(pub Vec<f32>);

fn hz_to_erb(hz: f64) -> f64 {
    21.4 * (1.0 + 0.00437 * hz).log10()
}

fn erb_to_hz(erb: f64) -> f64 {
    (10f64.powf(erb / 21.4) - 1.0) / 0.00437
}

/// Centres from 0 Hz for `count` bands, a step of `step` ERB but never closer than
/// `min_spacing_hz`.
fn centers_with_step(count: usize, min_spacing_hz: f64, step: f64) -> Vec<f64> {
    let mut centers = Vec::with_capacity(count);
    let mut hz = 0.0;
    for _ in 0..count {
        centers.push(hz);
        hz = (erb_to_hz(hz_to_erb(hz) + step)).max(hz + min_spacing_hz);
    }
    centers
}

impl BandCenters {
    /// `count` centres from 0 Hz up to exactly `max_hz`. The ERB step is found by bisection so
    /// the last centre lands on `max_hz`.
    pub fn erb(count: usize, max_hz: f32, min_spacing_hz: f32) -> Self {
        assert!(count >= 2, "a band layout needs at least two bands");
        let (max_hz, min_sp) = (max_hz as f64, min_spacing_hz as f64);
        let (mut lo, mut hi) = (0.0, hz_to_erb(max_hz));
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            let last = *centers_with_step(count, min_sp, mid).last().unwrap();
            if last > max_hz {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let mut c = centers_with_step(count, min_sp, lo);
        // Bisection converges to max_hz from below; pin the end exactly.
        *c.last_mut().unwrap() = max_hz;
        Self(c.into_iter().map(|x| x as f32).collect())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Per-bin triangular weights for one FFT size and sample rate.
#[derive(Debug, Clone)]
pub struct BandLayout {
    n_bands: usize,
    /// For each bin: the lower band index and that band's weight (the next band gets 1 − w).
    bin_band: Vec<(u16, f32)>,
}

impl BandLayout {
    pub fn new(centers: &BandCenters, sample_rate: f32, fft_size: usize) -> Self {
        let n_bands = centers.len();
        let c = &centers.0;
        let bins = fft_size / 2 + 1;
        let bin_band = (0..bins)
            .map(|k| {
                let hz = k as f32 * sample_rate / fft_size as f32;
                if hz >= c[n_bands - 1] {
                    // Above the last centre (only at rates where Nyquist exceeds it): the top
                    // band covers everything.
                    return ((n_bands - 2) as u16, 0.0);
                }
                let b = c.partition_point(|&x| x <= hz) - 1;
                let w = 1.0 - (hz - c[b]) / (c[b + 1] - c[b]);
                (b as u16, w)
            })
            .collect();
        Self { n_bands, bin_band }
    }

    pub fn n_bands(&self) -> usize {
        self.n_bands
    }

    pub fn n_bins(&self) -> usize {
        self.bin_band.len()
    }

    /// Pools per-bin power into band energies. Bands with no bins (above Nyquist) get zero.
    pub fn band_energies(&self, power: &[f32], energies: &mut [f32]) {
        debug_assert_eq!(power.len(), self.bin_band.len());
        debug_assert_eq!(energies.len(), self.n_bands);
        energies.fill(0.0);
        for (&(b, w), &p) in self.bin_band.iter().zip(power) {
            let b = b as usize;
            energies[b] += w * p;
            energies[b + 1] += (1.0 - w) * p;
        }
    }

    /// Pools `N` per-bin quantities into bands in one pass, weighted as `band_energies` does:
    /// `value(k)` gives bin `k`'s, `bands` receives each band's sums.
    pub fn pool<const N: usize>(&self, mut value: impl FnMut(usize) -> [f32; N], bands: &mut [[f32; N]]) {
        debug_assert_eq!(bands.len(), self.n_bands);
        bands.fill([0.0; N]);
        for (k, &(b, w)) in self.bin_band.iter().enumerate() {
            let v = value(k);
            let b = b as usize;
            for (i, v) in v.into_iter().enumerate() {
                bands[b][i] += w * v;
                bands[b + 1][i] += (1.0 - w) * v;
            }
        }
    }

    /// Spreads band gains over the bins.
    pub fn bin_gains(&self, band_gains: &[f32], bin_gains: &mut [f32]) {
        debug_assert_eq!(band_gains.len(), self.n_bands);
        debug_assert_eq!(bin_gains.len(), self.bin_band.len());
        for (&(b, w), g) in self.bin_band.iter().zip(bin_gains.iter_mut()) {
            let b = b as usize;
            *g = w * band_gains[b] + (1.0 - w) * band_gains[b + 1];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centres_are_increasing_spaced_and_end_at_max() {
        let c = BandCenters::erb(32, 20_000.0, 100.0);
        assert_eq!(c.len(), 32);
        assert_eq!(c.0[0], 0.0);
        assert_eq!(*c.0.last().unwrap(), 20_000.0);
        for w in c.0.windows(2) {
            assert!(w[1] - w[0] >= 99.9, "{w:?}");
        }
    }

    #[test]
    fn unit_band_gains_are_unit_bin_gains_and_energy_is_conserved() {
        let c = BandCenters::erb(32, 20_000.0, 100.0);
        for &(rate, fft) in &[(16_000.0, 320), (22_050.0, 442), (48_000.0, 960), (96_000.0, 1920)] {
            let layout = BandLayout::new(&c, rate, fft);
            let mut g = vec![0.0; layout.n_bins()];
            layout.bin_gains(&[1.0; 32], &mut g);
            assert!(g.iter().all(|&x| (x - 1.0).abs() < 1e-6));
            let power: Vec<f32> = (0..layout.n_bins()).map(|k| 1.0 + k as f32).collect();
            let mut e = vec![0.0; 32];
            layout.band_energies(&power, &mut e);
            let (a, b): (f32, f32) = (power.iter().sum(), e.iter().sum());
            assert!((a - b).abs() / a < 1e-5);
        }
    }
}
