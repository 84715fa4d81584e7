//! Training throughput of the network alone (no data loader): one forward + backward + AdamW
//! step on random batches of 300 hops, at three batch sizes, in frames per second.
//! `cargo run --release -p xtask --example train_throughput [batch sizes, default 16 32 64]`
use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};
use lull::model::ModelConfig;
use std::time::Instant;
use xtask::{net, train};
fn main() {
    let config = ModelConfig::default();
    let varmap = VarMap::new();
    let netw = net::build(&config, &varmap, &Device::Cpu, 0).unwrap();
    let mut opt = AdamW::new(varmap.all_vars(), ParamsAdamW::default()).unwrap();
    let sizes: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("batch sizes are whole numbers")).collect();
    let sizes = if sizes.is_empty() { vec![16, 32, 64] } else { sizes };
    for (b, t) in sizes.into_iter().map(|b| (b, 300usize)) {
        let batch = train::Batch {
            features: Tensor::randn(0f32, 1.0, (b, t, config.n_features()), &Device::Cpu).unwrap(),
            target: Tensor::rand(0f32, 1.0, (b, t, config.n_bands), &Device::Cpu).unwrap(),
            weight: Tensor::ones((b, t, config.n_bands), candle_core::DType::F32, &Device::Cpu).unwrap(),
            vad: Tensor::rand(0f32, 1.0, (b, t), &Device::Cpu).unwrap(),
            band_energy: Tensor::rand(0f32, 2.0, (b, t, config.n_bands), &Device::Cpu).unwrap(),
            df: None,
            strength: None,
        };
        let s = Instant::now();
        for _ in 0..3 {
            let l = train::loss(&netw, &batch, train::Asymmetry::SYMMETRIC, None).unwrap();
            opt.backward_step(&l).unwrap();
        }
        let dt = s.elapsed().as_secs_f64() / 3.0;
        println!("batch {b}x{t}: {:.3} s/step, {:.0} frames/s", dt, (b * t) as f64 / dt);
    }
}
