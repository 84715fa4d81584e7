//! Mains-hum canceller: takes out the harmonics of 50 or 60 Hz that stay put for seconds, before
//! the network sees the signal.
//!
//! Why: hum is a set of lines 50 or 60 Hz apart, narrower than any of the network's bands (100 Hz
//! and up), so band gains can only turn a whole band down, voice and all, while the lines sit
//! between the voice's harmonics. Hum is also exactly periodic, which speech and most other noise
//! are not, so it can be learned and subtracted in the time domain instead: no latency, nothing
//! taken from the voice but a notch a fraction of a hertz wide at each hum line.
//!
//! How, per family (50 Hz, then 60 Hz on what the first left): a one-period template indexed by
//! the phase of the mains cycle is averaged sample by sample (an LMS comb: each harmonic of the
//! template is a one-pole average of the input's complex amplitude there, with time constant
//! `SLOW_TAU_S`). Each hop the template is taken apart by an FFT and put back together from only
//! the harmonics that are *coherent*: whose slow average holds about as much power as a fast one
//! (`FAST_TAU_S`) does on average. A steady line passes both alike; speech, noise and music,
//! whose energy at a given frequency does not keep its phase for a second, leave the slow
//! average nearly empty. A harmonic must also hold still: a voice held near a multiple of the
//! mains frequency can look coherent for a while (while the slow average is young, above all),
//! but its amplitude in the slow template wanders where a hum line's does not. The rebuilt
//! template is what is subtracted, never louder than the input (a guard for hum that stops, or
//! for digital silence). The mains frequency is tracked (±`TRACK_RANGE_HZ`) from how the
//! coherent harmonics' phases drift between hops.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// Mains frequencies, in the order the families run.
const MAINS_HZ: [f64; 2] = [50.0, 60.0];
/// Harmonics at or above this frequency are left to the network (and a 1 kHz test tone alone).
const MAX_HARMONIC_HZ: f64 = 1000.0;
/// Time constant of the template that is subtracted: the notch around each hum line is about
/// 1 / (4 · this) Hz wide, and a new hum is learned over about this long.
const SLOW_TAU_S: f64 = 1.0;
/// Time constant of the template the coherence is measured against.
const FAST_TAU_S: f64 = 0.04;
/// A harmonic is subtracted in full above `COHERENCE_FULL`, not at all below `COHERENCE_OFF`
/// (slow power over the fast one's average: 1 for a steady line, about 0.04 for noise).
const COHERENCE_OFF: f32 = 0.2;
const COHERENCE_FULL: f32 = 0.4;
/// Template slots per period (a power of two, at most one per sample of the period).
const MAX_SLOTS: usize = 256;
/// How far from the nominal mains frequency the tracker may go, and how fast it follows (the
/// share of the measured offset taken per refresh, once the template has settled).
const TRACK_RANGE_HZ: f64 = 1.0;
const TRACK_GAIN: f64 = 0.1;
const TRACK_AFTER_S: f64 = 1.0;
/// A harmonic is subtracted in full while its slow amplitude stays within √`STILL_FULL` of its
/// average over `ANCHOR_TAU_S` (relative), not at all beyond √`STILL_OFF`.
const ANCHOR_TAU_S: f64 = 0.35;
const STILL_FULL: f32 = 0.05;
const STILL_OFF: f32 = 0.2;
/// A harmonic is subtracted in full while the fast template holds at least `PRESENT_FULL` of
/// its slow amplitude (in phase with it, averaged over `PRESENCE_TAU_S`), not at all below
/// `PRESENT_OFF`.
const PRESENCE_TAU_S: f64 = 0.1;
const PRESENT_FULL: f32 = 0.6;
const PRESENT_OFF: f32 = 0.3;
/// Nothing is subtracted for this long after a reset, and in full only after twice as long: a
/// voice held on a multiple of 50 or 60 Hz for a few tenths of a second is as coherent, still
/// and present as hum in a template that young, and hum is there for minutes, not moments.
const QUIET_START_S: f64 = 0.4;
/// Time constant of the short-term energies the guard compares (see `HumCanceller::tick`).
const GUARD_TAU_S: f64 = 0.01;

/// 0 at `off`, 1 at `full` (either way round), linear between.
fn ramp(value: f32, off: f32, full: f32) -> f32 {
    ((value - off) / (full - off)).clamp(0.0, 1.0)
}

