//! Noise synthesis and augmentation for on-the-fly mixing. Real noise recordings are scarce
//! (DATA.md), so generated noise classes and random EQ carry much of the variety.

use rand::Rng;
use rand_distr::{Distribution, Normal};

/// Zero-mean white Gaussian noise with unit variance: the original LSTM experiment's case.
pub fn white(rng: &mut impl Rng, len: usize) -> Vec<f32> {
    let n = Normal::new(0.0f32, 1.0).expect("valid normal");
    (0..len).map(|_| n.sample(rng)).collect()
}

/// Pink (1/f) noise: Paul Kellet's economy filter on white noise, accurate to ±0.5 dB above
/// ~10 Hz at 44.1 kHz, and close enough at other rates for training.
pub fn pink(rng: &mut impl Rng, len: usize) -> Vec<f32> {
    let w = white(rng, len);
    let (mut b0, mut b1, mut b2) = (0.0f32, 0.0f32, 0.0f32);
    w.into_iter()
        .map(|x| {
            b0 = 0.99765 * b0 + x * 0.0990460;
            b1 = 0.96300 * b1 + x * 0.2965164;
            b2 = 0.57000 * b2 + x * 1.0526913;
            b0 + b1 + b2 + x * 0.1848
        })
        .collect()
}

/// Brown (1/f²) noise: leaky-integrated white noise (the leak keeps it from drifting off).
pub fn brown(rng: &mut impl Rng, len: usize) -> Vec<f32> {
    let mut acc = 0.0f32;
    white(rng, len)
        .into_iter()
        .map(|x| {
            acc = 0.998 * acc + 0.05 * x;
            acc
        })
        .collect()
}

/// Mains hum: 50 or 60 Hz with a random set of harmonics (odd ones strong, as from a
/// transformer or a ground loop), plus a little white noise so it is not a pure tone set.
pub fn hum(rng: &mut impl Rng, rate: f32, len: usize) -> Vec<f32> {
    let f0 = if rng.gen_bool(0.5) { 50.0 } else { 60.0 };
    let harmonics: Vec<(f32, f32, f32)> = (1..=rng.gen_range(3..12))
        .map(|k| {
            let amp = if k % 2 == 1 { 1.0 } else { 0.3 } / (k as f32).powf(rng.gen_range(0.5..1.5));
            (k as f32 * f0, amp, rng.gen_range(0.0..std::f32::consts::TAU))
        })
        .filter(|(f, _, _)| *f < rate / 2.0)
        .collect();
    let floor = white(rng, len);
    (0..len)
        .map(|i| {
            let t = i as f32 / rate;
            harmonics.iter().map(|(f, a, p)| a * (std::f32::consts::TAU * f * t + p).sin()).sum::<f32>()
                + 0.01 * floor[i]
        })
        .collect()
}

/// Fan-like noise: band-passed noise whose level and centre drift slowly, like air
/// through a fan or an air conditioner.
pub fn fan(rng: &mut impl Rng, rate: f32, len: usize) -> Vec<f32> {
    let centre: f32 = rng.gen_range(150.0..(3000.0f32).min(rate * 0.4));
    let q: f32 = rng.gen_range(0.3..1.5);
    let mut x = pink(rng, len);
    Biquad::band_pass(centre, q, rate).run(&mut x);
    let (mod_hz, depth): (f32, f32) = (rng.gen_range(0.1..2.0), rng.gen_range(0.0..0.4));
    let phase: f32 = rng.gen_range(0.0..std::f32::consts::TAU);
    for (i, v) in x.iter_mut().enumerate() {
        *v *= 1.0 + depth * (std::f32::consts::TAU * mod_hz * i as f32 / rate + phase).sin();
    }
    x
}

/// RBJ-cookbook biquad, direct form I.
#[derive(Debug, Clone, Copy)]
pub struct Biquad {
    b: [f32; 3],
    a: [f32; 2],
}

impl Biquad {
    fn from_raw(b0: f64, b1: f64, b2: f64, a0: f64, a1: f64, a2: f64) -> Self {
        Self {
            b: [(b0 / a0) as f32, (b1 / a0) as f32, (b2 / a0) as f32],
            a: [(a1 / a0) as f32, (a2 / a0) as f32],
        }
    }

