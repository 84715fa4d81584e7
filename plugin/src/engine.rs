//! `Denoiser`: the one place audio is processed. Host-independent: the plugin, the CLI
//! (`xtask denoise`/`eval`) and the tests all drive this type.
//!
//! Signal path: (per sample, the mains-hum canceller, `dsp::dehum`, unless switched off) → per hop:
//! input FIFO → √Hann analysis → realfft → channel-mean power → band energies (+ the lowest
//! bins' powers and phase advances) → features → LSTM → band gains (and
//! fine-bin gains or deep-filter taps) → release smoothing → floor (Reduction) → band gains spread
//! over bins, with the pitch filter (RNNoise's comb: the frame one pitch period back added where
//! a band is periodic, `PitchTracker::filter_gains`); on the lowest bins, their own gains, or
//! the deep filter over the last hops' spectra added as a correction → inverse FFT → √Hann
//! synthesis → overlap-add → output FIFO. The pitch filter reads only past input, so it adds no
//! latency.
//!
//! Latency: a hop is processed the moment its last sample arrives, and the output FIFO is read
//! right after, so the delay is one frame minus one sample: `2·hop − 1` (959 samples at 48 kHz).
//! A model with lookahead (`ModelConfig::lookahead`) has its gains applied to the spectrum of
//! that many hops before the one just analysed, which adds as many hops: `(2 + lookahead)·hop −
//! 1`.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::RealFftPlanner;

use crate::dsp::bands::{BandCenters, BandLayout};
use crate::dsp::dehum::HumCanceller;
use crate::dsp::delay::DelayLine;
use crate::dsp::features::{accumulate_phase_advance, accumulate_power, FeatureExtractor};
use crate::dsp::pitch::PitchTracker;
use crate::dsp::stft::{Analyzer, StftSize, Synthesizer};
use crate::model::{Model, NetworkState};

/// Lowest and highest sample rates the engine accepts.
pub const MIN_SAMPLE_RATE: f32 = 8_000.0;
pub const MAX_SAMPLE_RATE: f32 = 384_000.0;
/// Most channels one engine processes (all linked to one gain curve).
pub const MAX_CHANNELS: usize = 8;
/// Largest input magnitude accepted; anything beyond is clamped (0 dBFS is 1.0).
const MAX_INPUT: f32 = 1.0e4;
/// Release of the band gains: a gain may fall by at most this factor per `GAIN_RELEASE_HOP_S`
/// (per hop at 10 ms hops; scaled for other hops so the release takes the same time), so word
/// tails are not chopped (RNNoise uses the same 0.6 per 10 ms hop).
const GAIN_RELEASE: f32 = 0.6;
const GAIN_RELEASE_HOP_S: f32 = 0.010;
/// Bypass crossfade duration in seconds.
const BYPASS_FADE_S: f32 = 0.010;
/// Time constant of the Reduction smoother in seconds.
const REDUCTION_TAU_S: f32 = 0.050;
/// Time constant of the output-gain smoother in seconds.
const OUTPUT_GAIN_TAU_S: f32 = 0.020;
/// Output gain limits in dB.
pub const OUTPUT_GAIN_RANGE_DB: (f32, f32) = (-48.0, 24.0);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error("sample rate {0} Hz is outside the supported {MIN_SAMPLE_RATE}..={MAX_SAMPLE_RATE} Hz")]
    SampleRate(f32),
    #[error("{0} channels requested; Lull processes 1 to {MAX_CHANNELS}")]
    Channels(usize),
}

