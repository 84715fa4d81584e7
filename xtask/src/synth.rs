//! A tiny synthetic corpus the code generates: harmonic tones with gliding pitch (chirps),
//! switched on and off like syllables, in white Gaussian noise. It proves the train → export →
//! load path without any downloaded data; the real corpus comes from `xtask data`.

use rand::Rng;

use crate::augment::white as white_noise;

/// Clean "voice": syllable-like harmonic chirps separated by pauses, at `rate`.
pub fn clean(rng: &mut impl Rng, rate: f32, len: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; len];
    let mut pos = 0usize;
    while pos < len {
        let pause = (rng.gen_range(0.05..0.4) * rate) as usize;
        pos += pause;
        let dur = (rng.gen_range(0.1..0.6) * rate) as usize;
        let end = (pos + dur).min(len);
        if end <= pos {
            break;
        }
        let f0_start: f32 = rng.gen_range(90.0..280.0);
        let f0_end = f0_start * 2f32.powf(rng.gen_range(-0.5..0.5));
        let amp: f32 = rng.gen_range(0.05..0.3);
        let top = (rate / 2.0).min(8000.0);
        let tilt: f32 = rng.gen_range(0.6..1.2);
        let mut phase = 0.0f32;
        let n = end - pos;
        for i in 0..n {
            let t = i as f32 / n as f32;
            let f0 = f0_start + (f0_end - f0_start) * t;
            phase += 2.0 * std::f32::consts::PI * f0 / rate;
            // Raised-cosine envelope: 20 ms attack and release.
            let edge = (0.02 * rate) as usize;
            let env = if i < edge {
                0.5 - 0.5 * (std::f32::consts::PI * i as f32 / edge as f32).cos()
            } else if n - i < edge {
                0.5 - 0.5 * (std::f32::consts::PI * (n - i) as f32 / edge as f32).cos()
            } else {
                1.0
            };
            let mut v = 0.0;
            let mut k = 1.0f32;
            while k * f0 < top {
                v += (k * phase).sin() / k.powf(tilt);
                k += 1.0;
            }
            out[pos + i] = amp * env * v;
        }
        pos = end;
    }
    out
}

/// Scales `noise` so that the clean signal's active level over the noise level is `snr_db`.
/// "Active" frames are those of `clean` above −40 dB relative to its loudest 10 ms.
pub fn scale_to_snr(clean: &[f32], noise: &mut [f32], snr_db: f32, rate: f32) {
    let g = snr_gain(clean, noise, snr_db, rate);
    noise.iter_mut().for_each(|x| *x *= g);
}

/// The factor `scale_to_snr` scales `noise` by (1 where either signal is silent).
pub fn snr_gain(clean: &[f32], noise: &[f32], snr_db: f32, rate: f32) -> f32 {
    let speech = active_power(clean, rate);
    let noise_p = noise.iter().map(|x| x * x).sum::<f32>() / noise.len().max(1) as f32;
    if speech <= 0.0 || noise_p <= 0.0 {
        return 1.0;
    }
    (speech / noise_p / 10f32.powf(snr_db / 10.0)).sqrt()
}

/// Mean power over the frames that hold signal (within 40 dB of the loudest 10 ms frame).
pub fn active_power(x: &[f32], rate: f32) -> f32 {
    let hop = ((rate * 0.01) as usize).max(1);
    let frames: Vec<f32> = x
        .chunks(hop)
        .map(|c| c.iter().map(|v| v * v).sum::<f32>() / c.len() as f32)
        .collect();
    let peak = frames.iter().cloned().fold(0.0f32, f32::max);
    let active: Vec<f32> = frames.into_iter().filter(|&p| p > peak * 1e-4 && p > 0.0).collect();
    if active.is_empty() {
        0.0
    } else {
        active.iter().sum::<f32>() / active.len() as f32
    }
}

/// The synthetic corpus as a training source: 48 kHz, SNRs as the real corpus draws them
/// (`corpus::TRAIN_SNR_DB`), full bandwidth.
pub struct SyntheticSource;

impl crate::train::ExampleSource for SyntheticSource {
    fn example(&self, rng: &mut rand::rngs::StdRng, config: &lull::model::ModelConfig, frames: usize) -> crate::train::Example {
        let rate = 48_000.0;
        let hop = lull::dsp::stft::StftSize::for_rate(rate, config.hop_ms).hop;
        let len = frames * hop;
        let c = clean(rng, rate, len);
        let mut n = white_noise(rng, len);
        scale_to_snr(&c, &mut n, crate::corpus::draw_snr_db(rng, 1.0), rate);
        let utterances = vec![crate::train::Utterance { start: 0, end: len, bandwidth_hz: rate / 2.0 }];
        crate::train::Example { rate, clean: c, noise: n, utterances }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn mixture_hits_requested_snr_within_half_a_db() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for snr in [-5.0f32, 0.0, 5.0, 10.0, 15.0, 20.0] {
            let c = clean(&mut rng, 48_000.0, 96_000);
            let mut n = white_noise(&mut rng, c.len());
            scale_to_snr(&c, &mut n, snr, 48_000.0);
            let np = n.iter().map(|x| x * x).sum::<f32>() / n.len() as f32;
            let got = 10.0 * (active_power(&c, 48_000.0) / np).log10();
            assert!((got - snr).abs() < 0.5, "asked {snr}, got {got}");
        }
    }
}
