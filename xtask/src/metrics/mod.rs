//! Objective speech-quality metrics for `xtask eval`, plus the resampler they share.
//!
//! | metric | function | reference it must agree with |
//! |---|---|---|
//! | STOI (Taal et al. 2011) | [`stoi`] | `pystoi.stoi(..., extended=False)`, ±0.005 |
//! | SI-SDR (Le Roux et al. 2019) | [`si_sdr`] | closed form |
//! | PESQ wideband (ITU-T P.862.2) | [`pesq_wb`] | the `pesq` crate; ITU C code via PyPI `pesq` |
//! | high-band energy ratio | [`band_energy_ratio_db`] | — (an engineering check, not a standard) |
//!
//! Reference values and the Python that produced them live in
//! `xtask/tests/fixtures/metrics/`; `xtask/tests/metrics.rs` checks them.
//!
//! Bad input never panics. Functions returning `f64` return NaN when the metric is undefined
//! (empty or mismatched inputs, NaN/∞ samples, a zero sample rate, a silent reference); each
//! function's docs list its cases. [`pesq_wb`] returns an error instead, with the reason.

mod band_energy;
mod frames;
mod pesq;
mod resample;
mod sisdr;
mod stoi;

pub use band_energy::{band_energy_ratio_db, DEFAULT_ACTIVE_RANGE_DB};
pub use pesq::pesq_wb;
pub use resample::{resample, resample_window, resampled_len};
pub use sisdr::si_sdr;
pub use stoi::stoi;

/// Why a pair of signals cannot be scored. Shared so every metric rejects the same inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InputProblem {
    Empty,
    LengthMismatch { clean: usize, processed: usize },
    NonFinite,
}

impl std::fmt::Display for InputProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => write!(f, "empty signal"),
            Self::LengthMismatch { clean, processed } => {
                write!(
                    f,
                    "length mismatch: clean has {clean} samples, processed has {processed}"
                )
            }
            Self::NonFinite => write!(f, "signal contains NaN or infinite samples"),
        }
    }
}

/// The metrics compute in `f64`: sums over minutes of audio lose too much in `f32`.
fn widen(x: &[f32]) -> Vec<f64> {
    x.iter().map(|&s| f64::from(s)).collect()
}

/// Checks that both signals are non-empty and finite and, if `same_length`, equally long.
fn check_pair(clean: &[f32], processed: &[f32], same_length: bool) -> Result<(), InputProblem> {
    if clean.is_empty() || processed.is_empty() {
        return Err(InputProblem::Empty);
    }
    if same_length && clean.len() != processed.len() {
        return Err(InputProblem::LengthMismatch {
            clean: clean.len(),
            processed: processed.len(),
        });
    }
    if !clean.iter().chain(processed).all(|s| s.is_finite()) {
        return Err(InputProblem::NonFinite);
    }
    Ok(())
}
