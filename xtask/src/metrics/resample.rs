//! Offline sample-rate conversion between any two integer rates, aligned with its input.
//!
//! Built on rubato's synchronous FFT resampler (an overlap-add, windowed-sinc low-pass applied in
//! the frequency domain), which is exact for any rational ratio, so 44.1 k ↔ 48 k needs no
//! drift-tracking. `Resampler::process_all` trims the resampler's start-up delay of
//! `fft_size_out / 2` output frames; we choose block sizes that make that delay an integer
//! number of frames on both sides, so nothing is left over and the output is not shifted.

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

/// The shorter side of an FFT block has at least this many frames. The sinc filter is one input
/// block long, and rubato puts its cutoff at ≈ 0.987 of the lower Nyquist frequency for 1024
/// points (≈ 0.993 for 2048), which keeps 7.9 kHz of a 16 kHz output and all of STOI's bands.
const MIN_BLOCK_FRAMES: usize = 1024;

/// Resamples `x` from `from` Hz to `to` Hz.
///
/// The output has `ceil(x.len() · to / from)` samples (scipy's `resample_poly` convention) and
/// output sample `n` lines up with input time `n / to`: there is no added delay.
///
/// Equal rates return a copy. An empty input or a zero rate returns an empty vector. NaN or
/// infinite samples smear over the FFT block (a couple of thousand samples) around them.
pub fn resample(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    resample_f64(&super::widen(x), from, to)
        .into_iter()
        .map(|s| s as f32)
        .collect()
}

/// [`resample`] in double precision, for metrics that compute in `f64` throughout.
pub(super) fn resample_f64(x: &[f64], from: u32, to: u32) -> Vec<f64> {
    if from == to {
        return x.to_vec();
    }
    if x.is_empty() || from == 0 || to == 0 {
        return Vec::new();
    }
    let (from, to) = (from as usize, to as usize);
    let gcd = gcd(from, to);
    let (unit_in, unit_out) = (from / gcd, to / gcd);
    // Blocks are whole multiples of the smallest exact-ratio block (unit_in → unit_out frames).
    // An even multiple makes both block sizes even, so the trimmed delay `fft_size_out / 2` is
    // exactly the filter's centre (`fft_size_in / 2` input frames) and leaves no half-sample.
    let mut units = MIN_BLOCK_FRAMES.div_ceil(unit_in.min(unit_out));
    units += units % 2;
    // Construction fails only for zero rates and processing only for mis-sized buffers, both
    // excluded above; should either happen anyway, an empty result makes downstream metrics NaN.
    let Ok(mut resampler) = Fft::<f64>::new_custom(
        from,
        to,
        units * unit_in,
        1,
        1,
        WindowFunction::BlackmanHarris2,
        FixedSync::Both,
    ) else {
        return Vec::new();
    };
    let Ok(input) = InterleavedSlice::new(x, 1, x.len()) else {
        return Vec::new();
    };
    match resampler.process_all(&input, x.len(), None) {
        Ok(output) => output.take_data(),
        Err(_) => Vec::new(),
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}
