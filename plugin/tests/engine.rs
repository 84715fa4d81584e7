//! Engine behaviour a host relies on: exact latency, transparency, block-size invariance, and
//! recovery from bad audio.

use std::sync::Arc;

use lull::engine::Denoiser;
use lull::model::default_model;
use rand::{Rng, SeedableRng};

fn denoiser(rate: f32, channels: usize) -> Denoiser {
    Denoiser::new(default_model().expect("embedded model loads"), rate, channels).unwrap()
}

/// Deterministic test signal: a few partials plus noise, about −12 dBFS.
fn signal(len: usize, rate: f32, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..len)
        .map(|i| {
            let t = i as f32 / rate;
            0.15 * (2.0 * std::f32::consts::PI * 220.0 * t).sin()
                + 0.05 * (2.0 * std::f32::consts::PI * 1250.0 * t).sin()
                + 0.05 * rng.gen_range(-1.0..1.0)
        })
        .collect()
}

/// Runs `input` (one channel) through `d` in blocks of the given sizes, cycling through them.
fn run_blocks(d: &mut Denoiser, input: &[f32], sizes: &[usize]) -> Vec<f32> {
    let mut out = input.to_vec();
    let mut start = 0;
    let mut i = 0;
    while start < out.len() {
        let n = sizes[i % sizes.len()].min(out.len() - start);
        d.process(&mut [&mut out[start..start + n]]);
        start += n;
        i += 1;
    }
    out
}

#[test]
fn latency_is_two_hops_minus_one_and_at_most_20ms_at_48k() {
    for &(rate, expected) in &[(16_000.0, 319), (22_050.0, 441), (44_100.0, 881), (48_000.0, 959), (96_000.0, 1919), (192_000.0, 3839)] {
        assert_eq!(denoiser(rate, 1).latency_samples(), expected, "at {rate} Hz");
    }
    assert!(denoiser(48_000.0, 1).latency_samples() as f32 / 48_000.0 <= 0.020);
}

/// A model with one hop of lookahead at 6.67 ms hops: the latency of 10 ms hops without it.
fn lookahead_config() -> lull::model::ModelConfig {
    lull::model::ModelConfig { hop_ms: 20.0 / 3.0, lookahead: 1, ..lull::model::ModelConfig::default() }
}

#[test]
fn lookahead_adds_its_hops_to_the_latency_and_the_impulse_comes_out_then() {
    let model = random_model(&lookahead_config(), 8);
    for &(rate, hop, expected) in &[(22_050.0, 147, 440), (44_100.0, 294, 881), (48_000.0, 320, 959), (96_000.0, 640, 1919)] {
        let mut d = Denoiser::new(model.clone(), rate, 1).unwrap();
        assert_eq!((d.hop_size(), d.latency_samples()), (hop, expected), "at {rate} Hz");
        d.set_reduction_db(0.0);
        let mut x = vec![0.0f32; expected * 3];
        x[100] = 1.0;
        let y = run_blocks(&mut d, &x, &[64]);
        let peak = y.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).unwrap().0;
        assert_eq!(peak, 100 + expected, "at {rate} Hz");
        assert!((y[peak] - 1.0).abs() < 1e-4);
    }
}

/// One LSTM unit without memory that follows band 10's level (its gate input crosses zero at
/// −40 dB band energy), and every band's gain σ(20·h): shut on quiet frames, open on loud ones.
fn level_gate_model(lookahead: usize) -> Arc<lull::model::Model> {
    let config = lull::model::ModelConfig { hidden: 1, layers: 1, floor_features: false, ..lookahead_config() };
    let config = lull::model::ModelConfig { lookahead, ..config };
    let tensors: Vec<Vec<f32>> = config
        .tensor_shapes()
        .iter()
        .map(|(name, shape)| {
            let mut t = vec![0.0; shape.iter().product()];
            match name.as_str() {
                // Gate rows i, f, g, o: the candidate reads the absolute level of band 10.
                "lstm.0.weight_ih" => t[2 * config.n_features() + 10] = 3.0,
                // Input and output gates open, forget gate shut.
                "lstm.0.bias_ih" => t.copy_from_slice(&[20.0, -20.0, 0.0, 20.0]),
                "out.weight" => t[..config.n_bands].fill(20.0),
                _ => {}
            }
            t
        })
        .collect();
    Arc::new(lull::model::Model::from_bytes(&lull::model::serialize(&config, &tensors).unwrap()).unwrap())
}

