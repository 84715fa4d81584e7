//! The training graph's deep filter computes `Y_t = g_t · X_t + Σ_i tap_i · X_{t−i}` (the band
//! gains' output plus the filter's correction, newest hop first, zero before the sequence), the
//! sum the engine runs per hop; its spectral loss is zero exactly when the output is the clean
//! spectrum.

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use realfft::num_complex::Complex32;
use xtask::train::{deep_filter, df_loss};

fn tensor(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape, &Device::Cpu).unwrap()
}

#[test]
fn deep_filter_matches_the_direct_sum() {
    let (b, t, k, order) = (2, 7, 5, 3);
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let taps: Vec<f32> = (0..b * t * k * order * 2).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let mix: Vec<f32> = (0..b * t * k * 2).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let gains: Vec<f32> = (0..b * t * k).map(|_| rng.gen_range(0.0..1.0)).collect();
    let out = deep_filter(&tensor(&taps, &[b, t, k, order, 2]), &tensor(&gains, &[b, t, k]), &tensor(&mix, &[b, t, k, 2])).unwrap();
    let out = out.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let c = |v: &[f32], i: usize| Complex32::new(v[2 * i], v[2 * i + 1]);
    for bi in 0..b {
        for ti in 0..t {
            for ki in 0..k {
                let mut y = c(&mix, (bi * t + ti) * k + ki) * gains[(bi * t + ti) * k + ki];
                for i in 0..order.min(ti + 1) {
                    let tap = c(&taps, ((bi * t + ti) * k + ki) * order + i);
                    y += tap * c(&mix, (bi * t + ti - i) * k + ki);
                }
                let got = c(&out, (bi * t + ti) * k + ki);
                assert!((got - y).norm() < 1e-5, "b {bi} t {ti} k {ki}: {got} vs {y}");
            }
        }
    }
}

#[test]
fn spectral_loss_is_zero_only_at_the_clean_spectrum() {
    let (b, t, k) = (1, 4, 3);
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let clean: Vec<f32> = (0..b * t * k * 2).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let noise: Vec<f32> = (0..b * t * k * 2).map(|_| rng.gen_range(-0.5..0.5)).collect();
    let mix: Vec<f32> = clean.iter().zip(&noise).map(|(c, n)| c + n).collect();
    // Band gains of 1 and one zero tap per bin: the output is the mixture, so the loss sees the
    // noise ...
    let zero = vec![0.0f32; b * t * k * 2];
    let ones = Tensor::ones((b, t, k), candle_core::DType::F32, &Device::Cpu).unwrap();
    let weight = Tensor::ones((b, t, k), candle_core::DType::F32, &Device::Cpu).unwrap();
    let vad = Tensor::ones((b, t), candle_core::DType::F32, &Device::Cpu).unwrap();
    let loss = |mix: &[f32]| {
        df_loss(&tensor(&zero, &[b, t, k, 1, 2]), &ones, &tensor(mix, &[b, t, k, 2]), &tensor(&clean, &[b, t, k, 2]), &weight, &vad, 1.0, 1.0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    assert!(loss(&mix) > 0.01, "{}", loss(&mix));
    // ... and on the clean spectrum itself it is zero.
    assert!(loss(&clean) < 1e-6, "{}", loss(&clean));
}

/// `--df-harm`: where the filter makes a bin worse than the band gains alone, the excess counts
/// `harm` times; where it helps, or does nothing, the loss is the plain spectral loss.
#[test]
fn harm_charges_only_the_cells_the_filter_makes_worse() {
    let (b, t, k, order) = (2, 5, 4, 2);
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let clean: Vec<f32> = (0..b * t * k * 2).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let weight = Tensor::ones((b, t, k), candle_core::DType::F32, &Device::Cpu).unwrap();
    let vad = Tensor::ones((b, t), candle_core::DType::F32, &Device::Cpu).unwrap();
    let loss = |taps: &[f32], gain: f32, mix: &[f32], harm: f64| {
        let gains = (Tensor::ones((b, t, k), candle_core::DType::F32, &Device::Cpu).unwrap() * gain as f64).unwrap();
        df_loss(&tensor(taps, &[b, t, k, order, 2]), &gains, &tensor(mix, &[b, t, k, 2]), &tensor(&clean, &[b, t, k, 2]), &weight, &vad, 2.0, harm)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let zero = vec![0.0f32; b * t * k * order * 2];
    // Taps at zero: the output is the band gains' own, nothing is worse, any factor reads alike.
    let noisy: Vec<f32> = clean.iter().map(|c| c + rng.gen_range(-0.5..0.5)).collect();
    let plain = loss(&zero, 0.7, &noisy, 1.0);
    assert!(plain > 0.01, "{plain}");
    assert_eq!(loss(&zero, 0.7, &noisy, 5.0), plain);
    // The mixture is the clean speech and the gains keep it whole: any correction only harms,
    // in every cell, so the whole loss counts 5 times.
    let taps: Vec<f32> = (0..zero.len()).map(|_| rng.gen_range(-0.3..0.3)).collect();
    let (once, five) = (loss(&taps, 1.0, &clean, 1.0), loss(&taps, 1.0, &clean, 5.0));
    assert!(once > 0.01, "{once}");
    assert!((five - 5.0 * once).abs() < 1e-4 * five, "{five} vs 5 × {once}");
    // The gains halve the clean speech and the newest tap adds the other half back: the filter
    // helps in every cell and the output is exact, so nothing is charged, whatever the factor,
    // while the band gains alone would have been.
    let half: Vec<f32> = (0..b * t * k).flat_map(|_| [0.5f32, 0.0].into_iter().chain(std::iter::repeat_n(0.0, 2 * (order - 1)))).collect();
    assert!(loss(&zero, 0.5, &clean, 1.0) > 0.01);
    assert!(loss(&half, 0.5, &clean, 5.0) < 1e-6, "{}", loss(&half, 0.5, &clean, 5.0));
}

/// A fresh network's taps are exactly zero whatever its input, so deep filtering starts from
/// the band gains' output rather than from silence in the fine bins.
#[test]
fn a_fresh_network_starts_as_a_band_gain_model() {
    use lull::model::ModelConfig;
    let config = ModelConfig { hidden: 16, layers: 1, fine_bins: 8, df_order: 3, ..ModelConfig::default() };
    let varmap = candle_nn::VarMap::new();
    let net = xtask::net::build(&config, &varmap, &Device::Cpu, 0).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let f = config.n_features();
    let input: Vec<f32> = (0..20 * f).map(|_| rng.gen_range(-2.0..2.0)).collect();
    let out = net.forward(&tensor(&input, &[1, 20, f])).unwrap();
    let taps = out.taps.unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(taps.iter().all(|&t| t == 0.0), "fresh taps: {:?}", &taps[..8]);
    let gains = out.gains.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(gains.iter().any(|&g| (g - gains[0]).abs() > 1e-3), "the band gains should still follow the input");
}
