//! The gain network as candle modules, for training. Tensor names, shapes and gate order
//! (i, f, g, o) match `lull::model` (and PyTorch's `nn.LSTM`), so export is a copy; the parity
//! test checks both implementations give the same gains.

use candle_core::{DType, Device, IndexOp, Result, Tensor, D};
use candle_nn::{Init, VarBuilder, VarMap};
use lull::model::{ModelConfig, DF_TAP_MAX};
use rand::{rngs::StdRng, Rng, SeedableRng};

use crate::dense_op::dense_tanh;
use crate::lstm_op::{lstm_sequence_from, LstmState};

/// `x·wᵀ + b` over the last dimension of a (batch, time, in) tensor, as one matrix product over
/// all batch·time rows, the bias a column of `w` against a column of ones in `x`.
/// `broadcast_matmul` would make one product per sequence and, in the backward pass, sum their
/// weight gradients with candle's strided reduction, as `broadcast_add` would the bias's over
/// every row: together 13 % of a training step. As one product, both gradients are matrix
/// products too, and no (rows × out) sum is stored, whose gradient candle would zero and add.
fn affine(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (batch, time, n) = x.dims3()?;
    let rows = Tensor::cat(&[&x.reshape((batch * time, n))?, &Tensor::ones((batch * time, 1), x.dtype(), x.device())?], 1)?;
    let w = Tensor::cat(&[w, &b.unsqueeze(1)?], 1)?;
    rows.matmul(&w.t()?)?.reshape((batch, time, w.dim(0)?))
}

struct Lstm {
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor,
    b_hh: Tensor,
    hidden: usize,
}

impl Lstm {
    fn new(vb: VarBuilder, input: usize, hidden: usize) -> Result<Self> {
        let k = init_bound(hidden);
        let init = Init::Uniform { lo: -k, up: k };
        Ok(Self {
            w_ih: vb.get_with_hints((4 * hidden, input), "weight_ih", init)?,
            w_hh: vb.get_with_hints((4 * hidden, hidden), "weight_hh", init)?,
            b_ih: vb.get_with_hints(4 * hidden, "bias_ih", init)?,
            b_hh: vb.get_with_hints(4 * hidden, "bias_hh", init)?,
            hidden,
        })
    }

    /// The input projection for all time steps at once (`forward_reference`'s; the fused op
    /// makes its own).
    fn input_projection(&self, x: &Tensor) -> Result<Tensor> {
        affine(x, &self.w_ih, &(&self.b_ih + &self.b_hh)?)
    }

    /// (batch, time, input) → (batch, time, hidden), from `init` (zeros if `None`), with the
    /// fused recurrence (`lstm_op`); also the state after the last hop.
    fn forward(&self, x: &Tensor, init: Option<&LstmState>) -> Result<(Tensor, LstmState)> {
        let w_ih = Tensor::cat(&[&self.w_ih, &(&self.b_ih + &self.b_hh)?.unsqueeze(1)?], 1)?;
        lstm_sequence_from(x, &w_ih, &self.w_hh, init)
    }

    /// The same as `forward`, written with candle's tensor ops hop by hop: the reference the
    /// fused op is tested against (slow: a dozen graph nodes per hop).
    fn forward_reference(&self, x: &Tensor, init: Option<&LstmState>) -> Result<(Tensor, LstmState)> {
        let (b, t, _) = x.dims3()?;
        let xw = self.input_projection(x)?;
        let w_hh_t = self.w_hh.t()?;
        let (mut h, mut c) = match init {
            Some(s) => (Tensor::from_slice(&s.h, (b, self.hidden), x.device())?, Tensor::from_slice(&s.c, (b, self.hidden), x.device())?),
            None => (Tensor::zeros((b, self.hidden), x.dtype(), x.device())?, Tensor::zeros((b, self.hidden), x.dtype(), x.device())?),
        };
        let mut outs = Vec::with_capacity(t);
        for step in 0..t {
            let gates = (xw.i((.., step, ..))? + h.matmul(&w_hh_t)?)?;
            let g = gates.chunk(4, 1)?;
            let i = candle_nn::ops::sigmoid(&g[0])?;
            let f = candle_nn::ops::sigmoid(&g[1])?;
            let gg = g[2].tanh()?;
            let o = candle_nn::ops::sigmoid(&g[3])?;
            c = ((f * &c)? + (i * gg)?)?;
            h = (o * c.tanh()?)?;
            outs.push(h.clone());
        }
        let last = LstmState { h: h.flatten_all()?.to_vec1()?, c: c.flatten_all()?.to_vec1()? };
        Ok((Tensor::stack(&outs, 1)?, last))
    }
}