#[test]
fn lookahead_applies_the_gains_to_the_hop_before_the_one_they_were_computed_on() {
    // Faint noise (about −80 dBFS, gains shut down to the −40 dB Reduction floor), then loud
    // noise from hop k on. Without lookahead the gates open on the first frame that holds the
    // onset; with one hop of it, that frame's gains are played on the frame before, so the faint
    // noise of the hop before the onset frame's first hop already comes through (half-way, by
    // the synthesis window), and not earlier.
    let rate = 48_000.0;
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let hop = 320;
    let k = 50;
    let x: Vec<f32> = (0..hop * (k + 20))
        .map(|i| rng.gen_range(-1.0f32..1.0) * if i < k * hop { 1e-4 } else { 0.1 })
        .collect();
    let gain_db = |lookahead: usize, hops: std::ops::Range<usize>| {
        let mut d = Denoiser::new(level_gate_model(lookahead), rate, 1).unwrap();
        assert_eq!(d.hop_size(), hop);
        d.set_reduction_db(40.0);
        d.set_pitch_filter(false);
        let lat = d.latency_samples();
        let y = run_blocks(&mut d, &x, &[100]);
        let range = hops.start * hop..hops.end * hop;
        let energy = |s: &[f32]| s.iter().map(|v| v * v).sum::<f32>();
        10.0 * (energy(&y[range.start + lat..range.end + lat]) / energy(&x[range])).log10()
    };
    let (before, at) = (k - 2..k - 1, k - 4..k - 3);
    let (now, ahead) = (gain_db(0, before.clone()), gain_db(1, before));
    eprintln!("the hop before the onset frame's: {now:.1} dB without lookahead, {ahead:.1} dB with");
    assert!(now < -35.0 && ahead > -10.0, "the hop before the onset frame's: {now:.1} dB without lookahead, {ahead:.1} dB with");
    let (now, ahead) = (gain_db(0, at.clone()), gain_db(1, at));
    assert!(now < -35.0 && ahead < -35.0, "three hops before the onset: {now:.1} dB without lookahead, {ahead:.1} dB with");
}

#[test]
fn impulse_comes_out_exactly_latency_samples_later() {
    for &rate in &[22_050.0, 44_100.0, 48_000.0, 96_000.0] {
        let mut d = denoiser(rate, 1);
        d.set_reduction_db(0.0);
        let lat = d.latency_samples();
        let mut x = vec![0.0f32; lat * 3];
        x[100] = 1.0;
        let y = run_blocks(&mut d, &x, &[64]);
        let peak = y
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .unwrap()
            .0;
        assert_eq!(peak, 100 + lat, "at {rate} Hz");
        assert!((y[peak] - 1.0).abs() < 1e-4);
    }
}

#[test]
fn zero_reduction_is_transparent_after_latency() {
    for (name, make) in denoisers() {
        for &rate in &[22_050.0, 44_100.0, 48_000.0, 96_000.0] {
            for channels in [1, 2] {
                let mut d = make(rate, channels);
                d.set_reduction_db(0.0);
                let lat = d.latency_samples();
                let len = (rate as usize) * 2;
                let x: Vec<Vec<f32>> = (0..channels).map(|c| signal(len, rate, c as u64)).collect();
                let mut y = x.clone();
                for start in (0..len).step_by(333) {
                    let end = (start + 333).min(len);
                    let mut block: Vec<&mut [f32]> = y.iter_mut().map(|c| &mut c[start..end]).collect();
                    d.process(&mut block);
                }
                for c in 0..channels {
                    let err = (lat..len).map(|i| (y[c][i] - x[c][i - lat]).abs()).fold(0.0, f32::max);
                    assert!(err <= 1e-4, "{name}: rate {rate}, channel {c}: max error {err}");
                    assert!(y[c][..lat].iter().all(|&v| v.abs() < 1e-6), "{name}: leading silence");
                }
            }
        }
    }
}

