//! `cargo xtask train`: candle on CPU, seeded, with a progress bar, periodic validation,
//! checkpoints and `--resume`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};
use crossbeam_channel::{bounded, Receiver};
use indicatif::{ProgressBar, ProgressStyle};
use lull::dsp::bands::BandCenters;
use lull::model::ModelConfig;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::featurize::{featurize, GainTarget, Sample};
use crate::hum_removal::hum_removed;
use crate::net::{self, Dropout, LullNet, NetState};

/// One (clean, noise) pair at its sample rate, before featurisation.
pub struct Example {
    pub rate: f32,
    pub clean: Vec<f32>,
    /// Already scaled to the example's SNR.
    pub noise: Vec<f32>,
    /// Where each utterance in `clean` lies and how far up its recording really reaches.
    pub utterances: Vec<Utterance>,
}

/// One recording placed in an example's clean track: samples `start..end`, real bandwidth.
/// Kept per utterance because a track strings several recordings together, and one
/// band-limited word must not mask the high band of the full-band words around it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Utterance {
    pub start: usize,
    pub end: usize,
    pub bandwidth_hz: f32,
}

/// Where training examples come from: the synthetic corpus or the real one.
pub trait ExampleSource: Send + Sync {
    /// An example exactly `frames` hops long (hop as in `config`), drawn with `rng`.
    fn example(&self, rng: &mut StdRng, config: &ModelConfig, frames: usize) -> Example;
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainOptions {
    pub steps: usize,
    pub batch: usize,
    /// Hops per training sequence.
    pub seq_frames: usize,
    pub lr: f64,
    pub seed: u64,
    pub val_every: usize,
    pub val_batches: usize,
    pub checkpoint_every: usize,
    pub workers: usize,
    /// Wall-clock budget in minutes (0 = none). With a budget, the learning-rate schedule
    /// follows whichever of steps and time runs out first, and training stops there; the run is
    /// then only as reproducible as the machine's speed.
    #[serde(default)]
    pub time_budget_min: f64,
    /// Loss factor on speech turned down below its target (`gain_loss`); 1 = symmetric.
    #[serde(default = "one")]
    pub over_suppression: f64,
    /// Scale the band gains' extra charge by the target gain (`Asymmetry::by_target`).
    #[serde(default)]
    pub over_suppression_by_target: bool,
    /// The same factor for bands centred at or above `HIGH_BAND_HZ` (`Asymmetry::high`); runs
    /// from before it existed used `over_suppression` there too.
    #[serde(default)]
    pub high_band_over_suppression: Option<f64>,
    /// Power the top bands' gains are raised to before the loss compares them
    /// (`Asymmetry::high_power`); unset = `GAIN_POWER`, as before it existed.
    #[serde(default)]
    pub high_band_gain_power: Option<f64>,
    /// The same below `HIGH_BAND_HZ` (`Asymmetry::power`).
    #[serde(default)]
    pub gain_power: Option<f64>,
    /// Loss factor on noise left in where noise dominates (`Asymmetry::under`); 1 = none.
    #[serde(default = "one")]
    pub under_suppression: f64,
    /// Largest speed change of training speech clips (`CorpusSource::with_speed_perturbation`).
    #[serde(default)]
    pub speed_perturb: f64,
    /// The same for recorded noise clips (`CorpusSource::with_noise_speed_perturbation`).
    #[serde(default)]
    pub noise_speed_perturb: f64,
    /// Weigh the bands below `HIGH_BAND_HZ` by their loudness (`Asymmetry::loudness`); 0 = off.
    #[serde(default)]
    pub loudness_weight: f64,
    /// Range of the speech's active level in dBFS (`CorpusSource::with_speech_levels`); runs
    /// from before it existed used `LEGACY_SPEECH_LEVELS_DB`.
    #[serde(default = "legacy_level_min")]
    pub speech_level_min_db: f64,
    #[serde(default = "legacy_level_max")]
    pub speech_level_max_db: f64,
    /// Training speech clips noisier than this are left out (`CorpusSource::with_min_speech_snr`);
    /// unset = all, as before it existed.
    #[serde(default)]
    pub min_speech_snr_db: Option<f64>,
    /// Training speech high-passed at this frequency (`CorpusSource::with_speech_highpass`);
    /// unset = as recorded, as before it existed.
    #[serde(default)]
    pub speech_highpass_hz: Option<f64>,
    /// Training SNRs drawn with this emphasis on the low end (`CorpusSource::with_low_snr_emphasis`);
    /// 1 = uniform, as before it existed.
    #[serde(default = "one")]
    pub low_snr_emphasis: f64,
    /// Share of training speech drawn from the generated voices
    /// (`CorpusSource::with_generated_speech`); 0 = none, as before it existed. Called
    /// `piper_share` while Piper's `joe` was the only one.
    #[serde(default, alias = "piper_share")]
    pub generated_share: f64,
    /// The generated voices the run drew on (package names); empty with a share from before
    /// this was recorded, when Piper's `joe` was the only one.
    #[serde(default)]
    pub generated_voices: Vec<String>,
    /// Long speech clips entered at a random point (`CorpusSource::with_clip_windows`); off,
    /// as before it existed.
    #[serde(default)]
    pub clip_windows: bool,
    /// Fraction of each recorded voice's clips drawn (`CorpusSource::with_speech_subset`); 1 =
    /// all, as before it existed.
    #[serde(default = "one")]
    pub speech_subset: f64,
    /// Fraction of the recorded voices drawn (`CorpusSource::with_voice_subset`); 1 = all, as
    /// before it existed.
    #[serde(default = "one")]
    pub voice_subset: f64,
    /// Each recorded voice drawn by its seconds to this power (`CorpusSource::with_voice_balance`);
    /// 1 = by length, as before it existed.
    #[serde(default = "one")]
    pub voice_balance: f64,
    /// AdamW's decoupled weight decay (each step shrinks every weight by `lr · weight_decay`);
    /// 1e-4, as before it was an option.
    #[serde(default = "legacy_weight_decay")]
    pub weight_decay: f64,
    /// Dropout on what each LSTM layer hands on (`net::Dropout`), as a probability; 0 = none,
    /// as before it existed.
    #[serde(default)]
    pub dropout: f64,
    /// Keep the checkpoint of every this many steps in `snapshot_dir` (0 = none; none before
    /// it existed).
    #[serde(default)]
    pub snapshot_every: usize,
    /// Train the band gains towards their ideal after the engine's pitch filter
    /// (`GainTarget::Comb`) instead of before it; off, as before it existed.
    #[serde(default)]
    pub comb_target: bool,
    /// Factor on the part of the deep filter's spectral error by which its output is worse
    /// than the band gains' own (`Asymmetry::df_harm`); 1 = none, as before it existed.
    #[serde(default = "one")]
    pub df_harm: f64,
    /// Weight of the gain loss's fourth-power term (`Asymmetry::fourth_power`); RNNoise's 10
    /// for runs from before it existed (the CLI's default is 0, the shipped model's).
    #[serde(default = "fourth_power")]
    pub fourth_power: f64,
    /// Weight of the PESQ-shaped term beside the gain loss (`Asymmetry::pesq`); 0 = none, as
    /// before it existed.
    #[serde(default)]
    pub pesq_loss: f64,
    /// Training sequences as streams of this many consecutive chunks of `seq_frames` hops
    /// (`make_stream`), the network's state carried from each step to the next; 1 = every
    /// sequence from a cold start, as before it existed.
    #[serde(default = "one_chunk")]
    pub stream_chunks: usize,
    /// With streams, this fraction of each batch's sequences (`cold_rows`) stays cold 3 s
    /// sequences: every chunk of theirs is a mixture of its own, featurised alone, and the
    /// network starts it from zeros, so the cold start a plugin also has keeps being trained.
    /// 0 = all streams.
    #[serde(default)]
    pub stream_cold_share: f64,
    /// Mixtures through the plugin's mains-hum canceller before they are featurised
    /// (`hum_removal::HumRemoved`), training and validation alike; off, as before it existed.
    #[serde(default)]
    pub hum_removal: bool,
}

fn one_chunk() -> usize {
    1
}

fn fourth_power() -> f64 {
    FOURTH_POWER
}

/// The weight decay of every run before `--weight-decay`, and its default.
pub const WEIGHT_DECAY: f64 = 1e-4;

fn legacy_weight_decay() -> f64 {
    WEIGHT_DECAY
}

fn legacy_level_min() -> f64 {
    crate::corpus::LEGACY_SPEECH_LEVELS_DB.0 as f64
}

fn legacy_level_max() -> f64 {
    crate::corpus::LEGACY_SPEECH_LEVELS_DB.1 as f64
}

impl TrainOptions {
    /// How many of a batch's sequences (its first rows) start cold at every step of a stream
    /// (`stream_cold_share`); without streams every sequence does anyway.
    pub fn cold_rows(&self) -> usize {
        if self.stream_chunks > 1 { ((self.stream_cold_share * self.batch as f64).round() as usize).min(self.batch) } else { 0 }
    }

