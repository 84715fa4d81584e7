//! The LSTM recurrence as one fused candle op with a hand-written backward pass (BPTT).
//!
//! Why: expressed with candle's tensor ops, every hop of every layer is a dozen tiny ops in the
//! autograd graph, forward and backward; at batch 16 × 300 hops that per-op overhead, not the
//! arithmetic, set training speed (≈ 1.8 k frames/s). Here a whole sequence is two loops over
//! plain buffers with one `gemm` call per hop, and the backward pass is another loop, which
//! trains several times faster with exactly the same maths. `net::Lstm` keeps the op-by-op
//! version as the reference the tests compare this against (outputs and gradients).
//!
//! Inputs: `xw` (batch, time, 4·hidden), the input projection `x·W_ihᵀ + b_ih + b_hh` (gate
//! order i, f, g, o, as PyTorch), and `w_hh` (4·hidden, hidden). The op's raw output is
//! (batch, time, 6·hidden) = `[h, c, i, f, g, o]` per hop (gates after their nonlinearity) so
//! the backward pass needs no recomputation; [`lstm_sequence`] returns only `h`, so only `h`
//! (and `c`) receive gradients.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor, D};
use gemm::Parallelism;

struct FusedLstm {
    hidden: usize,
}

#[inline]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `dst (m×n) = [dst +] lhs (m×k) · rhs (k×n)`, each matrix given by a pointer and its row
/// and column strides (in elements). Single-threaded: the data loader has the other core.
#[allow(clippy::too_many_arguments)]
unsafe fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    lhs: *const f32,
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: *const f32,
    (rhs_rs, rhs_cs): (usize, usize),
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_rs as isize,
        accumulate,
        lhs,
        lhs_cs as isize,
        lhs_rs as isize,
        rhs,
        rhs_cs as isize,
        rhs_rs as isize,
        1.0,
        1.0,
        false,
        false,
        false,
        Parallelism::None,
    )
}

fn contiguous_f32<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let v = match s {
        CpuStorage::F32(v) => v,
        _ => candle_core::bail!("fused LSTM: {what} must be f32"),
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("fused LSTM: {what} must be contiguous"),
    }
}

impl CustomOp2 for FusedLstm {
    fn name(&self) -> &'static str {
        "fused-lstm"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let hd = self.hidden;
        let (b, t, g4) = l1.shape().dims3()?;
        if g4 != 4 * hd || l2.shape().dims2()? != (4 * hd, hd) {
            candle_core::bail!("fused LSTM: shapes {:?} and {:?} do not fit hidden size {hd}", l1.shape(), l2.shape());
        }
        let xw = contiguous_f32(s1, l1, "xw")?;
        let w_hh = contiguous_f32(s2, l2, "w_hh")?;
        let row = 6 * hd;
        let mut out = vec![0.0f32; b * t * row];
        let mut gates = vec![0.0f32; b * 4 * hd];
        let mut h_prev = vec![0.0f32; b * hd];
        for step in 0..t {
            for bi in 0..b {
                let src = (bi * t + step) * 4 * hd;
                gates[bi * 4 * hd..(bi + 1) * 4 * hd].copy_from_slice(&xw[src..src + 4 * hd]);
            }
            if step > 0 {
                // gates += h_prev (b×H) · W_hhᵀ (H×4H); W_hh is row-major 4H×H.
                unsafe {
                    matmul((b, 4 * hd, hd), gates.as_mut_ptr(), 4 * hd, true, h_prev.as_ptr(), (hd, 1), w_hh.as_ptr(), (1, hd));
                }
            }
            for bi in 0..b {
                let g = &gates[bi * 4 * hd..(bi + 1) * 4 * hd];
                let base = (bi * t + step) * row;
                for j in 0..hd {
                    let c_prev = if step > 0 { out[base - row + hd + j] } else { 0.0 };
                    let (i, f) = (sigmoid(g[j]), sigmoid(g[hd + j]));
                    let (gg, o) = (g[2 * hd + j].tanh(), sigmoid(g[3 * hd + j]));
                    let c = f * c_prev + i * gg;
                    let h = o * c.tanh();
                    let r = &mut out[base..base + row];
                    r[j] = h;
                    r[hd + j] = c;
                    r[2 * hd + j] = i;
                    r[3 * hd + j] = f;
                    r[4 * hd + j] = gg;
                    r[5 * hd + j] = o;
                    h_prev[bi * hd + j] = h;
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((b, t, row))))
    }

