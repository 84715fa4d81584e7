//! Training throughput of the network alone (no data loader): one forward + backward + AdamW
//! step on random batches of 300 hops, at three batch sizes, in frames per second.
//! `cargo run --release -p xtask --example train_throughput [conv=HOPS:UNITS] [batch sizes, default 16 32 64]`
//! (`conv=3:96`: with a convolution front-end, `--conv-hops 3 --conv-units 96`; `conv=2:0`: two hops stacked).
use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};
use lull::model::ModelConfig;
use std::time::Instant;
use xtask::{net, train};
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let conv = args.iter().find_map(|a| a.strip_prefix("conv=")).map(|c| {
        let (h, u) = c.split_once(':').expect("conv=HOPS:UNITS");
        (h.parse().expect("conv hops are a whole number"), u.parse().expect("conv units are a whole number"))
    });
    let (conv_hops, conv_units) = conv.unwrap_or((0, 0));
    let config = ModelConfig { conv_hops, conv_units, ..ModelConfig::default() };
    config.validate().expect("a valid configuration");
    let varmap = VarMap::new();
    let netw = net::build(&config, &varmap, &Device::Cpu, 0).unwrap();
    let mut opt = AdamW::new(varmap.all_vars(), ParamsAdamW::default()).unwrap();
    let sizes: Vec<usize> = args.iter().filter(|a| !a.starts_with("conv=")).map(|a| a.parse().expect("batch sizes are whole numbers")).collect();
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