    pub fn gain_target(&self) -> GainTarget {
        if self.comb_target { GainTarget::Comb } else { GainTarget::Plain }
    }

    pub fn asymmetry(&self) -> Asymmetry {
        Asymmetry {
            factor: self.over_suppression,
            by_target: self.over_suppression_by_target,
            high: self.high_band_over_suppression.unwrap_or(self.over_suppression),
            high_power: self.high_band_gain_power.unwrap_or(GAIN_POWER),
            power: self.gain_power.unwrap_or(GAIN_POWER),
            under: self.under_suppression,
            loudness: self.loudness_weight,
            df_harm: self.df_harm,
            fourth_power: self.fourth_power,
            pesq: self.pesq_loss,
        }
    }
}

/// How the loss weighs its errors: speech turned down against noise left in (and, with
/// `under`, noise left in where noise dominates), and the power gains are compared at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Asymmetry {
    /// Factor on a gain predicted below its target in a speech frame (1 = symmetric).
    pub factor: f64,
    /// Band and fine-bin gains only: scale the extra charge by the target gain, so it is full
    /// where speech dominates (target near 1) and vanishes where noise does (target near 0):
    /// there, turning the band down takes little audible speech, and leaving noise in is what
    /// is heard.
    pub by_target: bool,
    /// `factor` for the band gains centred at or above `HIGH_BAND_HZ`. Sibilants and breath
    /// there stand only a few dB above most noises in few frames, so a uniform factor lets the
    /// model hedge them down (the top bands sat 4–6 dB below their targets at every SNR).
    pub high: f64,
    /// Power the band gains centred at or above `HIGH_BAND_HZ` are raised to before the loss
    /// compares them with their targets in speech frames (`GAIN_POWER` elsewhere, and in
    /// pauses, where the target is a certain 0). A squared error fits the
    /// conditional mean of g^p, and where the model cannot tell speech from noise (sibilants
    /// and breath look like noise) that mean, turned back into energy, falls short of the mean
    /// energy by more the smaller p is (Jensen): at p = 2 the expected energy is kept. Below
    /// 8 kHz the √ stays, because there the perceptual measures reward the confident cuts a
    /// compressed error makes.
    pub high_power: f64,
    /// The same for every other gain (bands below `HIGH_BAND_HZ`, fine bins).
    pub power: f64,
    /// Factor on a gain predicted above its target where the target is below
    /// `NOISE_DOMINATED` (the band is mostly noise), in any frame. Ideal gains in just those
    /// cells recover most of what separates the model from ideal band gains on PESQ-WB
    /// (`gain_probe`). Tried at 3 as a fine-tune: PESQ-WB level, speech turned down everywhere
    /// (MODEL.md), so 1 (off) by default.
    pub under: f64,
    /// Exponent of the weight each band below `HIGH_BAND_HZ` gets from its share of the
    /// mixture's energy, (E / mean E)^`loudness`, normalised to a mean of 1 over those bands in
    /// each sequence; 0 weighs every band alike. PESQ-WB compares loudness, about E^0.23 per
    /// band, so the error it hears in a band grows with the band's energy to about that power
    /// (squared: 0.46), where the √g error alone counts a quiet band as much as a loud one.
    /// Tried at 1 from scratch: PESQ-WB moved from the high-SNR buckets to the low ones and
    /// stayed level overall, STOI fell (MODEL.md), so 0 (off) by default.
    pub loudness: f64,
    /// Deep filtering only: in each fine bin and hop, the part of the spectral error by which
    /// the filtered output is further from the clean speech than the band gains' own output
    /// (the filter's taps at zero) counts this many times; the rest once. The spectral loss
    /// alone accepts small errors spread over every bin and hop, cheap in squared error, that
    /// PESQ-WB hears as a distorted voice (MODEL.md, "Deep filtering as a correction"): with a
    /// factor above 1 the filter pays for every cell it makes worse and is left to act where it
    /// helps. 1 = the plain spectral loss.
    pub df_harm: f64,
    /// Weight of the fourth-power term beside the squared error of every gain (RNNoise's 10).
    /// It charges large errors far more than small ones, so where the network cannot tell
    /// speech from noise it pulls the gain towards the middle of the two outcomes whatever their
    /// odds: a band that is most likely speech is still turned down, one that is most likely
    /// noise is still left open. 0 leaves the squared error, whose optimum is the conditional
    /// mean of √g.
    pub fourth_power: f64,
    /// Weight of `pesq_loss::pesq_loss` on the bands below `HIGH_BAND_HZ` (those PESQ-WB hears),
    /// added to the gain loss; 0 = none. The gain loss alone fits each gain's conditional mean,
    /// and where the network cannot tell speech from noise that hedge is not placed where PESQ
    /// would place it.
    pub pesq: f64,
}

