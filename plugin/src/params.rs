//! The parameters a user sees. IDs are stable: changing one breaks saved projects.

use std::sync::Arc;

use nice_plug::prelude::*;

use crate::engine::OUTPUT_GAIN_RANGE_DB;

/// Default maximum attenuation. 30 dB removes most steady noise while leaving a natural bed.
pub const DEFAULT_REDUCTION_DB: f32 = 30.0;
pub const MAX_REDUCTION_DB: f32 = 60.0;

/// The lowest gain a Reduction of `db` lets the engine play (1.0 at 0 dB, transparent). The
/// engine's floor, and the offline tools that must take out what the engine would, use this one
/// formula. `db` is clamped to 0..=100.
pub fn reduction_floor(db: f32) -> f32 {
    10f32.powf(-db.clamp(0.0, 100.0) / 20.0)
}

#[derive(Params)]
pub struct LullParams {
    /// Maximum attenuation applied to noise, in dB. 0 dB leaves the signal untouched.
    #[id = "reduction"]
    pub reduction: FloatParam,
    /// Gain applied to the denoised signal, in dB.
    #[id = "out_gain"]
    pub output_gain: FloatParam,
    /// Takes out mains hum (50 or 60 Hz and their harmonics below 1 kHz) in front of the
    /// network, as far as Reduction allows. On by default; off for material with steady tones
    /// on those frequencies that must stay (a 400 Hz test tone, say).
    #[id = "dehum"]
    pub hum_removal: BoolParam,
    /// Host bypass: crossfades to the dry signal, delayed by the plugin's latency.
    #[id = "bypass"]
    pub bypass: BoolParam,
}

/// A parameter's text-to-value parser, as nice-plug's `with_string_to_value` takes it.
type StringToValue = Arc<dyn Fn(&str) -> Option<f32> + Send + Sync>;

/// Parses "12", "12 dB", "12dB", "-3.5 db".
fn s2v_db() -> StringToValue {
    Arc::new(|s: &str| {
        let s = s.trim();
        let s = s
            .strip_suffix("dB")
            .or_else(|| s.strip_suffix("db"))
            .or_else(|| s.strip_suffix("DB"))
            .unwrap_or(s);
        s.trim().parse::<f32>().ok().filter(|v| v.is_finite())
    })
}

impl Default for LullParams {
    fn default() -> Self {
        let (gain_lo, gain_hi) = OUTPUT_GAIN_RANGE_DB;
        Self {
            reduction: FloatParam::new(
                "Reduction",
                DEFAULT_REDUCTION_DB,
                FloatRange::Linear { min: 0.0, max: MAX_REDUCTION_DB },
            )
            .with_unit(" dB")
            .with_step_size(0.1)
            .with_value_to_string(formatters::v2s_f32_rounded(1))
            .with_string_to_value(s2v_db()),
            output_gain: FloatParam::new(
                "Output Gain",
                0.0,
                FloatRange::Linear { min: gain_lo, max: gain_hi },
            )
            .with_unit(" dB")
            .with_step_size(0.1)
            .with_value_to_string(formatters::v2s_f32_rounded(1))
            .with_string_to_value(s2v_db()),
            hum_removal: BoolParam::new("Hum Removal", true),
            bypass: BoolParam::new("Bypass", false).make_bypass(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_strings_parse_with_and_without_unit() {
        let f = s2v_db();
        assert_eq!(f("12"), Some(12.0));
        assert_eq!(f("12 dB"), Some(12.0));
        assert_eq!(f(" -3.5db "), Some(-3.5));
        assert_eq!(f("loud"), None);
        assert_eq!(f("NaN dB"), None);
    }

    #[test]
    fn reduction_floor_is_the_gain_of_minus_db_clamped() {
        assert_eq!(reduction_floor(0.0), 1.0);
        assert!((reduction_floor(20.0) - 0.1).abs() < 1e-7);
        assert!((reduction_floor(DEFAULT_REDUCTION_DB) - 0.031_622_78).abs() < 1e-7);
        // Out of range: a negative Reduction would amplify, a huge one would underflow.
        assert_eq!(reduction_floor(-6.0), 1.0);
        assert!((reduction_floor(1e9) - 1e-5).abs() < 1e-12);
    }
}
