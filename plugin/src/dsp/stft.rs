//! Streaming STFT with a √Hann analysis and synthesis window at 50 % overlap.
//!
//! The frame is two hops long, so the bin spacing is ~50 Hz at every sample rate (the hop is a
//! fixed duration, not a fixed sample count). √Hann · √Hann = Hann, and periodic Hann windows
//! at 50 % overlap sum to exactly one, so with unit gains the output is the input, delayed.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// Hop and frame sizes for one sample rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StftSize {
    /// Samples per hop.
    pub hop: usize,
    /// Samples per analysis frame (= FFT size = 2 × hop).
    pub fft: usize,
}

impl StftSize {
    /// The hop is `hop_ms` rounded to whole samples at `sample_rate`.
    pub fn for_rate(sample_rate: f32, hop_ms: f32) -> Self {
        let hop = ((sample_rate * hop_ms / 1000.0).round() as usize).max(1);
        Self { hop, fft: 2 * hop }
    }

    pub fn bins(&self) -> usize {
        self.fft / 2 + 1
    }
}

/// Periodic √Hann window: its square, overlap-added at hop = len / 2, is exactly one.
fn sqrt_hann(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| {
            let phase = std::f64::consts::PI * i as f64 / len as f64;
            phase.sin() as f32
        })
        .collect()
}

/// √Hann window and forward FFT of one frame: the analysis every spectrum in Lull goes through
/// (the engine's frames, and the pitch tracker's frame one period back), so they line up.
pub struct FrameTransform {
    window: Arc<[f32]>,
    fft: Arc<dyn RealToComplex<f32>>,
    time: Vec<f32>,
    scratch: Vec<Complex32>,
}

impl FrameTransform {
    pub fn new(size: StftSize, planner: &mut RealFftPlanner<f32>) -> Self {
        let fft = planner.plan_fft_forward(size.fft);
        let scratch = fft.make_scratch_vec();
        Self { window: sqrt_hann(size.fft).into(), fft, time: vec![0.0; size.fft], scratch }
    }

    /// Writes the spectrum of `frame` (`size.fft` samples) into `spectrum` (`size.bins()`
    /// values), unnormalised (realfft convention).
    pub fn forward(&mut self, frame: &[f32], spectrum: &mut [Complex32]) {
        debug_assert_eq!(frame.len(), self.time.len());
        for ((t, x), w) in self.time.iter_mut().zip(frame).zip(self.window.iter()) {
            *t = x * w;
        }
        // Lengths are fixed at construction, so this cannot fail.
        let _ = self.fft.process_with_scratch(&mut self.time, spectrum, &mut self.scratch);
    }
}

/// Analysis side for one channel: keeps the last frame of input and turns each new hop into a
/// spectrum. All buffers are allocated in `new`.
pub struct Analyzer {
    size: StftSize,
    /// Last `fft` input samples, oldest first.
    history: Vec<f32>,
    transform: FrameTransform,
}

impl Analyzer {
    pub fn new(size: StftSize, planner: &mut RealFftPlanner<f32>) -> Self {
        Self { size, history: vec![0.0; size.fft], transform: FrameTransform::new(size, planner) }
    }

    pub fn reset(&mut self) {
        self.history.fill(0.0);
    }

    /// Shifts in one hop of input and writes the spectrum of the newest frame into `spectrum`
    /// (`size.bins()` values). The spectrum is unnormalised (realfft convention).
    pub fn push_hop(&mut self, hop: &[f32], spectrum: &mut [Complex32]) {
        debug_assert_eq!(hop.len(), self.size.hop);
        debug_assert_eq!(spectrum.len(), self.size.bins());
        self.history.copy_within(self.size.hop.., 0);
        self.history[self.size.fft - self.size.hop..].copy_from_slice(hop);
        self.transform.forward(&self.history, spectrum);
    }
}

/// Synthesis side for one channel: inverse FFT, window, overlap-add.
pub struct Synthesizer {
    size: StftSize,
    window: Arc<[f32]>,
    ifft: Arc<dyn ComplexToReal<f32>>,
    /// Overlap-add accumulator, one frame long.
    overlap: Vec<f32>,
    time: Vec<f32>,
    scratch: Vec<Complex32>,
}

impl Synthesizer {
    pub fn new(size: StftSize, planner: &mut RealFftPlanner<f32>) -> Self {
        let ifft = planner.plan_fft_inverse(size.fft);
        let scratch = ifft.make_scratch_vec();
        Self {
            size,
            window: sqrt_hann(size.fft).into(),
            ifft,
            overlap: vec![0.0; size.fft],
            time: vec![0.0; size.fft],
            scratch,
        }
    }

    pub fn reset(&mut self) {
        self.overlap.fill(0.0);
    }

    /// Adds the frame of `spectrum` (consumed as scratch) and writes the hop of output that is
    /// now complete into `out`.
    pub fn push_spectrum(&mut self, spectrum: &mut [Complex32], out: &mut [f32]) {
        debug_assert_eq!(out.len(), self.size.hop);
        // A real signal's DC and Nyquist bins are real; realfft refuses anything else.
        spectrum[0].im = 0.0;
        if let Some(last) = spectrum.last_mut() {
            last.im = 0.0;
        }
        let _ = self
            .ifft
            .process_with_scratch(spectrum, &mut self.time, &mut self.scratch);
        let norm = 1.0 / self.size.fft as f32;
        for ((acc, t), w) in self.overlap.iter_mut().zip(&self.time).zip(self.window.iter()) {
            *acc += t * w * norm;
        }
        out.copy_from_slice(&self.overlap[..self.size.hop]);
        self.overlap.copy_within(self.size.hop.., 0);
        let tail = self.size.fft - self.size.hop;
        self.overlap[tail..].fill(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_gain_round_trip_is_a_pure_delay_of_one_hop() {
        let size = StftSize::for_rate(48_000.0, 10.0);
        assert_eq!(size, StftSize { hop: 480, fft: 960 });
        let mut planner = RealFftPlanner::new();
        let mut a = Analyzer::new(size, &mut planner);
        let mut s = Synthesizer::new(size, &mut planner);
        let input: Vec<f32> = (0..size.hop * 20).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
        let mut output = vec![0.0; input.len()];
        let mut spec = vec![Complex32::default(); size.bins()];
        for (inp, out) in input.chunks(size.hop).zip(output.chunks_mut(size.hop)) {
            a.push_hop(inp, &mut spec);
            s.push_spectrum(&mut spec, out);
        }
        // The hop written after frame k is the first half of frame k: input delayed by one hop.
        for i in size.hop..input.len() {
            assert!((output[i] - input[i - size.hop]).abs() < 1e-5, "sample {i}");
        }
    }
}
