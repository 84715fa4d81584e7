//! STOI, the short-time objective intelligibility measure of Taal, Hendriks, Heusdens and Jensen
//! (IEEE TASLP 2011), following `pystoi.stoi(..., extended=False)` step for step.

use super::frames::{frame_energies_db, frame_starts, hann, loud_frames, power_spectra};
use super::resample::resample_f64;

/// STOI works at 10 kHz: speech intelligibility lives below 5 kHz.
const RATE: u32 = 10_000;
/// 25.6 ms frames, 50 % overlap, zero-padded to 512 points.
const FRAME_LEN: usize = 256;
const HOP: usize = FRAME_LEN / 2;
const FFT_LEN: usize = 512;
/// 15 one-third-octave bands, the lowest centred on 150 Hz (the highest on ≈ 3.8 kHz).
const BANDS: usize = 15;
const LOWEST_CENTRE_HZ: f64 = 150.0;
/// Frames more than 40 dB below the loudest clean frame are silence and are dropped.
const DYNAMIC_RANGE_DB: f64 = 40.0;
/// Correlations are taken over 30-frame (384 ms) segments, the span of a syllable or two.
const SEGMENT: usize = 30;
/// Signal-to-distortion floor of −15 dB: the processed envelope is clipped to at most
/// `1 + 10^(15/20)` times the clean one, so a single loud error cannot dominate a band.
const BETA_DB: f64 = -15.0;

/// STOI of `processed` against `clean`, both at `rate` Hz. Typically 0.4–1; higher is more
/// intelligible. Matches pystoi 0.4 (classic STOI) within ±0.005 on the fixtures in
/// `xtask/tests/fixtures/metrics/`; the difference comes from the 10 kHz resampler only.
///
/// Returns NaN when the measure is undefined: empty, NaN/∞ or differently long signals, a zero
/// rate, an all-zero clean signal, or fewer than 30 frames (≈ 0.4 s) of non-silent clean
/// speech. (pystoi returns 1e-5 with a warning in that last case; NaN cannot be mistaken for a
/// score.)
pub fn stoi(clean: &[f32], processed: &[f32], rate: u32) -> f64 {
    let silent = clean.iter().all(|&s| s == 0.0);
    if super::check_pair(clean, processed, true).is_err() || rate == 0 || silent {
        return f64::NAN;
    }
    let to_10k = |x: &[f32]| resample_f64(&super::widen(x), rate, RATE);
    let (x, y) = (to_10k(clean), to_10k(processed));
    let Some((x, y)) = remove_silent_frames(&x, &y) else {
        return f64::NAN;
    };

    let window = hann(FRAME_LEN);
    let x_bands = third_octave_envelopes(&power_spectra(&x, &window, FFT_LEN, HOP));
    let y_bands = third_octave_envelopes(&power_spectra(&y, &window, FFT_LEN, HOP));
    let frames = x_bands.first().map_or(0, Vec::len);
    if frames < SEGMENT {
        return f64::NAN;
    }

    // Eq. (6) of the paper: the mean, over every band and every 30-frame segment ending at
    // frame m, of the correlation between the clean and the clipped processed envelopes.
    let segments = frames - SEGMENT + 1;
    let total: f64 = x_bands
        .iter()
        .zip(&y_bands)
        .map(|(xb, yb)| {
            (0..segments)
                .map(|s| segment_correlation(&xb[s..s + SEGMENT], &yb[s..s + SEGMENT]))
                .sum::<f64>()
        })
        .sum();
    total / (BANDS * segments) as f64
}

/// Drops the frames where the clean signal is more than 40 dB below its loudest frame, from both
/// signals, and overlap-adds the remaining Hann-windowed frames back into two shorter signals.
/// `None` if no frame is left (a signal shorter than one frame).
fn remove_silent_frames(x: &[f64], y: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    let window = hann(FRAME_LEN);
    let keep = loud_frames(&frame_energies_db(x, &window, HOP), DYNAMIC_RANGE_DB);
    let starts: Vec<usize> = frame_starts(x.len(), FRAME_LEN, HOP)
        .zip(&keep)
        .filter(|(_, &k)| k)
        .map(|(s, _)| s)
        .collect();
    if starts.is_empty() {
        return None;
    }
    let overlap_add = |signal: &[f64]| {
        let mut out = vec![0.0; (starts.len() - 1) * HOP + FRAME_LEN];
        for (i, &start) in starts.iter().enumerate() {
            let frame = &signal[start..start + FRAME_LEN];
            for ((o, s), w) in out[i * HOP..].iter_mut().zip(frame).zip(&window) {
                *o += s * w;
            }
        }
        out
    };
    Some((overlap_add(x), overlap_add(y)))
}

/// Per band, the envelope over frames: `sqrt(Σ |X_k|²)` over the band's FFT bins (eq. 1).
/// Returned band-major (`[band][frame]`) because segments run along frames.
fn third_octave_envelopes(spectra: &[Vec<f64>]) -> Vec<Vec<f64>> {
    third_octave_bins()
        .into_iter()
        .map(|bins| {
            spectra
                .iter()
                .map(|power| power[bins.clone()].iter().sum::<f64>().sqrt())
                .collect()
        })
        .collect()
}

/// FFT bin ranges of the 15 one-third-octave bands: each edge `150·2^((2k±1)/6)` Hz snapped to
/// the nearest bin (the first, on a tie), upper edge exclusive, as pystoi's `thirdoct`.
fn third_octave_bins() -> Vec<std::ops::Range<usize>> {
    let bin_hz = f64::from(RATE) / FFT_LEN as f64;
    let nearest_bin = |hz: f64| {
        (0..=FFT_LEN / 2)
            .min_by(|&a, &b| {
                let da = (a as f64 * bin_hz - hz).powi(2);
                let db = (b as f64 * bin_hz - hz).powi(2);
                da.total_cmp(&db)
            })
            .unwrap_or(0)
    };
    (0..BANDS)
        .map(|k| {
            let k = k as f64;
            let low = LOWEST_CENTRE_HZ * 2f64.powf((2.0 * k - 1.0) / 6.0);
            let high = LOWEST_CENTRE_HZ * 2f64.powf((2.0 * k + 1.0) / 6.0);
            nearest_bin(low)..nearest_bin(high)
        })
        .collect()
}

/// Correlation of one band's clean and processed envelopes over one segment (eqs. 3–5): the
/// processed envelope is scaled to the clean one's energy, clipped at the −15 dB SDR bound, and
/// both are mean-removed and normalised. ε as in pystoi keeps silent segments finite.
fn segment_correlation(x: &[f64], y: &[f64]) -> f64 {
    const EPS: f64 = f64::EPSILON;
    let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
    let gain = norm(x) / (norm(y) + EPS);
    let ceiling = 1.0 + 10f64.powf(-BETA_DB / 20.0);
    let clipped: Vec<f64> = x
        .iter()
        .zip(y)
        .map(|(&xv, &yv)| (yv * gain).min(xv * ceiling))
        .collect();

    let centred = |v: &[f64]| {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|a| a - mean).collect::<Vec<f64>>()
    };
    let (xc, yc) = (centred(x), centred(&clipped));
    let dot: f64 = xc.iter().zip(&yc).map(|(a, b)| a * b).sum();
    dot / ((norm(&xc) + EPS) * (norm(&yc) + EPS))
}