/// Streaming noise suppressor for a fixed sample rate and channel count.
pub struct Denoiser {
    model: Arc<Model>,
    size: StftSize,
    channels: usize,
    layout: BandLayout,
    analyzers: Vec<Analyzer>,
    synthesizers: Vec<Synthesizer>,
    spectra: Vec<Vec<Complex32>>,
    power: Vec<f32>,
    energies: Vec<f32>,
    features: Vec<f32>,
    extractor: FeatureExtractor,
    /// With pitch features or the pitch filter: the tracker and its output (band correlations,
    /// voicing, period).
    pitch: Option<PitchTracker>,
    pitch_out: Vec<f32>,
    /// The pitch filter is on (`set_pitch_filter`; it needs the tracker).
    pitch_filter: bool,
    /// Per band, the pitch filter's gains for the current frame and the frame one period back;
    /// the latter spread over the bins.
    filter_direct: Vec<f32>,
    filter_delayed: Vec<f32>,
    bin_delayed: Vec<f32>,
    /// With a model that predicts the pitch filter's strength: this hop's, per band.
    strength: Vec<f32>,
    state: NetworkState,
    /// The network's head: one gain per band, then per fine bin a gain or deep-filter taps, then
    /// with a learned pitch filter its strength per band.
    gains: Vec<f32>,
    prev_gains: Vec<f32>,
    /// How many of `gains` are gains (release and floor apply to them), not taps.
    n_gains: usize,
    bin_gains: Vec<f32>,
    /// Fine bins that exist at this rate (all of them from 8 kHz up with 10 ms hops).
    fine_bins: usize,
    /// Deep-filter taps per fine bin (0: fine bins have gains).
    df_order: usize,
    /// The deep filter's correction is applied (`set_deep_filter`).
    df_on: bool,
    /// Per channel, the fine bins' unprocessed spectra of the last `df_depth` hops, hop-major,
    /// a ring whose newest hop is at `df_pos` (the filter's input and the phase-advance source).
    df_history: Vec<Vec<Complex32>>,
    df_depth: usize,
    df_pos: usize,
    /// Channel-summed `X_t · conj(X_{t−1})` of the fine bins (phase-advance features).
    advance: Vec<Complex32>,
    /// With lookahead: per channel, the spectra of the last `lookahead` hops, a ring whose
    /// oldest hop, at `held_pos`, is the one this hop's gains apply to.
    held: Vec<Vec<Complex32>>,
    held_pos: usize,
    lookahead: usize,
    /// How far a gain may fall per hop (`GAIN_RELEASE` at this hop).
    release: f32,
    in_fifo: Vec<Vec<f32>>,
    out_fifo: Vec<Vec<f32>>,
    /// Next write position in the input FIFO, 0..hop.
    pos: usize,
    dry: Vec<DelayLine>,
    /// Per channel, the mains-hum canceller in front of the analysis; whether it is switched
    /// on, and how much of it is in (0..1, moving by `wet_step` per sample, so switching it
    /// neither clicks nor brings the hum back in a step). It runs while any of it is in.
    dehum: Vec<HumCanceller>,
    dehum_on: bool,
    dehum_mix: f32,
    dry_now: [f32; MAX_CHANNELS],
    /// Gain floor from the Reduction setting (1.0 = transparent), moving per hop towards
    /// `floor_target` so a Reduction change is smooth whatever the host's block size.
    floor: f32,
    floor_target: f32,
    floor_coef: f32,
    /// No audio since the last reset: settings apply at once instead of ramping.
    fresh: bool,
    /// Wet share of the output, ramping towards `wet_target` (bypass crossfade).
    wet: f32,
    wet_target: f32,
    wet_step: f32,
    /// Output gain (linear) of the denoised path, smoothed one-pole towards its target.
    out_gain: f32,
    out_gain_target: f32,
    out_gain_coef: f32,
    speech_probability: f32,
}

