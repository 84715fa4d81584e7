//! The fused LSTM op (hand-written BPTT) against the same network written with candle's tensor
//! ops hop by hop: same outputs, same gradients for every parameter, through the real loss.

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use lull::model::ModelConfig;
use rand::{Rng, SeedableRng};
use xtask::net;

fn randn(rng: &mut rand::rngs::StdRng, shape: &[usize], scale: f32) -> Tensor {
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.gen_range(-scale..scale)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

fn max_abs(a: &Tensor) -> f32 {
    a.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

#[test]
fn fused_lstm_matches_the_op_by_op_reference_in_value_and_gradient() {
    let config = ModelConfig { hidden: 24, layers: 2, n_bands: 12, fine_bins: 10, ..ModelConfig::default() };
    let mut varmap = VarMap::new();
    let model = net::build(&config, &varmap, &Device::Cpu, 0).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    // Weights larger than the default initialisation so every gate saturates somewhere.
    for (name, shape) in config.tensor_shapes() {
        varmap.set_one(&name, randn(&mut rng, &shape, 0.5)).unwrap();
    }
    let (b, t) = (3, 37);
    let x = randn(&mut rng, &[b, t, config.n_features()], 2.0);
    let w_gain = randn(&mut rng, &[b, t, config.n_gains()], 1.0);
    let w_vad = randn(&mut rng, &[b, t], 1.0);
    let objective = |out: net::NetOutput| -> Tensor {
        ((out.gains * &w_gain).unwrap().sum_all().unwrap() + (out.vad * &w_vad).unwrap().sum_all().unwrap()).unwrap()
    };

    let fused = model.forward(&x).unwrap();
    let reference = model.forward_reference(&x).unwrap();
    let d = max_abs_diff(&fused.gains, &reference.gains).max(max_abs_diff(&fused.vad, &reference.vad));
    assert!(d < 1e-5, "forward outputs differ by {d}");

    let g_fused = objective(fused).backward().unwrap();
    let g_ref = objective(reference).backward().unwrap();
    let vars = varmap.data().lock().unwrap();
    for (name, var) in vars.iter() {
        let a = g_fused.get(var.as_tensor()).unwrap_or_else(|| panic!("fused: no gradient for {name}"));
        let r = g_ref.get(var.as_tensor()).unwrap_or_else(|| panic!("reference: no gradient for {name}"));
        let (d, scale) = (max_abs_diff(a, r), max_abs(r));
        eprintln!("{name}: max |grad| {scale:.4}, max difference {d:.2e}");
        assert!(scale > 1e-3, "{name}: reference gradient is all but zero, the comparison proves nothing");
        assert!(d <= 1e-4 * scale.max(1.0), "{name}: gradients differ by {d} (scale {scale})");
    }
}

#[test]
fn fused_lstm_handles_a_single_hop_and_a_single_sequence() {
    let config = ModelConfig { hidden: 8, layers: 1, n_bands: 4, ..ModelConfig::default() };
    let varmap = VarMap::new();
    let model = net::build(&config, &varmap, &Device::Cpu, 0).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let x = randn(&mut rng, &[1, 1, config.n_features()], 1.0);
    let a = model.forward(&x).unwrap();
    let r = model.forward_reference(&x).unwrap();
    assert!(max_abs_diff(&a.gains, &r.gains) < 1e-6);
    let g = a.gains.sum_all().unwrap().backward().unwrap();
    assert!(g.get(varmap.data().lock().unwrap()["lstm.0.weight_ih"].as_tensor()).is_some());
}
