//! What a weights file says about itself: network sizes and the feature configuration the
//! network was trained with. The engine builds its DSP from this, so model and DSP cannot
//! disagree (the same idea as DeepFilterNet's config shipped beside its graphs).

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::ModelError;

/// Version of the weights format this build reads and writes. Bump when tensor names, layout or
/// feature semantics change.
pub const FORMAT_VERSION: u32 = 1;

/// Bound on a deep-filter tap's real and imaginary parts: taps are `DF_TAP_MAX · tanh(x /
/// DF_TAP_MAX)` of the network's output, smooth for training and never wild in the engine.
pub const DF_TAP_MAX: f32 = 2.0;

/// Most hops of lookahead a model may ask for.
pub const MAX_LOOKAHEAD: usize = 4;

/// Most hops the convolution front-end may read.
pub const MAX_CONV_HOPS: usize = 8;

/// safetensors metadata keys.
pub const META_FORMAT_VERSION: &str = "lull.format_version";
pub const META_CONFIG: &str = "lull.config";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Number of gain bands (the network predicts one gain per band).
    pub n_bands: usize,
    /// Highest band centre in Hz; bins above it take the top band's gain.
    pub band_max_hz: f32,
    /// Minimum distance between band centres in Hz.
    pub band_min_spacing_hz: f32,
    /// Hop duration in milliseconds; the frame is two hops. Latency is `(2 + lookahead)` hops
    /// less one sample.
    pub hop_ms: f32,
    /// Time constant of the feature running mean, in seconds.
    pub norm_tau_s: f32,
    /// LSTM hidden units per layer.
    pub hidden: usize,
    /// Number of stacked LSTM layers.
    pub layers: usize,
    /// The lowest FFT bins (50 Hz apart with the 20 ms frame, at every rate) get a gain of their
    /// own instead of their band's, so the network can keep pitch harmonics and cut the noise
    /// between them, which band gains cannot resolve. Each also adds one input feature.
    /// 0 = band gains only (the shipped model; also files written before this field existed).
    /// 80 was tried and gave nothing measurable (weights/MODEL.md).
    #[serde(default)]
    pub fine_bins: usize,
    /// Deep filtering (DeepFilterNet) on the fine bins: 0 = one real gain per fine bin; N ≥ 1 =
    /// a complex FIR over the bin's current and N − 1 previous hops, predicted per hop (2·N
    /// outputs per bin), added to what the band gains make of the bin: a correction, so taps at
    /// zero leave the band-gain output as it is. Unlike a gain, it can use the phase that carries
    /// on from hop to hop in a voiced harmonic, and so pull a harmonic out of noise in the same
    /// bin. Each fine bin then also gets two features: its phase advance since the previous hop,
    /// as a unit vector. 0 for files written before this field existed. (Deep-filter files
    /// from before the filter became a correction, none of them shipped, meant a replacement of
    /// the band-gain output; they load, but play differently.)
    #[serde(default)]
    pub df_order: usize,
    /// One more feature per band: its log energy above a running minimum over the last
    /// `NOISE_FLOOR_WINDOW_S` (minimum statistics, Martin 2001), i.e. the a-posteriori SNR
    /// against a noise-floor estimate. The running mean of the second feature sits at the
    /// speech's level in speech-dense passages; the minimum stays on the noise between syllables.
    /// On in the shipped model; false for files written before this field existed.
    #[serde(default)]
    pub floor_features: bool,
    /// Two more features per band from classic speech enhancement (`dsp::snr`): the
    /// a-posteriori SNR against a noise power tracked by speech presence probability (unbiased,
    /// unlike the noise floor's minimum, and quicker to follow), and the decision-directed
    /// a-priori SNR. False for files written before this field existed.
    #[serde(default)]
    pub snr_features: bool,
    /// One more feature per band, its pitch correlation (how strongly the band repeats one pitch
    /// period back, `dsp::pitch`), and two for the whole frame: the voicing and the period. Band
    /// energies cannot tell a voice from noise with the same envelope; periodicity can.
    /// False for files written before this field existed.
    #[serde(default)]
    pub pitch_features: bool,
    /// One more output per band: the pitch filter's strength (0…1), predicted by the network as
    /// in PercepNet rather than set by RNNoise's rule from the band's correlation and gain. It
    /// is trained towards the strength that brings the filtered band closest to the clean speech
    /// (`dsp::pitch::best_strength`). Needs a pitch-filterable model. False for files written
    /// before this field existed.
    #[serde(default)]
    pub pitch_strength: bool,
    /// Hops the network looks ahead: the gains it predicts after hop t are applied to hop t −
    /// `lookahead`, so at an onset it has already heard the frame it is deciding about (a
    /// consonant's first hop no longer meets gains set on the pause before it). Each hop of it
    /// adds one hop to the latency, `(2 + lookahead)·hop − 1`; within the 20 ms budget that
    /// needs a shorter hop (6.67 ms with 1). Training pairs each hop's features with the
    /// targets `lookahead` hops earlier. 0 for files written before this field existed.
    #[serde(default)]
    pub lookahead: usize,
    /// Skip connections into the output layer: it reads the input features and every LSTM
    /// layer's output, not only the last layer's (as RNNoise's output layers read all its GRUs').
    /// The head then sees this hop's features directly, without waiting for them to pass
    /// through both layers' memories, and the lower layer's view beside the upper's. It costs
    /// features + (layers − 1)·hidden more multiply-adds per output: with the shipped sizes 703 k
    /// instructions per 48 kHz hop against 686 k (`hop_cost`). False for files written before
    /// this field existed.
    #[serde(default)]
    pub skip_connections: bool,
    /// A causal convolution front-end: the first LSTM layer reads `conv_units` tanh units
    /// computed from the features of this hop and the `conv_hops − 1` before it, instead of this
    /// hop's features alone (RNNoise's dense input layer, given a few hops of context as
    /// DeepFilterNet's convolutions have). Onsets and the change of a band from one hop to the
    /// next then reach the gates directly rather than through the LSTM's memory, and no latency
    /// is added: the hops it reads are past ones. The previous hops' features are part of the
    /// network's state. 0 = none (files written before this field existed).
    #[serde(default)]
    pub conv_hops: usize,
    /// The front-end's width (`conv_hops` > 0 only). 0 with `conv_hops` > 0: no tanh layer, the
    /// first LSTM layer reads the hops' features themselves, stacked, so its input weights are
    /// the convolution and nothing stands between the features and the gates.
    #[serde(default)]
    pub conv_units: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            n_bands: 32,
            band_max_hz: 20_000.0,
            band_min_spacing_hz: 100.0,
            hop_ms: 10.0,
            norm_tau_s: 1.0,
            hidden: 128,
            layers: 2,
            fine_bins: 0,
            df_order: 0,
            floor_features: true,
            snr_features: false,
            pitch_features: false,
            pitch_strength: false,
            lookahead: 0,
            skip_connections: false,
            conv_hops: 0,
            conv_units: 0,
        }
    }
}

