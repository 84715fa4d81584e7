//! The LSTM recurrence as one fused candle op with a hand-written backward pass (BPTT).
//!
//! Why: expressed with candle's tensor ops, every hop of every layer is a dozen tiny ops in the
//! autograd graph, forward and backward; at batch 16 × 300 hops that per-op overhead, not the
//! arithmetic, set training speed (≈ 1.8 k frames/s). Here a whole sequence is two loops over
//! plain buffers with one `gemm` call per hop, and the backward pass is another loop, which
//! trains several times faster with exactly the same maths. `net::Lstm` keeps the op-by-op
//! version as the reference the tests compare this against (outputs and gradients).
//!
//! Inputs: `x` (batch, time, input); `w_ih` (4·hidden, input + 1), PyTorch's `W_ih` with the
//! summed biases `b_ih + b_hh` as its last column (gate order i, f, g, o); `w_hh` (4·hidden,
//! hidden). The op's output is h (batch, time, hidden). It starts from a zero state, or from
//! the state another call ended in (`lstm_sequence_from`): a training stream cut into chunks
//! (truncated BPTT), the state handed on as a constant, so no gradient flows back into the chunk
//! before.
//!
//! The input projection `x·W_ihᵀ + b` is inside the op, one matrix product over all hops before
//! the recurrence; as a candle tensor of its own, four times h's size, its gradient cost a
//! zero-filled buffer and an add every step. What the backward pass needs besides h, `[c, i, f,
//! g, o]` per hop (gates after their nonlinearity), the op keeps inside itself rather than in
//! its output: as output columns cut off with `narrow`, they cost candle a zero-filled gradient
//! six times h's size, a concatenation, a zeroed gradient buffer and an add, and two copies.
//! Together those were about a fifth of a training step's time.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor, D};
use gemm::Parallelism;
use lull::model::activation::{lstm_gates_in_place, tanh_fast, tanh_in_place};

/// One LSTM layer's state after a hop, per sequence: h and c, each (batch, hidden) row-major.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LstmState {
    pub h: Vec<f32>,
    pub c: Vec<f32>,
}

impl LstmState {
    /// Zeroes h and c of the first `rows` of the `batch` sequences: their next chunk starts
    /// cold, as a plugin starts, while the other rows carry their state on.
    pub fn zero_rows(&mut self, rows: usize, batch: usize) {
        clear_rows(&mut self.h, rows, batch);
        clear_rows(&mut self.c, rows, batch);
    }
}

/// Zeroes the first `rows` rows of `buf`, a (batch, …) row-major buffer of `batch` equal rows.
pub(crate) fn clear_rows(buf: &mut [f32], rows: usize, batch: usize) {
    let width = buf.len() / batch.max(1);
    buf[..rows * width].fill(0.0);
}

struct FusedLstm {
    hidden: usize,
    /// The state before the first hop (`None`: zeros).
    init: Option<LstmState>,
    /// `[c, i, f, g, o]` per hop, (batch, time, 5·hidden), written by the forward pass for the
    /// backward pass. Each call of [`lstm_sequence_from`] makes its own op, so this is that call's.
    saved: Mutex<Vec<f32>>,
    /// The state after the last hop, written by the forward pass for the caller.
    last: Arc<Mutex<LstmState>>,
}

/// Per hop in `FusedLstm::saved`: c and the four gates.
const SAVED: usize = 5;

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

pub(crate) fn contiguous_f32<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let v = match s {
        CpuStorage::F32(v) => v,
        _ => candle_core::bail!("fused LSTM: {what} must be f32"),
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("fused LSTM: {what} must be contiguous"),
    }
}

impl FusedLstm {
    /// Sequence `bi`'s cell state before the first hop: the given state's, or `zeros`.
    fn initial_c<'a>(&'a self, bi: usize, zeros: &'a [f32]) -> &'a [f32] {
        self.init.as_ref().map_or(zeros, |s| &s.c[bi * self.hidden..(bi + 1) * self.hidden])
    }
}