/// RNNoise's weight of the fourth-power term in the gain loss (`Asymmetry::fourth_power`), and
/// every Lull run's before `--fourth-power` (whose default, the shipped model's, is 0).
pub const FOURTH_POWER: f64 = 10.0;

/// Target gain below which a band counts as noise-dominated for `Asymmetry::under`: a band SNR
/// of about −5 dB.
pub const NOISE_DOMINATED: f64 = 0.5;

/// RNNoise's compression of the gains in the loss: errors on quiet bands count.
pub const GAIN_POWER: f64 = 0.5;

impl Asymmetry {
    pub const SYMMETRIC: Self = Self { factor: 1.0, by_target: false, high: 1.0, high_power: GAIN_POWER, power: GAIN_POWER, under: 1.0, loudness: 0.0, df_harm: 1.0, fourth_power: FOURTH_POWER, pesq: 0.0 };

    /// The same factor everywhere.
    pub fn uniform(factor: f64) -> Self {
        Self { factor, high: factor, ..Self::SYMMETRIC }
    }
}

/// Where `Asymmetry::high` starts: the top of PESQ-WB's band and of most band-limited voices.
pub const HIGH_BAND_HZ: f32 = 8_000.0;

/// Gives candle the cores the data loader's workers leave, at least one. candle's thread pool
/// spins at a barrier after every op, so on the 2-core machine with two loader threads a second
/// compute thread mostly takes the loaders' core: with it, a run sharing the machine trained at
/// 6.9 k frames/s, without it at 10.2 k. Call it before the first candle op, from a single
/// thread (it sets an environment variable); a `CANDLE_NUM_THREADS` or `RAYON_NUM_THREADS`
/// already set wins.
pub fn leave_cores_to_loader(workers: usize) {
    if std::env::var_os("CANDLE_NUM_THREADS").is_some() || std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::env::set_var("RAYON_NUM_THREADS", cores.saturating_sub(workers.max(1)).max(1).to_string());
}

/// Serde default of the factors whose neutral value is 1 (symmetric loss, uniform SNR draw).
fn one() -> f64 {
    1.0
}

/// What a run directory's `state.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    pub config: ModelConfig,
    pub options: TrainOptions,
    pub corpus: String,
    pub step: usize,
    pub elapsed_s: f64,
    pub train_loss: Vec<(usize, f32)>,
    pub val_loss: Vec<(usize, f32)>,
    pub frames_per_s: f64,
    pub command: String,
    /// A fine-tune's starting point (`--init-weights`): the training section of the model card
    /// beside those weights, so the new card still shows every command that shaped the weights.
    #[serde(default)]
    pub base: Option<String>,
}

pub const CHECKPOINT: &str = "checkpoint.safetensors";
pub const STATE: &str = "state.json";

/// Where a run keeps its checkpoint of `step` with `TrainOptions::snapshot_every`: a run
/// directory of its own (checkpoint and state), so `export` and `load_checkpoint` take it as is.
pub fn snapshot_dir(run_dir: &Path, step: usize) -> PathBuf {
    run_dir.join("snapshots").join(format!("step-{step:06}"))
}

pub struct Batch {
    pub features: Tensor,
    pub target: Tensor,
    pub weight: Tensor,
    pub vad: Tensor,
    /// (batch, time, bands): the mixture's band energies over their mean in the sequence
    /// (`Sample::band_energy`).
    pub band_energy: Tensor,
    /// What the deep filter's spectral loss needs; `None` without deep filtering.
    pub df: Option<DfBatch>,
    /// With `pitch_strength`: (batch, time, n_bands) target strengths (`Sample::strength`).
    pub strength: Option<Tensor>,
}

/// The deep filter's part of a batch: everything its spectral loss needs, present together.
pub struct DfBatch {
    /// (batch, time, fine_bins, 2) normalised spectra of the mixture and of the clean speech
    /// in the fine bins (`Sample::df_mix`, `Sample::df_clean`).
    pub mix: Tensor,
    pub clean: Tensor,
    /// (batch, n_bands, fine_bins), `Sample::band_to_fine`: per example, since examples in a
    /// batch may come at different rates.
    pub band_to_fine: Tensor,
}

/// Rows `from..from + frames` of every sample's `pick` (`width` values per row), as (samples,
/// frames, width).
fn stack(samples: &[Sample], from: usize, frames: usize, pick: impl Fn(&Sample) -> &[f32], width: usize) -> Result<Tensor> {
    let mut v = Vec::with_capacity(samples.len() * frames * width);
    for s in samples {
        v.extend_from_slice(&pick(s)[from * width..(from + frames) * width]);
    }
    Ok(Tensor::from_vec(v, (samples.len(), frames, width), &Device::Cpu)?)
}

/// Featurises `batch` examples drawn from `rng` into tensors, band gains trained towards `target`.
pub fn make_batch(source: &dyn ExampleSource, config: &ModelConfig, target: GainTarget, rng: &mut StdRng, batch: usize, frames: usize) -> Result<Batch> {
    Ok(make_stream(source, config, target, rng, batch, frames, 1, 0)?.remove(0))
}