/// One mains family's canceller: templates, their spectra and the table it subtracts.
struct Family {
    nominal_hz: f64,
    f0: f64,
    rate: f64,
    /// Position in the mains cycle as a fraction of 2³² (it wraps with the cycle), and how far
    /// it moves per sample: integer steps, so the per-sample work needs no division or rounding.
    phase: u32,
    step: u32,
    /// log2(`slots`): the top bits of `phase` are the slot, the rest the fraction between two.
    slot_bits: u32,
    slots: usize,
    /// Harmonics considered: 1..=harmonics.
    harmonics: usize,
    /// The templates and the table are `MAX_SLOTS` long whatever `slots` is, so an index
    /// masked to `MAX_SLOTS` needs no bounds check in the per-sample loop.
    slow: Box<[f32; MAX_SLOTS]>,
    fast: Box<[f32; MAX_SLOTS]>,
    /// What is subtracted, `slots + 1` values (the last repeats the first, for interpolation).
    clean: Box<[f32; MAX_SLOTS + 1]>,
    slow_rate: f32,
    /// The slow template's rate this hop: at first a plain average (1/n), so that a hum is
    /// learned in a fraction of a second rather than over several τ, then `slow_rate`.
    slow_now: f32,
    fast_rate: f32,
    /// Smoothed power of each harmonic in the fast template.
    fast_power: Vec<f32>,
    /// Each harmonic's slow amplitude at the last refresh (for tracking).
    last: Vec<Complex32>,
    /// Each harmonic's slow amplitude averaged over `ANCHOR_TAU_S`.
    anchor: Vec<Complex32>,
    /// Each harmonic's fast amplitude in phase with its slow one, relative, averaged over
    /// `PRESENCE_TAU_S`.
    presence: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    ifft: Arc<dyn ComplexToReal<f32>>,
    time: Vec<f32>,
    spectrum: Vec<Complex32>,
    fast_spectrum: Vec<Complex32>,
    scratch: Vec<Complex32>,
}

impl Family {
    fn new(nominal_hz: f64, rate: f64, planner: &mut RealFftPlanner<f32>) -> Self {
        let period = rate / (nominal_hz + TRACK_RANGE_HZ);
        // Largest power of two not above the period, so every slot is written every period.
        let slots = (1usize << (period.max(2.0).log2().floor() as u32)).min(MAX_SLOTS);
        let top = MAX_HARMONIC_HZ.min(rate / 2.0);
        let harmonics = (((top / (nominal_hz + TRACK_RANGE_HZ)).ceil() as usize).saturating_sub(1)).min(slots / 2 - 1);
        let fft = planner.plan_fft_forward(slots);
        let ifft = planner.plan_fft_inverse(slots);
        let scratch_len = fft.get_scratch_len().max(ifft.get_scratch_len());
        // A slot takes in about rate/slots samples' worth of weight per second, so a per-write
        // rate of slots / (τ · rate) averages over τ.
        let per_write = |tau: f64| ((slots as f64 / (tau * rate)).min(0.5)) as f32;
        let mut this = Self {
            nominal_hz,
            f0: nominal_hz,
            rate,
            phase: 0,
            step: 0,
            slot_bits: slots.trailing_zeros(),
            slots,
            harmonics,
            slow: Box::new([0.0; MAX_SLOTS]),
            fast: Box::new([0.0; MAX_SLOTS]),
            clean: Box::new([0.0; MAX_SLOTS + 1]),
            slow_rate: per_write(SLOW_TAU_S),
            slow_now: 0.5,
            fast_rate: per_write(FAST_TAU_S),
            fast_power: vec![0.0; harmonics + 1],
            last: vec![Complex32::default(); harmonics + 1],
            anchor: vec![Complex32::default(); harmonics + 1],
            presence: vec![0.0; harmonics + 1],
            time: vec![0.0; slots],
            spectrum: vec![Complex32::default(); slots / 2 + 1],
            fast_spectrum: vec![Complex32::default(); slots / 2 + 1],
            scratch: vec![Complex32::default(); scratch_len],
            fft,
            ifft,
        };
        this.reset();
        this
    }

    fn reset(&mut self) {
        self.f0 = self.nominal_hz;
        self.set_step();
        self.phase = 0;
        self.slow_now = 0.5;
        self.slow.fill(0.0);
        self.fast.fill(0.0);
        self.clean.fill(0.0);
        self.fast_power.fill(0.0);
        self.last.fill(Complex32::default());
        self.anchor.fill(Complex32::default());
        self.presence.fill(0.0);
    }

