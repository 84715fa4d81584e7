//! SI-SDR, scale-invariant signal-to-distortion ratio (Le Roux, Wisdom, Erdogan and Hershey,
//! "SDR – half-baked or well done?", ICASSP 2019).

/// SI-SDR of `estimate` against `reference`, in dB.
///
/// Both signals are made zero-mean first (the usual definition, so a DC offset is not counted
/// as distortion). Then `estimate = α·reference + e` with `α = ⟨ŝ, s⟩ / ‖s‖²`, and
/// `SI-SDR = 10·log10(‖α·s‖² / ‖e‖²)`. Rescaling the estimate does not change the value.
/// Sums run in `f64`.
///
/// * `+∞` when the estimate is an exact multiple of the reference (no distortion left), and
///   `−∞` when it is orthogonal to it or constant (silent).
/// * NaN when undefined: empty, NaN/∞ or differently long signals, or a reference that is
///   constant (zero after removing its mean).
pub fn si_sdr(reference: &[f32], estimate: &[f32]) -> f64 {
    if super::check_pair(reference, estimate, true).is_err() {
        return f64::NAN;
    }
    let (mut ref_energy, mut cross) = (0.0, 0.0);
    for (s, e) in centred(reference).zip(centred(estimate)) {
        ref_energy += s * s;
        cross += s * e;
    }
    if ref_energy == 0.0 {
        return f64::NAN;
    }
    let alpha = cross / ref_energy;
    // The residual is summed directly rather than as ‖ŝ‖² − α²‖s‖², which cancels
    // catastrophically at high SI-SDR.
    let residual: f64 = centred(reference)
        .zip(centred(estimate))
        .map(|(s, e)| (e - alpha * s) * (e - alpha * s))
        .sum();
    let target = alpha * alpha * ref_energy;
    if target == 0.0 {
        // Orthogonal or silent estimate: nothing of the reference survives, even if the
        // residual is zero too.
        return f64::NEG_INFINITY;
    }
    10.0 * (target / residual).log10()
}

/// The samples of `x` in `f64`, minus their mean.
fn centred(x: &[f32]) -> impl Iterator<Item = f64> + '_ {
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / x.len() as f64;
    x.iter().map(move |&v| f64::from(v) - mean)
}