/// A network with small random weights and `config`'s features (its output means nothing, but
/// every feature reaches it).
fn random_model(config: &lull::model::ModelConfig, seed: u64) -> Arc<lull::model::Model> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let tensors: Vec<Vec<f32>> =
        config.tensor_shapes().iter().map(|(_, shape)| (0..shape.iter().product()).map(|_| rng.gen_range(-0.3..0.3)).collect()).collect();
    Arc::new(lull::model::Model::from_bytes(&lull::model::serialize(config, &tensors).unwrap()).unwrap())
}

type MakeDenoiser = Box<dyn Fn(f32, usize) -> Denoiser>;

/// Denoiser factories (rate, channels) for the engine-behaviour tests below: the embedded
/// model's, and random networks with the noise-floor, SNR and pitch features, a learned pitch
/// strength, lookahead and skip connections, and the embedded model behind the hum canceller,
/// so those paths are held to the same transparency
/// at 0 dB Reduction, block-size invariance and bad-audio handling.
fn denoisers() -> Vec<(&'static str, MakeDenoiser)> {
    let config = lull::model::ModelConfig { floor_features: true, ..lull::model::ModelConfig::default() };
    let floor = random_model(&config, 5);
    let config = lull::model::ModelConfig { floor_features: true, pitch_features: true, ..lull::model::ModelConfig::default() };
    let pitch = random_model(&config, 6);
    let config = lull::model::ModelConfig { pitch_strength: true, ..lull::model::ModelConfig::default() };
    let strength = random_model(&config, 7);
    let config = lull::model::ModelConfig { pitch_strength: true, ..lookahead_config() };
    let lookahead = random_model(&config, 9);
    let config = lull::model::ModelConfig { skip_connections: true, ..lull::model::ModelConfig::default() };
    let skips = random_model(&config, 10);
    let config = lull::model::ModelConfig { snr_features: true, ..lull::model::ModelConfig::default() };
    let snr = random_model(&config, 11);
    vec![
        ("embedded", Box::new(denoiser)),
        ("floor features", Box::new(move |r, c| Denoiser::new(floor.clone(), r, c).unwrap())),
        ("pitch features", Box::new(move |r, c| Denoiser::new(pitch.clone(), r, c).unwrap())),
        ("learned pitch strength", Box::new(move |r, c| Denoiser::new(strength.clone(), r, c).unwrap())),
        ("lookahead", Box::new(move |r, c| Denoiser::new(lookahead.clone(), r, c).unwrap())),
        ("skip connections", Box::new(move |r, c| Denoiser::new(skips.clone(), r, c).unwrap())),
        ("SNR features", Box::new(move |r, c| Denoiser::new(snr.clone(), r, c).unwrap())),
        // The hum canceller is on by default and takes out as much as the Reduction floor
        // allows: none at the engine's default of 0 dB. Both ways at 30 dB:
        ("hum canceller", Box::new(|r, c| {
            let mut d = denoiser(r, c);
            d.set_reduction_db(30.0);
            d
        })),
        ("no hum canceller", Box::new(|r, c| {
            let mut d = denoiser(r, c);
            d.set_reduction_db(30.0);
            d.set_dehum(false);
            d
        })),
    ]
}

#[test]
fn output_does_not_depend_on_block_size() {
    for (name, make) in denoisers() {
        output_does_not_depend_on_block_size_with(name, || make(48_000.0, 1));
    }
}

