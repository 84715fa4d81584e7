//! A few training steps on the synthetic corpus lower the validation loss, checkpoint, resume,
//! and export a file the plugin loads.

use std::sync::Arc;

use lull::model::{Model, ModelConfig};
use xtask::synth::SyntheticSource;
use xtask::train::{self, TrainOptions, TrainRequest};

/// A small run on the synthetic corpus, with the over- and under-suppression factors and the top
/// bands' gain power, the loudness weight and the hum canceller on so their paths run.
fn request(config: &ModelConfig, dir: &std::path::Path, steps: usize, seed: u64, resume: bool) -> TrainRequest {
    TrainRequest {
        config: config.clone(),
        options: TrainOptions {
            steps,
            batch: 4,
            seq_frames: 60,
            lr: 5e-3,
            seed,
            val_every: 10,
            val_batches: 2,
            checkpoint_every: 10,
            workers: 1,
            time_budget_min: 0.0,
            over_suppression: 2.0,
            over_suppression_by_target: false,
            high_band_over_suppression: None,
            high_band_gain_power: Some(2.0),
            gain_power: None,
            under_suppression: 2.0,
            speed_perturb: 0.0,
            noise_speed_perturb: 0.0,
            loudness_weight: 0.5,
            speech_level_min_db: -62.0,
            speech_level_max_db: -6.0,
            min_speech_snr_db: None,
            speech_highpass_hz: None,
            low_snr_emphasis: 1.0,
            generated_share: 0.0,
            generated_voices: vec![],
            clip_windows: false,
            speech_subset: 1.0,
            voice_subset: 1.0,
            voice_balance: 1.0,
            weight_decay: train::WEIGHT_DECAY,
            dropout: 0.0,
            snapshot_every: 0,
            comb_target: false,
            df_harm: 1.0,
            fourth_power: xtask::train::FOURTH_POWER,
            pesq_loss: 0.0,
            stream_chunks: 1,
            stream_cold_share: 0.0,
            hum_removal: true,
        },
        run_dir: dir.to_path_buf(),
        resume: resume.then(|| train::load_state(dir).expect("the run's state.json")),
        init_weights: None,
        corpus_name: "synthetic".into(),
        source: Arc::new(SyntheticSource),
        val_source: Arc::new(SyntheticSource),
        command: "test".into(),
    }
}

/// The validation loss fell by 10 %, and the run exports a file the plugin loads with the same
/// configuration; returns the export directory.
fn loss_fell_and_export_loads(state: &train::RunState, config: &ModelConfig, dir: &std::path::Path) -> std::path::PathBuf {
    let v = &state.val_loss;
    let (start, end) = (v.first().unwrap().1, v.last().unwrap().1);
    assert!(end < 0.9 * start, "validation loss did not fall: {v:?}");
    let weights = dir.join("weights");
    xtask::export::export(dir, &weights).unwrap();
    let model = Model::from_bytes(&std::fs::read(weights.join("lull.safetensors")).unwrap()).unwrap();
    assert_eq!(model.config(), config);
    weights
}

/// Trains 30 steps of `config` with `set` applied to the options, checks the loss fell and the
/// export loads, and returns the run's state and the exported model card.
fn card_of_smoke_run(config: &ModelConfig, dir: &std::path::Path, seed: u64, set: impl FnOnce(&mut TrainOptions)) -> (train::RunState, String) {
    let mut r = request(config, dir, 30, seed, false);
    set(&mut r.options);
    let state = train::train(r).unwrap();
    let weights = loss_fell_and_export_loads(&state, config, dir);
    let card = std::fs::read_to_string(weights.join("MODEL.md")).unwrap();
    (state, card)
}

