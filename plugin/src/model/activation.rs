//! The network's sigmoid and tanh, built on one `exp` that vectorises: the same functions in
//! the plugin's inference (`Model::step`) and in training's fused LSTM op (xtask), so the two
//! compute the same gates.
//!
//! Why not `f32::exp` and `f32::tanh`: each is a call into libm per element, which the compiler
//! cannot vectorise. They were a fifth of a training step's time, and in the plugin, five per
//! LSTM unit (1280 per hop for 2 × 128 units), about 63 k of the 809 k instructions of a 48 kHz
//! mono hop.

/// e^x to about 2e-7 relative, written so that a loop of it vectorises. x = n·ln 2 + r
/// with |r| ≤ ln2/2 (rounded by the 1.5·2²³ trick, which needs no rounding instruction), e^r
/// by its Taylor series to r⁶, 2ⁿ built in the exponent bits. Clamped to ±87/88 so 2ⁿ stays a
/// normal float; NaN stays NaN.
#[inline(always)]
pub fn exp_fast(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    // ln 2 split in two (Cephes) so n·ln 2 is exact enough.
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // n is also t's mantissa less ROUND's (its ulp is 1): an integer subtraction, where `n as
    // i32` would be a saturating float conversion that does not vectorise as well.
    let n_int = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    p * f32::from_bits((n_int.wrapping_add(127) as u32) << 23)
}

#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp_fast(-x))
}

/// tanh x = 1 − 2 / (1 + e^{2x}): absolute error about 1e-7, exact ±1 far out.
#[inline(always)]
pub fn tanh_fast(x: f32) -> f32 {
    1.0 - 2.0 / (1.0 + exp_fast(2.0 * x))
}

/// `sigmoid` over a slice, in place: a loop the compiler vectorises.
pub fn sigmoid_in_place(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = sigmoid(*v));
}

/// `tanh_fast` over a slice, in place.
pub fn tanh_in_place(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = tanh_fast(*v));
}

/// An LSTM step's gates `[i, f, g, o]` (PyTorch's order, a quarter of `gates` each) through
/// their nonlinearities, in place: sigmoid on i, f and o, tanh on g, a whole gate at a time so
/// each loop vectorises.
pub fn lstm_gates_in_place(gates: &mut [f32]) {
    let hidden = gates.len() / 4;
    let (ifg, o) = gates.split_at_mut(3 * hidden);
    let (i_f, g) = ifg.split_at_mut(2 * hidden);
    sigmoid_in_place(i_f);
    sigmoid_in_place(o);
    tanh_in_place(g);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_sigmoid_and_tanh_match_libm() {
        let (mut exp_rel, mut sig_abs, mut tanh_abs) = (0.0f64, 0.0f64, 0.0f64);
        for k in -200_000..=200_000 {
            let x = k as f32 * 4.35e-4; // −87 … 87, inside the clamp
            let e = (x as f64).exp();
            exp_rel = exp_rel.max(((exp_fast(x) as f64 - e) / e).abs());
            let y = x / 8.0; // −11 … 11: where the gates live
            sig_abs = sig_abs.max((sigmoid(y) as f64 - 1.0 / (1.0 + (-y as f64).exp())).abs());
            tanh_abs = tanh_abs.max((tanh_fast(y) as f64 - (y as f64).tanh()).abs());
        }
        assert!(exp_rel < 5e-7, "exp: relative error {exp_rel:e}");
        assert!(sig_abs < 2e-7 && tanh_abs < 3e-7, "sigmoid {sig_abs:e}, tanh {tanh_abs:e}");
        assert_eq!(tanh_fast(100.0), 1.0);
        assert_eq!(tanh_fast(-100.0), -1.0);
        assert!(exp_fast(f32::NAN).is_nan() && sigmoid(f32::NAN).is_nan());
        // Far outside the clamp: finite and in range.
        for x in [1e30, -1e30, f32::MAX, f32::MIN] {
            assert!(exp_fast(x).is_finite() && (0.0..=1.0).contains(&sigmoid(x)) && (-1.0..=1.0).contains(&tanh_fast(x)), "{x}");
        }
    }

    #[test]
    fn the_slice_forms_match_the_scalar_ones() {
        let xs: Vec<f32> = (-2000..=2000).map(|i| i as f32 / 64.0).collect();
        let (mut s, mut t) = (xs.clone(), xs.clone());
        sigmoid_in_place(&mut s);
        tanh_in_place(&mut t);
        for ((x, s), t) in xs.iter().zip(&s).zip(&t) {
            assert_eq!((*s, *t), (sigmoid(*x), tanh_fast(*x)));
        }
        // The gates: i, f and o through the sigmoid, g through tanh.
        let mut gates: Vec<f32> = xs[1800..2200].to_vec();
        lstm_gates_in_place(&mut gates);
        for (k, (x, y)) in xs[1800..2200].iter().zip(&gates).enumerate() {
            assert_eq!(*y, if (200..300).contains(&k) { tanh_fast(*x) } else { sigmoid(*x) }, "gate value {k}");
        }
    }
}