    /// Learns from `x` and returns the hum this family predicts at this sample.
    #[inline]
    fn tick(&mut self, x: f32) -> f32 {
        // `slots` ≤ `MAX_SLOTS`, both powers of two: the masks change nothing but the bounds
        // checks the compiler would add.
        let j = (self.phase >> (32 - self.slot_bits)) as usize & (MAX_SLOTS - 1);
        let k = (j + 1) & (self.slots - 1) & (MAX_SLOTS - 1);
        // The bits below the slot's, as a fraction (the top 24 of them: all an f32 holds).
        let fr = ((self.phase << self.slot_bits) >> 8) as f32 * (1.0 / (1u32 << 24) as f32);
        for (template, rate) in [(&mut self.slow, self.slow_now), (&mut self.fast, self.fast_rate)] {
            let e = x - (template[j] * (1.0 - fr) + template[k] * fr);
            template[j] += rate * (1.0 - fr) * e;
            template[k] += rate * fr * e;
        }
        let hum = self.clean[j] * (1.0 - fr) + self.clean[j + 1] * fr;
        self.phase = self.phase.wrapping_add(self.step);
        hum
    }

    /// The phase step per sample for the current mains frequency.
    fn set_step(&mut self) {
        self.step = (self.f0 / self.rate * 4_294_967_296.0).round() as u32;
    }

    /// Rebuilds the subtracted table from the coherent harmonics, and tracks the mains
    /// frequency. `dt`: seconds since the last refresh; `elapsed_s`: since the reset.
    fn refresh(&mut self, dt: f64, elapsed_s: f64) {
        self.time.copy_from_slice(&self.fast[..self.slots]);
        let _ = self.fft.process_with_scratch(&mut self.time, &mut self.fast_spectrum, &mut self.scratch);
        self.time.copy_from_slice(&self.slow[..self.slots]);
        let _ = self.fft.process_with_scratch(&mut self.time, &mut self.spectrum, &mut self.scratch);
        let smooth = (1.0 - (-dt / SLOW_TAU_S).exp()) as f32;
        // Noise leaves in the slow template about the share FAST_TAU / (how long it has
        // averaged) of what it leaves in the fast one; in the first moments that is near 1, and
        // speech would pass for hum. So the bar starts above any line and comes down to
        // `COHERENCE_OFF` as the slow template fills.
        let off = COHERENCE_OFF.max((5.0 * FAST_TAU_S / elapsed_s.min(SLOW_TAU_S)) as f32);
        // Plain average at first, like the template.
        let plain = (dt / elapsed_s.max(dt)) as f32;
        let s = smooth.max(plain);
        let anchor_rate = ((1.0 - (-dt / ANCHOR_TAU_S).exp()) as f32).max(plain);
        let presence_rate = ((1.0 - (-dt / PRESENCE_TAU_S).exp()) as f32).max(plain);
        let settled = ((elapsed_s - QUIET_START_S) / QUIET_START_S).clamp(0.0, 1.0) as f32;
        let (mut drift, mut drift_weight) = (0.0f64, 0.0f64);
        for h in 1..=self.harmonics {
            let (a, f) = (self.spectrum[h], self.fast_spectrum[h]);
            self.fast_power[h] += (f.norm_sqr() - self.fast_power[h]) * s;
            let coherence = a.norm_sqr() / (self.fast_power[h] + 1e-30);
            let coherent = ((coherence - off) / (COHERENCE_FULL - COHERENCE_OFF)).clamp(0.0, 1.0);
            // A hum line's slow amplitude holds still; one made of a voice's harmonics, held
            // near a multiple of the mains frequency for a while, wanders as the voice moves,
            // even where it is as coherent as a line (at start-up above all).
            let anchor = self.anchor[h] + (a - self.anchor[h]) * anchor_rate;
            self.anchor[h] = anchor;
            let moved = (a - anchor).norm_sqr() / (a.norm_sqr() + 1e-30);
            let still = ramp(moved, STILL_OFF, STILL_FULL);
            // And it must be there now: the fast template holds a hum line as fully as the slow
            // one does, hop after hop, where a voice that has moved on or fallen silent has left
            // only its trace in the slow average.
            let now = (f * a.conj()).re / (a.norm_sqr() + 1e-30);
            self.presence[h] += (now - self.presence[h]) * presence_rate;
            let present = ramp(self.presence[h], PRESENT_OFF, PRESENT_FULL);
            let w = coherent * still * present * settled;
            if elapsed_s > TRACK_AFTER_S && w > 0.0 && self.last[h].norm_sqr() > 0.0 {
                // The phase a harmonic turned through since the last refresh, as a frequency
                // offset of the fundamental; weighed by power and by h² (a higher harmonic turns
                // h times as far for the same offset, so measures it h times as finely).
                let turned = (a * self.last[h].conj()).arg() as f64;
                let wt = (w * a.norm_sqr()) as f64 * (h * h) as f64;
                drift += wt * turned / (std::f64::consts::TAU * h as f64 * dt);
                drift_weight += wt;
            }
            self.last[h] = a;
            // What is kept of it, scaled for the inverse FFT.
            self.spectrum[h] = a * (w / self.slots as f32);
        }
        if drift_weight > 0.0 {
            let offset = drift / drift_weight;
            self.f0 = (self.f0 + TRACK_GAIN * offset).clamp(self.nominal_hz - TRACK_RANGE_HZ, self.nominal_hz + TRACK_RANGE_HZ);
            self.set_step();
        }
        // Nothing else is kept (no DC: that is the high-pass's business, not hum; `harmonics`
        // stops below Nyquist, so its bin is zeroed too, as realfft requires).
        self.spectrum[0] = Complex32::default();
        self.spectrum[self.harmonics + 1..].fill(Complex32::default());
        let _ = self.ifft.process_with_scratch(&mut self.spectrum, &mut self.clean[..self.slots], &mut self.scratch);
        self.clean[self.slots] = self.clean[0];
    }
}

