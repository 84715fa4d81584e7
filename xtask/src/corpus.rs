//! The real corpus as a training source: speech and noise clips from `cargo xtask data`, mixed
//! on the fly at a random host rate, SNR, level and EQ, with generated noise classes beside the
//! recorded ones (white Gaussian, pink, brown, mains hum, fan, babble).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use lull::dsp::stft::StftSize;
use lull::model::ModelConfig;
use rand::distributions::WeightedIndex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::Distribution;

use crate::augment;
use crate::data::analyze::{active_level, noise_floor_db};
use crate::data::manifest::{read_clip, Kind, Manifest, Split};
use crate::data::packages::{generated_voice, GENERATED};
use crate::metrics::{resample, resample_window, resampled_len};
use crate::synth::snr_gain;
use crate::train::{Example, ExampleSource, Utterance};

/// Host rates the model is trained at, with their share of examples. 48 and 44.1 kHz dominate
/// real use; 22.05 and 16 kHz teach the model what an empty top of the spectrum means.
const RATES: [(u32, f64); 4] = [(48_000, 0.40), (44_100, 0.25), (22_050, 0.20), (16_000, 0.15)];
/// Full-band voices are rare (DATA.md); draw them this many times more often per second.
const FULL_BAND_BOOST: f64 = 3.0;
const FULL_BAND_HZ: u32 = 12_000;

#[derive(Clone)]
struct Clip {
    samples: Arc<[f32]>,
    rate: u32,
    bandwidth_hz: f32,
    /// Active level in dB re full scale, from the manifest.
    level_db: f32,
    /// The generated voice that spoke it (`cargo xtask data --piper`/`--kokoro`; its package
    /// name), drawn only with `with_generated_speech`; `None` for a recording.
    generated: Option<&'static str>,
    /// The voice, as the manifest's split unit names it (`cargo xtask data --speakers`).
    voice: Arc<str>,
}

impl Clip {
    fn seconds(&self) -> f64 {
        self.samples.len() as f64 / self.rate as f64
    }

    /// Whether the clip's own noise floor sits less than `min_snr_db` below its speech. Only
    /// clips of at least `FLOOR_MIN_SECONDS` are judged: a shorter one is mostly one word with no
    /// pause, so its floor is its quietest speech.
    fn noisy(&self, min_snr_db: f32) -> bool {
        self.seconds() >= FLOOR_MIN_SECONDS
            && noise_floor_db(&self.samples, self.rate).is_some_and(|f| self.level_db - (f as f32) < min_snr_db)
    }
}

/// Shortest clip whose noise floor `Clip::noisy` trusts.
const FLOOR_MIN_SECONDS: f64 = 1.0;

/// Cheap to clone: the clips' samples are shared.
#[derive(Clone)]
pub struct CorpusSource {
    speech: Vec<Clip>,
    speech_pick: WeightedIndex<f64>,
    /// Speech clips `with_min_speech_snr`, `with_speech_subset` and `with_voice_subset` leave
    /// out, one flag per clip.
    left_out: Vec<bool>,
    /// Share of speech draws that are generated speech; see `with_generated_speech`.
    generated_share: f64,
    /// How the recorded voices share the draws; see `with_voice_balance`.
    voice_balance: f64,
    noise: Vec<Clip>,
    rate_pick: WeightedIndex<f64>,
    /// Largest relative speed change of a speech clip (0 = none); see `with_speed_perturbation`.
    speed_perturb: f64,
    /// The same for recorded noise clips; see `with_noise_speed_perturbation`.
    noise_speed_perturb: f64,
    /// Whether a speech clip longer than the room left is entered at a random point; see
    /// `with_clip_windows`.
    clip_windows: bool,
    /// Range of the speech's active level in training examples (dBFS); see `with_speech_levels`.
    levels_db: (f32, f32),
    /// How the training SNR is drawn; see `draw_snr_db` and `with_low_snr_emphasis`.
    snr_emphasis: f32,
    /// After `speech_only`: each speech clip's draw weight, so that a second restriction
    /// narrows the first (one voice, then its full-band clips) rather than replacing it.
    only_weights: Option<Vec<f64>>,
}

/// Range of the SNRs training examples are mixed at (dB).
pub const TRAIN_SNR_DB: (f32, f32) = (-5.0, 20.0);

/// One training example's SNR: `min + (max − min)·u^emphasis` over `TRAIN_SNR_DB`, `u` uniform
/// in 0..1. Emphasis 1 is uniform, and draws exactly what `gen_range(-5.0..20.0)` drew before
/// this existed, so older runs reproduce; above 1 the low SNRs are drawn more often (2: half the
/// examples below +1.25 dB instead of +7.5) while the range stays the same.
pub fn draw_snr_db(rng: &mut impl Rng, emphasis: f32) -> f32 {
    let u: f32 = rng.gen_range(0.0..1.0);
    TRAIN_SNR_DB.0 + (TRAIN_SNR_DB.1 - TRAIN_SNR_DB.0) * u.powf(emphasis)
}

/// The speech levels runs trained with before `with_speech_levels` existed (dBFS).
pub const LEGACY_SPEECH_LEVELS_DB: (f32, f32) = (-42.0, -12.0);

/// Speed factors are drawn in steps of this size.
const SPEED_STEP: f64 = 0.025;