fn output_does_not_depend_on_block_size_with(name: &str, denoiser: impl Fn() -> Denoiser) {
    let rate = 48_000.0;
    let x = signal(48_000 * 3, rate, 7);
    let mut reference_d = denoiser();
    let reference = run_blocks(&mut reference_d, &x, &[480]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let random_sizes: Vec<usize> = (0..500).map(|_| rng.gen_range(0..1500)).collect();
    let schedules: Vec<Vec<usize>> = vec![vec![1], vec![13], vec![4096], vec![0, 7, 0, 300], random_sizes];
    for sizes in &schedules {
        let mut d = denoiser();
        let y = run_blocks(&mut d, &x, sizes);
        let err = y.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(err <= 1e-6, "{name}: block sizes {:?}…: max difference {err}", &sizes[..sizes.len().min(4)]);
    }
}

#[test]
fn denoising_actually_changes_a_noisy_signal() {
    // Guards against a silently transparent engine: with the default reduction the model's
    // gains must do something to broadband noise.
    let rate = 48_000.0;
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let x: Vec<f32> = (0..48_000 * 2).map(|_| 0.1 * rng.gen_range(-1.0f32..1.0)).collect();
    let mut d = denoiser(rate, 1);
    d.set_reduction_db(30.0);
    let y = run_blocks(&mut d, &x, &[512]);
    let lat = d.latency_samples();
    let diff: f32 = (lat..x.len()).map(|i| (y[i] - x[i - lat]).powi(2)).sum();
    assert!(diff > 1e-3, "output identical to input: {diff}");
}

/// Energy of `y` within 5 Hz of the harmonics of `f0` against the energy between them (60–140
/// Hz away), 400 Hz–3 kHz, in dB: how far a voice stands above the noise between its harmonics.
fn harmonics_over_gaps_db(y: &[f32], rate: f32, f0: f32) -> f32 {
    use realfft::RealFftPlanner;
    let n = 1 << 15;
    let start = y.len() - n;
    let mut frame: Vec<f32> =
        (0..n).map(|i| y[start + i] * (std::f32::consts::PI * i as f32 / n as f32).sin().powi(2)).collect();
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n);
    let mut spectrum = fft.make_output_vec();
    fft.process(&mut frame, &mut spectrum).unwrap();
    let (mut on, mut off) = (0.0f64, 0.0f64);
    for (k, x) in spectrum.iter().enumerate() {
        let hz = k as f32 * rate / n as f32;
        if !(400.0..3000.0).contains(&hz) {
            continue;
        }
        let from_harmonic = (hz - (hz / f0).round() * f0).abs();
        if from_harmonic < 5.0 {
            on += x.norm_sqr() as f64;
        } else if (60.0..=140.0).contains(&from_harmonic) {
            off += x.norm_sqr() as f64;
        }
    }
    10.0 * (on / off).log10() as f32
}

/// 1.5 s of a steady voice at `f0` (15 harmonics falling as 1/h, peak about 0.1) in white
/// noise of peak `noise`.
fn voice_in_noise(rate: f32, f0: f32, noise: f32, rng: &mut impl Rng) -> Vec<f32> {
    (0..(1.5 * rate) as usize)
        .map(|i| {
            let t = i as f32 / rate;
            let voice: f32 = (1..=15).map(|h| (std::f32::consts::TAU * f0 * h as f32 * t).sin() / h as f32).sum();
            0.05 * voice + noise * rng.gen_range(-1.0f32..1.0)
        })
        .collect()
}

#[test]
fn pitch_filter_is_on_by_default_and_lifts_a_voice_over_the_noise_between_its_harmonics() {
    // A steady 200 Hz voice in white noise, 1.5 s; the embedded model's gains with and without
    // the filter. Band gains alone cannot change how far the harmonics stand above the gaps
    // (1.81 dB in, 1.78 dB out when written); the filter lifted them to 3.94 dB.
    let rate = 48_000.0;
    let f0 = 200.0;
    let x = voice_in_noise(rate, f0, 0.15, &mut rand::rngs::StdRng::seed_from_u64(11));
    let run = |filter: Option<bool>| {
        let mut d = denoiser(rate, 1);
        d.set_reduction_db(30.0);
        // A voice held this steady on 200 Hz, a multiple of 50, is hum to the hum canceller
        // (it would take the harmonics out within a second); this test is about the filter.
        d.set_dehum(false);
        if let Some(on) = filter {
            d.set_pitch_filter(on);
        }
        let y = run_blocks(&mut d, &x, &[480]);
        assert!(y.iter().all(|v| v.is_finite()));
        y
    };
    let (default, on, off) = (run(None), run(Some(true)), run(Some(false)));
    assert_eq!(default, on, "the filter is on by default");
    let (on_db, off_db, in_db) = (harmonics_over_gaps_db(&on, rate, f0), harmonics_over_gaps_db(&off, rate, f0), harmonics_over_gaps_db(&x, rate, f0));
    assert!(on_db > off_db + 1.5, "harmonics over the gaps: input {in_db:.2} dB, band gains alone {off_db:.2} dB, with the filter {on_db:.2} dB");
}

