//! CPU time per 10 ms hop at 48 kHz: Lull's engine next to nnnoiseless (RNNoise), measured in
//! the same run on the same input. One iteration = one hop (480 samples) per channel, so the
//! reported time is the per-hop cost; the stereo figure covers two channels (one network run,
//! two STFTs).
//!
//! Run: `cargo bench -p lull --bench hop`. Timing on shared machines is noisy; compare the two
//! lines of one run, or count instructions with valgrind (see README).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use lull::engine::Denoiser;
use lull::model::default_model;

#[path = "common/noise.rs"]
mod noise;
use noise::noise;

const HOP: usize = 480;

fn bench(c: &mut Criterion) {
    let input = noise(HOP * 100);
    let mut g = c.benchmark_group("per 10 ms hop at 48 kHz");

    let mut lull_mono = Denoiser::new(default_model().unwrap(), 48_000.0, 1).unwrap();
    let mut buf = vec![0.0f32; HOP];
    let mut i = 0;
    g.bench_function("lull mono (1 channel)", |b| {
        b.iter(|| {
            let k = i % 100;
            i += 1;
            buf.copy_from_slice(&input[k * HOP..(k + 1) * HOP]);
            lull_mono.process(&mut [&mut buf[..]]);
            black_box(buf[0])
        })
    });

    let mut lull_stereo = Denoiser::new(default_model().unwrap(), 48_000.0, 2).unwrap();
    let (mut l, mut r) = (vec![0.0f32; HOP], vec![0.0f32; HOP]);
    g.bench_function("lull stereo (2 channels, linked)", |b| {
        b.iter(|| {
            let k = i % 100;
            i += 1;
            l.copy_from_slice(&input[k * HOP..(k + 1) * HOP]);
            r.copy_from_slice(&input[k * HOP..(k + 1) * HOP]);
            lull_stereo.process(&mut [&mut l[..], &mut r[..]]);
            black_box(l[0] + r[0])
        })
    });

    let mut rnnoise = nnnoiseless::DenoiseState::new();
    let mut out = vec![0.0f32; HOP];
    // nnnoiseless expects 16-bit-scaled samples.
    let scaled: Vec<f32> = input.iter().map(|x| x * 32768.0).collect();
    g.bench_function("nnnoiseless mono (RNNoise, reference)", |b| {
        b.iter(|| {
            let k = i % 100;
            i += 1;
            black_box(rnnoise.process_frame(&mut out, &scaled[k * HOP..(k + 1) * HOP]))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