fn load(manifest: &Manifest, kind: Kind, split: Split) -> Result<Vec<Clip>> {
    let clips: Vec<_> = manifest.clips(kind, split).collect();
    anyhow::ensure!(!clips.is_empty(), "the corpus has no {kind} clips in the {split} split");
    let pb = ProgressBar::new(clips.len() as u64);
    pb.set_style(ProgressStyle::with_template("loading {msg} [{bar:30}] {pos}/{len}").expect("valid template"));
    pb.set_message(format!("{split} {kind}"));
    let out = clips
        .iter()
        .map(|c| {
            pb.inc(1);
            let (samples, rate) = read_clip(&c.abs_path).with_context(|| format!("corpus clip {}", c.path))?;
            Ok(Clip {
                samples: samples.into(),
                rate,
                bandwidth_hz: c.bandwidth_hz as f32,
                level_db: c.active_level_dbfs as f32,
                generated: generated_voice(&c.package).map(|p| p.name),
                voice: c.group.as_str().into(),
            })
        })
        .collect::<Result<Vec<_>>>();
    pb.finish_and_clear();
    out
}

impl CorpusSource {
    /// Loads one split of the corpus in `data_dir` into memory.
    pub fn open(data_dir: &Path, split: Split) -> Result<Self> {
        let manifest = Manifest::load(data_dir)?;
        let speech = load(&manifest, Kind::Speech, split)?;
        let noise = load(&manifest, Kind::Noise, split)?;
        let mut source = Self::from_clips(speech, noise);
        source.reweigh()?;
        Ok(source)
    }

    /// A source over these clips with every option at its default; `speech_pick` is a
    /// placeholder the caller replaces (it may have no speech to weigh).
    fn from_clips(speech: Vec<Clip>, noise: Vec<Clip>) -> Self {
        Self {
            speech_pick: WeightedIndex::new([1.0]).expect("constant weights"),
            left_out: vec![false; speech.len()],
            generated_share: 0.0,
            voice_balance: 1.0,
            speech,
            noise,
            rate_pick: WeightedIndex::new(RATES.iter().map(|r| r.1)).expect("constant weights"),
            speed_perturb: 0.0,
            noise_speed_perturb: 0.0,
            clip_windows: false,
            levels_db: LEGACY_SPEECH_LEVELS_DB,
            snr_emphasis: 1.0,
            only_weights: None,
        }
    }

    /// Sets `speech_pick` from the clips and the options (`speech_weight_values`).
    fn reweigh(&mut self) -> Result<()> {
        self.speech_pick = WeightedIndex::new(self.speech_weight_values()?).context("speech clip weights (is every clip excluded?)")?;
        Ok(())
    }

    /// How often each speech clip is drawn: by its length, full-band voices boosted, the clips
    /// `left_out` marks never, each recorded voice's clips together scaled by its drawn seconds
    /// to the power `voice_balance − 1`, and generated speech scaled to `generated_share` of all
    /// draws (0: never, so a corpus with it draws exactly what one without it does), each
    /// generated voice as often as the others however much it spoke.
    fn speech_weight_values(&self) -> Result<Vec<f64>> {
        let (speech, generated_share) = (&self.speech, self.generated_share);
        let mut weights: Vec<f64> = speech
            .iter()
            .zip(&self.left_out)
            .map(|(c, out)| match out {
                true => 0.0,
                false if c.bandwidth_hz as u32 >= FULL_BAND_HZ => c.seconds() * FULL_BAND_BOOST,
                false => c.seconds(),
            })
            .collect();
        if self.voice_balance != 1.0 {
            // By the voice's seconds, not its boosted weight: a full-band voice keeps its boost.
            let drawn = seconds_by_voice(speech.iter().zip(&self.left_out).filter(|(c, out)| c.generated.is_none() && !**out).map(|(c, _)| c));
            for (w, c) in weights.iter_mut().zip(speech).filter(|(_, c)| c.generated.is_none()) {
                if let Some((_, s)) = drawn.iter().find(|(v, _)| *v == c.voice) {
                    *w *= s.powf(self.voice_balance - 1.0);
                }
            }
        }
        let total = |voice: Option<&str>| -> f64 { speech.iter().zip(&weights).filter(|(c, _)| c.generated == voice).map(|(_, w)| w).sum() };
        let recorded = total(None);
        let voices = Self::voices_of(speech);
        anyhow::ensure!(
            generated_share == 0.0 || !voices.is_empty(),
            "a share of generated speech was asked for, but the corpus has none in this split; build it with `cargo xtask data --piper` (or `--kokoro`)"
        );
        // Each voice's clips together weigh `generated_share / (1 − generated_share) · recorded`
        // divided among the voices.
        let per_voice = if generated_share == 0.0 { 0.0 } else { generated_share / (1.0 - generated_share) * recorded / voices.len() as f64 };
        let scales: Vec<(&str, f64)> = voices.iter().map(|v| (*v, per_voice / total(Some(v)).max(f64::MIN_POSITIVE))).collect();
        for (w, c) in weights.iter_mut().zip(speech) {
            if let Some(voice) = c.generated {
                *w *= scales.iter().find(|(v, _)| *v == voice).map_or(0.0, |(_, s)| *s);
            }
        }
        Ok(weights)
    }