#[test]
fn pitch_filter_keeps_each_channel_to_its_own_past() {
    // Stereo, a 160 Hz voice in noise on the left and other noise alone on the right: the period
    // is found on both together, but each channel is filtered with its own past and by its own
    // correlation, so a silent channel stays exactly silent and the right's noise is barely
    // combed at the left's pitch (its harmonics-over-gaps moved 1.2 dB when written; 2.4 dB
    // with the pooled correlation as the strength, 2.7 dB without `MIN_CORRELATION`).
    // The same with a learned strength of 1 everywhere (a network blind to its input, gains
    // 0.5): a channel's own chance correlation still keeps it from being combed.
    let rate = 48_000.0;
    let f0 = 160.0;
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let left = voice_in_noise(rate, f0, 0.05, &mut rng);
    let right: Vec<f32> = (0..left.len()).map(|_| 0.05 * rng.gen_range(-1.0f32..1.0)).collect();
    let config = lull::model::ModelConfig { pitch_strength: true, ..lull::model::ModelConfig::default() };
    let strengths = config.strengths();
    let learned = input_blind_model(&config, |i| if strengths.contains(&i) { 12.0 } else { 0.0 });
    let makers: [(&str, MakeDenoiser); 2] =
        [("embedded", Box::new(denoiser)), ("learned strength", Box::new(move |r, c| Denoiser::new(learned.clone(), r, c).unwrap()))];
    for ((name, make), silent) in makers.iter().flat_map(|m| [(m, false), (m, true)]) {
        let mut d = make(rate, 2);
        d.set_reduction_db(30.0);
        let (mut l, mut r) = (left.clone(), if silent { vec![0.0; left.len()] } else { right.clone() });
        for (lc, rc) in l.chunks_mut(256).zip(r.chunks_mut(256)) {
            d.process(&mut [lc, rc]);
        }
        assert!(l.iter().chain(&r).all(|v| v.is_finite()));
        if silent {
            assert!(r.iter().all(|&v| v == 0.0), "{name}: the silent channel picked up {:e}", r.iter().fold(0.0f32, |m, v| m.max(v.abs())));
        } else {
            let (r_in, r_out, l_out) = (harmonics_over_gaps_db(&right, rate, f0), harmonics_over_gaps_db(&r, rate, f0), harmonics_over_gaps_db(&l, rate, f0));
            eprintln!("{name}: harmonics over the gaps: right {r_in:.2} → {r_out:.2} dB, left out {l_out:.2} dB");
            assert!((r_out - r_in).abs() < 1.5 && l_out > r_out + 10.0, "{name}: harmonics over the gaps: right {r_in:.2} → {r_out:.2} dB, left out {l_out:.2} dB");
        }
    }
}

#[test]
fn bad_audio_gives_finite_output_and_recovers_within_a_second() {
    for (name, make) in denoisers() {
        bad_audio_recovers_with(name, || make(48_000.0, 2));
    }
}

fn bad_audio_recovers_with(name: &str, denoiser: impl Fn() -> Denoiser) {
    let rate = 48_000.0;
    let len = 48_000 * 4;
    let x = signal(len, rate, 11);
    let mut clean_d = denoiser();
    let mut clean = [x.clone(), x.clone()];
    {
        let (a, b) = clean.split_at_mut(1);
        clean_d.process(&mut [&mut a[0][..], &mut b[0][..]]);
    }
    let bursts: [(&str, f32); 4] =
        [("NaN", f32::NAN), ("+Inf", f32::INFINITY), ("-Inf", f32::NEG_INFINITY), ("denormal", 1.0e-40)];
    for (what, v) in bursts {
        let mut d = denoiser();
        let burst = 48_000..48_000 + 4_800; // 100 ms at 1 s
        let mut y = [x.clone(), x.clone()];
        for i in burst.clone() {
            y[0][i] = v;
            if i % 2 == 0 {
                y[1][i] = v;
            }
        }
        for start in (0..len).step_by(256) {
            let end = (start + 256).min(len);
            let (a, b) = y.split_at_mut(1);
            d.process(&mut [&mut a[0][start..end], &mut b[0][start..end]]);
        }
        assert!(y.iter().flatten().all(|s| s.is_finite()), "{name}, {what}: non-finite output");
        // One second after the burst has left the engine, output matches an engine that never
        // saw it (the running means and recurrent state have forgotten it).
        let settled = burst.end + d.latency_samples() + 48_000;
        let err = (settled..len)
            .map(|i| (y[0][i] - clean[0][i]).abs())
            .fold(0.0, f32::max);
        let peak = clean[0][settled..].iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!(err <= 0.05 * peak, "{name}, {what}: still off by {err} (peak {peak}) 1 s after the burst");
    }
}