impl CustomOp3 for FusedLstm {
    fn name(&self) -> &'static str {
        "fused-lstm"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout, s3: &CpuStorage, l3: &Layout) -> Result<(CpuStorage, Shape)> {
        let hd = self.hidden;
        let (b, t, n_in) = l1.shape().dims3()?;
        if l2.shape().dims2()? != (4 * hd, n_in + 1) || l3.shape().dims2()? != (4 * hd, hd) {
            candle_core::bail!("fused LSTM: shapes {:?}, {:?} and {:?} do not fit hidden size {hd}", l1.shape(), l2.shape(), l3.shape());
        }
        let x = contiguous_f32(s1, l1, "x")?;
        let w_ih = contiguous_f32(s2, l2, "w_ih")?;
        let w_hh = contiguous_f32(s3, l3, "w_hh")?;
        if let Some(init) = &self.init {
            if init.h.len() != b * hd || init.c.len() != b * hd {
                candle_core::bail!("fused LSTM: an initial state of {} values for {b} sequences of {hd}", init.h.len());
            }
        }
        let xw = input_projection(x, w_ih, b * t, n_in, 4 * hd);
        let row = SAVED * hd;
        let mut saved = vec![0.0f32; b * t * row];
        let mut out = vec![0.0f32; b * t * hd];
        let mut gates = vec![0.0f32; b * 4 * hd];
        let mut h_prev = self.init.as_ref().map_or_else(|| vec![0.0f32; b * hd], |s| s.h.clone());
        let zeros = vec![0.0f32; hd];
        // W_hhᵀ (H×4H) as its own row-major copy: `gemm` computes the row-major (b×4H) product
        // as its transpose, W_hh·h_prevᵀ, and with W_hh's rows strided by H it packed the whole
        // matrix again at every hop (7.6 % of a training step's instructions); the transposed
        // copy, made once per call (all hops of the chunk), is read in place.
        let mut w_hh_t = vec![0.0f32; hd * 4 * hd];
        for (m, row) in w_hh.chunks_exact(hd).enumerate() {
            for (k, &v) in row.iter().enumerate() {
                w_hh_t[k * 4 * hd + m] = v;
            }
        }
        for step in 0..t {
            for bi in 0..b {
                let src = (bi * t + step) * 4 * hd;
                gates[bi * 4 * hd..(bi + 1) * 4 * hd].copy_from_slice(&xw[src..src + 4 * hd]);
            }
            if step > 0 || self.init.is_some() {
                // gates += h_prev (b×H) · W_hhᵀ (H×4H).
                unsafe {
                    matmul((b, 4 * hd, hd), gates.as_mut_ptr(), 4 * hd, true, h_prev.as_ptr(), (hd, 1), w_hh_t.as_ptr(), (4 * hd, 1));
                }
            }
            // Each loop below runs over plain equal-length slices, so it vectorises.
            for (bi, g) in gates.chunks_exact_mut(4 * hd).enumerate() {
                lstm_gates_in_place(g);
                let base = (bi * t + step) * row;
                let (before, from) = saved.split_at_mut(base);
                let c_prev = if step > 0 { &before[base - row..base - row + hd] } else { self.initial_c(bi, &zeros) };
                let r = &mut from[..row];
                r[hd..].copy_from_slice(g);
                let (c, gates_out) = r.split_at_mut(hd);
                let h = &mut out[(bi * t + step) * hd..(bi * t + step + 1) * hd];
                let (i, rest) = gates_out.split_at(hd);
                let (f, rest) = rest.split_at(hd);
                let (gg, o) = rest.split_at(hd);
                for ((((c, f), c_prev), i), g) in c.iter_mut().zip(f).zip(c_prev).zip(i).zip(gg) {
                    *c = f * c_prev + i * g;
                }
                for ((h, o), c) in h.iter_mut().zip(o).zip(c.iter()) {
                    *h = o * tanh_fast(*c);
                }
                h_prev[bi * hd..(bi + 1) * hd].copy_from_slice(h);
            }
        }
        if t > 0 {
            let mut last = self.last.lock().map_err(|_| candle_core::Error::Msg("fused LSTM: poisoned state".into()))?;
            last.h = h_prev;
            last.c = (0..b).flat_map(|bi| saved[(bi * t + t - 1) * row..(bi * t + t - 1) * row + hd].iter().copied()).collect();
        }
        *self.saved.lock().map_err(|_| candle_core::Error::Msg("fused LSTM: poisoned state".into()))? = saved;
        Ok((CpuStorage::F32(out), Shape::from((b, t, hd))))
    }

    fn bwd(&self, x: &Tensor, w_ih: &Tensor, w_hh: &Tensor, res: &Tensor, grad_res: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let hd = self.hidden;
        let (b, t, _) = res.dims3()?;
        let row = SAVED * hd;
        let saved = self.saved.lock().map_err(|_| candle_core::Error::Msg("fused LSTM: poisoned state".into()))?;
        if saved.len() != b * t * row {
            candle_core::bail!("fused LSTM: backward pass without its forward pass");
        }
        let h_all = res.flatten_all()?.to_vec1::<f32>()?;
        let grad = grad_res.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let w = w_hh.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let g4 = 4 * hd;
        let mut dxw = vec![0.0f32; b * t * g4];
        let mut dh_next = vec![0.0f32; b * hd];
        let mut dc_next = vec![0.0f32; b * hd];
        let zeros = vec![0.0f32; hd];
        let mut tc = vec![0.0f32; hd];
        for step in (0..t).rev() {
            for bi in 0..b {
                let base = (bi * t + step) * row;
                let r = &saved[base..base + row];
                let gr_h = &grad[(bi * t + step) * hd..(bi * t + step + 1) * hd];
                let c_prev = if step > 0 { &saved[base - row..base - row + hd] } else { self.initial_c(bi, &zeros) };
                let (c, i, f, gg, o) = (&r[..hd], &r[hd..2 * hd], &r[2 * hd..3 * hd], &r[3 * hd..4 * hd], &r[4 * hd..]);
                tc.copy_from_slice(c);
                tanh_in_place(&mut tc);
                let d = &mut dxw[(bi * t + step) * g4..(bi * t + step + 1) * g4];
                let (d_i, rest) = d.split_at_mut(hd);
                let (d_f, rest) = rest.split_at_mut(hd);
                let (d_g, d_o) = rest.split_at_mut(hd);
                let dh_next = &mut dh_next[bi * hd..(bi + 1) * hd];
                let dc_next = &mut dc_next[bi * hd..(bi + 1) * hd];
                for j in 0..hd {
                    let dh = gr_h[j] + dh_next[j];
                    let dc = dc_next[j] + dh * o[j] * (1.0 - tc[j] * tc[j]);
                    d_i[j] = dc * gg[j] * i[j] * (1.0 - i[j]);
                    d_f[j] = dc * c_prev[j] * f[j] * (1.0 - f[j]);
                    d_g[j] = dc * i[j] * (1.0 - gg[j] * gg[j]);
                    d_o[j] = dh * tc[j] * o[j] * (1.0 - o[j]);
                    dc_next[j] = dc * f[j];
                }
            }
            if step > 0 {
                // dh_{t−1} = dgates_t (b×4H) · W_hh (4H×H).
                unsafe {
                    matmul((b, hd, g4), dh_next.as_mut_ptr(), hd, false, dxw.as_ptr().add(step * g4), (t * g4, 1), w.as_ptr(), (hd, 1));
                }
            }
        }
        // dW_hh (4H×H) = Σ_b Σ_{t≥1} dgates[b,t]ᵀ · h[b,t−1]: per sequence, one product over time;
        // from a given state, hop 0's term against it too.
        let mut dw = vec![0.0f32; g4 * hd];
        if let Some(init) = &self.init {
            unsafe {
                matmul((g4, hd, b), dw.as_mut_ptr(), hd, false, dxw.as_ptr(), (1, t * g4), init.h.as_ptr(), (hd, 1));
            }
        }
        if t > 1 {
            for bi in 0..b {
                unsafe {
                    matmul(
                        (g4, hd, t - 1),
                        dw.as_mut_ptr(),
                        hd,
                        bi > 0 || self.init.is_some(),
                        dxw.as_ptr().add((bi * t + 1) * g4),
                        (1, g4),
                        h_all.as_ptr().add(bi * t * hd),
                        (hd, 1),
                    );
                }
            }
        }
        let n_in = x.dim(D::Minus1)?;
        let x_v = x.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let rows = b * t;
        let dw_ih = projection_weight_grad(&dxw, &x_v, rows, n_in, g4);
        let dev = res.device();
        // dx = dgates · W_ih, only where x needs a gradient (not for the network's input).
        let dx = if x.track_op() {
            let w = w_ih.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
            let mut dx = vec![0.0f32; rows * n_in];
            unsafe {
                matmul((rows, n_in, g4), dx.as_mut_ptr(), n_in, false, dxw.as_ptr(), (g4, 1), w.as_ptr(), (n_in + 1, 1));
            }
            Some(Tensor::from_vec(dx, (b, t, n_in), dev)?)
        } else {
            None
        };
        Ok((dx, Some(Tensor::from_vec(dw_ih, (g4, n_in + 1), dev)?), Some(Tensor::from_vec(dw, (g4, hd), dev)?)))
    }
}