    /// Draws `share` (0 ≤ share < 1) of the speech clips, for the voice and for babble, from
    /// generated speech (`cargo xtask data --piper`: one US English voice reading fortunes,
    /// perfectly clean, sentence-long) and the rest from the recordings. Without this call
    /// generated speech is never drawn.
    pub fn with_generated_speech(mut self, share: f64) -> Result<Self> {
        anyhow::ensure!((0.0..1.0).contains(&share), "the share of generated speech must be in 0..1, got {share}");
        self.generated_share = share;
        self.reweigh()?;
        Ok(self)
    }

    /// Draws each recorded voice in proportion to its seconds to the power `exponent` (within
    /// a voice, each clip still by its length): 1 draws by length (the shipped model), 0 every
    /// voice equally often, 0.5 between (a voice with 100 times the speech of another drawn 10
    /// times as often, not 100). The corpus's training voices are lopsided: the largest
    /// (festvox-ru's one speaker, 100 min) has a fifth of the recorded hours, and drawn by
    /// length (and the full-band boost) the 36 voices weigh like 14 equal ones (like 23 at
    /// 0.5). Generated speech keeps its share.
    pub fn with_voice_balance(mut self, exponent: f64) -> Result<Self> {
        anyhow::ensure!((0.0..=1.0).contains(&exponent), "the voice-balance exponent must be in 0..=1, got {exponent}");
        self.voice_balance = exponent;
        self.reweigh()?;
        Ok(self)
    }

    /// Seconds of generated speech in this split, drawn or not.
    pub fn generated_speech_seconds(&self) -> f64 {
        self.speech.iter().filter(|c| c.generated.is_some()).map(Clip::seconds).sum()
    }

