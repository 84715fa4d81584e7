//! Matrix–vector products, the inner loop of inference: the LSTM's gates and the output layer,
//! about 250 k multiply-adds per hop for the shipped model.
//!
//! On x86-64 CPUs with AVX2 and FMA (nearly every one since 2013–2015) four rows run at once,
//! 8 lanes wide, each `x` load shared by the four; elsewhere each row is an SSE dot product
//! (the x86-64 baseline) or plain Rust. The CPU is asked once, when a model is loaded, not on
//! the audio thread. The two paths add in different orders, so they differ in the last bits.

/// The product kernel chosen for this CPU.
#[derive(Debug, Clone, Copy)]
pub struct MatVec {
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    avx2_fma: bool,
}

impl MatVec {
    /// The fastest kernel this CPU runs.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        let avx2_fma = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        #[cfg(not(target_arch = "x86_64"))]
        let avx2_fma = false;
        Self { avx2_fma }
    }

    /// The portable kernel, whatever the CPU (for tests comparing the two).
    #[cfg(test)]
    fn portable() -> Self {
        Self { avx2_fma: false }
    }

    /// `y[r] = w[r]·x + b[r]` for each row `r` of the row-major `w` (`y.len()` rows of
    /// `x.len()` columns). Rows missing from `w` or `b` are left as they are.
    pub fn apply(&self, w: &[f32], x: &[f32], b: &[f32], y: &mut [f32]) {
        let cols = x.len();
        let rows = y.len().min(b.len()).min(w.len().checked_div(cols).unwrap_or(usize::MAX));
        #[cfg(target_arch = "x86_64")]
        if self.avx2_fma {
            // SAFETY: `detect` found AVX2 and FMA on this CPU; `rows` rows of `cols` fit in `w`,
            // and `b` and `y` hold `rows` each.
            unsafe { matvec_avx2_fma(&w[..rows * cols], x, &b[..rows], &mut y[..rows]) };
            return;
        }
        for r in 0..rows {
            y[r] = dot(&w[r * cols..(r + 1) * cols], x) + b[r];
        }
    }
}

/// `MatVec::apply` with AVX2 and FMA: four rows at a time, one 8-lane accumulator each.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn matvec_avx2_fma(w: &[f32], x: &[f32], b: &[f32], y: &mut [f32]) {
    use std::arch::x86_64::*;
    let (cols, rows) = (x.len(), y.len());
    debug_assert!(w.len() == rows * cols && b.len() == rows);
    let whole = cols / 8 * 8;
    // The sum of a register's 8 lanes.
    let hsum = |v: __m256| {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps::<1>(s, s)))
    };
    let tail = |r: usize| -> f32 { (whole..cols).map(|k| w[r * cols + k] * x[k]).sum() };
    let (pw, px) = (w.as_ptr(), x.as_ptr());
    let mut r = 0;
    while r + 4 <= rows {
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut k = 0;
        while k < whole {
            // SAFETY: k + 8 <= whole <= cols, and rows r..r + 4 lie inside `w`.
            unsafe {
                let xv = _mm256_loadu_ps(px.add(k));
                for (i, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(_mm256_loadu_ps(pw.add((r + i) * cols + k)), xv, *a);
                }
            }
            k += 8;
        }
        for (i, a) in acc.iter().enumerate() {
            y[r + i] = hsum(*a) + tail(r + i) + b[r + i];
        }
        r += 4;
    }
    for r in r..rows {
        let mut a = _mm256_setzero_ps();
        let mut k = 0;
        while k < whole {
            // SAFETY: as above, for the one row r.
            unsafe { a = _mm256_fmadd_ps(_mm256_loadu_ps(pw.add(r * cols + k)), _mm256_loadu_ps(px.add(k)), a) };
            k += 8;
        }
        y[r] = hsum(a) + tail(r) + b[r];
    }
}

/// Dot product. On x86-64 it uses SSE, which every x86-64 CPU has, with two 4-lane
/// accumulators; written as plain Rust, LLVM vectorised it only 2 lanes wide.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len().min(b.len());
    let mut s;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE is part of the x86-64 baseline; every load reads 4 floats inside
        // `a[..n]` and `b[..n]` (k + 8 <= n).
        unsafe {
            let (mut lo, mut hi) = (_mm_setzero_ps(), _mm_setzero_ps());
            let (pa, pb) = (a.as_ptr(), b.as_ptr());
            let mut k = 0;
            while k + 8 <= n {
                lo = _mm_add_ps(lo, _mm_mul_ps(_mm_loadu_ps(pa.add(k)), _mm_loadu_ps(pb.add(k))));
                hi = _mm_add_ps(hi, _mm_mul_ps(_mm_loadu_ps(pa.add(k + 4)), _mm_loadu_ps(pb.add(k + 4))));
                k += 8;
            }
            let mut v = [0.0f32; 4];
            _mm_storeu_ps(v.as_mut_ptr(), _mm_add_ps(lo, hi));
            s = (v[0] + v[2]) + (v[1] + v[3]);
            for i in k..n {
                s += a[i] * b[i];
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut acc = [0.0f32; 8];
        let ((ca, ra), (cb, rb)) = (a[..n].as_chunks::<8>(), b[..n].as_chunks::<8>());
        for (x, y) in ca.iter().zip(cb) {
            for i in 0..8 {
                acc[i] += x[i] * y[i];
            }
        }
        s = acc.iter().sum::<f32>();
        for (x, y) in ra.iter().zip(rb) {
            s += x * y;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_a_plain_sum_at_every_length() {
        for n in 0..40 {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.91).cos()).collect();
            let expected: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!((dot(&a, &b) as f64 - expected).abs() < 1e-5, "length {n}");
        }
    }

    /// Every shape around the kernel's edges (row counts not a multiple of 4, column counts not
    /// a multiple of 8, none), with both kernels, against a plain f64 sum.
    #[test]
    fn both_kernels_match_a_plain_product_at_every_shape() {
        for kernel in [MatVec::detect(), MatVec::portable()] {
            for rows in 0..11 {
                for cols in [0, 1, 7, 8, 9, 16, 23, 224, 256] {
                    let w: Vec<f32> = (0..rows * cols).map(|i| (i as f32 * 0.37).sin()).collect();
                    let x: Vec<f32> = (0..cols).map(|i| (i as f32 * 0.91).cos()).collect();
                    let b: Vec<f32> = (0..rows).map(|i| i as f32 * 0.1 - 0.3).collect();
                    let mut y = vec![f32::NAN; rows];
                    kernel.apply(&w, &x, &b, &mut y);
                    for r in 0..rows {
                        let exact = b[r] as f64 + (0..cols).map(|k| w[r * cols + k] as f64 * x[k] as f64).sum::<f64>();
                        assert!((y[r] as f64 - exact).abs() < 1e-4, "{kernel:?} {rows}×{cols} row {r}: {} vs {exact}", y[r]);
                    }
                }
            }
        }
    }

    #[test]
    fn rows_the_weights_do_not_hold_are_left_alone() {
        let mut y = [7.0; 3];
        MatVec::detect().apply(&[1.0; 8], &[1.0; 4], &[0.0; 3], &mut y);
        assert_eq!(y, [4.0, 4.0, 7.0]);
    }
}