#[test]
fn bypass_crossfades_to_the_delayed_dry_signal_without_a_jump() {
    let rate = 48_000.0;
    let x = signal(48_000 * 2, rate, 5);
    let mut d = denoiser(rate, 1);
    d.set_reduction_db(60.0);
    let lat = d.latency_samples();
    let mut y = x.clone();
    let (first, rest) = y.split_at_mut(48_000);
    d.process(&mut [first]);
    d.set_bypassed(true);
    d.process(&mut [rest]);
    // After the 10 ms fade the output is exactly the dry input, delayed.
    for i in 48_000 + 480..x.len() {
        assert!((y[i] - x[i - lat]).abs() < 1e-6, "sample {i}");
    }
    // No sample-to-sample step larger than the signal itself makes.
    let max_step_in = x.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max);
    let max_step_out = y[lat..].windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max);
    assert!(max_step_out <= 1.5 * max_step_in, "click: {max_step_out} vs {max_step_in}");
}

#[test]
fn unsupported_settings_are_refused_with_errors() {
    let m = default_model().unwrap();
    assert!(Denoiser::new(Arc::clone(&m), 1000.0, 1).is_err());
    assert!(Denoiser::new(Arc::clone(&m), f32::NAN, 1).is_err());
    assert!(Denoiser::new(Arc::clone(&m), 48_000.0, 0).is_err());
    assert!(Denoiser::new(m, 48_000.0, 9).is_err());
}

/// A network whose weights are all zero, so its outputs are `σ` or the tap bound of `bias(i)`
/// whatever it hears.
#[test]
fn a_learned_pitch_strength_drives_the_filter() {
    // Networks that ignore their input: every band gain 0.5, every strength 1 or 0. The
    // strength alone decides whether the harmonics of a voice in noise rise over the gaps.
    let rate = 48_000.0;
    let f0 = 200.0;
    let x = voice_in_noise(rate, f0, 0.15, &mut rand::rngs::StdRng::seed_from_u64(11));
    let config = lull::model::ModelConfig { pitch_strength: true, ..lull::model::ModelConfig::default() };
    let strengths = config.strengths();
    let run = |strength_logit: f32| {
        let model = input_blind_model(&config, |i| if strengths.contains(&i) { strength_logit } else { 0.0 });
        let mut d = Denoiser::new(model, rate, 1).unwrap();
        d.set_reduction_db(30.0);
        // As in the test above: the steady 200 Hz voice would be hum to the hum canceller.
        d.set_dehum(false);
        let y = run_blocks(&mut d, &x, &[480]);
        assert!(y.iter().all(|v| v.is_finite()));
        harmonics_over_gaps_db(&y, rate, f0)
    };
    let (full, none) = (run(12.0), run(-12.0));
    eprintln!("harmonics over the gaps: strength 1 {full:.2} dB, strength 0 {none:.2} dB");
    assert!(full > none + 1.5, "harmonics over the gaps: strength 1 {full:.2} dB, strength 0 {none:.2} dB");
}

fn input_blind_model(config: &lull::model::ModelConfig, bias: impl Fn(usize) -> f32) -> Arc<lull::model::Model> {
    let tensors: Vec<Vec<f32>> = config
        .tensor_shapes()
        .iter()
        .map(|(name, shape)| {
            let mut t = vec![0.0; shape.iter().product()];
            if name == "out.bias" {
                t.iter_mut().enumerate().for_each(|(i, b)| *b = bias(i));
            }
            t
        })
        .collect();
    Arc::new(lull::model::Model::from_bytes(&lull::model::serialize(config, &tensors).unwrap()).unwrap())
}

fn tone(rate: f32, hz: f32, len: usize) -> Vec<f32> {
    (0..len).map(|i| 0.3 * (2.0 * std::f32::consts::PI * hz * i as f32 / rate).sin()).collect()
}

/// Level change in dB of a steady `hz` tone through `model` (0.5 s; the second half measured).
fn tone_level_db(model: &Arc<lull::model::Model>, rate: f32, hz: f32, reduction_db: f32) -> f32 {
    tone_level_db_with(model, rate, hz, reduction_db, |_| {})
}