    /// The generated voices in this split (package names, in `GENERATED` order).
    pub fn generated_voices(&self) -> Vec<&'static str> {
        Self::voices_of(&self.speech)
    }

    fn voices_of(speech: &[Clip]) -> Vec<&'static str> {
        GENERATED.iter().map(|p| p.name).filter(|name| speech.iter().any(|c| c.generated == Some(*name))).collect()
    }

    /// Draws no speech clip (for the voice or for babble) whose own noise floor lies less than
    /// `min_snr_db` below its active level. The corpus's voices come from games and phone
    /// prompts, and a fifth of the training speech carries hiss or room noise 25 dB or less
    /// below the voice; as the clean target of a mixture at 15–20 dB SNR, that noise is "speech"
    /// the model is told to keep, while the same noise added is what it must remove.
    /// Call it after `with_speech_highpass`, which changes the clips it judges.
    pub fn with_min_speech_snr(mut self, min_snr_db: f32) -> Result<Self> {
        // The floors are measured here, once, rather than for every clip the loader reads.
        self.left_out = self.speech.iter().map(|c| c.noisy(min_snr_db)).collect();
        self.reweigh()?;
        Ok(self)
    }

    /// Draws only about `fraction` of each recorded voice's clips (the same ones every run: a
    /// clip is kept when the fractional part of its index within its voice times the golden
    /// ratio is below `fraction`, which spreads the kept clips evenly through the voice), for
    /// the voice and for babble. Generated speech keeps its share. It asks how much the amount
    /// of recorded speech limits the model: the same voices, less of each. Call it after
    /// `with_min_speech_snr`, whose choice it adds to.
    pub fn with_speech_subset(mut self, fraction: f64) -> Result<Self> {
        anyhow::ensure!(fraction > 0.0 && fraction <= 1.0, "the subset of recorded speech must be in (0, 1], got {fraction}");
        let mut seen: Vec<(Arc<str>, usize)> = Vec::new();
        for (c, out) in self.speech.iter().zip(self.left_out.iter_mut()) {
            if c.generated.is_some() {
                continue;
            }
            let i = match seen.iter_mut().find(|(v, _)| *v == c.voice) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    seen.push((c.voice.clone(), 0));
                    0
                }
            };
            if !golden_kept(i, fraction) {
                *out = true;
            }
        }
        self.reweigh()?;
        Ok(self)
    }

    /// Draws only about `fraction` of the recorded voices, each with all of its clips, for the
    /// voice and for babble; generated speech keeps its share. The voices are ranked by their
    /// hours and voice i of that ranking is kept when the fractional part of i times the golden
    /// ratio is below `fraction` (the longest always), so the kept voices spread over the
    /// ranking and keep about `fraction` of the hours too. Beside `with_speech_subset` (the
    /// same voices, less of each) it asks whether the model is short of voices or of hours.
    /// Returns the source and the number of recorded voices kept. Call it after
    /// `with_min_speech_snr`, whose choice it adds to.
    pub fn with_voice_subset(mut self, fraction: f64) -> Result<(Self, usize)> {
        anyhow::ensure!(fraction > 0.0 && fraction <= 1.0, "the subset of recorded voices must be in (0, 1], got {fraction}");
        let mut hours = seconds_by_voice(self.speech.iter().filter(|c| c.generated.is_none()));
        // Longest first; ties by name, so the ranking is the same on every machine.
        hours.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let kept: Vec<Arc<str>> = hours.iter().enumerate().filter(|(i, _)| golden_kept(*i, fraction)).map(|(_, (v, _))| v.clone()).collect();
        for (c, out) in self.speech.iter().zip(self.left_out.iter_mut()) {
            if c.generated.is_none() && !kept.contains(&c.voice) {
                *out = true;
            }
        }
        self.reweigh()?;
        Ok((self, kept.len()))
    }

    /// The recorded voices of this split (generated ones not counted).
    pub fn recorded_voice_count(&self) -> usize {
        let mut voices: Vec<&Arc<str>> = self.speech.iter().filter(|c| c.generated.is_none()).map(|c| &c.voice).collect();
        voices.sort();
        voices.dedup();
        voices.len()
    }

    /// High-passes every speech clip at `hz` (Butterworth, run forwards and backwards: zero
    /// phase, 24 dB/octave, −6 dB at `hz`) and measures its level again. A
    /// voice has nothing below its fundamental, but the corpus's clips carry DC offsets and
    /// rumble (the median gcin-voice clip has a tenth of its energy below 60 Hz, and one in ten
    /// tuxpaint, klettres or ktuberling clips the same), and as the clean target that taught
    /// the model to keep the lowest band, where brown noise and rumble live. The noise clips
    /// are left as they are: their rumble is what must go.
    pub fn with_speech_highpass(mut self, hz: f32) -> Self {
        for clip in &mut self.speech {
            let mut x = clip.samples.to_vec();
            augment::Biquad::high_pass(hz, std::f32::consts::FRAC_1_SQRT_2, clip.rate as f32).run_zero_phase(&mut x);
            clip.level_db = active_level(&x, clip.rate).0 as f32;
            clip.samples = x.into();
        }
        self
    }

    /// Seconds of speech left out by `with_min_speech_snr`, `with_speech_subset` and
    /// `with_voice_subset` (0 without them).
    pub fn excluded_speech_seconds(&self) -> f64 {
        self.speech.iter().zip(&self.left_out).filter(|(_, &out)| out).map(|(c, _)| c.seconds()).sum()
    }

    /// Draws each training example's active speech level uniformly from `min..max` dBFS. The
    /// features include absolute band energies, so a model learns its level range as a prior:
    /// trained on −42…−12 dBFS, it took 13 dB off clean speech at −60 dBFS (and 4 dB at −20),
    /// reading quiet speech as noise. A host's voice track can sit anywhere from a distant mic
    /// at −60 to a hot one at −6.
    pub fn with_speech_levels(mut self, min: f32, max: f32) -> Self {
        self.levels_db = (min, max);
        self
    }

    /// Draws training SNRs with more weight at the low end of `TRAIN_SNR_DB` (`draw_snr_db`;
    /// 1 = uniform). The test buckets run from −5 to 15 dB, and −5 dB is where the model trails
    /// RNNoise; a uniform draw gives the −5…0 dB range a fifth of the examples.
    pub fn with_low_snr_emphasis(mut self, emphasis: f32) -> Self {
        self.snr_emphasis = emphasis;
        self
    }

    /// Plays half of the speech clips faster or slower, like tape, by up to `max` (0.1 = ±10 %,
    /// in steps of 2.5 %): pitch, formants and tempo move together, which turns a few hundred
    /// speakers into more voices than the corpus has. Bandwidths move with the speed, so the
    /// loss mask stays right. 0 leaves the clips as recorded (and draws nothing from the RNG).
    pub fn with_speed_perturbation(mut self, max: f64) -> Self {
        self.speed_perturb = max;
        self
    }

    /// Plays half of the recorded noise clips faster or slower by up to `max`, as
    /// `with_speed_perturbation` does speech: an engine, a drone or a tap at another speed is
    /// another noise, and the corpus has only 86 min of recorded noise. 0 leaves them as
    /// recorded (and draws nothing from the RNG).
    pub fn with_noise_speed_perturbation(mut self, max: f64) -> Self {
        self.noise_speed_perturb = max;
        self
    }

    /// Takes a random stretch of a speech clip that is longer than the room left in the
    /// example, instead of always its beginning, with a 10 ms fade-in where it starts inside
    /// the clip. Examples last 3 s and most clips are words and short prompts, but festvox's
    /// sentences (1.7 h) average 10 s, and from the beginning only, 70 % of them never
    /// reached the model (2.5 of the 8.4 h of recorded training speech over all clips). Off,
    /// the RNG draws exactly what it drew before this existed.
    pub fn with_clip_windows(mut self, on: bool) -> Self {
        self.clip_windows = on;
        self
    }

    /// Recorded speech in this split (for reporting; generated speech has
    /// `generated_speech_seconds`).
    pub fn speech_seconds(&self) -> f64 {
        self.speech.iter().filter(|c| c.generated.is_none()).map(Clip::seconds).sum()
    }

    /// The rate `clip` is taken to be recorded at to play it about `speed` times as fast,
    /// rounded to 100 Hz so the resampling ratio stays a short fraction (rubato's block sizes
    /// grow with its denominator).
    fn rate_for_speed(clip: &Clip, speed: f64) -> u32 {
        if speed == 1.0 { clip.rate } else { ((clip.rate as f64 * speed / 100.0).round() * 100.0) as u32 }
    }

    /// A speed factor for the next clip: 1, or with `max` > 0, half the time a step of
    /// `SPEED_STEP` within ±`max`.
    fn draw_speed(rng: &mut StdRng, max: f64) -> f64 {
        let steps = (max / SPEED_STEP).round() as i32;
        if steps == 0 || !rng.gen_bool(0.5) {
            return 1.0;
        }
        let k = rng.gen_range(1..=steps);
        1.0 + if rng.gen_bool(0.5) { k as f64 } else { -(k as f64) } * SPEED_STEP
    }

    /// Utterances with pauses, at a common active level of `level_db`, filling `len` samples.
    /// Returns the signal and where each utterance lies, with its bandwidth.
    fn speech_track(&self, rng: &mut StdRng, rate: u32, len: usize, level_db: f32) -> (Vec<f32>, Vec<Utterance>) {
        let mut out = vec![0.0f32; len];
        let mut utterances = Vec::new();
        let mut pos = (rng.gen_range(0.0..0.5) * rate as f32) as usize;
        while pos < len {
            let clip = &self.speech[self.speech_pick.sample(rng)];
            // The clip at `rate`, played about as fast as drawn; `speed` is the exact factor.
            let from = Self::rate_for_speed(clip, Self::draw_speed(rng, self.speed_perturb));
            let speed = from as f32 / clip.rate as f32;
            let g = 10f32.powf((level_db - clip.level_db) / 20.0);
            let room = len - pos;
            let full = resampled_len(clip.samples.len(), from, rate);
            let start = if self.clip_windows && full > room { rng.gen_range(0..=full - room) } else { 0 };
            let n = (full - start).min(room);
            // Only the part that is heard is resampled: long sentences would cost the loader
            // their whole length for the ≤ 3 s window (resampling was 45 % of its time).
            let x = resample_window(&clip.samples, from, rate, start, n);
            // Entered mid-clip, the speech fades in over 10 ms: a cut would be a click, and in
            // the clean target a click is broadband "speech" to keep.
            let fade = if start > 0 { (0.01 * rate as f32) as usize } else { 0 };
            for (i, (o, v)) in out[pos..pos + n].iter_mut().zip(&x).enumerate() {
                let ramp = if i < fade { 0.5 - 0.5 * (std::f32::consts::PI * i as f32 / fade as f32).cos() } else { 1.0 };
                *o += g * ramp * v;
            }
            utterances.push(Utterance { start: pos, end: pos + n, bandwidth_hz: (clip.bandwidth_hz * speed).min(rate as f32 / 2.0) });
            pos += n + (rng.gen_range(0.1..0.8) * rate as f32) as usize;
        }
        (out, utterances)
    }

    /// A recorded noise clip from a random offset, looped to `len`.
    fn recorded_noise(&self, rng: &mut StdRng, rate: u32, len: usize) -> Vec<f32> {
        let clip = &self.noise[rng.gen_range(0..self.noise.len())];
        let from = Self::rate_for_speed(clip, Self::draw_speed(rng, self.noise_speed_perturb));
        // Resample only the stretch needed (plus margin), not the whole clip.
        let need = (len as f64 * from as f64 / rate as f64) as usize + 64;
        let start = rng.gen_range(0..clip.samples.len());
        let stretch: Vec<f32> = clip.samples.iter().cycle().skip(start).take(need).copied().collect();
        let mut x = if from == rate { stretch } else { resample(&stretch, from, rate) };
        x.resize(len, 0.0);
        x
    }

    fn babble(&self, rng: &mut StdRng, rate: u32, len: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; len];
        for _ in 0..rng.gen_range(5..=10) {
            let level = rng.gen_range(-35.0..-25.0);
            let (x, _) = self.speech_track(rng, rate, len, level);
            out.iter_mut().zip(&x).for_each(|(o, v)| *o += v);
        }
        out
    }

    fn noise_of_kind(&self, rng: &mut StdRng, rate: u32, len: usize) -> (Vec<f32>, NoiseClass) {
        let r = rate as f32;
        match rng.gen_range(0..100) {
            0..=39 => (self.recorded_noise(rng, rate, len), NoiseClass::Recorded),
            40..=51 => (augment::white(rng, len), NoiseClass::White),
            52..=61 => (augment::pink(rng, len), NoiseClass::Pink),
            62..=66 => (augment::brown(rng, len), NoiseClass::Brown),
            67..=74 => (augment::hum(rng, r, len), NoiseClass::Hum),
            75..=86 => (augment::fan(rng, r, len), NoiseClass::Fan),
            _ => (self.babble(rng, rate, len), NoiseClass::Babble),
        }
    }
}