/// Hum canceller for one channel. Allocates only in `new`.
pub struct HumCanceller {
    families: [Family; 2],
    /// Samples between refreshes (one engine hop).
    refresh_every: usize,
    since_refresh: usize,
    elapsed: u64,
    rate: f64,
    /// Short-term energy of the input and of the hum predicted for it, and their smoothing.
    input_energy: f32,
    hum_energy: f32,
    guard_rate: f32,
}

impl HumCanceller {
    pub fn new(sample_rate: f32, refresh_every: usize, planner: &mut RealFftPlanner<f32>) -> Self {
        let rate = sample_rate as f64;
        Self {
            families: MAINS_HZ.map(|hz| Family::new(hz, rate, planner)),
            refresh_every: refresh_every.max(1),
            since_refresh: 0,
            elapsed: 0,
            rate,
            input_energy: 0.0,
            hum_energy: 0.0,
            guard_rate: (1.0 - (-1.0 / (GUARD_TAU_S * rate)).exp()) as f32,
        }
    }

    pub fn reset(&mut self) {
        self.families.iter_mut().for_each(Family::reset);
        self.since_refresh = 0;
        self.elapsed = 0;
        self.input_energy = 0.0;
        self.hum_energy = 0.0;
    }

    /// The input with `amount` (0..=1) of the learned hum taken out.
    #[inline]
    pub fn tick(&mut self, x: f32, amount: f32) -> f32 {
        let mut y = x;
        for family in &mut self.families {
            // The 60 Hz family learns from what the 50 Hz one left, so a line both share (every
            // 300 Hz) is taken out once.
            y -= family.tick(y);
        }
        self.elapsed += 1;
        self.since_refresh += 1;
        if self.since_refresh == self.refresh_every {
            self.since_refresh = 0;
            let (dt, elapsed_s) = (self.refresh_every as f64 / self.rate, self.elapsed as f64 / self.rate);
            // The next hop's rate for the slow templates, 1/n at its middle.
            let n = self.elapsed as f32 + 0.5 * self.refresh_every as f32;
            for f in &mut self.families {
                f.refresh(dt, elapsed_s);
                f.slow_now = f.slow_rate.max((f.slots as f32 / n).min(0.5));
            }
        }
        // The guard: the hum in the input cannot be louder than the input. Where the predicted
        // hum is (the hum stopped, or a gate or an edit left digital silence), it is scaled down
        // to the input's level rather than subtracted into a quiet passage as a hum of its own,
        // which the network's noise-floor features, and PESQ, would notice.
        let hum = x - y;
        self.input_energy += (x * x - self.input_energy) * self.guard_rate;
        self.hum_energy += (hum * hum - self.hum_energy) * self.guard_rate;
        let guard = if self.hum_energy > self.input_energy { self.input_energy / self.hum_energy } else { 1.0 };
        x - hum * amount * guard
    }