/// `tone_level_db` with the denoiser set up by `set` first.
fn tone_level_db_with(model: &Arc<lull::model::Model>, rate: f32, hz: f32, reduction_db: f32, set: impl Fn(&mut Denoiser)) -> f32 {
    let mut d = Denoiser::new(model.clone(), rate, 1).unwrap();
    d.set_reduction_db(reduction_db);
    set(&mut d);
    let n = (rate as usize) / 2;
    let x = tone(rate, hz, n);
    let y = run_blocks(&mut d, &x, &[256]);
    let rms = |s: &[f32]| (s.iter().map(|v| v * v).sum::<f32>() / s.len() as f32).sqrt();
    20.0 * (rms(&y[n / 2..]) / rms(&x[n / 2..])).log10()
}

#[test]
fn fine_bin_gains_act_on_their_own_bin_only() {
    use lull::model::ModelConfig;
    // A network that ignores its input: every gain fully open (σ(12)) except fine bins 18..=22
    // (900–1100 Hz), which are shut (σ(−12)). A tone leaks into its neighbours through the
    // √Hann window (−9.5 dB one bin away, −23.5 dB two away), so one shut bin alone would
    // take only about 14 dB off a 1000 Hz tone.
    let config = ModelConfig { hidden: 8, layers: 1, fine_bins: 80, ..ModelConfig::default() };
    let shut = config.n_bands + 18..=config.n_bands + 22;
    let model = input_blind_model(&config, |i| if shut.contains(&i) { -12.0 } else { 12.0 });
    for &rate in &[16_000.0, 44_100.0, 48_000.0] {
        // Bins are rate / (2 · hop) apart: 50 Hz at these rates.
        let (at, beside) = (tone_level_db(&model, rate, 1000.0, 60.0), tone_level_db(&model, rate, 1500.0, 60.0));
        assert!(at < -30.0, "{rate} Hz: the shut bins' tone comes out at {at:.1} dB");
        assert!(beside.abs() < 0.5, "{rate} Hz: a tone 10 bins away comes out at {beside:.1} dB");
    }
}

#[test]
fn deep_filter_taps_reach_back_one_hop() {
    use lull::model::ModelConfig;
    // A network that ignores its input: band gains open, and every fine bin's two taps −0.5 and
    // +0.5 (2·tanh(b/2) = ±0.5), added to the band gains' output, so a fine bin's output is the
    // mean of this hop's spectrum and the previous one's. A 1000 Hz tone advances by 20π per
    // 10 ms hop and passes; a 1050 Hz tone advances by 21π, so consecutive hops cancel. Band
    // gains cannot tell the two apart.
    let config = ModelConfig { hidden: 8, layers: 1, fine_bins: 80, df_order: 2, ..ModelConfig::default() };
    let half = 2.0 * 0.25f32.atanh();
    let model = input_blind_model(&config, |i| match i.checked_sub(config.n_bands).filter(|&j| j < config.fine_bins * 4) {
        // Per bin: newest tap (re, im), then the previous hop's.
        Some(j) if j % 4 == 0 => -half,
        Some(j) if j % 4 == 2 => half,
        Some(_) => 0.0,
        None => 12.0,
    });
    for &rate in &[16_000.0, 44_100.0, 48_000.0] {
        let (kept, cancelled) = (tone_level_db(&model, rate, 1000.0, 100.0), tone_level_db(&model, rate, 1050.0, 100.0));
        assert!(kept.abs() < 0.5, "{rate} Hz: the in-phase tone comes out at {kept:.1} dB");
        assert!(cancelled < -30.0, "{rate} Hz: the alternating tone comes out at {cancelled:.1} dB");
        // With the filter off (what `cargo xtask eval --no-deep-filter` measures) the open band
        // gains pass the alternating tone too; on is the default.
        let off = tone_level_db_with(&model, rate, 1050.0, 100.0, |d| d.set_deep_filter(false));
        assert!(off.abs() < 0.5, "{rate} Hz: without the deep filter the alternating tone comes out at {off:.1} dB");
        let on = tone_level_db_with(&model, rate, 1050.0, 100.0, |d| d.set_deep_filter(true));
        assert_eq!(on, cancelled);
        // Reduction 0 dB is transparent on the deep-filtered bins too.
        let mut d = Denoiser::new(model.clone(), rate, 1).unwrap();
        d.set_reduction_db(0.0);
        let x = tone(rate, 1050.0, rate as usize / 4);
        let y = run_blocks(&mut d, &x, &[256]);
        let lat = d.latency_samples();
        let err = (lat..x.len()).map(|i| (y[i] - x[i - lat]).abs()).fold(0.0, f32::max);
        assert!(err < 1e-4, "{rate} Hz: 0 dB Reduction changes the signal by {err}");
    }
}

