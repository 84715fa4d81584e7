//! Quality floor of the model the plugin ships (`weights/lull.safetensors`, embedded), on
//! material a fresh clone has without the corpus: syllable-like harmonic chirps (`synth`) in
//! white Gaussian noise, through the same engine and block size as `xtask eval`. The floors
//! sit well below what the shipped model measures (printed), and well above what a model that
//! passes or mutes everything scores; the real evaluation is `cargo xtask eval` (MODEL.md).

use lull::model::default_model;
use rand::SeedableRng;
use xtask::augment::white;
use xtask::eval::run_lull;
use xtask::metrics::si_sdr;
use xtask::synth::{clean, scale_to_snr};

fn mixture(rate: u32, snr_db: f32, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let len = 4 * rate as usize;
    let c = clean(&mut rng, rate as f32, len);
    let mut n = white(&mut rng, len);
    scale_to_snr(&c, &mut n, snr_db, rate as f32);
    let noisy = c.iter().zip(&n).map(|(a, b)| a + b).collect();
    (c, noisy)
}

#[test]
fn shipped_model_improves_si_sdr_in_white_noise_at_every_rate() {
    let model = default_model().unwrap();
    for rate in [48_000u32, 44_100, 22_050, 16_000] {
        let (mut gain_sum, mut n) = (0.0, 0);
        for seed in 0..3 {
            let (c, noisy) = mixture(rate, 0.0, seed);
            let out = run_lull(&model, &noisy, rate, 30.0, xtask::eval::Stages::PLUGIN).unwrap();
            assert!(out.iter().all(|v| v.is_finite()));
            gain_sum += si_sdr(&c, &out) - si_sdr(&c, &noisy);
            n += 1;
        }
        let gain = gain_sum / n as f64;
        eprintln!("{rate} Hz, white noise at 0 dB: SI-SDR improvement {gain:+.2} dB");
        assert!(gain >= 4.0, "{rate} Hz: SI-SDR improvement only {gain:+.2} dB");
    }
}

#[test]
fn shipped_model_keeps_most_of_nearly_clean_speech() {
    // At 30 dB SNR there is little to remove. Chirps are only a proxy for speech here: the
    // shipped model (30000 steps on streams) reads 15.1 dB SI-SDR and −1.4 dB energy on them,
    // the 20000-step one before it 21.9 dB and −0.7 dB (on real clean speech the order is
    // reversed, 17.0 dB against 15.4 dB SI-SDR on the card's draw), the cold-trained one before
    // that 19.8 dB and −2.2 dB, earlier models 11.1 dB and −3.9 dB,
    // 13.8 dB and −3.1 dB, 15.3 dB and −2.3 dB, 14.7 dB and −2.9 dB, 9.4 dB and −3.7 dB, 17.7 dB
    // and −2.2 dB, while on real clean test-split speech their order differs (MODEL.md). The
    // floors catch a model that mutes or mangles the speech.
    let model = default_model().unwrap();
    let (c, noisy) = mixture(48_000, 30.0, 11);
    let out = run_lull(&model, &noisy, 48_000, 30.0, xtask::eval::Stages::PLUGIN).unwrap();
    let (s_in, s_out) = (si_sdr(&c, &noisy), si_sdr(&c, &out));
    let energy = |s: &[f32]| s.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
    let kept_db = 10.0 * (energy(&out) / energy(&c)).log10();
    eprintln!("30 dB SNR: SI-SDR in {s_in:.2} dB, out {s_out:.2} dB, energy kept {kept_db:+.2} dB");
    assert!(s_out >= 6.0, "speech damaged: SI-SDR {s_out:.2} dB at 30 dB input SNR");
    assert!(kept_db >= -6.0, "speech turned down by {:.2} dB at 30 dB input SNR", -kept_db);
}

#[test]
fn shipped_model_treats_a_quiet_voice_like_a_loud_one() {
    // The same nearly clean chirps (30 dB SNR) at three active levels. A denoiser should care
    // how far a voice stands above its noise, not how loud the track is. The model trained on
    // −42…−12 dBFS speech kept −22.6 / −4.2 / −3.3 dB of these at −60 / −26 / −12 dBFS (real
    // clean speech: −14.4 / −4.2 / −4.1 dB); the first trained on −62…−6 dBFS kept −10.3 /
    // −4.3 / −3.9 dB (real speech: −6.3 / −4.6 / −4.3 dB), the one trained 14000 steps
    // −12.8 / −6.1 / −5.3 dB (real speech: −4.5 / −3.6 / −3.3 dB), the one trained 20000
    // steps −6.5 / −4.3 / −3.5 dB (real speech: −5.1 / −2.5 / −2.3 dB), the first on streams
    // −4.3 / −2.6 / −2.0 dB (real speech: −2.3 / −1.6 / −1.6 dB), the shipped one (30000 steps on
    // streams) −6.6 / −2.3 / −2.0 dB (real speech: −2.4 / −1.2 / −1.2 dB, MODEL.md). Chirps at −60 dBFS
    // over noise at −90 are beyond the training range on two counts (SNR ≤ 20 dB, speech
    // ≥ −62 dBFS), so the bound is looser than real speech needs; it catches the old behaviour.
    let model = default_model().unwrap();
    let rate = 48_000;
    let (c, noisy) = mixture(rate, 30.0, 12);
    let level = xtask::synth::active_power(&c, rate as f32).log10() * 10.0;
    let energy = |s: &[f32]| s.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
    let kept: Vec<f64> = [-60.0f32, -26.0, -12.0]
        .iter()
        .map(|target| {
            let g = 10f32.powf((target - level) / 20.0);
            let x: Vec<f32> = noisy.iter().map(|v| v * g).collect();
            let out = run_lull(&model, &x, rate, 30.0, xtask::eval::Stages::PLUGIN).unwrap();
            let kept = 10.0 * (energy(&out) / energy(&x)).log10();
            eprintln!("chirps at {target} dBFS, 30 dB SNR: energy kept {kept:+.2} dB");
            kept
        })
        .collect();
    let spread = kept.iter().cloned().fold(f64::MIN, f64::max) - kept.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread <= SPREAD_DB, "energy kept varies by {spread:.2} dB with the level: {kept:?}");
}

/// How much the energy kept may vary between −60 and −12 dBFS.
const SPREAD_DB: f64 = 9.0;