    /// The mains frequencies the families currently track, in Hz (50 Hz family, 60 Hz family).
    pub fn tracked_hz(&self) -> [f64; 2] {
        [self.families[0].f0, self.families[1].f0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Mains hum as the training data makes it: odd harmonics strong, up to the 11th.
    fn hum(rate: f32, hz: f32, len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let t = i as f32 / rate;
                (1..=11)
                    .map(|k| {
                        let amp = if k % 2 == 1 { 0.1 } else { 0.03 } / (k as f32).sqrt();
                        amp * (std::f32::consts::TAU * hz * k as f32 * t + 0.7 * k as f32).sin()
                    })
                    .sum()
            })
            .collect()
    }

    /// A harmonic series (amplitudes 1/k) with the given pitch and envelope over time (s).
    fn harmonic_voice(rate: f32, len: usize, harmonics: usize, f0: impl Fn(f32) -> f32, envelope: impl Fn(f32) -> f32) -> Vec<f32> {
        let mut phase = 0.0f32;
        (0..len)
            .map(|i| {
                let t = i as f32 / rate;
                phase += f0(t) / rate;
                let tone: f32 = (1..=harmonics).map(|k| (std::f32::consts::TAU * phase * k as f32).sin() / k as f32).sum();
                0.05 * envelope(t) * tone
            })
            .collect()
    }

    /// A voice-like signal: a harmonic series whose pitch glides between 90 and 210 Hz, in
    /// syllables, over a little white noise.
    fn voice(rate: f32, len: usize) -> Vec<f32> {
        let tau = std::f32::consts::TAU;
        let tone = harmonic_voice(rate, len, 20, |t| 150.0 + 60.0 * (tau * 0.7 * t).sin(), |t| (tau * 2.5 * t).sin().max(0.0));
        let mut seed = 1u32;
        tone.into_iter()
            .map(|v| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                v + 0.002 * ((seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5)
            })
            .collect()
    }

    fn run(rate: f32, x: &[f32], amount: f32) -> (Vec<f32>, HumCanceller) {
        let mut planner = RealFftPlanner::new();
        let mut c = HumCanceller::new(rate, (rate / 100.0) as usize, &mut planner);
        (x.iter().map(|&v| c.tick(v, amount)).collect(), c)
    }

    fn energy(x: &[f32]) -> f64 {
        x.iter().map(|&v| (v as f64).powi(2)).sum()
    }

    fn db(num: f64, den: f64) -> f64 {
        10.0 * (num / den).log10()
    }

    /// How far `y` is from `x` over `range`, in dB of `x`'s energy there.
    fn changed_db(y: &[f32], x: &[f32], range: std::ops::Range<usize>) -> f64 {
        let err: Vec<f32> = y[range.clone()].iter().zip(&x[range.clone()]).map(|(a, b)| a - b).collect();
        db(energy(&err), energy(&x[range]))
    }

    /// How much of `x` is left in `y` over `range`, in dB.
    fn left_db(y: &[f32], x: &[f32], range: std::ops::Range<usize>) -> f64 {
        db(energy(&y[range.clone()]), energy(&x[range]))
    }

    #[test]
    fn removes_steady_hum_at_either_mains_frequency_and_any_rate() {
        for rate in [48_000.0, 44_100.0, 16_000.0, 8_000.0] {
            for hz in [50.0, 60.0] {
                let n = (4.0 * rate) as usize;
                let x = hum(rate, hz, n);
                let (y, _) = run(rate, &x, 1.0);
                let left = left_db(&y, &x, n / 2..n);
                eprintln!("{hz} Hz at {rate}: {left:.1} dB");
                assert!(left < -35.0, "{hz} Hz hum at {rate} Hz: {left:.1} dB left after 2 s");
                assert!(y.iter().all(|v| v.is_finite()));
            }
        }
    }