fn power(x: &[f32]) -> f32 {
    x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32
}

/// Whether item `i` of a sequence is among the `fraction` kept: i·φ mod 1 for i = 0, 1, 2… is
/// 0, .618, .236, .854, .472…, so the kept items spread evenly and item 0 is always kept. The
/// speech and voice subsets choose by it.
fn golden_kept(i: usize, fraction: f64) -> bool {
    (i as f64 * 0.618_033_988_749_895).fract() < fraction
}

/// The noise classes the mixer draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoiseClass {
    /// A recording from the corpus's noise clips.
    Recorded,
    White,
    Pink,
    Brown,
    Hum,
    Fan,
    Babble,
}

impl NoiseClass {
    pub fn name(self) -> &'static str {
        match self {
            NoiseClass::Recorded => "recorded",
            NoiseClass::White => "white",
            NoiseClass::Pink => "pink",
            NoiseClass::Brown => "brown",
            NoiseClass::Hum => "hum",
            NoiseClass::Fan => "fan",
            NoiseClass::Babble => "babble",
        }
    }
}

/// What to mix in as noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoiseChoice {
    /// A random class (recorded, white, pink, brown, hum, fan, babble), sometimes two summed.
    Any,
    /// White Gaussian noise only: the original experiment's case.
    White,
}

