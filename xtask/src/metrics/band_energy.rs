//! How much energy a processor keeps in one frequency band, measured where there is speech:
//! the evaluation's check that the high band is not dulled (or hissed into) by denoising.

use super::frames::{frame_energies_db, hann, loud_frames, power_spectra};

/// Default activity threshold: frames within 40 dB of the loudest clean frame, the dynamic
/// range STOI also treats as speech.
pub const DEFAULT_ACTIVE_RANGE_DB: f64 = 40.0;

/// Ratio, in dB, of the processed to the clean energy between `lo_hz` and `hi_hz` (inclusive
/// bin centres), summed over the frames where the clean signal is active: its full-band
/// energy is within `active_range_db` of its loudest frame (see [`DEFAULT_ACTIVE_RANGE_DB`]).
/// The activity decision uses the clean signal only, so both sums cover the same frames.
///
/// 0 dB means the band's energy is kept; negative, removed (a processed signal low-passed
/// below the band gives ≪ 0); positive, added. Frames are 20 ms Hann windows every 10 ms;
/// `hi_hz` above Nyquist is clamped to it.
///
/// `−∞` when the processed band is silent. NaN when undefined: empty, NaN/∞ or differently
/// long signals; a zero rate; a band that is empty, inverted or not finite, or holds no FFT
/// bin; a signal shorter than one frame; or no clean energy in the band on active frames.
pub fn band_energy_ratio_db(
    clean: &[f32],
    processed: &[f32],
    rate: u32,
    lo_hz: f64,
    hi_hz: f64,
    active_range_db: f64,
) -> f64 {
    if super::check_pair(clean, processed, true).is_err() || rate == 0 {
        return f64::NAN;
    }
    if !(lo_hz.is_finite() && hi_hz.is_finite() && 0.0 <= lo_hz && lo_hz < hi_hz) {
        return f64::NAN;
    }
    let frame_len = ((f64::from(rate) * 0.020).round() as usize).max(2);
    let hop = frame_len / 2;
    let bin_hz = f64::from(rate) / frame_len as f64;
    let bins = (0..=frame_len / 2).filter(|&k| (lo_hz..=hi_hz).contains(&(k as f64 * bin_hz)));
    let bins: Vec<usize> = bins.collect();
    if bins.is_empty() {
        return f64::NAN;
    }

    let (clean, processed) = (super::widen(clean), super::widen(processed));
    let window = hann(frame_len);
    let active = loud_frames(&frame_energies_db(&clean, &window, hop), active_range_db);
    let band_energy = |x: &[f64]| -> f64 {
        power_spectra(x, &window, frame_len, hop)
            .iter()
            .zip(&active)
            .filter(|(_, &is_active)| is_active)
            .map(|(power, _)| bins.iter().map(|&k| power[k]).sum::<f64>())
            .sum()
    };
    let clean_energy = band_energy(&clean);
    if clean_energy == 0.0 {
        return f64::NAN;
    }
    10.0 * (band_energy(&processed) / clean_energy).log10()
}