/// Outputs of the network for a batch of sequences.
pub struct NetOutput {
    /// (batch, time, n_head): what `lull::model::Model::step` writes.
    pub head: Tensor,
    /// (batch, time, ·): the gains in `head`, each in 0..1: the bands', then the fine bins'
    /// unless they are deep-filtered.
    pub gains: Tensor,
    /// (batch, time, fine_bins, df_order, 2) deep-filter taps (re, im), newest hop first.
    pub taps: Option<Tensor>,
    /// (batch, time, n_bands) the pitch filter's strengths, in 0..1, with `pitch_strength`.
    pub strength: Option<Tensor>,
    /// (batch, time), voice-activity probability.
    pub vad: Tensor,
}

/// One LSTM layer run over a chunk from a state: the fused op or the reference.
type LayerFn = fn(&Lstm, &Tensor, Option<&LstmState>) -> Result<(Tensor, LstmState)>;

/// The network's state after a chunk: where the next chunk of the same training sequences
/// starts (truncated BPTT over a stream).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetState {
    /// Every LSTM layer's, first layer first.
    pub layers: Vec<LstmState>,
    /// What the convolution front-end still reads of the chunk: its last `conv_hops − 1` hops'
    /// features, (batch, hops, n_features) row-major, oldest first; empty without a front-end.
    pub conv_history: Vec<f32>,
}

impl NetState {
    /// Zeroes the state of the first `rows` of the `batch` sequences: their next chunk starts
    /// cold, as a plugin starts, while the other rows carry their state on.
    pub fn zero_rows(&mut self, rows: usize, batch: usize) {
        for layer in &mut self.layers {
            layer.zero_rows(rows, batch);
        }
        crate::lstm_op::clear_rows(&mut self.conv_history, rows, batch);
    }
}

pub struct LullNet {
    config: ModelConfig,
    /// The convolution front-end's tanh layer, weight and bias (`ModelConfig::conv_layer`).
    conv: Option<(Tensor, Tensor)>,
    layers: Vec<Lstm>,
    out_w: Tensor,
    out_b: Tensor,
}