impl CorpusSource {
    /// A mixture at `rate`, `len` samples long, speech at `level_db` active level, noise at
    /// `snr_db` below it. `full_band_only` restricts speech to voices with ≥ 12 kHz bandwidth.
    pub fn mix(&self, rng: &mut StdRng, rate: u32, len: usize, snr_db: f32, level_db: f32, noise: NoiseChoice) -> Example {
        self.mix_labelled(rng, rate, len, snr_db, level_db, noise).0
    }

    /// `mix`, and the class of the noise in it (of the louder one, when two are summed). Draws
    /// the same random numbers as `mix`, so the same seed gives the same mixture.
    pub fn mix_labelled(&self, rng: &mut StdRng, rate: u32, len: usize, snr_db: f32, level_db: f32, noise: NoiseChoice) -> (Example, NoiseClass) {
        self.mix_with_lead_in(rng, rate, len, 0, snr_db, level_db, noise)
    }

    /// `mix_labelled`, `lead_in` samples longer in front: the noise runs on through them under
    /// other speech, and the SNR is that of the last `len` samples. An evaluation after a
    /// warm-up plays the lead-in and scores the rest: the steady state a host reaches in one
    /// noise, with nothing repeated. The last `len` samples' speech, its EQ and the noise's
    /// class and source are `mix_labelled`'s (drawn first, in its order; the lead-in's speech
    /// comes from a stream seeded after them), so a warmed-up evaluation scores the same speech
    /// in the same kind of noise as a cold one. With `lead_in` 0, `mix_labelled` exactly.
    #[allow(clippy::too_many_arguments)]
    pub fn mix_with_lead_in(&self, rng: &mut StdRng, rate: u32, len: usize, lead_in: usize, snr_db: f32, level_db: f32, noise: NoiseChoice) -> (Example, NoiseClass) {
        let (mut clean, mut utterances) = self.speech_track(rng, rate, len, level_db);
        // The EQ's draws, kept to give the lead-in's speech the same colour.
        let eq = rng.gen_bool(0.5).then(|| rng.clone());
        if eq.is_some() {
            augment::random_eq(rng, &mut clean, rate as f32, 6.0);
        }
        let total = len + lead_in;
        let (noise, class) = match noise {
            NoiseChoice::White => (augment::white(rng, total), NoiseClass::White),
            NoiseChoice::Any => self.random_noise(rng, rate, total),
        };
        if lead_in > 0 {
            let mut lead_rng = StdRng::seed_from_u64(rng.gen());
            let (mut lead, lead_utterances) = self.speech_track(&mut lead_rng, rate, lead_in, level_db);
            if let Some(mut eq_rng) = eq {
                augment::random_eq(&mut eq_rng, &mut lead, rate as f32, 6.0);
            }
            let scored = utterances.into_iter().map(|u| Utterance { start: u.start + lead_in, end: u.end + lead_in, ..u });
            utterances = lead_utterances.into_iter().chain(scored).collect();
            lead.extend_from_slice(&clean);
            clean = lead;
        }
        (finish_mix(clean, noise, utterances, rate, snr_db, level_db, lead_in), class)
    }

    /// A random noise class, a quarter of the time with a second, quieter one summed in.
    fn random_noise(&self, rng: &mut StdRng, rate: u32, len: usize) -> (Vec<f32>, NoiseClass) {
        let (mut noise, class) = self.noise_of_kind(rng, rate, len);
        if rng.gen_bool(0.25) {
            // At most as loud as the first, so the first names the mixture.
            let (extra, _) = self.noise_of_kind(rng, rate, len);
            let g = (power(&noise) / power(&extra).max(1e-20)).sqrt() * rng.gen_range(0.2..1.0);
            noise.iter_mut().zip(&extra).for_each(|(n, e)| *n += g * e);
        }
        if rng.gen_bool(0.5) {
            augment::random_eq(rng, &mut noise, rate as f32, 6.0);
        }
        (noise, class)
    }

    /// The same source restricted to full-band voices (for the high-band check).
    pub fn full_band_only(self) -> Result<Self> {
        self.speech_only(|c| c.bandwidth_hz as u32 >= FULL_BAND_HZ).with_context(|| format!("no full-band (≥ {FULL_BAND_HZ} Hz) voices in this split"))
    }

    /// The same source with every speech draw, the babble's too, from one voice (`voice` as
    /// `cargo xtask data --speakers` names it), to see how a model does on it alone. The error
    /// lists the voices there are.
    pub fn one_voice(self, voice: &str) -> Result<Self> {
        let mut voices: Vec<&str> = self.speech.iter().map(|c| &*c.voice).collect();
        voices.sort_unstable();
        voices.dedup();
        let listed = voices.join(", ");
        self.speech_only(|c| &*c.voice == voice).with_context(|| format!("no speech by the voice `{voice}` here; the voices are: {listed}"))
    }

