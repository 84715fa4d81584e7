//! The command line's errors name the problem: a bad weights file once, not twice, and an
//! absurd option by its flag and value, before anything is trained or read.

use std::process::Command;

fn denoise_with_weights(weights: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["denoise", "in.wav", "out.wav", "--weights"])
        .arg(weights)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a bad weights file must fail the command");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_weights_files_are_named_once_with_the_reason() {
    let dir = std::env::temp_dir().join(format!("lull-cli-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let missing = dir.join("missing.safetensors");
    let err = denoise_with_weights(&missing);
    assert_eq!(err.matches("missing.safetensors").count(), 1, "{err}");
    assert!(err.contains("cannot read weights file"), "{err}");

    let corrupt = dir.join("corrupt.safetensors");
    std::fs::write(&corrupt, b"not a safetensors file").unwrap();
    let err = denoise_with_weights(&corrupt);
    assert_eq!(err.matches("corrupt.safetensors").count(), 1, "{err}");
    assert!(err.contains("refused"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `xtask train` on the synthetic corpus for one step with `args`, expects a refusal
/// before any training, and returns its message.
fn refused_train(name: &str, args: &[&str]) -> String {
    let dir = std::env::temp_dir().join(format!("lull-cli-{name}-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["train", "--corpus", "synthetic", "--steps", "1"])
        .args(args)
        .arg("--run-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?} must be refused");
    assert!(!dir.join("checkpoint.safetensors").exists(), "{args:?} trained anyway");
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn absurd_training_options_are_refused_by_name_before_training() {
    for (flag, value) in [("--over-suppression", "0.5"), ("--under-suppression", "1000"), ("--gain-power", "NaN"), ("--noise-speed-perturb", "0.9"), ("--loudness-weight", "2"), ("--low-snr-emphasis", "0.1"), ("--speech-subset", "0"), ("--voice-subset", "1.5"), ("--voice-balance", "1.5"), ("--df-harm", "0.5"), ("--fourth-power", "101"), ("--pesq-loss", "11"), ("--stream-chunks", "0"), ("--stream-cold-share", "1.5")] {
        let err = refused_train("train-options", &[flag, value]);
        assert!(err.contains(flag) && err.contains("must be in"), "{flag} {value}: {err}");
    }
}

#[test]
fn comb_targets_for_a_model_that_predicts_its_own_pitch_strength_are_refused() {
    let err = refused_train("comb-strength", &["--comb-target", "--pitch-strength"]);
    assert!(err.contains("--comb-target") && err.contains("--pitch-strength"), "{err}");
}

#[test]
fn cold_sequences_among_streams_without_streams_are_refused() {
    let err = refused_train("cold-share", &["--stream-chunks", "1", "--stream-cold-share", "0.5"]);
    assert!(err.contains("--stream-cold-share") && err.contains("--stream-chunks"), "{err}");
}

#[test]
fn a_deep_filter_charge_without_a_deep_filter_is_refused() {
    let err = refused_train("df-harm", &["--df-harm", "4"]);
    assert!(err.contains("--df-harm") && err.contains("--df-order"), "{err}");
}

#[test]
fn init_weights_of_another_configuration_are_refused_before_the_corpus_is_read() {
    // The shipped model has 128 units per layer; the options ask for 64, and the corpus
    // directory does not exist: the configuration must be what the command names.
    let weights = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../weights/lull.safetensors");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["train", "--hidden", "64", "--data-dir", "/nonexistent/lull-corpus", "--run-dir"])
        .arg(std::env::temp_dir().join(format!("lull-cli-init-weights-{}", std::process::id())))
        .arg("--init-weights")
        .arg(&weights)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another configuration") && err.contains("\"hidden\":"), "{err}");
    assert!(!err.contains("lull-corpus"), "the corpus was read first: {err}");
}

#[test]
fn absurd_reduction_is_refused_by_name_before_any_audio_is_read() {
    for value in ["500", "NaN", "-3"] {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["denoise", "no-such-input.wav", "out.wav", &format!("--reduction={value}")])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "--reduction {value} must be refused");
        assert!(err.contains("--reduction (dB) must be in 0..=100"), "--reduction {value}: {err}");
        assert!(!err.contains("no-such-input.wav"), "--reduction {value} was checked after reading: {err}");
    }
}

#[test]
fn evaluation_takes_the_training_split_one_voice_at_a_time_and_writes_the_card_from_the_whole_test_split_and_engine_only() {
    let missing = std::env::temp_dir().join(format!("lull-cli-no-corpus-{}", std::process::id()));
    for (args, expected) in [
        (&["--split", "all"][..], "`all` is not a corpus split"),
        (&["--split", "train"][..], "evaluate it one voice at a time (--voice"),
        (&["--split", "val", "--model-card", "MODEL.md"][..], "--model-card takes the whole test split's table only"),
        (&["--voice", "carlo", "--model-card", "MODEL.md"][..], "--model-card takes the whole test split's table only"),
        (&["--no-pitch-filter", "--model-card", "MODEL.md"][..], "--model-card writes the table of the plugin as it runs"),
        (&["--no-deep-filter", "--model-card", "MODEL.md"][..], "--model-card writes the table of the plugin as it runs"),
        (&["--no-dehum", "--model-card", "MODEL.md"][..], "--model-card writes the table of the plugin as it runs"),
        (&["--warm-up", "31"][..], "--warm-up must be in 0..=30, got 31"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask")).args(["eval", "--data-dir"]).arg(&missing).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} must fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn compare_reads_two_evaluations_and_names_a_missing_one() {
    use xtask::eval::MixtureScores;
    let dir = std::env::temp_dir().join(format!("lull-cli-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Two evaluations of the same 3 mixtures per bucket: the noisy input scores alike, Lull
    // 0.3 above it in A and 0.2 in B.
    let evaluation = |lead: f64| {
        let mut mixtures = Vec::new();
        for snr in [-5, 0, 5, 10, 15] {
            for index in 0..3 {
                let noisy = 1.2 + snr as f64 * 0.04 + index as f64 * 0.1;
                for (system, pesq_wb) in [("noisy", noisy), ("lull", noisy + lead)] {
                    let (noise, system, stoi, si_sdr) = ("pink".to_string(), system.to_string(), 0.6, snr as f64);
                    mixtures.push(MixtureScores { rate: 48_000, snr, index, noise, speech_bandwidth_hz: 16_000.0, system, pesq_wb, stoi, si_sdr });
                }
            }
        }
        serde_json::json!({ "mixtures": mixtures }).to_string()
    };
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    std::fs::write(&a, evaluation(0.3)).unwrap();
    std::fs::write(&b, evaluation(0.2)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("compare").args([&a, &b]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("| 48.00 k | **all** | **+0.100 (+0.100…+0.100)** |"), "{text}");

    let missing = dir.join("missing.json");
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).arg("compare").args([&a, &missing]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot read the evaluation") && err.contains("missing.json"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
