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
/// The output has `ceil(x.len() · to / from)` samples (scipy's `resample_poly` convention; as
/// rubato rounds it in floating point, one more now and then: [`resampled_len`]) and
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
    // Construction fails only for zero rates and processing only for mis-sized buffers, both
    // excluded above; should either happen anyway, an empty result makes downstream metrics NaN.
    let Ok(mut resampler) = Fft::<f64>::new_custom(
        from,
        to,
        Blocks::new(from, to).block_in,
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

/// The length of `resample(x, from, to)` for an `x` of `len` samples.
pub fn resampled_len(len: usize, from: u32, to: u32) -> usize {
    match (from, to) {
        _ if from == to => len,
        (0, _) | (_, 0) => 0,
        // As rubato computes it, in floating point: 88200 samples from 22.05 to 48 kHz give
        // 192001, not the exact ratio's 192000.
        _ => (len as f64 * (to as f64 / from as f64)).ceil() as usize,
    }
}

/// Samples `start..start + n` of `resample(x, from, to)` (zeros past its end), resampling only
/// the stretch of `x` they come from and the filter's reach on either side: for a training
/// loader that takes a few seconds out of a recording many times longer. The same as slicing
/// the whole output, to rounding (the tests bound it).
pub fn resample_window(x: &[f32], from: u32, to: u32, start: usize, n: usize) -> Vec<f32> {
    let mut out: Vec<f32> = if from == to || from == 0 || to == 0 {
        x.get(start..).unwrap_or_default().iter().take(n).copied().collect()
    } else {
        let Blocks { unit_in, unit_out, block_in } = Blocks::new(from as usize, to as usize);
        // The stretch starts on the grid of whole exact-ratio units, so its output lines up
        // with the whole output's; the filter is one block long, so two blocks of margin on
        // either side keep its edges out of the window.
        let reach = 2 * block_in;
        let first = (start * unit_in / unit_out).saturating_sub(reach) / unit_in * unit_in;
        let last = (((start + n) * unit_in).div_ceil(unit_out) + reach).min(x.len());
        let y = if first < last { resample(&x[first..last], from, to) } else { Vec::new() };
        let skip = start - first / unit_in * unit_out;
        y.get(skip..).unwrap_or_default().iter().take(n).copied().collect()
    };
    out.resize(n, 0.0);
    out
}

/// rubato's block sizes for `from` → `to`: the smallest exact-ratio block (`unit_in` →
/// `unit_out` frames), and the input block, a whole multiple of it.
struct Blocks {
    unit_in: usize,
    unit_out: usize,
    block_in: usize,
}

impl Blocks {
    fn new(from: usize, to: usize) -> Self {
        let gcd = gcd(from, to);
        let (unit_in, unit_out) = (from / gcd, to / gcd);
        // An even multiple makes both block sizes even, so the trimmed delay `fft_size_out / 2`
        // is exactly the filter's centre (`fft_size_in / 2` input frames) and leaves no
        // half-sample.
        let mut units = MIN_BLOCK_FRAMES.div_ceil(unit_in.min(unit_out));
        units += units % 2;
        Self { unit_in, unit_out, block_in: units * unit_in }
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_equals_the_same_stretch_of_the_whole_output() {
        // A chirp with noise, 4 s at each source rate: every ratio the loader meets.
        for (from, to) in [(16_000, 48_000), (22_050, 48_000), (48_000, 44_100), (44_100, 16_000), (24_000, 22_050), (16_100, 48_000)] {
            let len = 4 * from as usize;
            let x: Vec<f32> = (0..len).map(|i| {
                let t = i as f32 / from as f32;
                (std::f32::consts::TAU * (100.0 + 900.0 * t) * t).sin() * 0.5 + ((i * 7919) % 101) as f32 / 1000.0
            }).collect();
            let whole = resample(&x, from, to);
            assert_eq!(whole.len(), resampled_len(len, from, to));
            let m = to as usize;
            for (start, n) in [(0, m), (m / 3, m), (2 * m + 17, m / 2), (whole.len() - m / 4, m / 4), (whole.len() - 10, 30)] {
                let w = resample_window(&x, from, to, start, n);
                assert_eq!(w.len(), n);
                // The whole output's last sample is skipped: where rubato's floating-point
                // length rounds up past the exact ratio, it is one the window's shorter
                // stretch need not make.
                for (i, &v) in w.iter().enumerate().filter(|(i, _)| start + i != whole.len() - 1) {
                    let want = whole.get(start + i).copied().unwrap_or(0.0);
                    assert!((v - want).abs() < 1e-4, "{from}→{to} at {}: {v} vs {want}", start + i);
                }
            }
        }
    }
}
