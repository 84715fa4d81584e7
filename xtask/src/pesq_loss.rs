//! A loss shaped like PESQ's disturbance (ITU-T P.862, as PMSQE does it: Martín-Doñas et al.,
//! "A deep learning loss function based on the perceptual evaluation of the speech quality",
//! 2018), computed on the band energies the band gains play. The gain loss fits each gain's
//! conditional mean; where the network cannot tell speech from noise, that hedge lands wherever
//! the squared error puts it, which is not where PESQ-WB, the target measure, would have it.
//! This term charges what PESQ charges: loudness (energy to the power 0.23) compared band by
//! band, differences within a quarter of the smaller loudness ignored (PESQ's masking
//! dead zone), and energy added where the reference has far less (noise left in) counted again
//! with PESQ's asymmetry factor.
//!
//! Kept from PESQ's alignment: its two compensations, which make a steady colouring or a slow
//! change of level nearly free. The reference's bands are scaled by the ratio of the two
//! sides' mean energies over speech frames (a band turned down by a constant amount throughout
//! is not heard as a disturbance), and the output's frames by the ratio of the two sides'
//! frame energies, smoothed over time as PESQ does (a slow gain change is not either). Left
//! out: its level and time alignment (both sides here are the same frames at the same level),
//! its Bark bands (the model's bands stand in) and its per-band hearing thresholds (one
//! threshold relative to the speech), and its L6/L2 averages over time (a plain mean over
//! frames, as PMSQE).

use candle_core::{DType, Result, Tensor};

/// Loudness exponent of Zwicker's law in PESQ (0.23 above its lowest Bark bands).
const LOUDNESS_POWER: f64 = 0.23;

/// Hearing threshold: band energy relative to the reference speech's mean band energy in the
/// sequence (−50 dB; speech at PESQ's listening level sits 50–60 dB above the threshold in quiet).
const THRESHOLD: f64 = 1e-5;

/// PESQ's masking dead zone: loudness differences within this fraction of the smaller side are
/// not heard.
const DEAD_ZONE: f64 = 0.25;

/// PESQ's asymmetry factor ((E_out + c) / (E_ref + c))^1.2 counts only from 3 and at most 12.
const ASYMMETRY_POWER: f64 = 1.2;
const ASYMMETRY_FROM: f64 = 3.0;
const ASYMMETRY_MAX: f64 = 12.0;

/// PESQ's weights of the symmetric and asymmetric disturbances in its score.
const SYMMETRIC_WEIGHT: f64 = 0.1;
const ASYMMETRIC_WEIGHT: f64 = 0.0309;

/// PESQ's frequency compensation: the ratio of the mean band energies over speech frames,
/// (out + c) / (ref + c), held within 0.01…100; c relative to the speech level.
const EQ_OFFSET: f64 = 1e-3;
const EQ_RANGE: (f64, f64) = (0.01, 100.0);

/// PESQ's gain compensation: per frame (ref + c) / (out + c) of the summed band energies, c per
/// band relative to the speech level, held within 3e-4…5 and smoothed as s ← 0.8·s + 0.2·ratio.
const GAIN_OFFSET: f64 = 5e-4;
const GAIN_RANGE: (f64, f64) = (3e-4, 5.0);
const GAIN_SMOOTHING: f64 = 0.8;

/// The speech level assumed where a sequence has (nearly) no speech, relative to the mixture's
/// mean band energy, so a sequence of noise alone is not scaled without bound.
const LEVEL_FLOOR: f64 = 1e-3;

/// Loudness of band energies `e` already divided by the speech level: threshold^γ((1 + e/threshold)^γ − 1),
/// so 0 in silence, e^γ well above the threshold, and finite slope everywhere.
fn loudness(e: &Tensor) -> Result<Tensor> {
    let t = THRESHOLD.powf(LOUDNESS_POWER);
    ((((e / THRESHOLD)? + 1.0)?.log()? * LOUDNESS_POWER)?.exp()? - 1.0)? * t
}