/// `batch` examples `chunks` × `frames` hops long, each featurised as one stream (features
/// carry their running means and noise floors across), cut into `chunks` batches of `frames`
/// hops: consecutive training steps, the network's state handed from each to the next
/// (`--stream-chunks`). With one chunk, `make_batch` (the same random draws).
///
/// The first `cold_rows` sequences are not streams: each of their chunks is a mixture of its own,
/// featurised alone, as a batch without streams would hold (the training loop starts them cold).
#[allow(clippy::too_many_arguments)]
pub fn make_stream(source: &dyn ExampleSource, config: &ModelConfig, target: GainTarget, rng: &mut StdRng, batch: usize, frames: usize, chunks: usize, cold_rows: usize) -> Result<Vec<Batch>> {
    // With lookahead the features run that many hops ahead of the targets.
    let mut sample = |hops: usize| {
        let ex = source.example(rng, config, hops + config.lookahead);
        featurize(config, target, ex.rate, &ex.clean, &ex.noise, &ex.utterances)
    };
    let samples: Vec<Sample> = (0..batch)
        .map(|row| {
            if row >= cold_rows || chunks == 1 {
                return Ok(sample(chunks * frames));
            }
            // Chunk k must sit at hops k × frames, as a stream's does.
            let mut chunk = || {
                let mut s = sample(frames);
                anyhow::ensure!(s.frames >= frames, "a cold training sequence of {} hops instead of {frames}: its audio is too short", s.frames);
                s.truncate(frames);
                Ok(s)
            };
            let mut whole = chunk()?;
            for _ in 1..chunks {
                whole.append(chunk()?);
            }
            Ok(whole)
        })
        .collect::<Result<_>>()?;
    let total = samples.iter().map(|s| s.frames).min().unwrap_or(0).min(chunks * frames);
    // One sequence may come out shorter than asked for (audio too short), as it always could; a
    // stream must be whole, or its chunks would not line up with the steps that carry its state.
    anyhow::ensure!(chunks == 1 || total == chunks * frames, "a training stream of {total} hops instead of {}: its audio is too short", chunks * frames);
    let frames = if chunks == 1 { total } else { frames };
    anyhow::ensure!(frames > 0, "examples are shorter than one hop");
    (0..chunks).map(|k| batch_of(&samples, config, k * frames, frames)).collect()
}

/// Hops `from..from + frames` of `samples` as one batch.
fn batch_of(samples: &[Sample], config: &ModelConfig, from: usize, frames: usize) -> Result<Batch> {
    let stack = |pick: fn(&Sample) -> &[f32], width: usize| stack(samples, from, frames, pick, width);
    let ng = config.n_gains();
    let df = if config.df_order > 0 {
        let spectra = |pick: fn(&Sample) -> &[f32]| -> Result<Tensor> {
            Ok(stack(pick, 2 * config.fine_bins)?.reshape((samples.len(), frames, config.fine_bins, 2))?)
        };
        Some(DfBatch {
            mix: spectra(|s| &s.df_mix)?,
            clean: spectra(|s| &s.df_clean)?,
            // Not a time series: the band → bin map, the same for every chunk.
            band_to_fine: self::stack(samples, 0, config.n_bands, |s| &s.band_to_fine, config.fine_bins)?,
        })
    } else {
        None
    };
    Ok(Batch {
        features: stack(|s| &s.features, config.n_features())?,
        target: stack(|s| &s.target, ng)?,
        weight: stack(|s| &s.weight, ng)?,
        vad: stack(|s| &s.vad, 1)?.squeeze(2)?,
        band_energy: stack(|s| &s.band_energy, config.n_bands)?,
        df,
        strength: if config.pitch_strength { Some(stack(|s| &s.strength, config.n_bands)?) } else { None },
    })
}

/// Gain loss on compressed gains (√g as in RNNoise, so errors on quiet bands count; g^p in
/// speech frames where `Asymmetry` says so) masked by the sample weights, the deep filter's spectral loss if it has one, plus a small voice-activity
/// cross-entropy.
/// With `dropout` (training steps only) the network runs with it (`LullNet::forward_train`).
pub fn loss(net: &LullNet, b: &Batch, asymmetry: Asymmetry, dropout: Option<Dropout>) -> Result<Tensor> {
    Ok(loss_from(net, b, asymmetry, dropout, None)?.0)
}

/// `loss` with the network started from `init` (the state the previous chunk of the same
/// sequences ended in; zeros if `None`), and the state it ends in.
pub fn loss_from(net: &LullNet, b: &Batch, asymmetry: Asymmetry, dropout: Option<Dropout>, init: Option<&NetState>) -> Result<(Tensor, NetState)> {
    let (out, state) = net.forward_train(&b.features, dropout, init)?;
    let mut total = gain_loss(&out.gains, b, net.config(), asymmetry)?;
    match (&out.taps, &b.df) {
        (Some(taps), Some(df)) => {
            let nb = net.config().n_bands;
            let weight = b.weight.narrow(2, nb, net.config().fine_bins)?;
            let bin_gains = out.gains.matmul(&df.band_to_fine)?;
            total = (total + df_loss(taps, &bin_gains, &df.mix, &df.clean, &weight, &b.vad, asymmetry.factor, asymmetry.df_harm)?)?;
        }
        (None, None) => {}
        // A batch made for another configuration: say so rather than skip the spectral loss.
        _ => anyhow::bail!("the batch and the network disagree on deep filtering"),
    }
    match (&out.strength, &b.strength) {
        (Some(strength), Some(target)) => {
            // Squared error, weighted as the band gains are (nothing above a recording's
            // bandwidth in speech).
            let weight = b.weight.narrow(2, 0, net.config().n_bands)?;
            total = (total + masked_mean(&(strength - target)?.sqr()?, &weight)?)?;
        }
        (None, None) => {}
        _ => anyhow::bail!("the batch and the network disagree on the pitch filter's strength"),
    }
    let p = out.vad.clamp(1e-6, 1.0 - 1e-6)?;
    let bce = ((&b.vad * p.log()?)? + ((1.0 - &b.vad)? * (1.0 - &p)?.log()?)?)?.mean_all()?.neg()?;
    Ok(((total + (bce * 0.05)?)?, state))
}

/// Sum of `per` over entries weighted by `weight`, divided by the weights' sum (+1, so an
/// all-masked batch gives 0 rather than NaN).
fn masked_mean(per: &Tensor, weight: &Tensor) -> Result<Tensor> {
    let w = weight.sum_all()?.to_scalar::<f32>()? as f64;
    Ok(((per * weight)?.sum_all()? / (w + 1.0))?)
}

