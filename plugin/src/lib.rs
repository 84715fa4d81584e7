//! Lull: real-time speech noise suppression with a stateful LSTM, as a CLAP and VST3 plugin.
//!
//! This file is only the host glue. All audio goes through [`engine::Denoiser`].

use std::num::NonZeroU32;
use std::sync::Arc;

use nice_plug::prelude::*;

pub mod dsp;
pub mod engine;
pub mod model;
pub mod params;

use engine::Denoiser;
use params::LullParams;

pub struct Lull {
    params: Arc<LullParams>,
    /// Built in `activate()` for the host's rate and channel count.
    denoiser: Option<Denoiser>,
}

impl Default for Lull {
    fn default() -> Self {
        Self { params: Arc::new(LullParams::default()), denoiser: None }
    }
}

impl Plugin for Lull {
    const NAME: &'static str = "Lull";
    const VENDOR: &'static str = "Lull";
    const URL: &'static str = "";
    const EMAIL: &'static str = "";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
    ];

    type Editor = ();
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn activate(
        &mut self,
        audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let model = match model::default_model() {
            Ok(m) => m,
            Err(e) => {
                nice_error!("Lull cannot start: the embedded model was refused: {e}");
                return false;
            }
        };
        let channels = audio_io_layout
            .main_output_channels
            .map(NonZeroU32::get)
            .unwrap_or(1) as usize;
        let mut denoiser = match Denoiser::new(model, buffer_config.sample_rate, channels) {
            Ok(d) => d,
            Err(e) => {
                nice_error!("Lull cannot start: {e}");
                return false;
            }
        };
        self.apply_params(&mut denoiser);
        context.set_latency_samples(denoiser.latency_samples() as u32);
        self.denoiser = Some(denoiser);
        true
    }

    fn reset(&mut self) {
        if let Some(d) = self.denoiser.as_mut() {
            d.reset();
        }
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        _context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        // The engine smooths each setting itself (Reduction per hop; output gain, hum removal and
        // bypass per sample), so it behaves the same at every host block size.
        if let Some(d) = self.denoiser.as_mut() {
            d.set_reduction_db(self.params.reduction.value());
            d.set_output_gain_db(self.params.output_gain.value());
            d.set_dehum(self.params.hum_removal.value());
            d.set_bypassed(self.params.bypass.value());
            d.process(buffer.as_slice());
        }
        ProcessStatus::Normal
    }
}

impl Lull {
    /// Puts the current parameter values into a fresh engine, without smoothing.
    fn apply_params(&self, d: &mut Denoiser) {
        d.set_reduction_db(self.params.reduction.value());
        d.set_output_gain_db(self.params.output_gain.value());
        d.set_dehum(self.params.hum_removal.value());
        d.set_bypassed(self.params.bypass.value());
        d.reset();
    }
}

impl ClapPlugin for Lull {
    const CLAP_ID: &'static str = "audio.lull.denoiser";
    const CLAP_DESCRIPTION: Option<&'static str> = Some(env!("CARGO_PKG_DESCRIPTION"));
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Restoration,
        ClapFeature::Mono,
        ClapFeature::Stereo,
    ];
}

impl Vst3Plugin for Lull {
    const VST3_CLASS_ID: [u8; 16] = *b"LullDenoiserV001";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Restoration];
}

nice_export_clap!(Lull);
nice_export_vst3!(Lull);
