//! `cargo xtask eval`: Lull against the noisy input and nnnoiseless (RNNoise) on the test split,
//! in one run, on the same mixtures, through the same `Denoiser` the plugin runs (block-wise, at
//! the host rate). PESQ-WB, STOI and SI-SDR per SNR bucket and per sample rate, the high-band
//! check on full-band voices, and the original experiment's case (white Gaussian noise, 0 dB,
//! 22.05 kHz).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use lull::engine::Denoiser;
use lull::model::Model;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Deserializer, Serialize};

use crate::compare::{differences, difference_table, DifferenceRow};
use crate::corpus::{CorpusSource, NoiseChoice};
use crate::data::manifest::Split;
use crate::deepfilternet::DeepFilterNet;
use crate::metrics::{band_energy_ratio_db, pesq_wb, resample, resampled_len, si_sdr, stoi, DEFAULT_ACTIVE_RANGE_DB};

pub const SNRS: [f32; 5] = [-5.0, 0.0, 5.0, 10.0, 15.0];
pub const SYSTEMS: [&str; 4] = ["noisy", "nnnoiseless", "deepfilternet", "lull"];
/// Mixtures are made at this rate and resampled to the others, so every rate sees the same
/// material.
const BASE_RATE: u32 = 48_000;
/// Block size fed to the engine, as a host would.
const BLOCK: usize = 512;

pub struct EvalOptions {
    pub data_dir: PathBuf,
    pub model: Arc<Model>,
    pub rates: Vec<u32>,
    pub per_bucket: usize,
    pub seconds: f32,
    pub seed: u64,
    pub reduction_db: f32,
    /// The engine's stages after the band gains (all on in the plugin; one off only to
    /// measure what it gives).
    pub stages: Stages,
    /// The split the mixtures come from: the test split for every reported number; the
    /// validation split to choose among a run's checkpoints without looking at the test split.
    pub split: Split,
    /// One voice of the split only (`CorpusSource::one_voice`), to compare voices: where a
    /// model's lead lies (MODEL.md). The training split is evaluated only so.
    pub voice: Option<String>,
    /// Times each denoiser runs over a signal before the pass that is scored, its state carried
    /// on: 0 scores a cold start; more, the engines as a host runs them, long after they started
    /// (on the same scene, so the scored audio is the same).
    pub warm_up: usize,
    /// DeepFilterNet3, scored beside the others where given (`--deepfilternet`): how far Lull
    /// is from the state of the art, on the same mixtures.
    pub deepfilternet: Option<Arc<DeepFilterNet>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Scores {
    pub pesq_wb: f64,
    pub stoi: f64,
    pub si_sdr: f64,
    /// Mixtures behind these means.
    pub n: usize,
    /// Scores among them that were undefined (NaN, e.g. STOI on a mixture with under 0.4 s of
    /// speech) and left out of the means. Set by `mean`, from `counts`.
    pub undefined: usize,
    /// While accumulating: how many values each sum holds (PESQ-WB, STOI, SI-SDR).
    #[serde(skip)]
    counts: [usize; 3],
}

/// One mixture's scores for one system, so a bucket's mean can be traced to the mixtures
/// that move it (a few recorded noises can swing the −5 dB bucket by a tenth), and two
/// evaluations compared mixture by mixture (`xtask compare` reads them back from the JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MixtureScores {
    pub rate: u32,
    pub snr: i32,
    /// Index within the bucket: mixture `index` holds the same speech and noise in every bucket.
    pub index: usize,
    /// Noise class (of the louder noise, when two are summed).
    pub noise: String,
    /// The lowest real bandwidth among the recordings in the mixture's speech track: below
    /// 8 kHz, PESQ-WB also hears the noise above the voice.
    pub speech_bandwidth_hz: f32,
    pub system: String,
    #[serde(deserialize_with = "nan_if_null")]
    pub pesq_wb: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub stoi: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub si_sdr: f64,
}