/// Factor 1, or the over-suppression factor where `below` (1/0) marks speech turned down in a
/// speech frame. `extra` is that factor minus 1, broadcast along `below`'s last dimension (one
/// value, or one per gain); with `scale` (shaped like `below`), the extra charge is multiplied
/// by it.
fn asymmetry(below: &Tensor, vad: &Tensor, extra: &Tensor, scale: Option<&Tensor>) -> Result<Tensor> {
    let below = below.to_dtype(DType::F32)?;
    let mut vad = vad.clone();
    while vad.rank() < below.rank() {
        vad = vad.unsqueeze(vad.rank())?;
    }
    let mut extra = below.broadcast_mul(&vad)?.broadcast_mul(extra)?;
    if let Some(scale) = scale {
        extra = (extra * scale)?;
    }
    Ok((extra + 1.0)?)
}

/// The gain part of `loss`, over the gains the network has (the bands', and the fine bins'
/// unless they are deep-filtered). In speech frames, an error below the target (speech turned
/// down) counts `asymmetry.factor` times (scaled towards once as the target falls, with
/// `by_target`); everywhere else, and above the target, once. Gains are compared as √g, or in
/// speech frames as g^`power` (g^`high_power` from `HIGH_BAND_HZ` up).
pub fn gain_loss(gains: &Tensor, b: &Batch, config: &ModelConfig, asym: Asymmetry) -> Result<Tensor> {
    let n = gains.dim(2)?;
    let target = b.target.narrow(2, 0, n)?;
    let nb = config.n_bands;
    let centres = BandCenters::erb(nb, config.band_max_hz, config.band_min_spacing_hz);
    let high = |i: usize| i < nb && centres.0[i] >= HIGH_BAND_HZ;
    let mut d = ((gains + 1e-6)?.sqrt()? - target.sqrt()?)?;
    if asym.power != GAIN_POWER || asym.high_power != GAIN_POWER {
        // In speech frames only: in pauses the target is a certain 0, and the √ error pushes
        // harder towards it. g^p = exp(p·ln g), p per gain; the 1e-6 keeps ln finite at 0.
        let powers: Vec<f32> = (0..n).map(|i| (if high(i) { asym.high_power } else { asym.power }) as f32).collect();
        let powers = Tensor::from_vec(powers, n, gains.device())?;
        let pow = |x: &Tensor| -> Result<Tensor> { Ok((x + 1e-6)?.log()?.broadcast_mul(&powers)?.exp()?) };
        let d_speech = (pow(gains)? - pow(&target)?)?;
        d = (&d + (d_speech - &d)?.broadcast_mul(&b.vad.unsqueeze(2)?)?)?;
    }
    let d2 = d.sqr()?;
    // A fourth-power term punishes large errors more (also from RNNoise).
    let mut per_gain = if asym.fourth_power == 0.0 { d2.clone() } else { (&d2 + (d2.sqr()? * asym.fourth_power)?)? };
    if asym.factor != 1.0 || asym.high != 1.0 {
        let scale = asym.by_target.then_some(&target);
        let extra: Vec<f32> = (0..n).map(|i| (if high(i) { asym.high } else { asym.factor }) as f32 - 1.0).collect();
        let extra = Tensor::from_vec(extra, n, gains.device())?;
        per_gain = (&per_gain * asymmetry(&d.lt(0.0)?, &b.vad, &extra, scale)?)?;
    }
    if asym.under != 1.0 {
        let left_in = (d.gt(0.0)?.to_dtype(DType::F32)? * target.lt(NOISE_DOMINATED)?.to_dtype(DType::F32)?)?;
        per_gain = (&per_gain * ((left_in * (asym.under - 1.0))? + 1.0)?)?;
    }
    let low = (0..nb).take_while(|&i| !high(i)).count();
    if asym.loudness != 0.0 && low > 0 {
        // (E / mean E)^a = exp(a·ln E); the floor keeps ln finite in digital silence. The
        // per-sequence normalisation below would cancel any scale on E, but `featurize` has
        // already divided E by its sequence mean, so the floor also sits at a fixed level: 60 dB
        // below that mean, whatever the track's level.
        let w = ((b.band_energy.narrow(2, 0, low)? + 1e-6)?.log()? * asym.loudness)?.exp()?;
        let w = w.broadcast_div(&w.mean_keepdim(2)?.mean_keepdim(1)?)?;
        let rest = per_gain.narrow(2, low, n - low)?;
        per_gain = Tensor::cat(&[&(per_gain.narrow(2, 0, low)? * w)?, &rest], 2)?;
    }
    // Bands and fine bins are two views of the same spectrum: each is averaged over its own
    // weights, so the many fine bins do not drown the bands.
    let group = |start: usize, len: usize| masked_mean(&per_gain.narrow(2, start, len)?, &b.weight.narrow(2, start, len)?);
    let mut total = group(0, nb)?;
    if n > nb {
        total = (total + group(nb, n - nb)?)?;
    }
    if asym.pesq != 0.0 && low > 0 {
        // At the default Reduction, the lowest gain the engine plays.
        let floor = lull::params::reduction_floor(lull::params::DEFAULT_REDUCTION_DB) as f64;
        let bands = |t: &Tensor| t.narrow(2, 0, low);
        let term = crate::pesq_loss::pesq_loss(&bands(gains)?, &bands(&target)?, &bands(&b.weight)?, &bands(&b.band_energy)?, &b.vad, floor)?;
        total = (total + (term * asym.pesq)?)?;
    }
    Ok(total)
}

/// Compression of the spectral loss: magnitudes are compared as |X|^0.5, so quiet parts of the
/// spectrum count (DeepFilterNet uses 0.6).
const SPECTRAL_POWER: f64 = 0.5;

/// The fine bins' output with deep filtering: the band gains spread over them, `bin_gains`
/// (batch, time, bins), times `mix` (batch, time, bins, 2), plus `taps` (batch, time, bins,
/// order, 2) over the mixture, newest hop first, hops before the sequence start read as zero.
/// The same sum as the engine's band gains and `deep_filter` (at full Reduction).
pub fn deep_filter(taps: &Tensor, bin_gains: &Tensor, mix: &Tensor) -> Result<Tensor> {
    filtered_onto(&gained(bin_gains, mix)?, taps, mix)
}

