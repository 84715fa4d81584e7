//! Framing shared by STOI and the band-energy check: window, frame grid, frame energies, and
//! power spectra. The conventions are pystoi's, so STOI can match it frame for frame.

use realfft::RealFftPlanner;

/// MATLAB's `hanning(len)` (numpy `hanning(len + 2)[1:-1]`): a Hann window without its zero
/// end points, as used by the STOI reference code.
pub(super) fn hann(len: usize) -> Vec<f64> {
    let period = (len + 1) as f64;
    (1..=len)
        .map(|n| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / period).cos())
        .collect()
}

/// Frame start indices `0, hop, 2·hop, …` strictly below `n - frame_len`. The strict bound is
/// pystoi's (`range(0, len(x) - frame_len, hop)`): a frame ending exactly at the end of the
/// signal is dropped. Matching it matters because STOI frames are 25.6 ms long.
pub(super) fn frame_starts(n: usize, frame_len: usize, hop: usize) -> impl Iterator<Item = usize> {
    (0..n.saturating_sub(frame_len)).step_by(hop.max(1))
}

/// Energy of each windowed frame in dB, `20·log10(‖w·x‖ + ε)`, with numpy's ε so that digital
/// silence gives a finite −313 dB rather than −∞.
pub(super) fn frame_energies_db(x: &[f64], window: &[f64], hop: usize) -> Vec<f64> {
    frame_starts(x.len(), window.len(), hop)
        .map(|start| {
            let frame = &x[start..start + window.len()];
            let energy: f64 = frame
                .iter()
                .zip(window)
                .map(|(s, w)| (s * w) * (s * w))
                .sum();
            20.0 * (energy.sqrt() + f64::EPSILON).log10()
        })
        .collect()
}

/// Which frames are within `range_db` of the loudest one (strictly above `max − range_db`).
pub(super) fn loud_frames(energies_db: &[f64], range_db: f64) -> Vec<bool> {
    let loudest = energies_db
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    energies_db
        .iter()
        .map(|&e| e > loudest - range_db)
        .collect()
}

/// One-sided power spectrum `|X_k|²`, `k = 0..=fft_len/2`, of each windowed frame on the
/// [`frame_starts`] grid, zero-padded to `fft_len` (≥ the window length).
pub(super) fn power_spectra(
    x: &[f64],
    window: &[f64],
    fft_len: usize,
    hop: usize,
) -> Vec<Vec<f64>> {
    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(fft_len);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    frame_starts(x.len(), window.len(), hop)
        .map(|start| {
            input.fill(0.0);
            for ((slot, s), w) in input.iter_mut().zip(&x[start..]).zip(window) {
                *slot = s * w;
            }
            // Lengths come from the planner itself, the only way this can fail.
            fft.process(&mut input, &mut spectrum)
                .expect("buffers sized by the planner");
            spectrum.iter().map(|c| c.norm_sqr()).collect()
        })
        .collect()
}
