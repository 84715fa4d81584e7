//! Training examples as the network hears them in the plugin with Hum Removal on (its default):
//! the mixture passed through the engine's own mains-hum canceller (`lull::dsp::dehum`), at the
//! amount the default Reduction lets it take out. What the canceller leaves of the noise, and
//! the little it takes from the voice, become the example's noise, so the features and the
//! targets (√(E_clean / E_mix) per band) are those of what the network is given to clean.
//! Without it the hum mixtures teach the network to turn the bands under the hum down with the
//! voice in them, although the canceller in front of it has already taken the hum out.

use std::sync::Arc;

use lull::dsp::dehum::HumCanceller;
use lull::dsp::stft::StftSize;
use lull::model::ModelConfig;
use lull::params::{reduction_floor, DEFAULT_REDUCTION_DB};
use rand::rngs::StdRng;
use realfft::RealFftPlanner;

use crate::train::{Example, ExampleSource};

/// Another source's examples with the hum taken out of their mixtures.
pub struct HumRemoved(pub Arc<dyn ExampleSource>);

/// `source` wrapped in `HumRemoved` when `on` (`cargo xtask train --hum-removal`), else itself.
pub fn hum_removed(on: bool, source: Arc<dyn ExampleSource>) -> Arc<dyn ExampleSource> {
    if on {
        Arc::new(HumRemoved(source))
    } else {
        source
    }
}

impl ExampleSource for HumRemoved {
    fn example(&self, rng: &mut StdRng, config: &ModelConfig, frames: usize) -> Example {
        let mut example = self.0.example(rng, config, frames);
        remove_hum(&mut example, config);
        example
    }
}

/// Runs the example's mixture through a fresh canceller, as the engine's starts with a fresh
/// stream (refreshed every hop from the first sample, as there), and keeps the clean track.
pub fn remove_hum(example: &mut Example, config: &ModelConfig) {
    let hop = StftSize::for_rate(example.rate, config.hop_ms).hop;
    let mut canceller = HumCanceller::new(example.rate, hop, &mut RealFftPlanner::new());
    // The engine's amount: what the Reduction floor allows it to take out.
    let amount = 1.0 - reduction_floor(DEFAULT_REDUCTION_DB);
    for (noise, &clean) in example.noise.iter_mut().zip(&example.clean) {
        *noise = canceller.tick(clean + *noise, amount) - clean;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::TAU;

    fn energy(x: &[f32]) -> f32 {
        x.iter().map(|v| v * v).sum()
    }

    /// A voice-like tone (harmonics of a gliding 150 Hz, in syllables) over `noise`, 4 s.
    fn example(rate: f32, noise: impl Fn(usize) -> f32) -> Example {
        let len = 4 * rate as usize;
        let mut phase = 0.0f32;
        let clean = (0..len)
            .map(|i| {
                let t = i as f32 / rate;
                phase += (150.0 + 40.0 * (TAU * 0.5 * t).sin()) / rate;
                let tone: f32 = (1..=12).map(|k| (TAU * phase * k as f32).sin() / k as f32).sum();
                0.05 * (TAU * 2.0 * t).sin().max(0.0) * tone
            })
            .collect();
        Example { rate, clean, noise: (0..len).map(noise).collect(), utterances: Vec::new() }
    }

    #[test]
    fn hum_leaves_the_noise_and_the_clean_track_stays() {
        let config = ModelConfig::default();
        for rate in [48_000.0, 22_050.0] {
            let hum = |i: usize| {
                let t = i as f32 / rate;
                (1..=9).step_by(2).map(|k| 0.02 / k as f32 * (TAU * 50.0 * k as f32 * t + k as f32).sin()).sum()
            };
            let mut ex = example(rate, hum);
            let (clean, before) = (ex.clean.clone(), ex.noise.clone());
            remove_hum(&mut ex, &config);
            assert_eq!(ex.clean, clean);
            assert!(ex.noise.iter().all(|v| v.is_finite()));
            // Over the last second, once the canceller has learned it, the hum is 20 dB down.
            let last = ex.noise.len() - rate as usize;
            let drop_db = 10.0 * (energy(&ex.noise[last..]) / energy(&before[last..])).log10();
            assert!(drop_db < -20.0, "{rate} Hz: the hum only {drop_db:.1} dB down");
        }
    }

    #[test]
    fn noise_without_hum_passes_nearly_unchanged() {
        let config = ModelConfig::default();
        let mut seed = 7u32;
        let mut white = |_: usize| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            0.01 * ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5)
        };
        let noise: Vec<f32> = (0..4 * 48_000).map(&mut white).collect();
        let mut ex = example(48_000.0, |i| noise[i]);
        remove_hum(&mut ex, &config);
        let change: Vec<f32> = ex.noise.iter().zip(&noise).map(|(a, b)| a - b).collect();
        let change_db = 10.0 * (energy(&change) / energy(&noise)).log10();
        assert!(change_db < -20.0, "white noise and a voice changed by {change_db:.1} dB of the noise");
    }
}