/// What the band gains alone make of the fine bins: `mix` times `bin_gains`.
fn gained(bin_gains: &Tensor, mix: &Tensor) -> Result<Tensor> {
    Ok(mix.broadcast_mul(&bin_gains.unsqueeze(3)?)?)
}

/// `base` plus the deep filter's `taps` over `mix` (see `deep_filter`).
fn filtered_onto(base: &Tensor, taps: &Tensor, mix: &Tensor) -> Result<Tensor> {
    let (b, t, k, order, _) = taps.dims5()?;
    let (mut re, mut im) = (base.narrow(3, 0, 1)?.squeeze(3)?, base.narrow(3, 1, 1)?.squeeze(3)?);
    for i in 0..order.min(t) {
        // The mixture i hops back.
        let x = if i == 0 {
            mix.clone()
        } else {
            Tensor::cat(&[&Tensor::zeros((b, i, k, 2), DType::F32, mix.device())?, &mix.narrow(1, 0, t - i)?], 1)?
        };
        let (xr, xi) = (x.narrow(3, 0, 1)?.squeeze(3)?, x.narrow(3, 1, 1)?.squeeze(3)?);
        let tap = taps.narrow(3, i, 1)?.squeeze(3)?;
        let (tr, ti) = (tap.narrow(3, 0, 1)?.squeeze(3)?, tap.narrow(3, 1, 1)?.squeeze(3)?);
        re = (re + ((&tr * &xr)? - (&ti * &xi)?)?)?;
        im = (im + ((&tr * &xi)? + (&ti * &xr)?)?)?;
    }
    Ok(Tensor::stack(&[re, im], 3)?)
}

/// Spectral loss of the deep-filtered fine bins against the clean speech (DeepFilterNet's): a
/// compressed-magnitude term and a compressed-complex term (which also sees phase), masked by
/// `weight` (batch, time, bins). Compressed magnitude below the clean one in speech frames
/// counts `over_suppression` times. With `harm` above 1, the part of a cell's error by which the
/// output is worse than the band gains' own (`Asymmetry::df_harm`) counts `harm` times.
#[allow(clippy::too_many_arguments)]
pub fn df_loss(taps: &Tensor, bin_gains: &Tensor, mix: &Tensor, clean: &Tensor, weight: &Tensor, vad: &Tensor, over_suppression: f64, harm: f64) -> Result<Tensor> {
    let own = gained(bin_gains, mix)?;
    let out = filtered_onto(&own, taps, mix)?;
    let clean = Compressed::of(clean)?;
    let mut per = spectral_error(&out, &clean, vad, over_suppression)?;
    if harm != 1.0 {
        // The reference is what the filter is judged against, not something to train: no
        // gradient through it (the band gains learn from their own loss and from `per`).
        let own_error = spectral_error(&own.detach(), &clean, vad, over_suppression)?.detach();
        per = (&per + ((&per - own_error)?.relu()? * (harm - 1.0))?)?;
    }
    masked_mean(&per, weight)
}

/// A spectrum (…, 2) compressed for the spectral loss: |X|^p and X·|X|^(p−1), p =
/// `SPECTRAL_POWER`, with a floor so the gradient at |X| = 0 stays finite.
struct Compressed {
    magnitude: Tensor,
    complex: Tensor,
}

impl Compressed {
    fn of(x: &Tensor) -> Result<Self> {
        let mag = (x.sqr()?.sum(3)? + 1e-8)?.sqrt()?;
        let magnitude = mag.powf(SPECTRAL_POWER)?;
        let scale = (&magnitude / &mag)?.unsqueeze(3)?;
        Ok(Self { complex: x.broadcast_mul(&scale)?, magnitude })
    }
}

/// Per fine bin and hop (batch, time, bins): the squared error of `out`'s compressed magnitude
/// against the clean one (`over_suppression` times where below it in speech frames) plus that
/// of the compressed complex spectra.
fn spectral_error(out: &Tensor, clean: &Compressed, vad: &Tensor, over_suppression: f64) -> Result<Tensor> {
    let out = Compressed::of(out)?;
    let dm = (&out.magnitude - &clean.magnitude)?;
    let mut per = dm.sqr()?;
    if over_suppression != 1.0 {
        let extra = Tensor::new(&[over_suppression as f32 - 1.0], dm.device())?;
        per = (&per * asymmetry(&dm.lt(0.0)?, vad, &extra, None)?)?;
    }
    Ok((per + (&out.complex - &clean.complex)?.sqr()?.sum(3)?)?)
}

/// Batches from worker threads. Batch `i` is drawn from an RNG seeded by `(seed, i)` and made by
/// worker `i % workers`; batches are received in order, so a run is reproducible whatever the
/// thread timing. With `stream_chunks` N > 1, "batch" is a stream: steps `jN..(j+1)N` are the
/// chunks of stream `j`, drawn from `(seed, j)` and made by worker `j % workers`. Started at a
/// resumed run's step, it hands out what a fresh run would from that step on (`next_batch`).
pub struct Loader {
    rx: Vec<Receiver<Result<Batch>>>,
    next: usize,
    chunks: usize,
}

impl Loader {
    pub fn start(source: std::sync::Arc<dyn ExampleSource>, config: &ModelConfig, opts: &TrainOptions, first_step: usize) -> Self {
        let workers = opts.workers.max(1);
        let chunks = opts.stream_chunks.max(1);
        let rx = (0..workers)
            .map(|w| {
                let (tx, rx) = bounded(2);
                let (source, config, opts) = (source.clone(), config.clone(), opts.clone());
                std::thread::spawn(move || {
                    // This worker's first stream: the first from the resumed one on that is
                    // this worker's by `j % workers`, the rule `next_batch` reads by. (Starting at
                    // `first + w` swapped the workers' streams after an odd resume and left
                    // the last stream unmade, ending the run with "data loader thread stopped".)
                    let first = first_step / chunks;
                    let mut j = first + (w + workers - first % workers) % workers;
                    while j * chunks < opts.steps {
                        let mut rng = StdRng::seed_from_u64(opts.seed.wrapping_mul(1_000_003).wrapping_add(j as u64));
                        let batches = match make_stream(source.as_ref(), &config, opts.gain_target(), &mut rng, opts.batch, opts.seq_frames, chunks, opts.cold_rows()) {
                            Ok(b) => b.into_iter().map(Ok).collect(),
                            Err(e) => vec![Err(e)],
                        };
                        // A resumed run starts inside its first stream.
                        let skip = if j == first { first_step % chunks } else { 0 };
                        for b in batches.into_iter().skip(skip) {
                            if tx.send(b).is_err() {
                                return;
                            }
                        }
                        j += workers;
                    }
                });
                rx
            })
            .collect();
        Self { rx, next: first_step, chunks }
    }