/// The gradient of `input_projection`'s weights, (`g4`, `n_in` + 1), from the gradient of its
/// output `dy` (rows × g4): `dyᵀ · x` over all hops, and in the last column, the bias's, the sum
/// of `dy` over all hops.
pub(crate) fn projection_weight_grad(dy: &[f32], x: &[f32], rows: usize, n_in: usize, g4: usize) -> Vec<f32> {
    let mut dw = vec![0.0f32; g4 * (n_in + 1)];
    unsafe {
        matmul((g4, n_in, rows), dw.as_mut_ptr(), n_in + 1, false, dy.as_ptr(), (1, g4), x.as_ptr(), (n_in, 1));
    }
    // The bias column summed in a contiguous row (it vectorises), then put in place.
    let mut db = vec![0.0f32; g4];
    for r in dy.chunks_exact(g4) {
        db.iter_mut().zip(r).for_each(|(a, d)| *a += d);
    }
    for (m, d) in db.into_iter().enumerate() {
        dw[m * (n_in + 1) + n_in] += d;
    }
    dw
}

/// `x·W_ihᵀ + b` for all `rows` hops at once, (rows, `g4`): `w_ih` is (g4, `n_in` + 1) with the
/// bias as its last column.
pub(crate) fn input_projection(x: &[f32], w_ih: &[f32], rows: usize, n_in: usize, g4: usize) -> Vec<f32> {
    // Every row starts as the bias (W_ih's last column), copied rather than gathered per value.
    let bias: Vec<f32> = (0..g4).map(|m| w_ih[m * (n_in + 1) + n_in]).collect();
    let mut xw = bias.repeat(rows);
    // xw += x (rows × input) · W_ihᵀ (input × 4H), W_ih's rows strided by input + 1.
    unsafe {
        matmul((rows, g4, n_in), xw.as_mut_ptr(), g4, true, x.as_ptr(), (n_in, 1), w_ih.as_ptr(), (1, n_in + 1));
    }
    xw
}

/// Runs the LSTM over a whole sequence from `init` (zeros if `None`): `x` (batch, time, input),
/// `w_ih` (4H, input + 1) with the summed biases as its last column, `w_hh` (4H, H). Returns h,
/// (batch, time, H), and the state after the last hop, to start the next chunk of the same
/// sequences from. `init` is a constant to the gradient.
pub fn lstm_sequence_from(x: &Tensor, w_ih: &Tensor, w_hh: &Tensor, init: Option<&LstmState>) -> Result<(Tensor, LstmState)> {
    let hidden = w_hh.dim(D::Minus1)?;
    let last = Arc::new(Mutex::new(LstmState::default()));
    let op = FusedLstm { hidden, init: init.cloned(), saved: Mutex::new(Vec::new()), last: last.clone() };
    let h = x.contiguous()?.apply_op3(&w_ih.contiguous()?, &w_hh.contiguous()?, op)?;
    let state = last.lock().map_err(|_| candle_core::Error::Msg("fused LSTM: poisoned state".into()))?.clone();
    Ok((h, state))
}