impl ModelConfig {
    /// Delay from input to output in samples for a hop of `hop` samples: a frame of two hops,
    /// less one sample (a hop is processed as its last sample arrives), plus the lookahead.
    pub fn latency_samples(&self, hop: usize) -> usize {
        (2 + self.lookahead) * hop - 1
    }

    /// Input width of the first layer: two features per band (one more each with
    /// `floor_features` and `pitch_features`, two with `snr_features`), the pitch tracker's frame-wide features, then per
    /// fine bin one, or three with deep filtering.
    pub fn n_features(&self) -> usize {
        self.features_per_band() * self.n_bands + self.frame_features() + self.fine_bins * self.features_per_fine_bin()
    }

    /// Features for the whole frame rather than per band: with `pitch_features`, the voicing and
    /// the period.
    pub fn frame_features(&self) -> usize {
        if self.pitch_features { crate::dsp::pitch::GLOBAL_FEATURES } else { 0 }
    }

    /// What the pitch tracker hands the feature extractor per hop (`PitchTracker::analyze`'s
    /// output): a correlation per band and the frame-wide features; 0 without `pitch_features`.
    pub fn pitch_inputs(&self) -> usize {
        if self.pitch_features { self.n_bands + self.frame_features() } else { 0 }
    }

    /// Input features per band: absolute and mean-removed log energy, then with
    /// `floor_features` the log energy above the noise floor, with `snr_features` the
    /// a-posteriori and a-priori SNRs, with `pitch_features` the pitch correlation.
    pub fn features_per_band(&self) -> usize {
        2 + usize::from(self.floor_features) + 2 * usize::from(self.snr_features) + usize::from(self.pitch_features)
    }