    pub fn band_pass(hz: f32, q: f32, rate: f32) -> Self {
        let w = std::f64::consts::TAU * hz as f64 / rate as f64;
        let alpha = w.sin() / (2.0 * q as f64);
        Self::from_raw(alpha, 0.0, -alpha, 1.0 + alpha, -2.0 * w.cos(), 1.0 - alpha)
    }

    /// Second-order high-pass at `hz` (Butterworth at q = 1/√2).
    pub fn high_pass(hz: f32, q: f32, rate: f32) -> Self {
        let w = std::f64::consts::TAU * hz as f64 / rate as f64;
        let alpha = w.sin() / (2.0 * q as f64);
        let c = w.cos();
        Self::from_raw((1.0 + c) / 2.0, -(1.0 + c), (1.0 + c) / 2.0, 1.0 + alpha, -2.0 * c, 1.0 - alpha)
    }

    /// Peaking EQ: `gain_db` at `hz`, bandwidth set by `q`.
    pub fn peak(hz: f32, q: f32, gain_db: f32, rate: f32) -> Self {
        let a = 10f64.powf(gain_db as f64 / 40.0);
        let w = std::f64::consts::TAU * hz as f64 / rate as f64;
        let alpha = w.sin() / (2.0 * q as f64);
        let c = w.cos();
        Self::from_raw(1.0 + alpha * a, -2.0 * c, 1.0 - alpha * a, 1.0 + alpha / a, -2.0 * c, 1.0 - alpha / a)
    }

    /// Shelving EQ (slope 1): `gain_db` below `hz` if `low`, else above.
    pub fn shelf(hz: f32, gain_db: f32, rate: f32, low: bool) -> Self {
        let a = 10f64.powf(gain_db as f64 / 40.0);
        let w = std::f64::consts::TAU * hz as f64 / rate as f64;
        let (c, s) = (w.cos(), w.sin());
        let alpha = s / 2.0 * 2f64.sqrt();
        let k = 2.0 * a.sqrt() * alpha;
        if low {
            Self::from_raw(
                a * ((a + 1.0) - (a - 1.0) * c + k),
                2.0 * a * ((a - 1.0) - (a + 1.0) * c),
                a * ((a + 1.0) - (a - 1.0) * c - k),
                (a + 1.0) + (a - 1.0) * c + k,
                -2.0 * ((a - 1.0) + (a + 1.0) * c),
                (a + 1.0) + (a - 1.0) * c - k,
            )
        } else {
            Self::from_raw(
                a * ((a + 1.0) + (a - 1.0) * c + k),
                -2.0 * a * ((a - 1.0) + (a + 1.0) * c),
                a * ((a + 1.0) + (a - 1.0) * c - k),
                (a + 1.0) - (a - 1.0) * c + k,
                2.0 * ((a - 1.0) - (a + 1.0) * c),
                (a + 1.0) - (a - 1.0) * c - k,
            )
        }
    }

    /// Runs the filter forwards, then backwards: zero phase, the magnitude response squared.
    pub fn run_zero_phase(&self, x: &mut [f32]) {
        self.run(x);
        x.reverse();
        self.run(x);
        x.reverse();
    }

    pub fn run(&self, x: &mut [f32]) {
        Self::run_cascade(&[*self], x);
    }

    /// The filters one after another, in one pass: each sample goes through all of them before
    /// the next, so their recursions (each a chain of dependent multiply-adds) overlap in the
    /// CPU instead of running one whole pass after another. The same result as `run` per filter.
    pub fn run_cascade<const N: usize>(filters: &[Biquad; N], x: &mut [f32]) {
        // Per filter: its last two inputs and outputs.
        let mut state = [[0.0f32; 4]; N];
        for v in x.iter_mut() {
            let mut u = *v;
            for (f, [x1, x2, y1, y2]) in filters.iter().zip(state.iter_mut()) {
                let y = f.b[0] * u + f.b[1] * *x1 + f.b[2] * *x2 - f.a[0] * *y1 - f.a[1] * *y2;
                (*x2, *x1, *y2, *y1) = (*x1, u, *y1, y);
                u = y;
            }
            *v = u;
        }
    }
}

