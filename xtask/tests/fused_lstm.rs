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

/// A stream cut into chunks (truncated BPTT): the fused op started from the state the chunk
/// before ended in gives what the whole sequence gives, and from a given state it matches the
/// op-by-op reference in value and in every parameter's gradient (the state a constant).
#[test]
fn fused_lstm_carries_its_state_from_chunk_to_chunk() {
    let config = ModelConfig { hidden: 16, layers: 2, n_bands: 8, ..ModelConfig::default() };
    let mut varmap = VarMap::new();
    let model = net::build(&config, &varmap, &Device::Cpu, 0).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for (name, shape) in config.tensor_shapes() {
        varmap.set_one(&name, randn(&mut rng, &shape, 0.5)).unwrap();
    }
    let (b, t1, t2) = (2, 13, 9);
    let x = randn(&mut rng, &[b, t1 + t2, config.n_features()], 2.0);
    let whole = model.forward(&x).unwrap();
    let (first, state) = model.forward_train(&x.narrow(1, 0, t1).unwrap(), None, None).unwrap();
    assert_eq!(state.layers.len(), 2);
    assert!(state.layers.iter().all(|s| s.h.len() == b * 16 && s.c.len() == b * 16));
    let (second, _) = model.forward_train(&x.narrow(1, t1, t2).unwrap(), None, Some(&state)).unwrap();
    let joined = Tensor::cat(&[&first.gains, &second.gains], 1).unwrap();
    let d = max_abs_diff(&joined, &whole.gains);
    assert!(d < 1e-5, "chunked and whole differ by {d}");
    // Started from zeros instead, the second chunk differs: the state carried matters.
    let (cold, _) = model.forward_train(&x.narrow(1, t1, t2).unwrap(), None, None).unwrap();
    assert!(max_abs_diff(&cold.gains, &second.gains) > 1e-3);

    let x2 = x.narrow(1, t1, t2).unwrap();
    let w_gain = randn(&mut rng, &[b, t2, config.n_gains()], 1.0);
    let objective = |out: net::NetOutput| (out.gains * &w_gain).unwrap().sum_all().unwrap();
    let (fused, end_fused) = model.forward_train(&x2, None, Some(&state)).unwrap();
    let (reference, end_ref) = model.forward_reference_from(&x2, Some(&state)).unwrap();
    assert!(max_abs_diff(&fused.gains, &reference.gains) < 1e-5);
    for (a, r) in end_fused.layers.iter().zip(&end_ref.layers) {
        let d = a.h.iter().chain(&a.c).zip(r.h.iter().chain(&r.c)).map(|(p, q)| (p - q).abs()).fold(0.0f32, f32::max);
        assert!(d < 1e-5, "end states differ by {d}");
    }
    let g_fused = objective(fused).backward().unwrap();
    let g_ref = objective(reference).backward().unwrap();
    let vars = varmap.data().lock().unwrap();
    for (name, var) in vars.iter() {
        let (Some(a), Some(r)) = (g_fused.get(var.as_tensor()), g_ref.get(var.as_tensor())) else {
            // The VAD's output row has no part in this objective.
            continue;
        };
        let (d, scale) = (max_abs_diff(a, r), max_abs(r));
        assert!(d <= 1e-4 * scale.max(1.0), "{name}: gradients differ by {d} (scale {scale})");
    }
    assert!(g_fused.get(vars["lstm.0.weight_hh"].as_tensor()).is_some());
}

/// The cold rows of a stream batch (`--stream-cold-share`) start every chunk from zeros: only
/// their h and c are cleared, in every layer's state, and the other rows keep theirs.
#[test]
fn zeroing_the_cold_rows_clears_those_rows_only() {
    let (batch, hidden) = (4, 3);
    let full = |v: f32| xtask::lstm_op::LstmState { h: vec![v; batch * hidden], c: vec![-v; batch * hidden] };
    for rows in 0..=batch {
        let mut state = full(0.5);
        state.zero_rows(rows, batch);
        for r in 0..batch {
            let want = if r < rows { 0.0 } else { 0.5 };
            assert!(state.h[r * hidden..(r + 1) * hidden].iter().all(|&v| v == want), "{rows} cold rows: h of row {r} is {:?}", state.h);
            assert!(state.c[r * hidden..(r + 1) * hidden].iter().all(|&v| v == -want), "{rows} cold rows: c of row {r} is {:?}", state.c);
        }
    }
}

/// A convolution front-end reads hops before the chunk: handed on in the state, the chunks give
/// what the whole sequence gives; without them the outputs differ from the first hop on, even
/// with the LSTM state carried. The cold rows' history is cleared with their LSTM state. With a
/// tanh layer and with the stacked hops alone.
#[test]
fn the_conv_front_end_carries_its_history_from_chunk_to_chunk() {
    for conv_units in [12, 0] {
        conv_front_end_carries_its_history(conv_units);
    }
}

fn conv_front_end_carries_its_history(conv_units: usize) {
    let config = ModelConfig { hidden: 16, layers: 2, n_bands: 8, conv_hops: 4, conv_units, ..ModelConfig::default() };
    let mut varmap = VarMap::new();
    let model = net::build(&config, &varmap, &Device::Cpu, 0).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    for (name, shape) in config.tensor_shapes() {
        varmap.set_one(&name, randn(&mut rng, &shape, 0.5)).unwrap();
    }
    let (b, t1, t2, f) = (3, 11, 7, config.n_features());
    let x = randn(&mut rng, &[b, t1 + t2, f], 2.0);
    let whole = model.forward(&x).unwrap();
    let (first, state) = model.forward_train(&x.narrow(1, 0, t1).unwrap(), None, None).unwrap();
    // The last three hops' features, oldest first, per sequence.
    assert_eq!(state.conv_history.len(), b * 3 * f);
    let want = x.narrow(1, t1 - 3, 3).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(state.conv_history, want);
    let (second, _) = model.forward_train(&x.narrow(1, t1, t2).unwrap(), None, Some(&state)).unwrap();
    let joined = Tensor::cat(&[&first.gains, &second.gains], 1).unwrap();
    let d = max_abs_diff(&joined, &whole.gains);
    assert!(d < 1e-5, "{conv_units} units: chunked and whole differ by {d}");
    // The LSTM state carried but not the front-end's history: the first hops differ.
    let no_history = net::NetState { layers: state.layers.clone(), conv_history: vec![0.0; b * 3 * f] };
    let (forgot, _) = model.forward_train(&x.narrow(1, t1, t2).unwrap(), None, Some(&no_history)).unwrap();
    assert!(max_abs_diff(&forgot.gains.narrow(1, 0, 1).unwrap(), &second.gains.narrow(1, 0, 1).unwrap()) > 1e-3);
    // A history of the wrong size is refused, not read past.
    let short = net::NetState { layers: state.layers.clone(), conv_history: vec![0.0; 5] };
    assert!(model.forward_train(&x.narrow(1, t1, t2).unwrap(), None, Some(&short)).is_err());
    // Cold rows: the first row's history and LSTM state cleared, the others kept.
    let mut cold = state.clone();
    cold.zero_rows(1, b);
    let w = 3 * f;
    assert!(cold.conv_history[..w].iter().all(|&v| v == 0.0));
    assert_eq!(cold.conv_history[w..], state.conv_history[w..]);
    assert!(cold.layers.iter().all(|l| l.h[..16].iter().all(|&v| v == 0.0)));
    assert_eq!(cold.layers[1].h[16..], state.layers[1].h[16..]);
}