    /// Whether the engine's pitch filter applies: it works on band gains, so models whose lowest
    /// bins have real gains of their own do without it; a deep filter adds its correction to the
    /// pitch-filtered band-gain output.
    pub fn pitch_filterable(&self) -> bool {
        self.fine_bins == 0 || self.df_order > 0
    }

    /// Input features per fine bin: mean-removed log power, then with deep filtering the phase
    /// advance (cos, sin).
    pub fn features_per_fine_bin(&self) -> usize {
        if self.df_order > 0 { 3 } else { 1 }
    }

    /// Quantities a training target exists for: one gain per band, then one per fine bin.
    pub fn n_gains(&self) -> usize {
        self.n_bands + self.fine_bins
    }

    /// Network outputs per fine bin: a gain, or the deep filter's `df_order` complex taps.
    pub fn outputs_per_fine_bin(&self) -> usize {
        if self.df_order > 0 { 2 * self.df_order } else { 1 }
    }

    /// What `Model::step` writes per hop: band gains, then the fine bins' outputs (bin-major:
    /// for each bin its gain, or its taps as (re, im) pairs from the current hop back), then
    /// with `pitch_strength` the pitch filter's strength per band.
    pub fn n_head(&self) -> usize {
        self.strengths().end
    }

    /// Where in the head the gains are (each in 0…1): the bands', then the fine bins' unless
    /// they are deep-filtered.
    pub fn gain_outputs(&self) -> Range<usize> {
        0..if self.df_order > 0 { self.n_bands } else { self.n_bands + self.fine_bins }
    }

    /// Where in the head the deep filter's taps are (empty without deep filtering).
    pub fn tap_outputs(&self) -> Range<usize> {
        let start = self.n_bands + self.fine_bins * self.outputs_per_fine_bin();
        if self.df_order > 0 { self.n_bands..start } else { start..start }
    }

    /// Where in the head the pitch filter's strengths are (empty without `pitch_strength`).
    pub fn strengths(&self) -> Range<usize> {
        let start = self.n_bands + self.fine_bins * self.outputs_per_fine_bin();
        start..start + if self.pitch_strength { self.n_bands } else { 0 }
    }

    /// Output width: the head, then the voice-activity probability.
    pub fn n_outputs(&self) -> usize {
        self.n_head() + 1
    }

    /// Input width of the convolution front-end: `conv_hops` hops of features, the newest
    /// first (0 without one).
    pub fn conv_input(&self) -> usize {
        self.conv_hops * self.n_features()
    }

    /// Whether the convolution front-end has a tanh layer of its own (weights `conv.weight` and
    /// `conv.bias`), rather than handing the first LSTM layer the stacked hops.
    pub fn conv_layer(&self) -> bool {
        self.conv_hops > 0 && self.conv_units > 0
    }

    /// Input width of LSTM layer `layer`: the first reads the features, the convolution
    /// front-end's units, or without those the front-end's stacked hops.
    pub fn layer_input(&self, layer: usize) -> usize {
        if layer == 0 {
            match (self.conv_hops, self.conv_units) {
                (0, _) => self.n_features(),
                (_, 0) => self.conv_input(),
                (_, units) => units,
            }
        } else {
            self.hidden
        }
    }

    /// Input width of the output layer: the last LSTM layer's output, or with
    /// `skip_connections` the features followed by every layer's output, first to last.
    pub fn head_input(&self) -> usize {
        if self.skip_connections {
            self.n_features() + self.layers * self.hidden
        } else {
            self.hidden
        }
    }