/// JSON has no NaN: serde_json writes an undefined score as `null`, read back as NaN.
fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// rate → snr → system → mean scores.
    pub buckets: BTreeMap<u32, BTreeMap<i32, BTreeMap<String, Scores>>>,
    /// rate → system → mean over all buckets.
    pub overall: BTreeMap<u32, BTreeMap<String, Scores>>,
    /// The rate of `by_noise` (48 kHz when evaluated, else the first rate).
    pub by_noise_rate: u32,
    /// Noise class (of the louder noise, when two are summed) → system → mean over all buckets,
    /// at `by_noise_rate`.
    pub by_noise: BTreeMap<String, BTreeMap<String, Scores>>,
    /// The same per SNR bucket: class → snr → system.
    pub by_noise_snr: BTreeMap<String, BTreeMap<i32, BTreeMap<String, Scores>>>,
    /// Voice-bandwidth group (its lower edge in Hz, `VOICE_BANDWIDTH_GROUPS_HZ`; a mixture counts
    /// under the most band-limited voice in it) → system → mean over all buckets, at
    /// `by_noise_rate`. Where the lead over nnnoiseless lies differs between them (MODEL.md).
    pub by_voice_bandwidth: BTreeMap<u32, BTreeMap<String, Scores>>,
    /// Output-to-clean energy in 8–16 kHz during speech, full-band voices at 15 dB SNR, 48 kHz.
    pub high_band_db: BTreeMap<String, f64>,
    /// White Gaussian noise at 0 dB SNR on 22.05 kHz speech: SI-SDR improvement over the input.
    pub white_noise_si_sdr_improvement_db: BTreeMap<String, f64>,
    /// The test speech with no noise added, 48 kHz: scores against itself.
    pub clean_speech: BTreeMap<String, Scores>,
    /// The same clean speech at the evaluation's level and at others: active level (dBFS) →
    /// system → output-to-clean energy during speech over the whole band (0 = untouched). A
    /// denoiser should not care how loud a voice is, only how far above the noise.
    pub clean_speech_energy_by_level_db: BTreeMap<i32, BTreeMap<String, f64>>,
    /// Lull minus nnnoiseless, mixture by mixture, per rate and bucket and over all buckets,
    /// with confidence intervals: whether a lead is more than the draw of mixtures.
    pub lead_over_nnnoiseless: Vec<DifferenceRow>,
    /// Lull minus DeepFilterNet3 the same way, where it was evaluated (`--deepfilternet`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lead_over_deepfilternet: Vec<DifferenceRow>,
    /// Every mixture's scores, in evaluation order (undefined scores as NaN become `null`).
    pub mixtures: Vec<MixtureScores>,
    pub split: Split,
    /// The one voice evaluated (`EvalOptions::voice`), or every voice of the split.
    pub voice: Option<String>,
    pub per_bucket: usize,
    pub seconds: f32,
    /// `EvalOptions::warm_up` (absent in older reports: a cold start).
    #[serde(default)]
    pub warm_up: usize,
    pub lull_latency_ms_48k: f64,
    /// Wall-clock milliseconds each denoiser took per second of 48 kHz audio in this run (one
    /// thread each; on a shared machine, comparable only within one run).
    pub processing_ms_per_second: BTreeMap<String, f64>,
}

impl Report {
    /// `system`'s output-to-clean energy on clean speech at the evaluation's level (NaN if it
    /// was not measured).
    pub fn clean_speech_energy_db(&self, system: &str) -> f64 {
        self.clean_speech_energy_by_level_db.get(&SPEECH_LEVEL_DB).and_then(|m| m.get(system)).copied().unwrap_or(f64::NAN)
    }
}

/// Active level of the evaluation's speech (dBFS).
const SPEECH_LEVEL_DB: i32 = -26;
/// Levels the clean speech is also played at: a distant or quiet mic, and a hot one.
const OTHER_CLEAN_LEVELS_DB: [i32; 2] = [-60, -12];

/// Which of the engine's stages after the band gains run (each only where the model has it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stages {
    /// The pitch filter (`Denoiser::set_pitch_filter`).
    pub pitch_filter: bool,
    /// A deep-filtering model's correction of the lowest bins (`Denoiser::set_deep_filter`).
    pub deep_filter: bool,
    /// The mains-hum canceller in front of the network (`Denoiser::set_dehum`; the plugin's
    /// "Hum Removal").
    pub dehum: bool,
}

impl Stages {
    /// As the plugin runs the engine.
    pub const PLUGIN: Self = Self { pitch_filter: true, deep_filter: true, dehum: true };
}

/// Runs Lull's engine over a whole signal and returns the output aligned with the input, with
/// `stages` as the plugin runs them (`Stages::PLUGIN`) or some off.
pub fn run_lull(model: &Arc<Model>, x: &[f32], rate: u32, reduction_db: f32, stages: Stages) -> Result<Vec<f32>> {
    let mut d = Denoiser::new(model.clone(), rate as f32, 1)?;
    d.set_reduction_db(reduction_db);
    d.set_pitch_filter(stages.pitch_filter);
    d.set_deep_filter(stages.deep_filter);
    d.set_dehum(stages.dehum);
    let lat = d.latency_samples();
    let mut buf = x.to_vec();
    buf.resize(x.len() + lat, 0.0);
    for chunk in buf.chunks_mut(BLOCK) {
        d.process(&mut [chunk]);
    }
    Ok(buf[lat..].to_vec())
}

/// nnnoiseless works at 48 kHz only, on 16-bit-scaled samples, with one 480-sample frame of
/// delay; other rates go through the same resampler as the metrics.
pub fn run_rnnoise(x: &[f32], rate: u32) -> Vec<f32> {
    const FRAME: usize = nnnoiseless::DenoiseState::FRAME_SIZE;
    let mut state = nnnoiseless::DenoiseState::new();
    let run = |x48: &[f32]| -> Result<Vec<f32>> {
        let scaled: Vec<f32> = x48.iter().map(|v| v * 32768.0).collect();
        let y = framed(&scaled, FRAME, FRAME, |i, o| {
            state.process_frame(o, i);
        });
        Ok(y.iter().map(|v| v / 32768.0).collect())
    };
    at_48k(x, rate, run).expect("nnnoiseless cannot fail")
}