/// `(t, k)` of a (time × time) matrix that smooths a sequence over time as s_t = a·s_{t−1} +
/// (1 − a)·x_t, each row scaled to sum to 1 so the first frames average what came before them.
fn smoother(frames: usize, a: f64, device: &candle_core::Device) -> Result<Tensor> {
    let mut m = vec![0f32; frames * frames];
    for t in 0..frames {
        let row = &mut m[t * frames..(t + 1) * frames];
        for (k, v) in row.iter_mut().enumerate().take(t + 1) {
            *v = ((1.0 - a) * a.powi((t - k) as i32)) as f32;
        }
        let sum: f32 = row.iter().sum();
        row.iter_mut().for_each(|v| *v /= sum);
    }
    Tensor::from_vec(m, (frames, frames), device)
}

/// The PESQ-shaped disturbance per frame, averaged over frames.
///
/// `gains`, `target`, `weight`: (batch, time, bands) over the bands PESQ-WB hears (below 8 kHz):
/// the network's gains, the ideal gains √(E_clean / E_mix) and the loss mask (0 above a
/// recording's bandwidth in speech). `band_energy`: the mixture's band energies (any scale per
/// sequence). `vad`: (batch, time), 1 in speech frames. `floor`: the smallest gain the engine
/// plays (its Reduction), so the term does not ask for cuts the engine would not make. The
/// reference is the clean speech, `target² · E`, the output `max(gain, floor)² · E`, both
/// divided by the reference's mean over the sequence, then compensated as PESQ does (above).
pub fn pesq_loss(gains: &Tensor, target: &Tensor, weight: &Tensor, band_energy: &Tensor, vad: &Tensor, floor: f64) -> Result<Tensor> {
    let (_, frames, bands) = gains.dims3()?;
    let reference = (target.sqr()? * band_energy)?;
    let played = (gains.maximum(floor)?.sqr()? * band_energy)?;
    // Each sequence's speech level: the reference's mean band energy, held above a floor
    // relative to the mixture's own (and above 0, for a sequence of digital silence).
    let level = (reference.mean_keepdim(2)?.mean_keepdim(1)?.maximum(&(band_energy.mean_keepdim(2)?.mean_keepdim(1)? * LEVEL_FLOOR)?)? + 1e-20)?;
    let (reference, played) = (reference.broadcast_div(&level)?, played.broadcast_div(&level)?);
    // Frequency compensation of the reference, from the speech frames' mean band energies.
    let speech = vad.unsqueeze(2)?;
    let frames_of_speech = (speech.sum_keepdim(1)? + 1e-6)?;
    let mean_over_speech = |x: &Tensor| -> Result<Tensor> { x.broadcast_mul(&speech)?.sum_keepdim(1)?.broadcast_div(&frames_of_speech) };
    let eq = ((mean_over_speech(&played)? + EQ_OFFSET)? / (mean_over_speech(&reference)? + EQ_OFFSET)?)?.clamp(EQ_RANGE.0, EQ_RANGE.1)?;
    let reference = reference.broadcast_mul(&eq)?;
    // Gain compensation of the output, frame by frame, smoothed over time.
    let offset = GAIN_OFFSET * bands as f64;
    let ratio = ((reference.sum_keepdim(2)? + offset)? / (played.sum_keepdim(2)? + offset)?)?.clamp(GAIN_RANGE.0, GAIN_RANGE.1)?;
    let smoothed = smoother(frames, GAIN_SMOOTHING, gains.device())?.broadcast_matmul(&ratio)?;
    let played = played.broadcast_mul(&smoothed)?;
    let (l_ref, l_out) = (loudness(&reference)?, loudness(&played)?);
    let dead = (l_ref.minimum(&l_out)? * DEAD_ZONE)?;
    let heard = ((l_out - l_ref)?.abs()? - dead)?.relu()?.mul(weight)?;
    let symmetric = (heard.sqr()?.sum_keepdim(2)? + 1e-12)?.sqrt()?;
    // The asymmetry factor as a weight, not a path for gradients (as PESQ's, it is a ratio of
    // the two energies, so `heard` already carries the direction).
    let ratio = ((played + THRESHOLD)? / (reference + THRESHOLD)?)?.detach();
    let factor = (ratio.log()? * ASYMMETRY_POWER)?.exp()?.minimum(ASYMMETRY_MAX)?;
    let factor = (&factor * factor.ge(ASYMMETRY_FROM)?.to_dtype(DType::F32)?)?;
    let asymmetric = (heard * factor)?.sum_keepdim(2)?;
    ((symmetric * SYMMETRIC_WEIGHT)? + (asymmetric * ASYMMETRIC_WEIGHT)?)?.mean_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    const FRAMES: usize = 20;

    /// Two bands over `FRAMES` speech frames: band 0 the one under test, with `gain` and `target`
    /// per frame; band 1 ten times louder (20 dB) and played exactly.
    fn loss_of(gain: impl Fn(usize) -> f32, target: impl Fn(usize) -> f32, weight: f32) -> f32 {
        let t = |f: &dyn Fn(usize) -> f32, other: f32| {
            let v: Vec<f32> = (0..FRAMES).flat_map(|i| [f(i), other]).collect();
            Tensor::from_vec(v, (1, FRAMES, 2), &Device::Cpu).unwrap()
        };
        let vad = Tensor::ones((1, FRAMES), DType::F32, &Device::Cpu).unwrap();
        pesq_loss(&t(&gain, 1.0), &t(&target, 1.0), &t(&|_| weight, 1.0), &t(&|_| 1.0, 100.0), &vad, 0.03).unwrap().to_scalar::<f32>().unwrap()
    }

    /// Frames 5–8: where the cases below put something wrong.
    fn few(i: usize) -> bool {
        (5..9).contains(&i)
    }

    fn db(d: f32) -> f32 {
        10f32.powf(-d / 20.0)
    }

    #[test]
    fn gains_on_their_targets_cost_nothing() {
        for target in [0.05, 0.3, 0.9, 1.0] {
            let l = loss_of(|_| target, |_| target, 1.0);
            assert!(l < 1e-5, "target {target}: {l}");
        }
    }

    #[test]
    fn a_band_turned_down_alike_throughout_is_compensated_and_a_dip_in_a_few_frames_is_not() {
        let steady = loss_of(|_| db(10.0), |_| 1.0, 1.0);
        let dip = loss_of(|i| if few(i) { db(10.0) } else { 1.0 }, |_| 1.0, 1.0);
        assert!(steady < 1e-5, "steady: {steady}");
        assert!(dip > 1e-3, "dip: {dip}");
        // A small dip is inside the dead zone: 2 dB is 10 % less loud.
        let small = loss_of(|i| if few(i) { db(2.0) } else { 1.0 }, |_| 1.0, 1.0);
        assert!(small < 1e-5, "small dip: {small}");
    }

    #[test]
    fn noise_left_in_costs_more_than_as_much_speech_taken_out() {
        // In frames 5–8 the same loudness difference both ways (energy ×16 against ÷16):
        // playing more than the clean speech has adds PESQ's asymmetric disturbance.
        let left_in = loss_of(|_| 0.8, |i| if few(i) { 0.2 } else { 0.8 }, 1.0);
        let taken_out = loss_of(|i| if few(i) { 0.2 } else { 0.8 }, |_| 0.8, 1.0);
        assert!(taken_out > 1e-3, "{taken_out}");
        assert!(left_in > 2.0 * taken_out, "left in {left_in}, taken out {taken_out}");
    }

    #[test]
    fn gains_below_the_floor_count_as_the_floor_and_masked_bands_not_at_all() {
        // Band 0 holds noise alone in frames 5–8 (target 0): the engine plays no less than the floor.
        let noise = |i: usize| if few(i) { 0.0 } else { 1.0 };
        let with = |g: f32, w: f32| loss_of(|i| if few(i) { g } else { 1.0 }, noise, w);
        assert!(with(0.3, 1.0) > with(0.03, 1.0));
        assert_eq!(with(0.001, 1.0), with(0.03, 1.0));
        assert!(with(0.3, 0.0) < 1e-5);
    }

    #[test]
    fn digital_silence_gives_a_finite_loss_and_gradient() {
        let zeros = Tensor::zeros((2, FRAMES, 3), DType::F32, &Device::Cpu).unwrap();
        let gains = Var::from_tensor(&(zeros.clone() + 0.5).unwrap()).unwrap();
        let vad = Tensor::zeros((2, FRAMES), DType::F32, &Device::Cpu).unwrap();
        let loss = pesq_loss(gains.as_tensor(), &zeros, &(zeros.clone() + 1.0).unwrap(), &zeros, &vad, 0.03).unwrap();
        assert!(loss.to_scalar::<f32>().unwrap().is_finite());
        let grad = loss.backward().unwrap().get(gains.as_tensor()).unwrap().sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(grad.is_finite(), "{grad}");
    }
}