/// A random tonal colouring (RNNoise-style augmentation): low and high shelves and one peak,
/// each within ±`max_db`. Applied to speech and noise independently so the network cannot rely
/// on either's spectral tilt.
pub fn random_eq(rng: &mut impl Rng, x: &mut [f32], rate: f32, max_db: f32) {
    let nyq = rate / 2.0;
    let low = Biquad::shelf(rng.gen_range(100.0..400.0), rng.gen_range(-max_db..max_db), rate, true);
    let high = Biquad::shelf(rng.gen_range(2000.0..(8000.0f32).min(nyq * 0.8)), rng.gen_range(-max_db..max_db), rate, false);
    let peak = Biquad::peak(rng.gen_range(200.0..(5000.0f32).min(nyq * 0.8)), rng.gen_range(0.5..2.0), rng.gen_range(-max_db..max_db), rate);
    Biquad::run_cascade(&[low, high, peak], x);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Level in dB of a tone at `hz` after the zero-phase high-pass at 40 Hz, over the middle
    /// second (the ends hold the filter's start-up).
    fn high_passed_tone_db(hz: f32, rate: f32) -> f32 {
        let n = 3 * rate as usize;
        let mut x: Vec<f32> = (0..n).map(|i| 0.1 + (std::f32::consts::TAU * hz * i as f32 / rate).sin()).collect();
        Biquad::high_pass(40.0, std::f32::consts::FRAC_1_SQRT_2, rate).run_zero_phase(&mut x);
        let mid = &x[n / 3..2 * n / 3];
        10.0 * (mid.iter().map(|v| v * v).sum::<f32>() / mid.len() as f32 / 0.5).log10()
    }

    #[test]
    fn zero_phase_high_pass_removes_dc_and_rumble_and_keeps_the_voice() {
        for rate in [16_000.0, 48_000.0] {
            // −6 dB at the corner (Butterworth twice), 24 dB/octave below it; DC (the 0.1
            // offset, −17 dB re the tone) is gone, or the 200 Hz reading would be off.
            let corner = high_passed_tone_db(40.0, rate);
            assert!((corner + 6.0).abs() < 0.3, "40 Hz at {rate}: {corner:.2} dB");
            let rumble = high_passed_tone_db(20.0, rate);
            assert!(rumble < -22.0, "20 Hz at {rate}: {rumble:.2} dB");
            let voice = high_passed_tone_db(200.0, rate);
            assert!(voice.abs() < 0.05, "200 Hz at {rate}: {voice:.3} dB");
        }
    }

    #[test]
    fn a_cascade_in_one_pass_equals_the_filters_run_one_after_another() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let x: Vec<f32> = (0..5000).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let filters = [Biquad::shelf(200.0, 5.0, 48_000.0, true), Biquad::shelf(4000.0, -4.0, 48_000.0, false), Biquad::peak(1000.0, 1.0, 3.0, 48_000.0)];
        let mut one_by_one = x.clone();
        for f in &filters {
            let (mut x1, mut x2, mut y1, mut y2) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
            for v in one_by_one.iter_mut() {
                let y = f.b[0] * *v + f.b[1] * x1 + f.b[2] * x2 - f.a[0] * y1 - f.a[1] * y2;
                (x2, x1, y2, y1) = (x1, *v, y1, y);
                *v = y;
            }
        }
        let mut cascade = x.clone();
        Biquad::run_cascade(&filters, &mut cascade);
        assert_eq!(cascade, one_by_one);
        assert_ne!(cascade, x);
    }

    #[test]
    fn generated_noises_are_finite_and_not_silent() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for rate in [16_000.0, 22_050.0, 48_000.0] {
            let len = rate as usize;
            for (name, x) in [
                ("white", white(&mut rng, len)),
                ("pink", pink(&mut rng, len)),
                ("brown", brown(&mut rng, len)),
                ("hum", hum(&mut rng, rate, len)),
                ("fan", fan(&mut rng, rate, len)),
            ] {
                assert!(x.iter().all(|v| v.is_finite()), "{name} at {rate}");
                let p = x.iter().map(|v| v * v).sum::<f32>() / len as f32;
                assert!(p > 1e-6, "{name} at {rate}: power {p}");
            }
            let mut y = white(&mut rng, len);
            random_eq(&mut rng, &mut y, rate, 6.0);
            assert!(y.iter().all(|v| v.is_finite()));
        }
    }
}