/// Runs `f`, a denoiser that works at 48 kHz only, on `x` at `rate`: through the metrics'
/// resampler both ways unless `rate` is 48 kHz, and back to `x`'s length.
pub(crate) fn at_48k(x: &[f32], rate: u32, f: impl FnOnce(&[f32]) -> Result<Vec<f32>>) -> Result<Vec<f32>> {
    let mut y = if rate == 48_000 { f(x)? } else { resample(&f(&resample(x, rate, 48_000))?, 48_000, rate) };
    y.resize(x.len(), 0.0);
    Ok(y)
}

/// Feeds `x` to a frame-by-frame denoiser (`frame(input, output)`, `hop` samples each), padded
/// with zeros to flush its `delay` samples out, and returns its output with the delay removed.
pub(crate) fn framed(x: &[f32], hop: usize, delay: usize, mut frame: impl FnMut(&mut [f32], &mut [f32])) -> Vec<f32> {
    let mut input = x.to_vec();
    input.resize((x.len() + delay).div_ceil(hop) * hop, 0.0);
    let mut output = vec![0.0f32; input.len()];
    for (i, o) in input.chunks_mut(hop).zip(output.chunks_mut(hop)) {
        frame(i, o);
    }
    output.drain(..delay);
    output.truncate(x.len());
    output
}

/// Lower edges (Hz) of the voice-bandwidth groups: narrower than a 16 kHz recording; 16 kHz
/// recordings (wideband telephony, 8 kHz) and others up to 12 kHz; full band.
pub const VOICE_BANDWIDTH_GROUPS_HZ: [u32; 3] = [0, 8_000, 12_000];

fn voice_bandwidth_group(hz: f32) -> u32 {
    VOICE_BANDWIDTH_GROUPS_HZ.iter().rev().copied().find(|&lo| hz >= lo as f32).unwrap_or(0)
}

fn voice_bandwidth_label(lo: u32) -> String {
    match VOICE_BANDWIDTH_GROUPS_HZ.iter().copied().find(|&g| g > lo) {
        Some(hi) if lo == 0 => format!("below {} kHz", hi / 1000),
        Some(hi) => format!("{}–{} kHz", lo / 1000, hi / 1000),
        None => format!("{} kHz and up", lo / 1000),
    }
}

/// The denoisers every check compares, run on the same signal: nnnoiseless (RNNoise), then
/// DeepFilterNet3 where given, and Lull at the evaluation's Reduction. Each runs over all of
/// `played` (a warm-up's lead-in, then what is scored) and returns its last `scored` samples.
/// Each call's time is added to `clock` at 48 kHz, where no system resamples.
fn denoised(o: &EvalOptions, played: &[f32], scored: usize, rate: u32, clock: &mut Clock) -> Result<Vec<(&'static str, Vec<f32>)>> {
    let seconds = played.len() as f64 / rate as f64;
    let mut out = Vec::new();
    let mut run = |name: &'static str, f: &dyn Fn() -> Result<Vec<f32>>| -> Result<()> {
        let started = std::time::Instant::now();
        let y = f()?;
        if rate == 48_000 {
            let e = clock.0.entry(name).or_default();
            e.0 += started.elapsed().as_secs_f64();
            e.1 += seconds;
        }
        out.push((name, tail(&y, scored).to_vec()));
        Ok(())
    };
    run("nnnoiseless", &|| Ok(run_rnnoise(played, rate)))?;
    if let Some(dfn) = &o.deepfilternet {
        run("deepfilternet", &|| dfn.run(played, rate))?;
    }
    run("lull", &|| run_lull(&o.model, played, rate, o.reduction_db, o.stages))?;
    Ok(out)
}

/// The last `n` samples of `x` (all of it if shorter): the scored part after a lead-in.
fn tail(x: &[f32], n: usize) -> &[f32] {
    &x[x.len().saturating_sub(n)..]
}

/// The warm-up's lead-in played before a check's signal of `len` samples: `warm_up` times as
/// long again (none for a cold start).
fn lead_in(o: &EvalOptions, len: usize) -> usize {
    len * o.warm_up
}

