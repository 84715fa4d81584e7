//! The candle network (training) and the plugin's hand-written inference are the same function:
//! random weights, random inputs, 500 hops, max abs difference ≤ 1e-5.

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use lull::model::{serialize, Model, ModelConfig};
use rand::{Rng, SeedableRng};
use xtask::net;

fn parity(config: &ModelConfig) {
    let mut varmap = VarMap::new();
    let candle_net = net::build(config, &varmap, &Device::Cpu, 0).unwrap();
    // Seeded weights, larger than the default initialisation so the outputs swing over most of
    // 0..1 and the comparison exercises every nonlinearity.
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    for (name, shape) in config.tensor_shapes() {
        let n = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|_| rng.gen_range(-0.3..0.3)).collect();
        varmap.set_one(&name, Tensor::from_vec(values, shape, &Device::Cpu).unwrap()).unwrap();
    }
    // Through the real export path: the file the plugin would load.
    let bytes = serialize(config, &net::export_tensors(config, &varmap).unwrap()).unwrap();
    let model = Model::from_bytes(&bytes).unwrap();

    let hops = 500;
    let f = config.n_features();
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let input: Vec<f32> = (0..hops * f).map(|_| rng.gen_range(-2.0..2.0)).collect();
    let out = candle_net.forward(&Tensor::from_vec(input.clone(), (1, hops, f), &Device::Cpu).unwrap()).unwrap();
    let gains = out.head.squeeze(0).unwrap().to_vec2::<f32>().unwrap();
    let vad = out.vad.squeeze(0).unwrap().to_vec1::<f32>().unwrap();

    let mut state = model.new_state();
    let mut g = vec![0.0; config.n_head()];
    let mut worst = 0.0f32;
    for t in 0..hops {
        let v = model.step(&mut state, &input[t * f..(t + 1) * f], &mut g);
        worst = worst.max((v - vad[t]).abs());
        for b in 0..config.n_head() {
            worst = worst.max((g[b] - gains[t][b]).abs());
        }
    }
    eprintln!("parity over {hops} hops, {} parameters: max abs difference {worst:e}", config.parameter_count());
    assert!(worst <= 1e-5, "{config:?}: max abs difference {worst}");
    // The outputs must actually vary, or the comparison proves nothing.
    let spread = gains.iter().flatten().fold((1.0f32, 0.0f32), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    assert!(spread.1 - spread.0 > 0.05, "outputs barely vary: {spread:?}");
}

#[test]
fn candle_and_plugin_inference_agree_on_the_shipped_shape() {
    parity(&ModelConfig::default());
}

#[test]
fn candle_and_plugin_inference_agree_on_other_shapes() {
    parity(&ModelConfig { hidden: 24, layers: 1, n_bands: 16, ..ModelConfig::default() });
    // With a gain per low bin.
    parity(&ModelConfig { hidden: 24, layers: 1, fine_bins: 80, ..ModelConfig::default() });
    // With deep-filter taps on the low bins.
    parity(&ModelConfig { hidden: 24, layers: 1, fine_bins: 64, df_order: 3, ..ModelConfig::default() });
    parity(&ModelConfig { hidden: 40, layers: 3, ..ModelConfig::default() });
    // With the noise-floor features (a wider first layer).
    parity(&ModelConfig { hidden: 24, layers: 1, floor_features: true, ..ModelConfig::default() });
    // With the SNR features as well.
    parity(&ModelConfig { hidden: 24, layers: 1, floor_features: true, snr_features: true, ..ModelConfig::default() });
    // With the pitch features (per band and per frame).
    parity(&ModelConfig { hidden: 24, layers: 1, pitch_features: true, ..ModelConfig::default() });
    // With the pitch filter's strength as an output (after the deep filter's taps).
    parity(&ModelConfig { hidden: 24, layers: 1, pitch_strength: true, ..ModelConfig::default() });
    parity(&ModelConfig { hidden: 24, layers: 1, fine_bins: 16, df_order: 2, pitch_strength: true, ..ModelConfig::default() });
    // With skip connections into the output layer: the features and every layer's output.
    parity(&ModelConfig { hidden: 40, layers: 3, skip_connections: true, ..ModelConfig::default() });
    parity(&ModelConfig { hidden: 24, layers: 1, fine_bins: 16, df_order: 2, skip_connections: true, ..ModelConfig::default() });
    // With a convolution front-end: the engine's history of past hops against candle's shifted
    // copies of the sequence; one hop of it is a plain dense layer.
    parity(&ModelConfig { hidden: 24, layers: 2, conv_hops: 3, conv_units: 20, ..ModelConfig::default() });
    parity(&ModelConfig { hidden: 24, layers: 1, conv_hops: 1, conv_units: 40, ..ModelConfig::default() });
    parity(&ModelConfig { hidden: 24, layers: 1, conv_hops: 5, conv_units: 16, fine_bins: 16, df_order: 2, ..ModelConfig::default() });
    // Without its tanh layer: the first LSTM layer reads the stacked hops.
    parity(&ModelConfig { hidden: 24, layers: 2, conv_hops: 2, conv_units: 0, ..ModelConfig::default() });
    parity(&ModelConfig { hidden: 24, layers: 1, conv_hops: 4, conv_units: 0, fine_bins: 16, df_order: 2, ..ModelConfig::default() });
}
