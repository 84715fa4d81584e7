//! Allocation-free inference: stacked LSTM layers (PyTorch/candle layout, gate order i, f, g, o)
//! and a dense head giving one gain per band (sigmoid), the fine bins' gains (sigmoid) or deep
//! filter taps (bounded tanh), and a voice-activity probability (sigmoid).

use super::{weights, ModelConfig, ModelError, DF_TAP_MAX};
use super::activation::{lstm_gates_in_place, sigmoid, tanh_fast, tanh_in_place};
use super::matvec::MatVec;

/// One LSTM layer, with `[W_ih | W_hh]` fused row by row so each gate row is one dot product
/// over `[x; h]`, and the two bias vectors summed.
#[derive(Debug, Clone)]
struct LstmLayer {
    input: usize,
    hidden: usize,
    /// Row-major (4·hidden) × (input + hidden).
    weight: Vec<f32>,
    /// 4·hidden.
    bias: Vec<f32>,
}

/// A validated network, immutable and shareable between plugin instances.
#[derive(Debug, Clone)]
pub struct Model {
    config: ModelConfig,
    /// The convolution front-end's tanh layer, row-major conv_units × conv_input, and its bias
    /// (empty without one).
    conv_weight: Vec<f32>,
    conv_bias: Vec<f32>,
    layers: Vec<LstmLayer>,
    /// Row-major n_outputs × hidden.
    out_weight: Vec<f32>,
    out_bias: Vec<f32>,
    /// The product kernel for this CPU, chosen at load.
    matvec: MatVec,
}

/// Per-stream recurrent state and scratch, sized once for a model.
#[derive(Debug, Clone)]
pub struct NetworkState {
    /// The convolution front-end's input: the last `conv_hops` hops' features, the newest
    /// first (empty without a front-end).
    conv_in: Vec<f32>,
    /// Per layer: `[x; h]`, the layer's input followed by its previous output.
    xh: Vec<Vec<f32>>,
    c: Vec<Vec<f32>>,
    gates: Vec<f32>,
    /// With skip connections, the output layer's input: the features, then every layer's h.
    head_in: Vec<f32>,
    logits: Vec<f32>,
}