impl Denoiser {
    /// Allocates everything the engine will ever need for this rate and channel count.
    pub fn new(model: Arc<Model>, sample_rate: f32, channels: usize) -> Result<Self, EngineError> {
        if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sample_rate) {
            return Err(EngineError::SampleRate(sample_rate));
        }
        if !(1..=MAX_CHANNELS).contains(&channels) {
            return Err(EngineError::Channels(channels));
        }
        let cfg = model.config().clone();
        let size = StftSize::for_rate(sample_rate, cfg.hop_ms);
        let centers = BandCenters::erb(cfg.n_bands, cfg.band_max_hz, cfg.band_min_spacing_hz);
        let layout = BandLayout::new(&centers, sample_rate, size.fft);
        let mut planner = RealFftPlanner::new();
        let hop_s = size.hop as f32 / sample_rate;
        let latency = cfg.latency_samples(size.hop);
        let fine_bins = cfg.fine_bins.min(size.bins());
        let df = cfg.df_order > 0;
        // The phase advance needs the previous hop even for a one-tap filter.
        let df_depth = if df { cfg.df_order.max(2) } else { 0 };
        let filterable = cfg.pitch_filterable();
        let track = cfg.pitch_features || filterable;
        let nb = cfg.n_bands;
        let mut this = Self {
            size,
            channels,
            analyzers: (0..channels).map(|_| Analyzer::new(size, &mut planner)).collect(),
            synthesizers: (0..channels).map(|_| Synthesizer::new(size, &mut planner)).collect(),
            spectra: vec![vec![Complex32::default(); size.bins()]; channels],
            power: vec![0.0; size.bins()],
            energies: vec![0.0; cfg.n_bands],
            features: vec![0.0; cfg.n_features()],
            extractor: FeatureExtractor::new(&cfg, hop_s),
            pitch: track.then(|| PitchTracker::new(size, sample_rate, nb, channels, cfg.lookahead, &mut planner)),
            pitch_out: vec![0.0; if track { PitchTracker::output_len(nb) } else { 0 }],
            pitch_filter: filterable,
            df_on: df,
            filter_direct: vec![0.0; nb],
            filter_delayed: vec![0.0; nb],
            bin_delayed: vec![0.0; if filterable { size.bins() } else { 0 }],
            strength: vec![0.0; cfg.strengths().len()],
            state: model.new_state(),
            gains: vec![1.0; cfg.n_head()],
            prev_gains: vec![1.0; cfg.n_head()],
            n_gains: cfg.gain_outputs().end,
            bin_gains: vec![1.0; size.bins()],
            fine_bins,
            df_order: cfg.df_order,
            df_history: vec![vec![Complex32::default(); df_depth * fine_bins]; channels],
            df_depth,
            df_pos: 0,
            advance: vec![Complex32::default(); if df { fine_bins } else { 0 }],
            held: vec![vec![Complex32::default(); cfg.lookahead * size.bins()]; channels],
            held_pos: 0,
            lookahead: cfg.lookahead,
            release: GAIN_RELEASE.powf(hop_s / GAIN_RELEASE_HOP_S),
            in_fifo: vec![vec![0.0; size.hop]; channels],
            out_fifo: vec![vec![0.0; size.hop]; channels],
            pos: 0,
            dry: (0..channels).map(|_| DelayLine::new(latency)).collect(),
            dehum: (0..channels).map(|_| HumCanceller::new(sample_rate, size.hop, &mut planner)).collect(),
            dehum_on: true,
            dehum_mix: 1.0,
            dry_now: [0.0; MAX_CHANNELS],
            floor: 1.0,
            floor_target: 1.0,
            floor_coef: 1.0 - (-hop_s / REDUCTION_TAU_S).exp(),
            fresh: true,
            wet: 1.0,
            wet_target: 1.0,
            wet_step: 1.0 / (BYPASS_FADE_S * sample_rate).max(1.0),
            out_gain: 1.0,
            out_gain_target: 1.0,
            out_gain_coef: 1.0 - (-1.0 / (OUTPUT_GAIN_TAU_S * sample_rate)).exp(),
            speech_probability: 0.0,
            layout,
            model,
        };
        this.reset();
        Ok(this)
    }

    /// Delay from input to output in samples, exactly.
    pub fn latency_samples(&self) -> usize {
        self.model.config().latency_samples(self.size.hop)
    }

    /// Samples per hop at this rate.
    pub fn hop_size(&self) -> usize {
        self.size.hop
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Voice-activity probability of the last hop (0..1).
    pub fn speech_probability(&self) -> f32 {
        self.speech_probability
    }

    /// Maximum attenuation in dB: 0 = transparent. Values are clamped to 0..=100; NaN is
    /// ignored.
    pub fn set_reduction_db(&mut self, db: f32) {
        if !db.is_nan() {
            self.floor_target = crate::params::reduction_floor(db);
            if self.fresh {
                self.floor = self.floor_target;
            }
        }
    }

    /// Gain in dB applied to the denoised signal (not to the bypassed one), smoothed so moving it
    /// does not click. Clamped to `OUTPUT_GAIN_RANGE_DB`; NaN is ignored.
    pub fn set_output_gain_db(&mut self, db: f32) {
        if !db.is_nan() {
            let (lo, hi) = OUTPUT_GAIN_RANGE_DB;
            self.out_gain_target = 10f32.powf(db.clamp(lo, hi) / 20.0);
            if self.fresh {
                self.out_gain = self.out_gain_target;
            }
        }
    }

    /// Turns the pitch filter on (the default) or off; off, the output is the band gains alone.
    /// Models with gains of their own on the lowest bins have no pitch filter.
    pub fn set_pitch_filter(&mut self, on: bool) {
        self.pitch_filter = on && self.model.config().pitch_filterable();
    }

    /// Turns a deep-filtering model's correction on (the default) or off; off, its fine bins
    /// get the band gains alone (and the pitch filter where it applies), which measures what the
    /// filter adds. The features are the same either way. No effect on other models.
    pub fn set_deep_filter(&mut self, on: bool) {
        self.df_on = on && self.df_order > 0;
    }

    /// Turns the mains-hum canceller in front of the network on or off (on by default), fading
    /// over 10 ms. It takes out as much of the hum as the Reduction floor allows, so 0 dB stays
    /// transparent. Switched on after it was fully off, it starts learning afresh.
    pub fn set_dehum(&mut self, on: bool) {
        if on && !self.dehum_on && self.dehum_mix == 0.0 {
            self.dehum.iter_mut().for_each(HumCanceller::reset);
        }
        self.dehum_on = on;
        if self.fresh {
            self.dehum_mix = if on { 1.0 } else { 0.0 };
        }
    }

    /// Crossfades to the delayed dry signal (true) or back to the denoised one, over 10 ms.
    pub fn set_bypassed(&mut self, bypassed: bool) {
        self.wet_target = if bypassed { 0.0 } else { 1.0 };
        if self.fresh {
            self.wet = self.wet_target;
        }
    }

    /// Clears all signal state (FIFOs, overlap, recurrent state); settings stay.
    pub fn reset(&mut self) {
        self.analyzers.iter_mut().for_each(Analyzer::reset);
        self.synthesizers.iter_mut().for_each(Synthesizer::reset);
        self.in_fifo.iter_mut().for_each(|f| f.fill(0.0));
        self.out_fifo.iter_mut().for_each(|f| f.fill(0.0));
        self.dry.iter_mut().for_each(DelayLine::reset);
        self.dehum.iter_mut().for_each(HumCanceller::reset);
        self.extractor.reset();
        if let Some(p) = &mut self.pitch {
            p.reset();
        }
        self.state.reset();
        self.prev_gains.fill(1.0);
        self.df_history.iter_mut().for_each(|h| h.fill(Complex32::default()));
        self.df_pos = 0;
        self.held.iter_mut().for_each(|h| h.fill(Complex32::default()));
        self.held_pos = 0;
        self.pos = 0;
        self.wet = self.wet_target;
        self.dehum_mix = if self.dehum_on { 1.0 } else { 0.0 };
        self.out_gain = self.out_gain_target;
        self.floor = self.floor_target;
        self.fresh = true;
        self.speech_probability = 0.0;
    }

    /// Processes a block in place. Every channel slice must have the same length, which may be
    /// anything, including zero. Channels beyond those configured are left untouched. Never
    /// allocates.
    pub fn process(&mut self, block: &mut [&mut [f32]]) {
        let chans = self.channels.min(block.len());
        let len = block.iter().take(chans).map(|c| c.len()).min().unwrap_or(0);
        if len > 0 {
            self.fresh = false;
        }
        for i in 0..len {
            self.dehum_mix = fade_towards(self.dehum_mix, if self.dehum_on { 1.0 } else { 0.0 }, self.wet_step);
            let dehum = (self.dehum_mix > 0.0).then_some((1.0 - self.floor) * self.dehum_mix);
            for (c, chan) in block.iter().enumerate().take(chans) {
                let x = chan[i];
                let x = if x.is_finite() { x.clamp(-MAX_INPUT, MAX_INPUT) } else { 0.0 };
                self.dry_now[c] = self.dry[c].tick(x);
                self.in_fifo[c][self.pos] = match dehum {
                    Some(amount) => self.dehum[c].tick(x, amount),
                    None => x,
                };
            }
            // Channels the host did not give us this block still need a full hop.
            for c in chans..self.channels {
                self.in_fifo[c][self.pos] = 0.0;
            }
            self.pos += 1;
            if self.pos == self.size.hop {
                self.process_hop();
                self.pos = 0;
            }
            self.wet = fade_towards(self.wet, self.wet_target, self.wet_step);
            self.out_gain += (self.out_gain_target - self.out_gain) * self.out_gain_coef;
            let (wet, pos, gain) = (self.wet, self.pos, self.out_gain);
            for (c, chan) in block.iter_mut().enumerate().take(chans) {
                let y = self.out_fifo[c][pos] * gain;
                // Linear crossfade: dry and wet are nearly the same signal, so their sum keeps
                // its level; an equal-power fade would bump it by up to 3 dB.
                chan[i] = if wet == 1.0 { y } else { wet * y + (1.0 - wet) * self.dry_now[c] };
            }
        }
    }

    /// One hop of the input FIFO through the network into the output FIFO.
    fn process_hop(&mut self) {
        self.power.fill(0.0);
        self.advance.fill(Complex32::default());
        let scale = 1.0 / (self.size.fft as f32 * self.channels as f32);
        let fine = self.fine_bins;
        // The ring moves on one slot; the slot written last hop holds the previous hop.
        let prev = self.df_pos;
        if self.df_depth > 0 {
            self.df_pos = (prev + 1) % self.df_depth;
        }
        let pos = self.df_pos;
        for c in 0..self.channels {
            self.analyzers[c].push_hop(&self.in_fifo[c], &mut self.spectra[c]);
            accumulate_power(&self.spectra[c], scale, &mut self.power);
            if self.df_depth > 0 {
                let hist = &mut self.df_history[c];
                hist[pos * fine..(pos + 1) * fine].copy_from_slice(&self.spectra[c][..fine]);
                accumulate_phase_advance(&hist[pos * fine..][..fine], &hist[prev * fine..][..fine], &mut self.advance);
            }
        }
        self.layout.band_energies(&self.power, &mut self.energies);
        // The tracker runs even while the pitch filter is switched off, so that switching it
        // back on finds its history of past frames current rather than stale.
        if let Some(tracker) = &mut self.pitch {
            tracker.analyze(&self.in_fifo, &self.spectra, &self.layout, &mut self.pitch_out);
        }
        let pitch_features = &self.pitch_out[..self.model.config().pitch_inputs()];
        self.extractor.compute(&self.energies, &self.power, &self.advance, pitch_features, &mut self.features);
        let vad = self.model.step(&mut self.state, &self.features, &mut self.gains);
        if !(vad.is_finite() && self.gains.iter().all(|g| g.is_finite())) {
            // Cannot happen with finite inputs and validated weights; if it ever does, the
            // stream recovers from a clean state instead of going silent for good.
            self.state.reset();
            self.extractor.reset();
            self.gains.fill(1.0);
        }
        self.speech_probability = if vad.is_finite() { vad } else { 0.0 };
        // Snap when within 0.01 dB so that 0 dB Reduction ends up exactly transparent.
        self.floor += (self.floor_target - self.floor) * self.floor_coef;
        if (self.floor / self.floor_target - 1.0).abs() < 1.2e-3 {
            self.floor = self.floor_target;
        }
        let n_gains = self.n_gains;
        for (g, prev) in self.gains[..n_gains].iter_mut().zip(&mut self.prev_gains) {
            *g = g.max(*prev * self.release);
            *prev = *g;
            *g = g.max(self.floor).min(1.0);
        }
        let nb = self.layout.n_bands();
        let filter = self.pitch_filter && self.pitch.is_some();
        // A learned strength fades with the Reduction floor like the gains do, so 0 dB stays
        // transparent.
        let learned = self.model.config().strengths();
        for (r, s) in self.strength.iter_mut().zip(&self.gains[learned]) {
            *r = s * (1.0 - self.floor);
        }
        if !filter {
            let (band_gains, fine_out) = self.gains.split_at(nb);
            self.layout.bin_gains(band_gains, &mut self.bin_gains);
            if self.df_order == 0 {
                self.bin_gains[..fine].copy_from_slice(&fine_out[..fine]);
            }
        }
        let bins = self.size.bins();
        for c in 0..self.channels {
            // The spectrum these gains are for: this hop's, or with lookahead the oldest held
            // one (the pitch tracker lags by as much, so its filter is for that hop too).
            let out = played(&mut self.spectra[c], &mut self.held[c], self.held_pos, bins);
            if let (true, Some(tracker)) = (filter, &self.pitch) {
                // Gains and pitch filter in one pass: direct·X + delayed·P.
                let learned = (!self.strength.is_empty()).then_some(&self.strength[..]);
                tracker.filter_gains(c, &self.gains[..nb], learned, &mut self.filter_direct, &mut self.filter_delayed);
                self.layout.bin_gains(&self.filter_direct, &mut self.bin_gains);
                self.layout.bin_gains(&self.filter_delayed, &mut self.bin_delayed);
                let delayed = tracker.filter_source(c).iter().zip(&self.bin_delayed);
                for ((x, g), (p, h)) in out.iter_mut().zip(&self.bin_gains).zip(delayed) {
                    *x = *x * *g + *p * *h;
                }
            } else {
                for (x, g) in out.iter_mut().zip(&self.bin_gains) {
                    *x *= *g;
                }
            }
            if self.df_on {
                // No lookahead with deep filtering (`ModelConfig::validate`): it works on this
                // hop's spectrum.
                self.deep_filter(c);
            }
            let out = played(&mut self.spectra[c], &mut self.held[c], self.held_pos, bins);
            self.synthesizers[c].push_spectrum(out, &mut self.out_fifo[c]);
            if self.lookahead > 0 {
                // This hop's spectrum takes the slot just played; it is played `lookahead` hops on.
                self.held[c][self.held_pos * bins..][..bins].copy_from_slice(&self.spectra[c]);
            }
        }
        if self.lookahead > 0 {
            self.held_pos = (self.held_pos + 1) % self.lookahead;
        }
    }

    /// Adds the deep filter's correction to channel `c`'s fine bins, which already hold what the
    /// band gains made of them: per bin, the taps applied to its last `df_order` unprocessed
    /// spectra (newest first). The correction is scaled by 1 − the Reduction floor, so 0 dB
    /// Reduction (gains of 1, floor 1) stays transparent here too.
    fn deep_filter(&mut self, c: usize) {
        let (fine, order, depth) = (self.fine_bins, self.df_order, self.df_depth);
        let taps = &self.gains[self.layout.n_bands()..];
        let hist = &self.df_history[c];
        let floor = self.floor;
        for (k, (y, bin_taps)) in self.spectra[c][..fine].iter_mut().zip(taps.chunks_exact(2 * order)).enumerate() {
            let mut acc = Complex32::default();
            for (i, t) in bin_taps.chunks_exact(2).enumerate() {
                let x = hist[((self.df_pos + depth - i) % depth) * fine + k];
                acc += Complex32::new(t[0], t[1]) * x;
            }
            *y += acc * (1.0 - floor);
        }
    }
}

/// The spectrum a hop's gains apply to and the synthesis plays: without lookahead (`held`
/// empty) the hop's own, `spectrum`; with it, the oldest held one, in slot `pos` of `held`.
fn played<'a>(spectrum: &'a mut [Complex32], held: &'a mut [Complex32], pos: usize, bins: usize) -> &'a mut [Complex32] {
    if held.is_empty() { spectrum } else { &mut held[pos * bins..][..bins] }
}

// The engine moves between the host's threads.
const _: fn() = || {
    fn assert_send<T: Send>() {}
    assert_send::<Denoiser>();
};

/// One sample of a linear fade: `value` moved `step` towards `target`, stopping on it.
#[inline]
fn fade_towards(value: f32, target: f32, step: f32) -> f32 {
    if value == target {
        value
    } else if value < target {
        (value + step).min(target)
    } else {
        (value - step).max(target)
    }
}