/// Wall-clock seconds each denoiser took and seconds of audio it processed, at 48 kHz.
#[derive(Default)]
struct Clock(BTreeMap<&'static str, (f64, f64)>);

fn scores(clean: &[f32], out: &[f32], rate: u32) -> Result<Scores> {
    let values = [pesq_wb(clean, out, rate)?, stoi(clean, out, rate), si_sdr(clean, out)];
    // An undefined score is counted, not averaged: one NaN would make the whole bucket NaN.
    let [pesq_wb, stoi, si_sdr] = values.map(|v| if v.is_finite() { v } else { 0.0 });
    let counts = values.map(|v| v.is_finite() as usize);
    Ok(Scores { pesq_wb, stoi, si_sdr, n: 1, undefined: 0, counts })
}

fn add(acc: &mut Scores, s: &Scores) {
    acc.pesq_wb += s.pesq_wb;
    acc.stoi += s.stoi;
    acc.si_sdr += s.si_sdr;
    acc.n += s.n;
    for (a, b) in acc.counts.iter_mut().zip(s.counts) {
        *a += b;
    }
}

fn mean(s: &Scores) -> Scores {
    let m = |sum: f64, count: usize| if count > 0 { sum / count as f64 } else { f64::NAN };
    Scores {
        pesq_wb: m(s.pesq_wb, s.counts[0]),
        stoi: m(s.stoi, s.counts[1]),
        si_sdr: m(s.si_sdr, s.counts[2]),
        n: s.n,
        undefined: 3 * s.n - s.counts.iter().sum::<usize>(),
        counts: s.counts,
    }
}

/// Adds `value` to `name`'s (sum, count), unless it is undefined (NaN or infinite).
fn tally_finite(sums: &mut BTreeMap<String, (f64, usize)>, name: &str, value: f64) {
    if value.is_finite() {
        let e = sums.entry(name.into()).or_default();
        e.0 += value;
        e.1 += 1;
    }
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    pb.set_style(ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ETA {eta}").expect("valid template"));
    pb.set_message(what.to_string());
    pb
}

pub fn evaluate(o: &EvalOptions) -> Result<Report> {
    let source = CorpusSource::open(&o.data_dir, o.split)?;
    let source = match &o.voice {
        Some(voice) => source.one_voice(voice).with_context(|| format!("the {} split", o.split))?,
        None => source,
    };
    let len = (o.seconds * BASE_RATE as f32) as usize;
    let mut sums: BTreeMap<u32, BTreeMap<i32, BTreeMap<String, Scores>>> = BTreeMap::new();
    let class_rate = if o.rates.contains(&BASE_RATE) { BASE_RATE } else { *o.rates.first().context("no rates to evaluate")? };
    let mut class_sums: BTreeMap<String, BTreeMap<i32, BTreeMap<String, Scores>>> = BTreeMap::new();
    let mut voice_sums: BTreeMap<u32, BTreeMap<i32, BTreeMap<String, Scores>>> = BTreeMap::new();
    let mut mixtures = Vec::new();
    let mut clock = Clock::default();
    let pb = bar(SNRS.len() * o.per_bucket * o.rates.len(), "mixtures × rates");
    for &snr in &SNRS {
        for i in 0..o.per_bucket {
            // Seeded by the mixture index only: every bucket holds the same speech and noise,
            // only the SNR differs, so the buckets compare like with like.
            let mut rng = StdRng::seed_from_u64(o.seed ^ i as u64);
            let lead = lead_in(o, len);
            let (ex, class) = source.mix_with_lead_in(&mut rng, BASE_RATE, len, lead, snr, SPEECH_LEVEL_DB as f32, NoiseChoice::Any);
            // The voices scored, not the lead-in's.
            let voice_hz = ex.utterances.iter().filter(|u| u.end > lead).map(|u| u.bandwidth_hz).fold(f32::INFINITY, f32::min);
            for &rate in &o.rates {
                let at = |x: &[f32]| if rate == BASE_RATE { x.to_vec() } else { resample(x, BASE_RATE, rate) };
                let (clean, noise) = (at(&ex.clean), at(&ex.noise));
                let noisy: Vec<f32> = clean.iter().zip(&noise).map(|(c, n)| c + n).collect();
                // What is scored at this rate: as many samples as `len` resamples to.
                let scored = resampled_len(len, BASE_RATE, rate);
                let clean = tail(&clean, scored);
                for (name, out) in std::iter::once(("noisy", tail(&noisy, scored).to_vec())).chain(denoised(o, &noisy, scored, rate, &mut clock)?) {
                    let s = scores(clean, &out, rate).with_context(|| format!("{name} at {rate} Hz, {snr} dB, mixture {i}"))?;
                    // The mean of one mixture: its scores, NaN where undefined.
                    let one = mean(&s);
                    mixtures.push(MixtureScores {
                        rate,
                        snr: snr as i32,
                        index: i,
                        noise: class.name().to_string(),
                        speech_bandwidth_hz: voice_hz,
                        system: name.to_string(),
                        pesq_wb: one.pesq_wb,
                        stoi: one.stoi,
                        si_sdr: one.si_sdr,
                    });
                    let acc = sums.entry(rate).or_default().entry(snr as i32).or_default().entry(name.to_string()).or_default();
                    add(acc, &s);
                    if rate == class_rate {
                        add(class_sums.entry(class.name().into()).or_default().entry(snr as i32).or_default().entry(name.to_string()).or_default(), &s);
                        add(voice_sums.entry(voice_bandwidth_group(voice_hz)).or_default().entry(snr as i32).or_default().entry(name.to_string()).or_default(), &s);
                    }
                }
                pb.inc(1);
            }
        }
    }
    pb.finish_and_clear();

    let (overall, buckets) = means(sums);
    let (by_noise, by_noise_snr) = means(class_sums);
    let (by_voice_bandwidth, _) = means(voice_sums);

    // High band: full-band voices, 15 dB SNR, 48 kHz. One voice that is not full-band has
    // none to measure; a whole split always has (the data step sees to it).
    let full = match source.clone().full_band_only() {
        Ok(full) => Some(full),
        Err(_) if o.voice.is_some() => None,
        Err(e) => return Err(e),
    };
    let mut high: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let mut white: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let mut clean_scores: BTreeMap<String, Scores> = BTreeMap::new();
    let mut level_energy: BTreeMap<i32, BTreeMap<String, (f64, usize)>> = BTreeMap::new();
    let pb = bar(3 * o.per_bucket, "high-band, white-noise and clean-speech checks");
    for i in 0..o.per_bucket {
        if let Some(full) = &full {
            let mut rng = StdRng::seed_from_u64(o.seed ^ 0xb1_9b ^ i as u64);
            let (ex, _) = full.mix_with_lead_in(&mut rng, 48_000, len, lead_in(o, len), 15.0, SPEECH_LEVEL_DB as f32, NoiseChoice::Any);
            let noisy: Vec<f32> = ex.clean.iter().zip(&ex.noise).map(|(c, n)| c + n).collect();
            let clean = tail(&ex.clean, len);
            for (name, out) in std::iter::once(("noisy", tail(&noisy, len).to_vec())).chain(denoised(o, &noisy, len, 48_000, &mut clock)?) {
                tally_finite(&mut high, name, band_energy_ratio_db(clean, &out, 48_000, 8_000.0, 16_000.0, DEFAULT_ACTIVE_RANGE_DB));
            }
        }
        pb.inc(1);
        // The original experiment: white Gaussian noise at 0 dB on 22.05 kHz speech.
        let mut rng = StdRng::seed_from_u64(o.seed ^ 0x3417e ^ i as u64);
        let rate = 22_050;
        let n22 = (o.seconds * rate as f32) as usize;
        let (ex, _) = source.mix_with_lead_in(&mut rng, rate, n22, lead_in(o, n22), 0.0, SPEECH_LEVEL_DB as f32, NoiseChoice::White);
        let noisy: Vec<f32> = ex.clean.iter().zip(&ex.noise).map(|(c, n)| c + n).collect();
        let clean = tail(&ex.clean, n22);
        let base = si_sdr(clean, tail(&noisy, n22));
        for (name, out) in denoised(o, &noisy, n22, rate, &mut clock)? {
            let e = white.entry(name.into()).or_default();
            e.0 += si_sdr(clean, &out) - base;
            e.1 += 1;
        }
        pb.inc(1);
        // Clean speech: the buckets' speech with nothing to remove. A denoiser should leave it
        // alone; what it takes off here it takes off every voice.
        let mut rng = StdRng::seed_from_u64(o.seed ^ i as u64);
        let played = source.mix_with_lead_in(&mut rng, BASE_RATE, len, lead_in(o, len), 15.0, SPEECH_LEVEL_DB as f32, NoiseChoice::Any).0.clean;
        let clean = tail(&played, len);
        for (name, out) in denoised(o, &played, len, BASE_RATE, &mut clock)? {
            let s = scores(clean, &out, BASE_RATE).with_context(|| format!("{name} on clean speech, mixture {i}"))?;
            add(clean_scores.entry(name.into()).or_default(), &s);
            tally_finite(level_energy.entry(SPEECH_LEVEL_DB).or_default(), name, band_energy_ratio_db(clean, &out, BASE_RATE, 0.0, 24_000.0, DEFAULT_ACTIVE_RANGE_DB));
        }
        for level in OTHER_CLEAN_LEVELS_DB {
            let g = 10f32.powf((level - SPEECH_LEVEL_DB) as f32 / 20.0);
            let x: Vec<f32> = played.iter().map(|v| v * g).collect();
            for (name, out) in denoised(o, &x, len, BASE_RATE, &mut clock)? {
                tally_finite(level_energy.entry(level).or_default(), name, band_energy_ratio_db(tail(&x, len), &out, BASE_RATE, 0.0, 24_000.0, DEFAULT_ACTIVE_RANGE_DB));
            }
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    let avg = |m: BTreeMap<String, (f64, usize)>| m.into_iter().map(|(k, (s, n))| (k, s / n.max(1) as f64)).collect();
    let lat = Denoiser::new(o.model.clone(), 48_000.0, 1)?.latency_samples();
    let energy_by_level: BTreeMap<i32, BTreeMap<String, f64>> = level_energy.into_iter().map(|(l, m)| (l, avg(m))).collect();
    let lead_over_nnnoiseless = differences(&mixtures, "lull", &mixtures, "nnnoiseless")?;
    let lead_over_deepfilternet = if o.deepfilternet.is_some() { differences(&mixtures, "lull", &mixtures, "deepfilternet")? } else { Vec::new() };
    Ok(Report {
        buckets,
        overall,
        by_noise_rate: class_rate,
        by_noise,
        by_noise_snr,
        by_voice_bandwidth,
        high_band_db: avg(high),
        white_noise_si_sdr_improvement_db: avg(white),
        clean_speech: clean_scores.into_iter().map(|(k, s)| (k, mean(&s))).collect(),
        clean_speech_energy_by_level_db: energy_by_level,
        lead_over_nnnoiseless,
        lead_over_deepfilternet,
        mixtures,
        split: o.split,
        voice: o.voice.clone(),
        per_bucket: o.per_bucket,
        seconds: o.seconds,
        warm_up: o.warm_up,
        lull_latency_ms_48k: lat as f64 * 1000.0 / 48_000.0,
        processing_ms_per_second: clock.0.into_iter().filter(|(_, (_, audio))| *audio > 0.0).map(|(k, (t, audio))| (k.to_string(), 1000.0 * t / audio)).collect(),
    })
}

/// Sums grouped by `K` (a rate or a noise class) → snr → system, as means over all buckets
/// (`K` → system) and per bucket.
#[allow(clippy::type_complexity)]
fn means<K: Ord + Clone>(sums: BTreeMap<K, BTreeMap<i32, BTreeMap<String, Scores>>>) -> (BTreeMap<K, BTreeMap<String, Scores>>, BTreeMap<K, BTreeMap<i32, BTreeMap<String, Scores>>>) {
    let mut all: BTreeMap<K, BTreeMap<String, Scores>> = BTreeMap::new();
    let per_snr = sums
        .into_iter()
        .map(|(key, by_snr)| {
            let by_snr = by_snr
                .into_iter()
                .map(|(snr, by_sys)| {
                    let by_sys = by_sys
                        .into_iter()
                        .map(|(sys, s)| {
                            add(all.entry(key.clone()).or_default().entry(sys.clone()).or_default(), &s);
                            (sys, mean(&s))
                        })
                        .collect();
                    (snr, by_sys)
                })
                .collect();
            (key, by_snr)
        })
        .collect();
    let all = all.into_iter().map(|(c, m)| (c, m.into_iter().map(|(k, s)| (k, mean(&s))).collect())).collect();
    (all, per_snr)
}

/// How much higher the noisy input must score at a lower SNR than at a higher one before
/// `pesq_inversions` calls it PESQ's failure rather than chance.
pub const PESQ_INVERSION_MARGIN: f64 = 0.3;

/// Mixtures on which PESQ-WB contradicts the SNR: the noisy input, the same speech and noise
/// in every bucket, scores at least `margin` higher at a lower SNR than at a higher one. A
/// cleaner input cannot be worse, so such a mixture's scores say more about PESQ's alignment
/// (it fails on some loud, uneven recorded noises) than about the denoisers, and one of them
/// can move a 24-mixture bucket's mean by 0.1. Returns (rate, index) pairs, in order.
pub fn pesq_inversions(mixtures: &[MixtureScores], margin: f64) -> Vec<(u32, usize)> {
    let mut noisy: BTreeMap<(u32, usize), BTreeMap<i32, f64>> = BTreeMap::new();
    for m in mixtures.iter().filter(|m| m.system == "noisy" && m.pesq_wb.is_finite()) {
        noisy.entry((m.rate, m.index)).or_default().insert(m.snr, m.pesq_wb);
    }
    noisy
        .into_iter()
        .filter(|(_, by_snr)| {
            let mut best_below = f64::NEG_INFINITY;
            by_snr.values().any(|&v| {
                let inverted = best_below - v >= margin;
                best_below = best_below.max(v);
                inverted
            })
        })
        .map(|(key, _)| key)
        .collect()
}

/// The markdown note on `pesq_inversions`: which mixtures, and each rate's −5 dB PESQ-WB
/// without them (the bucket they move most).
fn inversions_note(r: &Report) -> String {
    let odd = pesq_inversions(&r.mixtures, PESQ_INVERSION_MARGIN);
    if odd.is_empty() {
        return String::new();
    }
    let mut rates_of: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (rate, i) in &odd {
        rates_of.entry(*i).or_default().push(format!("{:.2} k", *rate as f64 / 1000.0));
    }
    let names: Vec<String> = rates_of.iter().map(|(i, rates)| format!("{i} ({})", rates.join(", "))).collect();
    let mut m = format!(
        "\nPESQ-WB contradicts the SNR on mixture {} of each bucket: the noisy input scores at least {PESQ_INVERSION_MARGIN} higher at a lower SNR. They stay in the means above; the −5 dB bucket without them:\n",
        names.join(", ")
    );
    for rate in r.buckets.keys() {
        let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        for x in r.mixtures.iter().filter(|x| x.rate == *rate && x.snr == SNRS[0] as i32 && !odd.contains(&(x.rate, x.index))) {
            tally_finite(&mut sums, &x.system, x.pesq_wb);
        }
        let per: Vec<String> = SYSTEMS.iter().filter_map(|sys| sums.get(*sys).map(|(s, n)| format!("{sys} {:.3}", s / *n as f64))).collect();
        let _ = writeln!(m, "- {:.2} k: {}", *rate as f64 / 1000.0, per.join(", "));
    }
    m
}

/// A table of means over all buckets, one row per group (noise class, voice bandwidth), a column
/// per system evaluated.
fn group_table<'a>(m: &mut String, heading: &str, what: &str, rows: impl Iterator<Item = (String, &'a BTreeMap<String, Scores>)>) {
    let rows: Vec<_> = rows.collect();
    if rows.is_empty() {
        return;
    }
    let systems: Vec<&str> = SYSTEMS.iter().copied().filter(|sys| rows.iter().any(|(_, by_sys)| by_sys.contains_key(*sys))).collect();
    let _ = writeln!(m, "\n{heading}:\n");
    let _ = writeln!(m, "| {what} | mixtures | PESQ-WB {} | SI-SDR dB {} |", systems.join(" | "), systems.join(" | "));
    let _ = writeln!(m, "|---|---|{}", "---|".repeat(2 * systems.len()));
    for (group, by_sys) in rows {
        let get = |sys: &str| by_sys.get(sys).cloned().unwrap_or_default();
        let pesq: Vec<String> = systems.iter().map(|sys| format!("{:.3}", get(sys).pesq_wb)).collect();
        let sisdr: Vec<String> = systems.iter().map(|sys| format!("{:.2}", get(sys).si_sdr)).collect();
        let _ = writeln!(m, "| {group} | {} | {} | {} |", get("lull").n, pesq.join(" | "), sisdr.join(" | "));
    }
}

/// The report as markdown tables.
pub fn markdown(r: &Report) -> String {
    let mut m = String::new();
    let split = match r.split {
        Split::Test => "Test split",
        Split::Val => "Validation split",
        Split::Train => "Training split",
    };
    let voice = r.voice.as_ref().map(|v| format!(", the voice `{v}` only (its babble too)")).unwrap_or_default();
    let warm = match r.warm_up {
        0 => String::new(),
        n => {
            let lead = n as f32 * r.seconds;
            format!(", each scored after the denoisers ran over {lead} s of the same noise under other speech before it (a host's steady state, not a cold start)")
        }
    };
    let _ = writeln!(m, "{split}{voice}, {} mixtures of {} s per SNR bucket and rate (recorded and generated noises){warm}, Reduction at the default.\n", r.per_bucket, r.seconds);
    let _ = writeln!(m, "| rate | SNR dB | system | PESQ-WB | STOI | SI-SDR dB |");
    let _ = writeln!(m, "|---|---|---|---|---|---|");
    for (rate, by_snr) in &r.buckets {
        for (snr, by_sys) in by_snr {
            for sys in SYSTEMS {
                if let Some(s) = by_sys.get(sys) {
                    let _ = writeln!(m, "| {:.2} k | {snr} | {sys} | {:.3} | {:.3} | {:.2} |", *rate as f64 / 1000.0, s.pesq_wb, s.stoi, s.si_sdr);
                }
            }
        }
        if let Some(all) = r.overall.get(rate) {
            for sys in SYSTEMS {
                if let Some(s) = all.get(sys) {
                    let _ = writeln!(m, "| {:.2} k | **all** | **{sys}** | **{:.3}** | **{:.3}** | **{:.2}** |", *rate as f64 / 1000.0, s.pesq_wb, s.stoi, s.si_sdr);
                }
            }
        }
    }
    m.push_str(&difference_table(&r.lead_over_nnnoiseless, "Lull − nnnoiseless"));
    if !r.lead_over_deepfilternet.is_empty() {
        let dfn_ms = crate::deepfilternet::LATENCY_MS;
        m.push_str(&difference_table(&r.lead_over_deepfilternet, &format!("Lull − DeepFilterNet3 ({dfn_ms:.0} ms latency; Lull's {:.0} ms)", r.lull_latency_ms_48k)));
    }
    let khz = r.by_noise_rate as f64 / 1000.0;
    group_table(&mut m, &format!("Per noise class, {khz:.2} kHz, all SNR buckets (a mixture with two noises summed counts under the louder)"), "noise", r.by_noise.iter().map(|(c, s)| (c.clone(), s)));
    group_table(
        &mut m,
        &format!("Per voice bandwidth, {khz:.2} kHz, all SNR buckets (a mixture counts under the most band-limited voice in it)"),
        "voice bandwidth",
        r.by_voice_bandwidth.iter().map(|(&lo, s)| (voice_bandwidth_label(lo), s)),
    );
    let undefined: usize = r.overall.values().flat_map(|m| m.values()).map(|s| s.undefined).sum();
    if undefined > 0 {
        let _ = writeln!(m, "\n{undefined} undefined scores (STOI needs 0.4 s of speech) are left out of the means.");
    }
    m.push_str(&inversions_note(r));
    let _ = writeln!(m, "\nHigh band (full-band voices, 15 dB SNR, 48 kHz): output-to-clean energy in 8–16 kHz during speech:");
    if r.high_band_db.is_empty() {
        let _ = writeln!(m, "- not measured: no full-band voice among those evaluated");
    }
    for (k, v) in &r.high_band_db {
        let _ = writeln!(m, "- {k}: {v:+.2} dB");
    }
    let _ = writeln!(m, "\nOriginal experiment (white Gaussian noise, 0 dB SNR, 22.05 kHz speech): SI-SDR improvement:");
    for (k, v) in &r.white_noise_si_sdr_improvement_db {
        let _ = writeln!(m, "- {k}: {v:+.2} dB");
    }
    if !r.processing_ms_per_second.is_empty() {
        let per: Vec<String> = r.processing_ms_per_second.iter().map(|(k, v)| format!("{k} {v:.1}")).collect();
        let _ = writeln!(m, "\nProcessing time per second of 48 kHz audio, milliseconds by the wall clock in this run (one thread each): {}.", per.join(", "));
    }
    let _ = writeln!(m, "\nClean speech (the buckets' speech with no noise added, 48 kHz): PESQ-WB / STOI / SI-SDR, and output-to-clean energy during speech:");
    for (k, s) in &r.clean_speech {
        let energy = r.clean_speech_energy_db(k);
        let _ = writeln!(m, "- {k}: {:.3} / {:.3} / {:.2} dB, energy {energy:+.2} dB", s.pesq_wb, s.stoi, s.si_sdr);
    }
    if !r.clean_speech_energy_by_level_db.is_empty() {
        let levels: Vec<String> = r.clean_speech_energy_by_level_db.keys().map(|l| l.to_string()).collect();
        let _ = writeln!(m, "\nThe same clean speech at {} dBFS active level: output-to-clean energy during speech:", levels.join(" / "));
        for k in r.clean_speech_energy_by_level_db.values().next().map(|s| s.keys().cloned().collect::<Vec<_>>()).unwrap_or_default() {
            let per: Vec<String> = r.clean_speech_energy_by_level_db.values().map(|s| format!("{:+.2}", s.get(&k).copied().unwrap_or(f64::NAN))).collect();
            let _ = writeln!(m, "- {k}: {} dB", per.join(" / "));
        }
    }
    m
}

/// The card's two evaluation sections: a cold start (what the targets are defined on)
/// and a host's steady state (`--warm-up`), in that order, each replaced only by its own kind.
const CARD_SECTIONS: [(&str, &str, &str); 2] = [
    ("<!-- eval:start -->", "<!-- eval:end -->", "## Evaluation"),
    ("<!-- eval-warm:start -->", "<!-- eval-warm:end -->", "## Evaluation in a host's steady state"),
];
/// What `xtask export` writes where the evaluation will go.
pub const NOT_EVALUATED: &str = "\n_Not evaluated yet: run `cargo xtask eval --model-card weights/MODEL.md`._\n\n";

/// Puts `table` into the model card's evaluation section for a cold start (`warm_up` 0) or a
/// warmed-up run, replacing an earlier one of the same kind and keeping the other.
pub fn update_model_card(card: &Path, table: &str, command: &str, warm_up: usize) -> Result<()> {
    let old = std::fs::read_to_string(card).with_context(|| format!("cannot read model card {}", card.display()))?;
    let kind = usize::from(warm_up > 0);
    let (start, end, heading) = CARD_SECTIONS[kind];
    let section = format!("{start}\n{heading}\n\nCommand: `{command}`\n\n{table}{end}\n");
    let new = match (old.find(start), old.find(end)) {
        (Some(a), Some(b)) if b > a => format!("{}{}\n{}", &old[..a], section, old[b + end.len()..].trim_start_matches('\n')),
        _ => {
            // Replace export's "not evaluated yet" line, and go before the sections that come
            // later (the steady state after the cold start) and the experiment log.
            let old = old.replace(NOT_EVALUATED, "");
            let later = CARD_SECTIONS[kind + 1..].iter().map(|s| s.0).chain([crate::export::NOTES_HEADING]);
            match later.filter_map(|h| old.find(h)).min() {
                Some(i) => format!("{}\n{}\n{}", old[..i].trim_end(), section, &old[i..]),
                None => format!("{}\n{}", old.trim_end(), section),
            }
        }
    };
    std::fs::write(card, new).with_context(|| format!("cannot write {}", card.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voices_fall_in_the_group_of_their_bandwidth() {
        let groups: Vec<u32> = [6_288.0, 7_999.0, 8_000.0, 11_477.0, 12_000.0, 20_392.0].into_iter().map(voice_bandwidth_group).collect();
        assert_eq!(groups, [0, 0, 8_000, 8_000, 12_000, 12_000]);
        let labels: Vec<String> = VOICE_BANDWIDTH_GROUPS_HZ.into_iter().map(voice_bandwidth_label).collect();
        assert_eq!(labels, ["below 8 kHz", "8–12 kHz", "12 kHz and up"]);
    }
}