    /// The next step's batch, and whether it is the first chunk of a stream (so the network
    /// starts it from zeros). The stream rule lives in the loader only: here and in the
    /// workers `start` spawns, which skip into a stream when a run resumes inside one.
    pub fn next_batch(&mut self) -> Result<(Batch, bool)> {
        let step = self.next;
        let w = (step / self.chunks) % self.rx.len();
        self.next += 1;
        let batch = self.rx[w].recv().context("data loader thread stopped")??;
        Ok((batch, step.is_multiple_of(self.chunks)))
    }
}

/// Fraction of the run done, by steps or, with a time budget, by time if that is further.
fn progress(opts: &TrainOptions, step: usize, elapsed_s: f64) -> f64 {
    let by_steps = step as f64 / opts.steps.max(1) as f64;
    if opts.time_budget_min > 0.0 {
        by_steps.max(elapsed_s / (60.0 * opts.time_budget_min))
    } else {
        by_steps
    }
}

/// Linear warm-up over the first 2 % of the run, then cosine decay to 5 % of the peak.
fn lr_at(opts: &TrainOptions, progress: f64) -> f64 {
    const WARM: f64 = 0.02;
    if progress < WARM {
        return opts.lr * (progress / WARM).max(0.01);
    }
    let t = ((progress - WARM) / (1.0 - WARM)).min(1.0);
    opts.lr * (0.05 + 0.95 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()))
}

pub fn save_checkpoint(dir: &Path, varmap: &VarMap, state: &RunState) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    // Write-then-rename so a run cut off mid-save keeps its previous checkpoint.
    let tmp = dir.join("checkpoint.tmp.safetensors");
    varmap.save(&tmp)?;
    std::fs::rename(&tmp, dir.join(CHECKPOINT))?;
    std::fs::write(dir.join(STATE), serde_json::to_string_pretty(state)?)?;
    Ok(())
}

pub fn load_state(dir: &Path) -> Result<RunState> {
    let p = dir.join(STATE);
    let s = std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
    serde_json::from_str(&s).with_context(|| format!("{} is not a valid run state", p.display()))
}

/// An exported model's tensors, read by `init_weights_for` and checked against the
/// configuration it was given: the only way to build one, so `init_from_weights` cannot be
/// handed tensors of another model.
pub struct InitWeights {
    tensors: Vec<Vec<f32>>,
    /// How the weights were made (`RunState::base`).
    provenance: String,
}

impl std::fmt::Debug for InitWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InitWeights({} tensors)", self.tensors.len())
    }
}

/// Sets every weight of the network in `varmap` from `weights`, checked against `config` by
/// `init_weights_for`: a fine-tune starts from a shipped model whose run directory is gone. The
/// optimizer's moments start afresh.
pub fn init_from_weights(varmap: &VarMap, config: &ModelConfig, weights: InitWeights) -> Result<()> {
    let data = varmap.data().lock().map_err(|_| anyhow::anyhow!("variable map poisoned"))?;
    for ((name, shape), values) in config.tensor_shapes().into_iter().zip(weights.tensors) {
        let var = data.get(&name).ok_or_else(|| anyhow::anyhow!("network has no variable `{name}`"))?;
        var.set(&Tensor::from_vec(values, shape, &Device::Cpu)?)?;
    }
    Ok(())
}

/// The tensors of the exported model at `path` if its configuration is `config`, else an error
/// that shows the file's. `cargo xtask train` calls this before loading a corpus, so a wrong
/// file fails at once.
pub fn init_weights_for(config: &ModelConfig, path: &Path) -> Result<InitWeights> {
    let (found, tensors) = lull::model::read_tensors(path).context("--init-weights")?;
    anyhow::ensure!(
        found == *config,
        "--init-weights: {} holds a model of another configuration than the options ask for; give the options it was trained with. Its configuration: {}",
        path.display(),
        serde_json::to_string(&found)?
    );
    Ok(InitWeights { tensors, provenance: provenance(path) })
}

/// The training section of the model card `xtask export` wrote beside the weights at `path`
/// (a fine-tune's base may itself be a fine-tune: its section names its own base), or a line
/// that says there was none.
fn provenance(path: &Path) -> String {
    let card = path.with_file_name("MODEL.md");
    let heading = "## Training\n";
    let section = std::fs::read_to_string(&card).ok().and_then(|text| {
        let start = text.find(heading)? + heading.len();
        let end = text[start..].find("\n## ").map_or(text.len(), |i| start + i);
        Some(text[start..end].trim().to_string())
    });
    section.unwrap_or_else(|| format!("- {} (no model card beside it says how it was trained)", path.display()))
}

/// Builds the network and loads a run's checkpoint into it.
pub fn load_checkpoint(dir: &Path) -> Result<(RunState, VarMap, LullNet)> {
    let state = load_state(dir)?;
    let (varmap, net) = load_weights(dir, &state.config)?;
    Ok((state, varmap, net))
}

/// Builds the network for `config` and loads the checkpoint in `dir` into it.
fn load_weights(dir: &Path, config: &ModelConfig) -> Result<(VarMap, LullNet)> {
    let mut varmap = VarMap::new();
    let net = net::build(config, &varmap, &Device::Cpu, 0)?; // the checkpoint overwrites every weight
    let ck = dir.join(CHECKPOINT);
    varmap.load(&ck).with_context(|| format!("cannot load checkpoint {}", ck.display()))?;
    Ok((varmap, net))
}

pub struct TrainRequest {
    pub config: ModelConfig,
    pub options: TrainOptions,
    pub run_dir: PathBuf,
    /// The run to continue, as `load_state` read it from `run_dir` (its options and
    /// configuration are what the caller merged the command line into); `None` starts afresh.
    pub resume: Option<RunState>,
    /// A new run starts from these weights instead of random ones (a fine-tune); ignored when
    /// resuming.
    pub init_weights: Option<InitWeights>,
    pub corpus_name: String,
    pub source: std::sync::Arc<dyn ExampleSource>,
    pub val_source: std::sync::Arc<dyn ExampleSource>,
    pub command: String,
}