#[test]
fn smoke_train_lowers_loss_resumes_and_exports() {
    let dir = std::env::temp_dir().join(format!("lull-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Fine bins and the over-suppression factor on, so their training paths run too.
    let config = ModelConfig { hidden: 32, layers: 1, fine_bins: 16, ..ModelConfig::default() };
    // Snapshots every 15 steps, across the resume: steps 15 and 30 are kept besides the latest.
    let request = |steps, resume| {
        let mut r = request(&config, &dir, steps, 3, resume);
        r.options.snapshot_every = 15;
        r
    };
    let first = train::train(request(20, false)).unwrap();
    assert_eq!(first.step, 20);
    let resumed = train::train(request(40, true)).unwrap();
    assert_eq!(resumed.step, 40);
    assert_eq!(resumed.command, "test` (to step 20), then `test", "the record of how the weights were made");
    let snapshots: Vec<String> = std::fs::read_dir(dir.join("snapshots")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    let mut sorted = snapshots.clone();
    sorted.sort();
    assert_eq!(sorted, ["step-000015", "step-000030"], "{snapshots:?}");
    let snap = train::snapshot_dir(&dir, 30);
    assert_eq!(train::load_state(&snap).unwrap().step, 30);
    // A snapshot exports like a run, and holds its own step's weights, not the latest.
    xtask::export::export(&snap, &snap.join("weights")).unwrap();
    let snap_bytes = std::fs::read(snap.join("weights/lull.safetensors")).unwrap();
    assert_eq!(Model::from_bytes(&snap_bytes).unwrap().config(), &config);
    let weights = loss_fell_and_export_loads(&resumed, &config, &dir);
    assert_ne!(std::fs::read(weights.join("lull.safetensors")).unwrap(), snap_bytes, "the snapshot of step 30 is the final weights");
    let card = std::fs::read_to_string(weights.join("MODEL.md")).unwrap();
    assert!(card.contains(&config.parameter_count().to_string()));
    assert!(card.contains("AdamW lr 0.005 (warm-up, cosine decay), weight decay 0.0001, seed 3"), "{card}");

    // A re-export keeps the hand-written experiment log; an evaluation goes in before it and
    // replaces the previous one.
    let card_path = weights.join("MODEL.md");
    std::fs::write(&card_path, format!("{card}\n## What was tried\n\n- a note\n")).unwrap();
    xtask::export::export(&dir, &weights).unwrap();
    let card = std::fs::read_to_string(&card_path).unwrap();
    assert!(card.contains("- a note") && card.contains("Not evaluated yet"), "{card}");
    // The steady state (`--warm-up`) has a section of its own after the cold start's, whichever
    // is written first.
    for (table, warm_up) in [("| first warm |\n", 15), ("| first table |\n", 0), ("| second table |\n", 0), ("| second warm |\n", 15)] {
        xtask::eval::update_model_card(&card_path, table, "cargo xtask eval", warm_up).unwrap();
    }
    let card = std::fs::read_to_string(&card_path).unwrap();
    assert!(!card.contains("Not evaluated yet") && !card.contains("first table") && !card.contains("first warm"), "{card}");
    let at = |s: &str| card.find(s).unwrap_or_else(|| panic!("no {s:?} in {card}"));
    let (table, warm, notes) = (at("| second table |"), at("| second warm |"), at("## What was tried"));
    assert!(table < at("## Evaluation in a host's steady state") && warm > table && warm < notes && card.contains("- a note"), "{card}");
    assert_eq!(card.matches("## Evaluation").count(), 2, "{card}");
    // Replaced twice, each section still ends in a blank line before the next heading.
    assert!(card.contains("-->\n\n<!-- eval-warm:start -->") && card.contains("-->\n\n## What was tried"), "{card}");

    // A run on the real corpus names its data and licences, and the generated voice only when
    // it drew on it.
    for share in [0.0, 0.2] {
        let state_path = dir.join(train::STATE);
        let mut state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
        state["corpus"] = "data".into();
        let options = state["options"].as_object_mut().unwrap();
        // Run directories from before the Kokoro voices call the share `piper_share`.
        options.remove("generated_share");
        options.insert("piper_share".into(), share.into());
        std::fs::write(&state_path, state.to_string()).unwrap();
        xtask::export::export(&dir, &weights).unwrap();
        let card = std::fs::read_to_string(&card_path).unwrap();
        assert!(card.contains("## Training data") && card.contains("| gcin-voice | GPL-3 / LGPL-3, CC-BY-3 |"), "{card}");
        let generated = card.contains("Generated speech: 20 %") && card.contains("fortunes-min 1:1.99.1-7.3 (BSD");
        assert_eq!(generated, share > 0.0, "{card}");
        assert_eq!(card.contains("piper"), share > 0.0, "{card}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn smoke_train_with_deep_filtering_lowers_loss_and_says_how_it_charged_the_filter() {
    let dir = std::env::temp_dir().join(format!("lull-smoke-df-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = ModelConfig { hidden: 32, layers: 1, fine_bins: 16, df_order: 3, ..ModelConfig::default() };
    // With the filter charged more where it makes a bin worse (the plain spectral loss is the
    // same code with the factor at 1).
    let (_, card) = card_of_smoke_run(&config, &dir, 5, |o| o.df_harm = 4.0);
    assert!(card.contains("Deep filter charged 4× where it makes a bin worse than the band gains alone (`--df-harm`)"), "{card}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn smoke_train_with_a_learned_pitch_strength_no_fourth_power_and_the_pesq_term_lowers_loss() {
    let dir = std::env::temp_dir().join(format!("lull-smoke-strength-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = ModelConfig { hidden: 32, layers: 1, pitch_strength: true, ..ModelConfig::default() };
    // The gain loss as a plain squared error (`--fourth-power 0`) with the PESQ-shaped term,
    // both of which the card must state.
    let (_, card) = card_of_smoke_run(&config, &dir, 6, |o| {
        o.fourth_power = 0.0;
        o.pesq_loss = 1.0;
    });
    assert!(card.contains("- Gain loss: the squared error alone (`--fourth-power 0`"), "{card}");
    assert!(card.contains("PESQ-shaped term on the bands below 8 kHz, weight 1 (`--pesq-loss`)"), "{card}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn smoke_train_towards_comb_targets_lowers_loss_and_says_so_on_the_card() {
    let dir = std::env::temp_dir().join(format!("lull-smoke-comb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = ModelConfig { hidden: 32, layers: 1, ..ModelConfig::default() };
    let (state, card) = card_of_smoke_run(&config, &dir, 6, |o| o.comb_target = true);
    assert!(state.options.comb_target);
    assert!(card.contains("after the pitch filter (`--comb-target`)"), "{card}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn smoke_train_with_lookahead_lowers_loss() {
    let dir = std::env::temp_dir().join(format!("lull-smoke-lookahead-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = ModelConfig { hidden: 32, layers: 1, hop_ms: 20.0 / 3.0, lookahead: 1, pitch_strength: true, ..ModelConfig::default() };
    let state = train::train(request(&config, &dir, 30, 7, false)).unwrap();
    let weights = loss_fell_and_export_loads(&state, &config, &dir);
    // The model card states the hop and the latency this model has, not the 10 ms default's.
    let card = std::fs::read_to_string(weights.join("MODEL.md")).unwrap();
    assert!(card.contains("per 6.67 ms hop") && card.contains("Frame 13.33 ms") && card.contains("latency 3·hop − 1 samples (959 at 48 kHz)"), "{card}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--init-weights`: a new run starts from an exported model's weights exactly (a fine-tune of a
/// model whose run directory is gone) and trains on from where that model was; a model of
/// another configuration is refused with the configuration it has.
#[test]
fn a_new_run_starts_from_exported_weights_of_its_configuration_only() {
    let dir = std::env::temp_dir().join(format!("lull-init-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = ModelConfig { hidden: 16, layers: 1, ..ModelConfig::default() };
    let first = train::train(request(&config, &dir.join("first"), 30, 3, false)).unwrap();
    xtask::export::export(&dir.join("first"), &dir.join("weights")).unwrap();
    let file = dir.join("weights/lull.safetensors");

    // Set into a network of another seed, the weights export to the same bytes.
    let varmap = candle_nn::VarMap::new();
    xtask::net::build(&config, &varmap, &candle_core::Device::Cpu, 99).unwrap();
    train::init_from_weights(&varmap, &config, train::init_weights_for(&config, &file).unwrap()).unwrap();
    let bytes = lull::model::serialize(&config, &xtask::net::export_tensors(&config, &varmap).unwrap()).unwrap();
    assert!(bytes == std::fs::read(&file).unwrap(), "the weights did not come through unchanged");

    // A run from them (the same validation set: the same seed) starts near where the first
    // ended, not where it began.
    let mut r = request(&config, &dir.join("second"), 10, 3, false);
    r.init_weights = Some(train::init_weights_for(&config, &file).unwrap());
    let second = train::train(r).unwrap();
    let (a0, a1, b0) = (first.val_loss[0].1, first.val_loss.last().unwrap().1, second.val_loss[0].1);
    assert!(b0 < a1 + 0.25 * (a0 - a1), "fine-tune began at {b0}, the first run went from {a0} to {a1}");
    // The fine-tune's card names how its starting point was trained, and a fine-tune of that
    // fine-tune names both, the latest first.
    xtask::export::export(&dir.join("second"), &dir.join("weights2")).unwrap();
    let mut r = request(&config, &dir.join("third"), 5, 4, false);
    r.init_weights = Some(train::init_weights_for(&config, &dir.join("weights2/lull.safetensors")).unwrap());
    train::train(r).unwrap();
    xtask::export::export(&dir.join("third"), &dir.join("weights3")).unwrap();
    let card = std::fs::read_to_string(dir.join("weights3/MODEL.md")).unwrap();
    let training = &card[card.find("## Training\n").unwrap()..];
    let training = &training[..training[1..].find("\n## ").map_or(training.len(), |i| i + 1)];
    assert_eq!(training.matches("- Fine-tuned (`--init-weights`) from weights trained as follows:").count(), 2, "{training}");
    assert!(training.contains("\n  - 10 steps × 4 sequences") && training.contains("\n    - 30 steps × 4 sequences"), "{training}");
    assert!(training.find("seed 4").unwrap() < training.find("seed 3").unwrap(), "{training}");
    // Weights without a card beside them say so.
    std::fs::copy(&file, dir.join("bare.safetensors")).unwrap();
    let mut r = request(&config, &dir.join("fourth"), 5, 4, false);
    r.init_weights = Some(train::init_weights_for(&config, &dir.join("bare.safetensors")).unwrap());
    assert!(train::train(r).unwrap().base.unwrap().contains("no model card beside it"));

    let other = ModelConfig { hidden: 24, ..config.clone() };
    let err = train::init_weights_for(&other, &file).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("another configuration") && msg.contains("\"hidden\":16"), "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `cargo xtask train --resume` continues the run as it was started (its options and model
/// size, not the command line's defaults), and what is typed again replaces them.
#[test]
fn resume_from_the_command_line_keeps_the_runs_options() {
    let dir = std::env::temp_dir().join(format!("lull-resume-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let train = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["train", "--corpus", "synthetic", "--run-dir", dir.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        train::load_state(&dir).unwrap()
    };
    let first = ["--steps", "2", "--batch", "2", "--seq-frames", "20", "--hidden", "16", "--layers", "1", "--hop-ms", "8", "--lookahead", "1"];
    let started = train(&[&first[..], &["--over-suppression", "3", "--gain-power", "0.75", "--speech-level-min-db", "-50", "--time-budget-min", "0", "--val-every", "1"]].concat());
    assert_eq!(started.step, 2);
    let resumed = train(&["--resume", "--steps", "4"]);
    assert_eq!(resumed.step, 4);
    assert_eq!((started.config.hop_ms, started.config.lookahead), (8.0, 1));
    assert_eq!(resumed.config, started.config, "the model size came from the run, not the defaults");
    let (a, b) = (&started.options, &resumed.options);
    assert_eq!((b.batch, b.seq_frames, b.val_every, b.over_suppression, b.time_budget_min), (a.batch, a.seq_frames, a.val_every, 3.0, 0.0));
    assert_eq!((b.gain_power, b.high_band_gain_power), (Some(0.75), Some(2.0)), "typed and default gain powers are kept");
    assert_eq!((b.speech_level_min_db, b.speech_level_max_db), (-50.0, -6.0), "typed and default speech levels are kept");
    assert_eq!(b.steps, 4);
    assert_eq!((a.stream_chunks, a.stream_cold_share), (10, 0.5), "the shipped configuration's streams by default");
    assert_eq!((b.stream_chunks, b.stream_cold_share), (10, 0.5));
    // Without streams the default cold share means nothing and is not kept.
    let _ = std::fs::remove_dir_all(&dir);
    let plain = train(&["--steps", "1", "--batch", "2", "--seq-frames", "20", "--hidden", "16", "--layers", "1", "--stream-chunks", "1", "--time-budget-min", "0"]);
    assert_eq!((plain.options.stream_chunks, plain.options.stream_cold_share, plain.options.cold_rows()), (1, 0.0, 0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A run started before the speech-level options existed resumes with the levels it trained on.
#[test]
fn runs_from_before_the_speech_level_options_keep_their_levels() {
    let json = r#"{"steps":1,"batch":1,"seq_frames":1,"lr":0.001,"seed":1,"val_every":1,"val_batches":1,"checkpoint_every":1,"workers":1}"#;
    let o: TrainOptions = serde_json::from_str(json).unwrap();
    assert_eq!((o.speech_level_min_db, o.speech_level_max_db), (-42.0, -12.0));
    assert_eq!(o.weight_decay, 1e-4, "the decay every run had before it was an option");
    assert_eq!(o.dropout, 0.0, "no run had dropout before it was an option");
}

/// Trains `steps` steps of a small run (seed 7) with `tweak` applied to its options, in a fresh
/// directory named by `tag`; returns the checkpoint's weights in the order of `tensor_shapes`
/// and the directory.
fn trained_weights(config: &ModelConfig, tag: &str, steps: usize, tweak: impl FnOnce(&mut TrainOptions)) -> (Vec<f32>, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("lull-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut r = request(config, &dir, steps, 7, false);
    tweak(&mut r.options);
    train::train(r).unwrap();
    let tensors = candle_core::safetensors::load(dir.join(train::CHECKPOINT), &candle_core::Device::Cpu).unwrap();
    let flat = config
        .tensor_shapes()
        .iter()
        .flat_map(|(name, _)| tensors[name].flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect();
    (flat, dir)
}

/// `weight_decay` reaches the optimizer: at a peak lr × decay of 0.1 per step, ten steps of the
/// cosine schedule (about half the peak on average) leave the weights at about 60 % of what the
/// same run without decay ends with (Adam's own steps, ±lr each, are small beside the initial
/// weights); without the option wired through, the two would be equal.
#[test]
fn weight_decay_shrinks_the_weights() {
    let config = ModelConfig { hidden: 16, layers: 1, ..ModelConfig::default() };
    let norm = |decay: f64| {
        let (w, dir) = trained_weights(&config, &format!("decay-{decay}"), 10, |o| o.weight_decay = decay);
        let _ = std::fs::remove_dir_all(&dir);
        w.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt()
    };
    let (none, decayed) = (norm(0.0), norm(20.0));
    assert!(decayed < 0.75 * none && decayed > 0.45 * none, "weight norm {decayed} with decay, {none} without");
}

/// The seed fixes a whole run, its initial weights as well as its data: two runs alike end with
/// the same weights, with and without `dropout`, whose masks come from the seed too (so a run
/// stays reproducible and resumable). Dropout reaches the training steps and is named on the
/// model card.
#[test]
fn the_seed_reproduces_a_run_and_dropout_changes_it() {
    let config = ModelConfig { hidden: 16, layers: 2, ..ModelConfig::default() };
    let run = |dropout: f64, tag: &str| trained_weights(&config, tag, 5, |o| o.dropout = dropout);
    let (plain, plain_dir) = run(0.0, "seed-a");
    let (plain_again, plain_again_dir) = run(0.0, "seed-b");
    assert!(plain == plain_again, "the same seed trained different weights");
    let (dropped, dir) = run(0.3, "dropout-a");
    let (again, again_dir) = run(0.3, "dropout-b");
    assert!(dropped == again, "the same seed drew different dropout masks");
    let moved = plain.iter().zip(&dropped).filter(|(a, b)| a != b).count();
    assert!(moved > plain.len() / 2, "dropout changed only {moved} of {} weights", plain.len());
    xtask::export::export(&dir, &dir.join("weights")).unwrap();
    let card = std::fs::read_to_string(dir.join("weights/MODEL.md")).unwrap();
    assert!(card.contains("weight decay 0.0001, dropout 0.3 between layers, seed 7"), "{card}");
    for d in [plain_dir, plain_again_dir, dir, again_dir] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// `--stream-chunks`: each sequence goes on over consecutive steps, the network's state carried
/// from one to the next. Such a run is reproducible with two loader threads taking turns by
/// stream, resumes inside a stream (step 10 of streams of 3), lowers the loss, and says so on
/// its card.
/// Started at a resumed run's step, with two workers, the loader hands out exactly the batches a
/// fresh run would from that step on, to the last one: after a resume at an odd batch or
/// stream, or inside a stream.
#[test]
fn a_resumed_loader_hands_out_what_a_fresh_one_would() {
    let config = ModelConfig { hidden: 8, layers: 1, ..ModelConfig::default() };
    for (chunks, first_step) in [(1, 3), (3, 3), (3, 4), (3, 8)] {
        let mut r = request(&config, std::path::Path::new("unused"), 12, 5, false);
        r.options.stream_chunks = chunks;
        r.options.workers = 2;
        r.options.batch = 2;
        r.options.seq_frames = 20;
        let loaded = |first: usize| -> Vec<(Vec<Vec<Vec<f32>>>, bool)> {
            let mut loader = train::Loader::start(Arc::new(SyntheticSource), &config, &r.options, first);
            (first..12)
                .map(|_| {
                    let (batch, starts_stream) = loader.next_batch().expect("a batch for every step");
                    (batch.features.to_vec3().unwrap(), starts_stream)
                })
                .collect()
        };
        // A stream starts every `chunks` steps, counted from the run's start whatever step the
        // loader was started at.
        let (resumed, flags): (Vec<_>, Vec<bool>) = loaded(first_step).into_iter().unzip();
        let starts: Vec<usize> = flags.iter().zip(first_step..).filter(|(s, _)| **s).map(|(_, step)| step).collect();
        assert_eq!(starts, (first_step..12).filter(|s| s % chunks == 0).collect::<Vec<_>>(), "{chunks} chunks from step {first_step}");
        let fresh: Vec<Vec<Vec<Vec<f32>>>> = loaded(0).into_iter().map(|(f, _)| f).collect();
        assert!(fresh[first_step] != fresh[first_step - 1], "the batches differ from step to step");
        assert!(resumed == fresh[first_step..], "{chunks} chunks, resumed at step {first_step}");
    }
}

/// A stream batch's cold rows (`--stream-cold-share`) hold, chunk by chunk, the independent
/// sequences a batch without streams would: the same draws, featurised each alone. The other
/// rows stay streams, featurised whole.
#[test]
fn a_streams_cold_rows_are_sequences_of_their_own() {
    use rand::SeedableRng;
    let config = ModelConfig { hidden: 8, layers: 1, ..ModelConfig::default() };
    let target = xtask::featurize::GainTarget::Plain;
    let (batch, frames, chunks) = (2, 20, 3);
    let rows = |b: &train::Batch| -> Vec<Vec<Vec<f32>>> { b.features.to_vec3().unwrap() };
    let rng = || rand::rngs::StdRng::seed_from_u64(11);
    let all_cold = train::make_stream(&SyntheticSource, &config, target, &mut rng(), batch, frames, chunks, batch).unwrap();
    let plain = rows(&train::make_batch(&SyntheticSource, &config, target, &mut rng(), batch * chunks, frames).unwrap());
    for (k, chunk) in all_cold.iter().enumerate() {
        for (r, row) in rows(chunk).into_iter().enumerate() {
            assert!(row == plain[r * chunks + k], "row {r}, chunk {k}");
        }
    }
    // One cold row: the stream row is no plain sequence, its chunks continue one another.
    let mixed = train::make_stream(&SyntheticSource, &config, target, &mut rng(), batch, frames, chunks, 1).unwrap();
    assert!(rows(&mixed[1])[0] == plain[1], "the cold row comes first");
    let streamed: Vec<Vec<Vec<f32>>> = mixed.iter().map(|c| rows(c).remove(1)).collect();
    assert!(streamed.iter().all(|c| !plain.contains(c)), "the second row is a stream");
}

#[test]
fn smoke_train_on_streams_is_reproducible_resumes_inside_a_stream_and_lowers_loss() {
    let config = ModelConfig { hidden: 16, layers: 2, ..ModelConfig::default() };
    let streamed = |tag: &str, cold_share: f64| {
        trained_weights(&config, tag, 7, |o| {
            o.stream_chunks = 3;
            o.workers = 2;
            o.stream_cold_share = cold_share;
        })
    };
    let (a, a_dir) = streamed("stream-a", 0.0);
    let (b, b_dir) = streamed("stream-b", 0.0);
    assert!(a == b, "the same seed trained different weights on streams");
    // Half the sequences kept cold is another run, and reproducible too.
    let (c, c_dir) = streamed("stream-c", 0.5);
    let (d, d_dir) = streamed("stream-d", 0.5);
    assert!(c == d && c != a, "cold rows: reproducible, and not the same run as all streams");
    for d in [a_dir, b_dir, c_dir, d_dir] {
        let _ = std::fs::remove_dir_all(d);
    }

    let dir = std::env::temp_dir().join(format!("lull-smoke-stream-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = ModelConfig { hidden: 32, layers: 1, ..ModelConfig::default() };
    let request = |steps, resume| {
        let mut r = request(&config, &dir, steps, 8, resume);
        r.options.stream_chunks = 3;
        r.options.stream_cold_share = 0.25;
        r
    };
    let first = train::train(request(10, false)).unwrap();
    assert_eq!(first.step, 10);
    let state = train::train(request(30, true)).unwrap();
    assert_eq!((state.step, state.options.stream_chunks), (30, 3));
    let weights = loss_fell_and_export_loads(&state, &config, &dir);
    let card = std::fs::read_to_string(weights.join("MODEL.md")).unwrap();
    assert!(card.contains("Sequences as streams of 3 chunks (1.8 s), the network's state carried from step to step (`--stream-chunks`)"), "{card}");
    assert!(card.contains("- 1 of each batch's 4 sequences cold throughout: every chunk a mixture of its own, started from zeros (`--stream-cold-share 0.25`)"), "{card}");
    let _ = std::fs::remove_dir_all(&dir);
}