    /// Every tensor the network needs, with its shape, in a fixed order. Both the loader and the
    /// exporter use this list, so a file either has exactly these or is refused.
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let h4 = 4 * self.hidden;
        let mut v = Vec::new();
        if self.conv_layer() {
            v.push(("conv.weight".into(), vec![self.conv_units, self.conv_input()]));
            v.push(("conv.bias".into(), vec![self.conv_units]));
        }
        for l in 0..self.layers {
            v.push((format!("lstm.{l}.weight_ih"), vec![h4, self.layer_input(l)]));
            v.push((format!("lstm.{l}.weight_hh"), vec![h4, self.hidden]));
            v.push((format!("lstm.{l}.bias_ih"), vec![h4]));
            v.push((format!("lstm.{l}.bias_hh"), vec![h4]));
        }
        v.push(("out.weight".into(), vec![self.n_outputs(), self.head_input()]));
        v.push(("out.bias".into(), vec![self.n_outputs()]));
        v
    }

    pub fn parameter_count(&self) -> usize {
        self.tensor_shapes().iter().map(|(_, s)| s.iter().product::<usize>()).sum()
    }

    /// Rejects sizes no sane model has, before anything is allocated from them.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |why: String| Err(ModelError::BadConfig(why));
        if !(2..=128).contains(&self.n_bands) {
            return bad(format!("n_bands = {} (expected 2..=128)", self.n_bands));
        }
        // 8 kHz, the lowest rate the engine takes, has 81 bins of 50 Hz.
        if self.fine_bins > 80 {
            return bad(format!("fine_bins = {} (expected 0..=80)", self.fine_bins));
        }
        if self.df_order > 8 || (self.df_order > 0 && self.fine_bins == 0) {
            return bad(format!(
                "df_order = {} with fine_bins = {} (expected 0..=8, and fine bins to filter)",
                self.df_order, self.fine_bins
            ));
        }
        if self.pitch_strength && !self.pitch_filterable() {
            return bad("pitch_strength without a pitch filter (fine bins with gains of their own)".into());
        }
        // The deep filter reads the newest hops' spectra; it has no delayed path.
        if self.lookahead > MAX_LOOKAHEAD || (self.lookahead > 0 && self.df_order > 0) {
            return bad(format!(
                "lookahead = {} with df_order = {} (expected 0..={MAX_LOOKAHEAD}, and 0 with deep filtering)",
                self.lookahead, self.df_order
            ));
        }
        // The output layer's skip connection reads the features where the first layer's input
        // is; with a front-end that is the front-end's output, so the two are kept apart.
        if self.conv_hops > MAX_CONV_HOPS
            || self.conv_units > 1024
            || (self.conv_hops == 0 && self.conv_units > 0)
            || (self.conv_hops > 0 && self.skip_connections)
        {
            return bad(format!(
                "conv_hops = {} with conv_units = {} (expected 0..={MAX_CONV_HOPS} hops, 0..=1024 units with hops and 0 without, \
                 and no skip connections with a front-end)",
                self.conv_hops, self.conv_units
            ));
        }
        if !(1..=1024).contains(&self.hidden) {
            return bad(format!("hidden = {} (expected 1..=1024)", self.hidden));
        }
        if !(1..=8).contains(&self.layers) {
            return bad(format!("layers = {} (expected 1..=8)", self.layers));
        }
        if !(self.hop_ms >= 1.0 && self.hop_ms <= 50.0) {
            return bad(format!("hop_ms = {} (expected 1..=50)", self.hop_ms));
        }
        if !(self.band_max_hz >= 1000.0 && self.band_max_hz <= 96_000.0) {
            return bad(format!("band_max_hz = {} (expected 1000..=96000)", self.band_max_hz));
        }
        if !(self.band_min_spacing_hz > 0.0
            && self.band_min_spacing_hz * self.n_bands as f32 <= self.band_max_hz)
        {
            return bad(format!(
                "band_min_spacing_hz = {} does not fit {} bands below {} Hz",
                self.band_min_spacing_hz, self.n_bands, self.band_max_hz
            ));
        }
        if !(self.norm_tau_s > 0.0 && self.norm_tau_s <= 100.0) {
            return bad(format!("norm_tau_s = {} (expected 0..=100)", self.norm_tau_s));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::ModelConfig;

    #[test]
    fn the_pitch_filter_needs_band_gains_on_the_lowest_bins() {
        let bands = ModelConfig::default();
        let fine_gains = ModelConfig { fine_bins: 64, ..bands.clone() };
        let deep_filter = ModelConfig { df_order: 3, ..fine_gains.clone() };
        // A deep filter is a correction added to the band gains' output, which the comb works on.
        assert_eq!((bands.pitch_filterable(), fine_gains.pitch_filterable(), deep_filter.pitch_filterable()), (true, false, true));
        // So a learned strength needs band gains there too.
        assert!(ModelConfig { pitch_strength: true, ..fine_gains }.validate().is_err());
        assert!(ModelConfig { pitch_strength: true, ..deep_filter }.validate().is_ok());
    }

    #[test]
    fn lookahead_is_bounded_refused_with_a_deep_filter_and_adds_hops_to_the_latency() {
        let c = ModelConfig::default();
        assert_eq!(c.latency_samples(480), 959);
        let ahead = ModelConfig { lookahead: 1, ..c.clone() };
        assert_eq!(ahead.latency_samples(320), 959);
        assert!(ahead.validate().is_ok());
        assert!(ModelConfig { lookahead: super::MAX_LOOKAHEAD + 1, ..c.clone() }.validate().is_err());
        assert!(ModelConfig { fine_bins: 16, df_order: 2, ..ahead }.validate().is_err());
    }

    #[test]
    fn skip_connections_widen_only_the_output_layer() {
        let c = ModelConfig::default();
        let skip = ModelConfig { skip_connections: true, ..c.clone() };
        assert_eq!((c.head_input(), skip.head_input()), (128, 96 + 2 * 128));
        let out = |c: &ModelConfig| c.tensor_shapes().into_iter().find(|(n, _)| n == "out.weight").unwrap().1;
        assert_eq!((out(&c), out(&skip)), (vec![33, 128], vec![33, 352]));
        assert_eq!(skip.parameter_count() - c.parameter_count(), 33 * (352 - 128));
    }

    #[test]
    fn a_conv_front_end_feeds_the_first_layer_and_is_validated() {
        let c = ModelConfig::default();
        let conv = ModelConfig { conv_hops: 3, conv_units: 64, ..c.clone() };
        assert!(conv.validate().is_ok());
        assert_eq!((conv.conv_input(), conv.layer_input(0), conv.layer_input(1)), (3 * 96, 64, 128));
        let shapes = conv.tensor_shapes();
        assert_eq!(shapes[0], ("conv.weight".to_string(), vec![64, 288]));
        assert_eq!(shapes[1], ("conv.bias".to_string(), vec![64]));
        assert_eq!(shapes[2], ("lstm.0.weight_ih".to_string(), vec![512, 64]));
        assert_eq!(conv.parameter_count() + 512 * 96, c.parameter_count() + 64 * 288 + 64 + 512 * 64);
        // Hops without units: the first layer reads the stacked hops, with no tensors of their own.
        let stacked = ModelConfig { conv_hops: 3, ..c.clone() };
        assert!(stacked.validate().is_ok());
        assert_eq!((stacked.conv_layer(), stacked.layer_input(0)), (false, 3 * 96));
        assert_eq!(stacked.tensor_shapes()[0], ("lstm.0.weight_ih".to_string(), vec![512, 288]));
        assert_eq!(stacked.parameter_count(), c.parameter_count() + 512 * 2 * 96);
        // Units without hops, too many units or hops, skip connections beside it.
        assert!(ModelConfig { conv_units: 64, ..c.clone() }.validate().is_err());
        assert!(ModelConfig { conv_units: 1025, ..conv.clone() }.validate().is_err());
        assert!(ModelConfig { conv_hops: super::MAX_CONV_HOPS + 1, ..conv.clone() }.validate().is_err());
        assert!(ModelConfig { skip_connections: true, ..stacked }.validate().is_err());
        assert!(ModelConfig { skip_connections: true, ..conv }.validate().is_err());
        assert_eq!(c.tensor_shapes()[0].0, "lstm.0.weight_ih");
    }

    #[test]
    fn the_head_holds_gains_then_taps_then_strengths() {
        let c = ModelConfig { fine_bins: 16, df_order: 2, pitch_strength: true, ..ModelConfig::default() };
        assert_eq!((c.gain_outputs(), c.tap_outputs(), c.strengths()), (0..32, 32..96, 96..128));
        assert_eq!((c.n_head(), c.n_outputs()), (128, 129));
        let c = ModelConfig { fine_bins: 16, ..ModelConfig::default() };
        assert_eq!((c.gain_outputs(), c.tap_outputs().len(), c.strengths().len(), c.n_head()), (0..48, 0, 0, 48));
    }
}