/// Trains; returns the final run state. Checkpoints go to `run_dir`.
pub fn train(req: TrainRequest) -> Result<RunState> {
    let TrainRequest { config, options, run_dir, resume, init_weights, corpus_name, source, val_source, command } = req;
    let (mut state, varmap, net) = if let Some(mut state) = resume {
        let (varmap, net) =
            load_weights(&run_dir, &state.config).with_context(|| format!("--resume: no usable checkpoint in {}", run_dir.display()))?;
        anyhow::ensure!(state.config == config, "--resume: the checkpoint's model configuration differs from the requested one");
        // The model card must show every command that shaped the weights.
        state.command = format!("{}` (to step {}), then `{command}", state.command, state.step);
        (state, varmap, net)
    } else {
        let varmap = VarMap::new();
        let net = net::build(&config, &varmap, &Device::Cpu, options.seed)?;
        let base = init_weights.as_ref().map(|w| w.provenance.clone());
        if let Some(weights) = init_weights {
            init_from_weights(&varmap, &config, weights)?;
        }
        let state = RunState {
            config: config.clone(),
            options: options.clone(),
            corpus: corpus_name.clone(),
            step: 0,
            elapsed_s: 0.0,
            train_loss: vec![],
            val_loss: vec![],
            frames_per_s: 0.0,
            command,
            base,
        };
        (state, varmap, net)
    };
    state.options = options.clone();
    let (source, val_source) = (hum_removed(options.hum_removal, source), hum_removed(options.hum_removal, val_source));
    let mut opt = AdamW::new(
        varmap.all_vars(),
        ParamsAdamW { lr: lr_at(&options, progress(&options, state.step, state.elapsed_s)), weight_decay: options.weight_decay, ..Default::default() },
    )?;

    // A fixed validation set, drawn once from its own seed.
    let mut vrng = StdRng::seed_from_u64(options.seed ^ 0x05ee_d0f7_a11d);
    let val: Vec<Batch> = (0..options.val_batches)
        .map(|_| make_batch(val_source.as_ref(), &config, options.gain_target(), &mut vrng, options.batch, options.seq_frames))
        .collect::<Result<_>>()?;
    let validate = |net: &LullNet| -> Result<f32> {
        let mut total = 0.0;
        for b in &val {
            total += loss(net, b, options.asymmetry(), None)?.to_scalar::<f32>()?;
        }
        Ok(total / val.len().max(1) as f32)
    };

    println!(
        "training {} parameters on the {} corpus: {} steps × {} sequences × {} hops, run dir {}",
        config.parameter_count(),
        corpus_name,
        options.steps,
        options.batch,
        options.seq_frames,
        run_dir.display()
    );
    let pb = ProgressBar::new(options.steps as u64);
    pb.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_position(state.step as u64);
    let mut loader = Loader::start(source, &config, &options, state.step);
    let started = Instant::now();
    let elapsed_before = state.elapsed_s;
    let mut ema: Option<f32> = None;
    let mut frames_done = 0usize;
    let mut last_val = state.val_loss.last().map(|v| v.1);
    // The network's state at the end of the previous step's chunk, while its stream goes on. A
    // run resumed inside a stream starts that stream's remaining chunks cold.
    let mut carried: Option<NetState> = None;
    let cold_rows = options.cold_rows();
    while progress(&options, state.step, state.elapsed_s) < 1.0 {
        let (batch, starts_stream) = loader.next_batch()?;
        if starts_stream {
            carried = None;
        }
        opt.set_learning_rate(lr_at(&options, progress(&options, state.step, state.elapsed_s)));
        // Masks drawn from the seed and the step: a resumed run draws what it would have.
        let dropout = (options.dropout > 0.0).then(|| Dropout { p: options.dropout, seed: options.seed ^ (state.step as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) });
        let (l, mut end) = loss_from(&net, &batch, options.asymmetry(), dropout, carried.as_ref())?;
        // The cold rows start every chunk from zeros, as a plugin starts.
        end.zero_rows(cold_rows, options.batch);
        carried = Some(end);
        opt.backward_step(&l)?;
        let lv = l.to_scalar::<f32>()?;
        anyhow::ensure!(lv.is_finite(), "loss became {lv} at step {}; lower --lr", state.step);
        ema = Some(ema.map_or(lv, |e| 0.98 * e + 0.02 * lv));
        state.step += 1;
        frames_done += options.batch * options.seq_frames;
        let secs = started.elapsed().as_secs_f64();
        state.frames_per_s = frames_done as f64 / secs.max(1e-9);
        state.elapsed_s = elapsed_before + secs;
        let last = progress(&options, state.step, state.elapsed_s) >= 1.0;
        if state.step % 10 == 0 || last {
            state.train_loss.push((state.step, ema.unwrap_or(lv)));
        }
        let validated = state.step % options.val_every == 0 || last;
        if validated {
            let v = validate(&net)?;
            state.val_loss.push((state.step, v));
            last_val = Some(v);
        }
        pb.set_message(format!(
            "loss {:.4} val {} {:.0} frames/s",
            ema.unwrap_or(lv),
            last_val.map_or("-".into(), |v| format!("{v:.4}")),
            state.frames_per_s
        ));
        if validated && pb.is_hidden() {
            // No terminal (a log file): one line per validation instead of a bar.
            println!("step {}/{} {}", state.step, options.steps, pb.message());
        }
        pb.set_position(state.step as u64);
        if state.step % options.checkpoint_every == 0 || last {
            save_checkpoint(&run_dir, &varmap, &state)?;
        }
        if options.snapshot_every > 0 && state.step % options.snapshot_every == 0 {
            save_checkpoint(&snapshot_dir(&run_dir, state.step), &varmap, &state)?;
        }
    }
    pb.finish();
    println!(
        "done: step {}, train loss {:.4}, validation loss {}, {:.0} frames/s, {:.1} min",
        state.step,
        ema.unwrap_or(f32::NAN),
        last_val.map_or("-".into(), |v| format!("{v:.4}")),
        state.frames_per_s,
        state.elapsed_s / 60.0
    );
    Ok(state)
}