/// 60 Hz mains hum with odd harmonics strong, up to the 11th, about −20 dBFS.
fn mains_hum(rate: f32, len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let t = i as f32 / rate;
            (1..=11)
                .map(|k| if k % 2 == 1 { 0.1 } else { 0.03 } / k as f32 * (std::f32::consts::TAU * 60.0 * k as f32 * t).sin())
                .sum()
        })
        .collect()
}

#[test]
fn the_hum_canceller_takes_hum_out_beyond_what_the_gains_do() {
    for rate in [48_000.0, 44_100.0] {
        let len = 4 * rate as usize;
        let x = mains_hum(rate, len);
        let level = |dehum: bool| {
            let mut d = denoiser(rate, 1);
            d.set_reduction_db(30.0);
            d.set_dehum(dehum);
            let y = run_blocks(&mut d, &x, &[512]);
            10.0 * (y[len / 2..].iter().map(|v| v * v).sum::<f32>() / x[len / 2..].iter().map(|v| v * v).sum::<f32>()).log10()
        };
        let (off, on) = (level(false), level(true));
        eprintln!("{rate} Hz: hum left {off:.1} dB without the canceller, {on:.1} dB with it");
        assert!(on < off - 10.0 && on < -40.0, "{rate} Hz: {on:.1} dB with the canceller, {off:.1} dB without");
    }
}

#[test]
fn switching_the_hum_canceller_fades_without_a_click_and_starts_afresh() {
    let rate = 48_000.0;
    let second = rate as usize;
    let x = mains_hum(rate, 6 * second);
    let mut d = denoiser(rate, 1);
    d.set_reduction_db(30.0);
    let lat = d.latency_samples();
    let mut y = x.clone();
    // On for 2 s, off for 2 s, on again for 2 s, switched in the middle of host blocks.
    for (k, chunk) in y.chunks_mut(second / 2 + 7).enumerate() {
        let t = k * (second / 2 + 7);
        if (2 * second..4 * second).contains(&t) {
            d.set_dehum(false);
        } else if t >= 4 * second {
            d.set_dehum(true);
        }
        d.process(&mut [chunk]);
    }
    let left = |r: std::ops::Range<usize>| {
        let x = &x[r.start - lat..r.end - lat];
        10.0 * (y[r].iter().map(|v| v * v).sum::<f32>() / x.iter().map(|v| v * v).sum::<f32>()).log10()
    };
    let (on, off, again) = (left(second + second / 2..2 * second), left(3 * second + second / 2..4 * second), left(5 * second + second / 2..6 * second));
    eprintln!("hum left: {on:.1} dB on, {off:.1} dB off, {again:.1} dB on again");
    assert!(on < -40.0 && again < -40.0 && off > -35.0, "{on:.1} / {off:.1} / {again:.1} dB");
    // The largest step from one output sample to the next against the largest sample, around
    // each switch and in the steady stretches either side: a hum's waveform moves only so fast
    // for its level, a click (the hum back in one sample) far faster. The hum comes back (or
    // goes) over 10 ms; switched in one sample it is 14 times as steep.
    let steepness = |r: std::ops::Range<usize>| {
        let step = y[r.clone()].windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0f32, f32::max);
        step / y[r].iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-9)
    };
    for at in [2 * second, 4 * second] {
        let around = steepness(at - 480..at + lat + 2 * 480);
        let steady = steepness(at - second / 2..at - 480).max(steepness(at + lat + second / 2..at + lat + second));
        eprintln!("switch at {at}: steepness {around:.3}, in the steady state either side {steady:.3}");
        assert!(around <= 1.5 * steady, "click at {at}: {around:.3} vs {steady:.3}");
    }
}
