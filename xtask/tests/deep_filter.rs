//! The training graph's deep filter computes `Y_t = Σ_i tap_i · X_{t−i}` (newest hop first, zero
//! before the sequence), the sum the engine runs per hop; its spectral loss is zero exactly when
//! the output is the clean spectrum.

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
    let out = deep_filter(&tensor(&taps, &[b, t, k, order, 2]), &tensor(&mix, &[b, t, k, 2])).unwrap();
    let out = out.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let c = |v: &[f32], i: usize| Complex32::new(v[2 * i], v[2 * i + 1]);
    for bi in 0..b {
        for ti in 0..t {
            for ki in 0..k {
                let mut y = Complex32::default();
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
    // One tap per bin, 1 + 0i: the output is the mixture, so the loss sees the noise ...
    let identity: Vec<f32> = (0..b * t * k * 2).map(|i| if i % 2 == 0 { 1.0 } else { 0.0 }).collect();
    let weight = Tensor::ones((b, t, k), candle_core::DType::F32, &Device::Cpu).unwrap();
    let vad = Tensor::ones((b, t), candle_core::DType::F32, &Device::Cpu).unwrap();
    let loss = |mix: &[f32]| {
        df_loss(&tensor(&identity, &[b, t, k, 1, 2]), &tensor(mix, &[b, t, k, 2]), &tensor(&clean, &[b, t, k, 2]), &weight, &vad, 1.0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    assert!(loss(&mix) > 0.01, "{}", loss(&mix));
    // ... and on the clean spectrum itself it is zero.
    assert!(loss(&clean) < 1e-6, "{}", loss(&clean));
}
