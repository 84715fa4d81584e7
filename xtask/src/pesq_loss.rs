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
//! Left out of PESQ: its level, time and frequency-response alignment (both sides here are the
//! same frames at the same level), its Bark bands (the model's bands stand in) and its
//! per-band hearing thresholds (one threshold relative to the speech), and its L6/L2 averages
//! over time (a plain mean over frames, as PMSQE).

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

/// The speech level assumed where a sequence has (nearly) no speech, relative to the mixture's
/// mean band energy, so a sequence of noise alone is not scaled without bound.
const LEVEL_FLOOR: f64 = 1e-3;

/// Loudness of band energies `e` already divided by the speech level: threshold^γ((1 + e/threshold)^γ − 1),
/// so 0 in silence, e^γ well above the threshold, and finite slope everywhere.
fn loudness(e: &Tensor) -> Result<Tensor> {
    let t = THRESHOLD.powf(LOUDNESS_POWER);
    ((((e / THRESHOLD)? + 1.0)?.log()? * LOUDNESS_POWER)?.exp()? - 1.0)? * t
}

/// The PESQ-shaped disturbance per frame, averaged over frames.
///
/// `gains`, `target`, `weight`: (batch, time, bands) over the bands PESQ-WB hears (below 8 kHz):
/// the network's gains, the ideal gains √(E_clean / E_mix) and the loss mask (0 above a
/// recording's bandwidth in speech). `band_energy`: the mixture's band energies (any scale per
/// sequence). `floor`: the smallest gain the engine plays (its Reduction), so the term does not
/// ask for cuts the engine would not make. The reference is the clean speech, `target² · E`, the
/// output `max(gain, floor)² · E`, both divided by the reference's mean over the sequence.
pub fn pesq_loss(gains: &Tensor, target: &Tensor, weight: &Tensor, band_energy: &Tensor, floor: f64) -> Result<Tensor> {
    let reference = (target.sqr()? * band_energy)?;
    let played = (gains.maximum(floor)?.sqr()? * band_energy)?;
    // Each sequence's speech level: the reference's mean band energy, held above a floor
    // relative to the mixture's own.
    let level = reference.mean_keepdim(2)?.mean_keepdim(1)?.maximum(&(band_energy.mean_keepdim(2)?.mean_keepdim(1)? * LEVEL_FLOOR)?)?;
    let (reference, played) = (reference.broadcast_div(&level)?, played.broadcast_div(&level)?);
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
    use candle_core::Device;

    /// One frame of two bands: band 0 the one under test, band 1 a loud band played exactly
    /// (it sets the speech level, so band 0's cases share it).
    fn one_frame(gain: f32, target: f32, weight: f32) -> f32 {
        let t = |a: f32, b: f32| Tensor::from_vec(vec![a, b], (1, 1, 2), &Device::Cpu).unwrap();
        pesq_loss(&t(gain, 1.0), &t(target, 1.0), &t(weight, 1.0), &t(1.0, 100.0), 0.03).unwrap().to_scalar::<f32>().unwrap()
    }

    #[test]
    fn gains_on_their_targets_cost_nothing() {
        for target in [0.05, 0.3, 0.9, 1.0] {
            assert!(one_frame(target, target, 1.0) < 1e-5, "target {target}: {}", one_frame(target, target, 1.0));
        }
    }

    #[test]
    fn a_small_turn_down_is_inside_the_dead_zone_and_a_large_one_is_not() {
        // Loudness goes as energy^0.23: 2 dB down is 10 % less loud, inside the 25 % dead zone;
        // 10 dB down is 41 % less loud.
        let db = |d: f32| 10f32.powf(-d / 20.0);
        assert!(one_frame(db(2.0), 1.0, 1.0) < 1e-5, "{}", one_frame(db(2.0), 1.0, 1.0));
        assert!(one_frame(db(10.0), 1.0, 1.0) > 1e-3, "{}", one_frame(db(10.0), 1.0, 1.0));
    }

    #[test]
    fn noise_left_in_costs_more_than_as_much_speech_taken_out() {
        // The same loudness difference both ways (energy ×16 against ÷16): playing more than the
        // clean speech has adds PESQ's asymmetric disturbance.
        let (left_in, taken_out) = (one_frame(0.8, 0.2, 1.0), one_frame(0.2, 0.8, 1.0));
        assert!(taken_out > 1e-3, "{taken_out}");
        assert!(left_in > 2.0 * taken_out, "left in {left_in}, taken out {taken_out}");
    }

    #[test]
    fn gains_below_the_floor_count_as_the_floor_and_masked_bands_not_at_all() {
        // A band of noise alone (target 0): the engine plays no less than the floor.
        assert!(one_frame(0.3, 0.0, 1.0) > one_frame(0.03, 0.0, 1.0));
        assert_eq!(one_frame(0.001, 0.0, 1.0), one_frame(0.03, 0.0, 1.0));
        assert!(one_frame(0.2, 0.8, 0.0) < 1e-5);
    }
}