    #[test]
    fn learns_a_hum_within_a_second() {
        let rate = 48_000.0;
        let x = hum(rate, 50.0, rate as usize);
        let (y, _) = run(rate, &x, 1.0);
        let left = left_db(&y, &x, (0.8 * rate) as usize..rate as usize);
        eprintln!("0.8 s in: {left:.1} dB");
        assert!(left < -25.0, "{left:.1} dB left 0.8 s in");
    }

    #[test]
    fn follows_mains_off_its_nominal_frequency() {
        let rate = 48_000.0;
        for hz in [50.1f32, 59.9] {
            let n = (8.0 * rate) as usize;
            let x = hum(rate, hz, n);
            let (y, c) = run(rate, &x, 1.0);
            let tracked = c.tracked_hz()[if hz < 55.0 { 0 } else { 1 }];
            eprintln!("{hz}: tracked {tracked:.4}");
            assert!((tracked - hz as f64).abs() < 0.01, "tracked {tracked:.3} Hz for {hz} Hz");
            let left = left_db(&y, &x, 6 * n / 8..n);
            eprintln!("{hz}: {left:.1} dB");
            assert!(left < -25.0, "{hz} Hz hum: {left:.1} dB left after 6 s");
        }
    }

    #[test]
    fn leaves_a_voice_without_hum_alone_and_takes_the_hum_out_from_under_it() {
        let rate = 48_000.0;
        let n = (6.0 * rate) as usize;
        let v = voice(rate, n);
        let (y, _) = run(rate, &v, 1.0);
        let late = n / 3..n;
        let changed = changed_db(&y, &v, late.clone());
        eprintln!("voice changed {changed:.1} dB");
        assert!(changed < -35.0, "the voice alone changed by {changed:.1} dB");
        // Under hum as loud as the voice, the hum goes and the voice stays.
        let h = hum(rate, 60.0, n);
        let scale = (energy(&v) / energy(&h)).sqrt() as f32;
        let x: Vec<f32> = v.iter().zip(&h).map(|(a, b)| a + scale * b).collect();
        let (y, _) = run(rate, &x, 1.0);
        let snr = -changed_db(&y, &v, late);
        eprintln!("voice under hum: {snr:.1} dB");
        assert!(snr > 15.0, "voice-to-residual after cancelling 0 dB hum: {snr:.1} dB");
    }

    #[test]
    fn leaves_a_voice_held_on_a_mains_harmonic_alone_from_a_cold_start() {
        // The worst case for a young template: a voice whose pitch sits on 150 Hz (the third
        // harmonic of 50) for its first 400 ms, then moves, in syllables.
        let (rate, tau) = (48_000.0, std::f32::consts::TAU);
        let n = (2.0 * rate) as usize;
        let held = |t: f32| if t < 0.4 { 150.0 } else { 150.0 + 40.0 * (tau * 0.8 * (t - 0.4)).sin() };
        let v = harmonic_voice(rate, n, 12, held, |t| (tau * 1.25 * t).sin().abs());
        let (y, _) = run(rate, &v, 1.0);
        // Without the start-up wait, the stillness and the presence checks, −12 dB: most of
        // the held note was taken. Now a little of its tail, as the pitch starts to move.
        let changed = changed_db(&y, &v, 0..n);
        eprintln!("held voice changed {changed:.1} dB");
        assert!(changed < -25.0, "a voice held on 150 Hz changed by {changed:.1} dB");
    }

    #[test]
    fn hum_that_stops_is_not_subtracted_into_the_silence_after_it() {
        let rate = 48_000.0;
        let n = (3.0 * rate) as usize;
        let mut x = hum(rate, 50.0, n);
        x[2 * n / 3..].fill(0.0);
        let (y, _) = run(rate, &x, 1.0);
        // 0.1 s after the hum stops, what comes out is (nearly) the silence that went in.
        let after = energy(&y[2 * n / 3 + (0.1 * rate) as usize..]);
        let during = energy(&x[n / 3..2 * n / 3]);
        let left = db(after, during);
        eprintln!("after the hum stopped: {left:.1} dB");
        assert!(left < -60.0, "{left:.1} dB put into the silence after the hum");
    }

    #[test]
    fn amount_zero_and_silence_pass_unchanged() {
        let rate = 48_000.0;
        let x = hum(rate, 50.0, rate as usize);
        let (y, _) = run(rate, &x, 0.0);
        assert_eq!(x, y);
        let (y, _) = run(rate, &vec![0.0; rate as usize], 1.0);
        assert!(y.iter().all(|&v| v == 0.0));
    }
}