impl LullNet {
    pub fn new(config: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        let conv = if config.conv_layer() {
            let k = init_bound(config.hidden);
            let init = Init::Uniform { lo: -k, up: k };
            Some((
                vb.get_with_hints((config.conv_units, config.conv_input()), "conv.weight", init)?,
                vb.get_with_hints(config.conv_units, "conv.bias", init)?,
            ))
        } else {
            None
        };
        let layers = (0..config.layers)
            .map(|l| Lstm::new(vb.pp(format!("lstm.{l}")), config.layer_input(l), config.hidden))
            .collect::<Result<Vec<_>>>()?;
        let k = init_bound(config.hidden);
        let out_w = vb.get_with_hints(
            (config.n_outputs(), config.head_input()),
            "out.weight",
            Init::Uniform { lo: -k, up: k },
        )?;
        // Start with gains near one (σ(2) ≈ 0.88): an untrained model passes speech.
        let out_b = vb.get_with_hints(config.n_outputs(), "out.bias", Init::Const(2.0))?;
        Ok(Self { config: config.clone(), conv, layers, out_w, out_b })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// features: (batch, time, n_features).
    pub fn forward(&self, features: &Tensor) -> Result<NetOutput> {
        Ok(self.forward_with(features, Lstm::forward, None, None)?.0)
    }

    /// `forward` for a training step, with `dropout` on what every LSTM layer hands on, from
    /// the state `init` a previous chunk of the same sequences ended in (zeros if `None`);
    /// also the state this chunk ends in.
    pub fn forward_train(&self, features: &Tensor, dropout: Option<Dropout>, init: Option<&NetState>) -> Result<(NetOutput, NetState)> {
        self.forward_with(features, Lstm::forward, dropout, init)
    }

    /// `forward` with the hop-by-hop reference LSTM instead of the fused op (for tests).
    pub fn forward_reference(&self, features: &Tensor) -> Result<NetOutput> {
        Ok(self.forward_with(features, Lstm::forward_reference, None, None)?.0)
    }

    /// `forward_reference` from a given state, and the state it ends in (for tests).
    pub fn forward_reference_from(&self, features: &Tensor, init: Option<&NetState>) -> Result<(NetOutput, NetState)> {
        self.forward_with(features, Lstm::forward_reference, None, init)
    }

    fn forward_with(
        &self,
        features: &Tensor,
        lstm: LayerFn,
        dropout: Option<Dropout>,
        init: Option<&NetState>,
    ) -> Result<(NetOutput, NetState)> {
        if let Some(init) = init {
            if init.layers.len() != self.layers.len() {
                candle_core::bail!("a state of {} layers for a network of {}", init.layers.len(), self.layers.len());
            }
        }
        let mut rng = dropout.map(|d| (d.p, StdRng::seed_from_u64(d.seed)));
        let (mut x, conv_history) =
            if self.config.conv_hops > 0 { self.conv_front(features, init)? } else { (features.clone(), Vec::new()) };
        // With skip connections the output layer reads the features and every layer's output.
        let mut skips = vec![features.clone()];
        let mut state = NetState { layers: Vec::with_capacity(self.layers.len()), conv_history };
        for (l, layer) in self.layers.iter().enumerate() {
            let (h, last) = lstm(layer, &x, init.map(|s| &s.layers[l]))?;
            x = h;
            state.layers.push(last);
            if let Some((p, rng)) = &mut rng {
                let mask = dropout_mask(x.dims(), *p, rng, x.device())?;
                x = (x * mask)?;
            }
            skips.push(x.clone());
        }
        if self.config.skip_connections {
            x = Tensor::cat(&skips, D::Minus1)?;
        }
        let logits = affine(&x, &self.out_w, &self.out_b)?;
        let c = &self.config;
        let part = |r: std::ops::Range<usize>| logits.narrow(D::Minus1, r.start, r.len());
        let vad = candle_nn::ops::sigmoid(&part(c.n_head()..c.n_outputs())?)?.squeeze(D::Minus1)?;
        let gains = candle_nn::ops::sigmoid(&part(c.gain_outputs())?)?;
        let mut head = vec![gains.clone()];
        let taps = if c.df_order > 0 {
            let m = DF_TAP_MAX as f64;
            let taps = ((part(c.tap_outputs())? / m)?.tanh()? * m)?;
            head.push(taps.clone());
            let (b, t, _) = taps.dims3()?;
            Some(taps.reshape((b, t, c.fine_bins, c.df_order, 2))?)
        } else {
            None
        };
        let strength = if c.pitch_strength {
            let s = candle_nn::ops::sigmoid(&part(c.strengths())?)?;
            head.push(s.clone());
            Some(s)
        } else {
            None
        };
        let head = if head.len() == 1 { gains.clone() } else { Tensor::cat(&head, D::Minus1)? };
        Ok((NetOutput { head, gains, taps, strength, vad }, state))
    }
}

impl LullNet {
    /// The convolution front-end over (batch, time, n_features): each hop's features and the
    /// `conv_hops − 1` hops' before it, the newest first (as `Model::step` stacks them), through
    /// the tanh layer if there is one; the hops before the chunk from `init` (zeros if `None`,
    /// as a plugin starts). Also the hops the next chunk needs.
    fn conv_front(&self, features: &Tensor, init: Option<&NetState>) -> Result<(Tensor, Vec<f32>)> {
        let (batch, time, f) = features.dims3()?;
        let past = self.config.conv_hops - 1;
        // The tanh layer's weight with its bias as the last column, as `dense_tanh` takes it.
        let layer = self.conv.as_ref().map(|(w, b)| Tensor::cat(&[w, &b.unsqueeze(1)?], 1)).transpose()?;
        let front = |stacked: &Tensor| match &layer {
            Some(w) => dense_tanh(stacked, w),
            None => Ok(stacked.clone()),
        };
        if past == 0 {
            return Ok((front(features)?, Vec::new()));
        }
        let before = match init {
            Some(s) if s.conv_history.len() != batch * past * f => {
                candle_core::bail!("a front-end history of {} values for {batch} × {past} hops × {f} features", s.conv_history.len())
            }
            Some(s) => Tensor::from_slice(&s.conv_history, (batch, past, f), features.device())?,
            None => Tensor::zeros((batch, past, f), features.dtype(), features.device())?,
        };
        let all = Tensor::cat(&[&before, features], 1)?;
        let hops = (0..=past).map(|j| all.narrow(1, past - j, time)).collect::<Result<Vec<_>>>()?;
        let out = front(&Tensor::cat(&hops, D::Minus1)?)?;
        let history = all.narrow(1, time, past)?.flatten_all()?.to_vec1::<f32>()?;
        Ok((out, history))
    }
}

/// Dropout (Srivastava et al. 2014) for one training step: each of the LSTM layers' outputs
/// (the next layer's input, and the output layer's) is zeroed with probability `p` and the rest
/// scaled by 1 / (1 − `p`), so inference, which uses them all, sees the same expected value. Only
/// the connections between layers, not the recurrent ones, as Zaremba et al. (2014) do for
/// LSTMs: dropping a recurrent state would cut the memory the gains depend on. The masks come
/// from `seed` (the run's seed and step), so a run stays reproducible.
#[derive(Debug, Clone, Copy)]
pub struct Dropout {
    pub p: f64,
    pub seed: u64,
}

fn dropout_mask(shape: &[usize], p: f64, rng: &mut StdRng, device: &Device) -> Result<Tensor> {
    let keep = (1.0 / (1.0 - p)) as f32;
    let n = shape.iter().product();
    let mask: Vec<f32> = (0..n).map(|_| if rng.gen::<f64>() < p { 0.0 } else { keep }).collect();
    Tensor::from_vec(mask, shape, device)
}

/// PyTorch's default initialisation bound: U(−1/√H, 1/√H) for every LSTM weight and bias and
/// for the output layer's weights.
fn init_bound(hidden: usize) -> f64 {
    1.0 / (hidden as f64).sqrt()
}

/// Builds a fresh network whose variables live in `varmap`, its initial weights drawn from
/// `seed`. (candle draws `Init::Uniform` on the CPU from an unseeded thread RNG, so each
/// uniform variable is redrawn here, in the order of `tensor_shapes`, with the same bounds: the
/// run's seed then fixes the whole run, not only its data.) Deep-filter taps start at exactly
/// zero (their rows of the output layer and their bias), so an untrained filter adds nothing to
/// the band gains' output and the network starts as a band-gain model; it learns a correction
/// from there.
pub fn build(config: &ModelConfig, varmap: &VarMap, device: &Device, seed: u64) -> Result<LullNet> {
    let net = LullNet::new(config, VarBuilder::from_varmap(varmap, DType::F32, device))?;
    {
        let mut rng = StdRng::seed_from_u64(seed);
        let k = init_bound(config.hidden) as f32;
        let vars = varmap.data().lock().expect("variable map lock");
        for (name, shape) in config.tensor_shapes() {
            if name == "out.bias" {
                continue; // a constant (see `LullNet::new`)
            }
            let values: Vec<f32> = (0..shape.iter().product()).map(|_| rng.gen_range(-k..k)).collect();
            vars[&name].set(&Tensor::from_vec(values, shape, device)?)?;
        }
    }
    if config.df_order > 0 {
        let (taps, n) = (config.tap_outputs(), config.n_outputs());
        let mut bias = vec![2.0f32; n];
        bias[taps.clone()].fill(0.0);
        let vars = varmap.data().lock().expect("variable map lock");
        vars["out.bias"].set(&Tensor::from_vec(bias, n, device)?)?;
        let w = &vars["out.weight"];
        let mut rows = w.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        let width = config.head_input();
        rows[taps.start * width..taps.end * width].fill(0.0);
        w.set(&Tensor::from_vec(rows, (n, width), device)?)?;
    }
    Ok(net)
}

/// The variables of `varmap` in the order of `config.tensor_shapes()`, as plain vectors.
pub fn export_tensors(config: &ModelConfig, varmap: &VarMap) -> anyhow::Result<Vec<Vec<f32>>> {
    let data = varmap.data().lock().map_err(|_| anyhow::anyhow!("variable map poisoned"))?;
    config
        .tensor_shapes()
        .iter()
        .map(|(name, shape)| {
            let var = data
                .get(name)
                .ok_or_else(|| anyhow::anyhow!("network has no variable `{name}`"))?;
            anyhow::ensure!(var.dims() == shape.as_slice(), "`{name}` has shape {:?}, expected {shape:?}", var.dims());
            Ok(var.as_tensor().flatten_all()?.to_vec1::<f32>()?)
        })
        .collect()
}