    fn bwd(&self, _xw: &Tensor, w_hh: &Tensor, res: &Tensor, grad_res: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let hd = self.hidden;
        let (b, t, row) = res.dims3()?;
        let res_v = res.flatten_all()?.to_vec1::<f32>()?;
        let grad = grad_res.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let w = w_hh.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let g4 = 4 * hd;
        let mut dxw = vec![0.0f32; b * t * g4];
        let mut dh_next = vec![0.0f32; b * hd];
        let mut dc_next = vec![0.0f32; b * hd];
        for step in (0..t).rev() {
            for bi in 0..b {
                let base = (bi * t + step) * row;
                let r = &res_v[base..base + row];
                let gr = &grad[base..base + row];
                let d = &mut dxw[(bi * t + step) * g4..(bi * t + step + 1) * g4];
                for j in 0..hd {
                    let (c, i, f, gg, o) = (r[hd + j], r[2 * hd + j], r[3 * hd + j], r[4 * hd + j], r[5 * hd + j]);
                    let c_prev = if step > 0 { res_v[base - row + hd + j] } else { 0.0 };
                    let dh = gr[j] + dh_next[bi * hd + j];
                    let tc = c.tanh();
                    let dc = dc_next[bi * hd + j] + gr[hd + j] + dh * o * (1.0 - tc * tc);
                    d[j] = dc * gg * i * (1.0 - i);
                    d[hd + j] = dc * c_prev * f * (1.0 - f);
                    d[2 * hd + j] = dc * i * (1.0 - gg * gg);
                    d[3 * hd + j] = dh * tc * o * (1.0 - o);
                    dc_next[bi * hd + j] = dc * f;
                }
            }
            if step > 0 {
                // dh_{t−1} = dgates_t (b×4H) · W_hh (4H×H).
                unsafe {
                    matmul((b, hd, g4), dh_next.as_mut_ptr(), hd, false, dxw.as_ptr().add(step * g4), (t * g4, 1), w.as_ptr(), (hd, 1));
                }
            }
        }
        // dW_hh (4H×H) = Σ_b Σ_{t≥1} dgates[b,t]ᵀ · h[b,t−1]: per sequence, one product over time.
        let mut dw = vec![0.0f32; g4 * hd];
        if t > 1 {
            for bi in 0..b {
                unsafe {
                    matmul(
                        (g4, hd, t - 1),
                        dw.as_mut_ptr(),
                        hd,
                        bi > 0,
                        dxw.as_ptr().add((bi * t + 1) * g4),
                        (1, g4),
                        res_v.as_ptr().add(bi * t * row),
                        (row, 1),
                    );
                }
            }
        }
        let dev = res.device();
        Ok((Some(Tensor::from_vec(dxw, (b, t, g4), dev)?), Some(Tensor::from_vec(dw, (g4, hd), dev)?)))
    }
}

/// Runs the LSTM recurrence over a whole sequence from a zero state: `xw` (batch, time, 4H) is
/// the input projection including both biases, `w_hh` (4H, H). Returns h: (batch, time, H).
pub fn lstm_sequence(xw: &Tensor, w_hh: &Tensor) -> Result<Tensor> {
    let hidden = w_hh.dim(D::Minus1)?;
    xw.contiguous()?.apply_op2(&w_hh.contiguous()?, FusedLstm { hidden })?.narrow(D::Minus1, 0, hidden)
}