    /// Every speech draw from the clips `keep` passes, and an earlier call passed, each as often
    /// as it is long in samples (the high-band check has always drawn so; no training boosts or
    /// shares). `None` if none is left.
    fn speech_only(mut self, keep: impl Fn(&Clip) -> bool) -> Option<Self> {
        let weights: Vec<f64> = self
            .speech
            .iter()
            .enumerate()
            .map(|(i, c)| match &self.only_weights {
                Some(w) if keep(c) => w[i],
                None if keep(c) => c.samples.len() as f64,
                _ => 0.0,
            })
            .collect();
        self.speech_pick = WeightedIndex::new(&weights).ok()?;
        self.only_weights = Some(weights);
        Some(self)
    }
}

/// Each voice among `clips` with its seconds, in the order the voices first appear.
fn seconds_by_voice<'a>(clips: impl Iterator<Item = &'a Clip>) -> Vec<(Arc<str>, f64)> {
    let mut seconds: Vec<(Arc<str>, f64)> = Vec::new();
    for c in clips {
        match seconds.iter_mut().find(|(v, _)| *v == c.voice) {
            Some((_, s)) => *s += c.seconds(),
            None => seconds.push((c.voice.clone(), c.seconds())),
        }
    }
    seconds
}

/// Scales `noise` to `snr_db` below the speech (to `level_db − snr_db` if there is no speech),
/// measured from sample `scored_from` on (the whole mixture: 0), and keeps the sum's peaks below
/// full scale.
fn finish_mix(mut clean: Vec<f32>, mut noise: Vec<f32>, utterances: Vec<Utterance>, rate: u32, snr_db: f32, level_db: f32, scored_from: usize) -> Example {
    let from = scored_from.min(clean.len());
    let g = if clean[from..].iter().any(|&v| v != 0.0) {
        snr_gain(&clean[from..], &noise[from..], snr_db, rate as f32)
    } else {
        let target = 10f32.powf((level_db - snr_db) / 10.0);
        (target / power(&noise[from..]).max(1e-20)).sqrt()
    };
    noise.iter_mut().for_each(|v| *v *= g);
    let peak = clean.iter().zip(&noise).map(|(c, n)| (c + n).abs()).fold(0.0f32, f32::max);
    if peak > 0.99 {
        let g = 0.99 / peak;
        clean.iter_mut().for_each(|v| *v *= g);
        noise.iter_mut().for_each(|v| *v *= g);
    }
    Example { rate: rate as f32, clean, noise, utterances }
}