impl Model {
    /// Parses and validates a safetensors weights file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        let (config, tensors) = weights::parse(bytes)?;
        Ok(Self::from_tensors(config, tensors))
    }

    /// Builds from tensors already checked against `config.tensor_shapes()`.
    fn from_tensors(config: ModelConfig, tensors: Vec<Vec<f32>>) -> Self {
        let mut it = tensors.into_iter();
        let (conv_weight, conv_bias) =
            if config.conv_layer() { (it.next().unwrap(), it.next().unwrap()) } else { (Vec::new(), Vec::new()) };
        let h = config.hidden;
        let layers = (0..config.layers)
            .map(|l| {
                let input = config.layer_input(l);
                let (w_ih, w_hh) = (it.next().unwrap(), it.next().unwrap());
                let (b_ih, b_hh) = (it.next().unwrap(), it.next().unwrap());
                let mut weight = Vec::with_capacity(4 * h * (input + h));
                for r in 0..4 * h {
                    weight.extend_from_slice(&w_ih[r * input..(r + 1) * input]);
                    weight.extend_from_slice(&w_hh[r * h..(r + 1) * h]);
                }
                let bias = b_ih.iter().zip(&b_hh).map(|(a, b)| a + b).collect();
                LstmLayer { input, hidden: h, weight, bias }
            })
            .collect();
        let out_weight = it.next().unwrap();
        let out_bias = it.next().unwrap();
        Self { config, conv_weight, conv_bias, layers, out_weight, out_bias, matvec: MatVec::detect() }
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Fresh (zero) state for one stream.
    pub fn new_state(&self) -> NetworkState {
        NetworkState {
            conv_in: vec![0.0; self.config.conv_input()],
            xh: self.layers.iter().map(|l| vec![0.0; l.input + l.hidden]).collect(),
            c: self.layers.iter().map(|l| vec![0.0; l.hidden]).collect(),
            gates: vec![0.0; 4 * self.config.hidden],
            head_in: vec![0.0; if self.config.skip_connections { self.config.head_input() } else { 0 }],
            logits: vec![0.0; self.config.n_outputs()],
        }
    }

    /// One hop: `features` in (n_features), the head out (n_head: band gains in 0..1, then the
    /// fine bins' gains or deep-filter taps); returns the voice-activity probability. Never
    /// allocates.
    pub fn step(&self, state: &mut NetworkState, features: &[f32], head: &mut [f32]) -> f32 {
        debug_assert_eq!(features.len(), self.config.n_features());
        debug_assert_eq!(head.len(), self.config.n_head());
        if self.config.conv_hops == 0 {
            state.xh[0][..features.len()].copy_from_slice(features);
        } else {
            // Shift the history one hop older, the newest hop in front.
            let n = features.len();
            let kept = state.conv_in.len() - n;
            state.conv_in.copy_within(..kept, n);
            state.conv_in[..n].copy_from_slice(features);
            if self.config.conv_layer() {
                let units = &mut state.xh[0][..self.conv_bias.len()];
                self.matvec.apply(&self.conv_weight, &state.conv_in, &self.conv_bias, units);
                tanh_in_place(units);
            } else {
                // No tanh layer: the first LSTM layer reads the stacked hops.
                state.xh[0][..state.conv_in.len()].copy_from_slice(&state.conv_in);
            }
        }
        for (l, layer) in self.layers.iter().enumerate() {
            let hsz = layer.hidden;
            let row_len = layer.input + hsz;
            let xh = &state.xh[l];
            self.matvec.apply(&layer.weight, &xh[..row_len], &layer.bias, &mut state.gates);
            lstm_gates_in_place(&mut state.gates);
            let (gi, rest) = state.gates.split_at(hsz);
            let (gf, rest) = rest.split_at(hsz);
            let (gg, go) = rest.split_at(hsz);
            let c = &mut state.c[l];
            // The new h goes where this layer keeps its previous h, and into the next layer's
            // input slot.
            let (this, next) = state.xh.split_at_mut(l + 1);
            let h_slot = &mut this[l][layer.input..];
            for (((cj, i), f), g) in c.iter_mut().zip(gi).zip(gf).zip(gg.iter()) {
                *cj = f * *cj + i * g;
            }
            for ((h, o), cj) in h_slot.iter_mut().zip(go.iter()).zip(c.iter()) {
                *h = o * tanh_fast(*cj);
            }
            if let Some(next) = next.first_mut() {
                next[..hsz].copy_from_slice(h_slot);
            }
        }
        let last = self.layers.last().expect("validated: at least one layer");
        let h = if self.config.skip_connections {
            // Layer 0's `[x; h]` is the features then its h; each later layer adds its h.
            let (first, rest) = state.head_in.split_at_mut(state.xh[0].len());
            first.copy_from_slice(&state.xh[0]);
            for ((slot, xh), layer) in rest.chunks_exact_mut(self.config.hidden).zip(&state.xh[1..]).zip(&self.layers[1..]) {
                slot.copy_from_slice(&xh[layer.input..]);
            }
            &state.head_in[..]
        } else {
            &state.xh[self.layers.len() - 1][last.input..]
        };
        self.matvec.apply(&self.out_weight, &h[..self.config.head_input()], &self.out_bias, &mut state.logits);
        let n_head = self.config.n_head();
        let taps = self.config.tap_outputs();
        for (i, (o, x)) in head.iter_mut().zip(&state.logits).enumerate() {
            *o = if taps.contains(&i) { DF_TAP_MAX * tanh_fast(x / DF_TAP_MAX) } else { sigmoid(*x) };
        }
        sigmoid(state.logits[n_head])
    }
}

impl NetworkState {
    pub fn reset(&mut self) {
        self.conv_in.fill(0.0);
        self.xh.iter_mut().for_each(|v| v.fill(0.0));
        self.c.iter_mut().for_each(|v| v.fill(0.0));
    }

    /// False if anything non-finite got into the recurrent state.
    pub fn is_finite(&self) -> bool {
        self.c.iter().flatten().all(|x| x.is_finite())
            && self.conv_in.iter().all(|x| x.is_finite())
            && self.xh.iter().flatten().all(|x| x.is_finite())
    }
}