impl ExampleSource for CorpusSource {
    fn example(&self, rng: &mut StdRng, config: &ModelConfig, frames: usize) -> Example {
        let rate = RATES[self.rate_pick.sample(rng)].0;
        let len = frames * StftSize::for_rate(rate as f32, config.hop_ms).hop;
        let level_db = rng.gen_range(self.levels_db.0..self.levels_db.1);
        let snr = draw_snr_db(rng, self.snr_emphasis);
        // A few examples are noise only: the model must also learn to leave nothing behind.
        if rng.gen_bool(0.05) {
            let (noise, _) = self.random_noise(rng, rate, len);
            return finish_mix(vec![0.0; len], noise, Vec::new(), rate, snr, level_db, 0);
        }
        self.mix(rng, rate, len, snr, level_db, NoiseChoice::Any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(seconds: usize, generated: Option<&'static str>) -> Clip {
        Clip { samples: vec![0.0; seconds * 16_000].into(), rate: 16_000, bandwidth_hz: 8_000.0, level_db: -26.0, generated, voice: "v".into() }
    }

    #[test]
    fn each_generated_voice_weighs_the_same_whatever_it_spoke() {
        // 10 s recorded; Piper spoke 6 s in two clips, one Kokoro voice 1 s.
        let speech = [clip(10, None), clip(4, Some("piper-joe")), clip(2, Some("piper-joe")), clip(1, Some("kokoro-jm_kumo"))];
        let with_share = |share: f64| CorpusSource { generated_share: share, ..CorpusSource::from_clips(speech.to_vec(), Vec::new()) };
        let w = with_share(0.5).speech_weight_values().unwrap();
        // Half of all draws generated, split evenly between the two voices, by length within one.
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(w[0], 10.0) && close(w[1] + w[2], 5.0) && close(w[1], 2.0 * w[2]) && close(w[3], 5.0), "{w:?}");
        assert_eq!(CorpusSource::voices_of(&speech), ["piper-joe", "kokoro-jm_kumo"]);
        // No share: generated clips are never drawn.
        let w = with_share(0.0).speech_weight_values().unwrap();
        assert_eq!(&w[1..], &[0.0; 3]);
    }

    #[test]
    fn a_speech_subset_keeps_that_share_of_each_recorded_voice() {
        let voiced = |voice: &str, generated: Option<&'static str>| Clip { voice: voice.into(), ..clip(1, generated) };
        let speech: Vec<Clip> = (0..40).map(|_| voiced("a", None)).chain((0..10).map(|_| voiced("b", None))).chain((0..4).map(|_| voiced("g", Some("piper-joe")))).collect();
        let source = CorpusSource { generated_share: 0.2, ..CorpusSource::from_clips(speech, Vec::new()) }.with_speech_subset(0.5).unwrap();
        let kept = |range: std::ops::Range<usize>| range.filter(|&i| !source.left_out[i]).count();
        // Half of each recorded voice, within one clip; every generated clip.
        let (a, b, g) = (kept(0..40), kept(40..50), kept(50..54));
        assert!(a.abs_diff(20) <= 1 && b.abs_diff(5) <= 1 && g == 4, "{a} {b} {g}");
        assert!((source.excluded_speech_seconds() - (50 - a - b) as f64).abs() < 1e-9);
        // Generated speech keeps its share of the draws; left-out clips are never drawn.
        let w = source.speech_weight_values().unwrap();
        let (recorded, generated): (f64, f64) = (w[..50].iter().sum(), w[50..].iter().sum());
        assert!((generated / (recorded + generated) - 0.2).abs() < 1e-9);
        assert!(w[..50].iter().zip(&source.left_out).all(|(w, out)| !out || *w == 0.0));
        assert!(CorpusSource::from_clips(Vec::new(), Vec::new()).with_speech_subset(0.0).is_err());
    }

    #[test]
    fn voice_balance_tempers_each_recorded_voice_by_its_seconds() {
        // Voice a: 9 clips of 10 s; voice b: 10 s in two clips, one of them full-band; and a
        // generated voice.
        let voiced = |voice: &str, seconds: usize, generated: Option<&'static str>| Clip { voice: voice.into(), ..clip(seconds, generated) };
        let mut speech: Vec<Clip> = (0..9).map(|_| voiced("a", 10, None)).collect();
        speech.push(voiced("b", 6, None));
        speech.push(Clip { bandwidth_hz: 20_000.0, ..voiced("b", 4, None) });
        speech.push(voiced("g", 5, Some("piper-joe")));
        let source = CorpusSource { generated_share: 0.2, ..CorpusSource::from_clips(speech, Vec::new()) };
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.abs().max(1.0);
        for (exponent, a_over_b_seconds) in [(1.0, 1.0), (0.5, 90f64.sqrt() / 10f64.sqrt() / 9.0), (0.0, 1.0 / 9.0)] {
            let w = source.clone().with_voice_balance(exponent).unwrap().speech_weight_values().unwrap();
            let (a, b) = (w[..9].iter().sum::<f64>(), w[9] + w[10]);
            // Per second of speech, a against b (b's full-band clip counted at its plain length).
            let b_per_second = w[9] / 6.0;
            assert!(close(a / 90.0 / b_per_second, a_over_b_seconds), "exponent {exponent}: {w:?}");
            // Within a voice: by length, the full-band clip still boosted; clips of a alike.
            assert!(close(w[10] / 4.0, FULL_BAND_BOOST * w[9] / 6.0) && w[..9].iter().all(|x| close(*x, w[0])), "{w:?}");
            // Generated speech keeps its share.
            assert!(close(w[11] / (a + b + w[11]), 0.2), "exponent {exponent}: {w:?}");
        }
        assert!(source.clone().with_voice_balance(1.5).is_err() && source.with_voice_balance(-0.1).is_err());
    }

    #[test]
    fn a_voice_subset_keeps_whole_voices_spread_over_their_hours() {
        // Voices v0…v9 with 10 − i clips of 1 s each, and a generated voice.
        let voiced = |voice: String, generated: Option<&'static str>| Clip { voice: voice.into(), ..clip(1, generated) };
        let mut speech: Vec<Clip> = (0..10).flat_map(|i| (0..10 - i).map(move |_| voiced(format!("v{i}"), None))).collect();
        speech.extend((0..4).map(|_| voiced("g".into(), Some("piper-joe"))));
        let all = CorpusSource { generated_share: 0.2, ..CorpusSource::from_clips(speech, Vec::new()) };
        assert_eq!(all.recorded_voice_count(), 10);
        let (source, kept) = all.with_voice_subset(0.5).unwrap();
        // Ranks kept where frac(i·φ) < 0.5: 0, 2, 4, 5, 7 — half the voices, the longest among them.
        assert_eq!(kept, 5);
        let voice_of = |i: usize| source.speech[i].voice.to_string();
        let mut kept_voices: Vec<String> = (0..source.speech.len()).filter(|&i| !source.left_out[i] && source.speech[i].generated.is_none()).map(voice_of).collect();
        kept_voices.dedup();
        assert_eq!(kept_voices, ["v0", "v2", "v4", "v5", "v7"]);
        // Whole voices: every clip of a voice shares its fate; generated clips all stay.
        for v in 0..10 {
            let fates: Vec<bool> = (0..source.speech.len()).filter(|&i| voice_of(i) == format!("v{v}")).map(|i| source.left_out[i]).collect();
            assert!(fates.iter().all(|&f| f == fates[0]), "v{v}: {fates:?}");
        }
        assert!(source.speech.iter().zip(&source.left_out).all(|(c, out)| c.generated.is_none() || !out));
        // The hours kept: 10 + 8 + 6 + 5 + 3 of 55 s; generated speech keeps its share of the draws.
        assert!((source.excluded_speech_seconds() - 23.0).abs() < 1e-9, "{}", source.excluded_speech_seconds());
        let w = source.speech_weight_values().unwrap();
        let (recorded, generated): (f64, f64) = (w[..55].iter().sum(), w[55..].iter().sum());
        assert!((generated / (recorded + generated) - 0.2).abs() < 1e-9);
        assert!(CorpusSource::from_clips(Vec::new(), Vec::new()).with_voice_subset(1.5).is_err());
    }
}
