//! A dense tanh layer over an input that needs no gradient, as one candle op: the convolution
//! front-end (`net::LullNet::conv_front`), whose input is the features.
//!
//! Why: with candle's own ops, `tanh(x·Wᵀ + b)` also computes the gradient of `x` (a matrix
//! product as large as the forward one, into a zero-filled buffer), though nothing upstream of
//! the features can use it, and keeps the product and its tanh as separate tensors. Here the
//! forward pass is one product and a tanh in place, and the backward pass only the weights'
//! gradient, the same `gemm` calls as the fused LSTM's input projection (`lstm_op`).
//!
//! Inputs: `x` (batch, time, input), a constant; `w` (units, input + 1), the weights with the
//! bias as their last column. Output: (batch, time, units).

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};

use crate::lstm_op::{contiguous_f32, input_projection, projection_weight_grad};
use lull::model::activation::tanh_fast;

struct DenseTanh;

impl CustomOp2 for DenseTanh {
    fn name(&self) -> &'static str {
        "dense-tanh"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, t, n_in) = l1.shape().dims3()?;
        let (units, w_in) = l2.shape().dims2()?;
        if w_in != n_in + 1 {
            candle_core::bail!("dense tanh: weights {:?} for inputs {:?} (expected input + 1 columns)", l2.shape(), l1.shape());
        }
        let x = contiguous_f32(s1, l1, "x")?;
        let w = contiguous_f32(s2, l2, "w")?;
        let mut y = input_projection(x, w, b * t, n_in, units);
        y.iter_mut().for_each(|v| *v = tanh_fast(*v));
        Ok((CpuStorage::F32(y), Shape::from((b, t, units))))
    }

    fn bwd(&self, x: &Tensor, _w: &Tensor, res: &Tensor, grad_res: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        if x.track_op() {
            candle_core::bail!("dense tanh: its input must be a constant (it has no gradient for it)");
        }
        let (b, t, units) = res.dims3()?;
        let n_in = x.dim(2)?;
        let y = res.flatten_all()?.to_vec1::<f32>()?;
        let mut dz = grad_res.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        for (d, y) in dz.iter_mut().zip(&y) {
            *d *= 1.0 - y * y;
        }
        let x = x.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let dw = projection_weight_grad(&dz, &x, b * t, n_in, units);
        Ok((None, Some(Tensor::from_vec(dw, (units, n_in + 1), res.device())?)))
    }
}

/// `tanh(x·Wᵀ + b)` over the last dimension of `x` (batch, time, input), a constant to the
/// gradient; `w` is (units, input + 1), the bias its last column.
pub fn dense_tanh(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&w.contiguous()?, DenseTanh)
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var, D};
    use rand::{Rng, SeedableRng};

    /// Against the same layer written with candle's ops: values, and the gradient of the
    /// weights and bias through a weighted sum.
    #[test]
    fn dense_tanh_matches_candle_ops_in_value_and_gradient() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let mut rand = |shape: &[usize], scale: f32| {
            let v: Vec<f32> = (0..shape.iter().product()).map(|_| rng.gen_range(-scale..scale)).collect();
            Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
        };
        let (b, t, n_in, units) = (3, 7, 10, 6);
        let x = rand(&[b, t, n_in], 2.0);
        let w = Var::from_tensor(&rand(&[units, n_in + 1], 0.8)).unwrap();
        let weigh = rand(&[b, t, units], 1.0);
        let fused = super::dense_tanh(&x, w.as_tensor()).unwrap();
        let ones = Tensor::ones((b, t, 1), candle_core::DType::F32, &Device::Cpu).unwrap();
        let rows = Tensor::cat(&[&x, &ones], D::Minus1).unwrap().reshape((b * t, n_in + 1)).unwrap();
        let reference = rows.matmul(&w.as_tensor().t().unwrap()).unwrap().tanh().unwrap().reshape((b, t, units)).unwrap();
        let diff = |a: &Tensor, r: &Tensor| (a - r).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        assert!(diff(&fused, &reference) < 1e-6);
        // The outputs swing over most of −1..1, so the tanh's slope is exercised.
        let top = fused.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        assert!(top > 0.9, "largest output {top}");
        let g_fused = (fused * &weigh).unwrap().sum_all().unwrap().backward().unwrap();
        let g_ref = (reference * &weigh).unwrap().sum_all().unwrap().backward().unwrap();
        let (a, r) = (g_fused.get(w.as_tensor()).unwrap(), g_ref.get(w.as_tensor()).unwrap());
        assert!(diff(a, r) < 1e-5, "weight gradients differ by {}", diff(a, r));
        // The input is a constant: no gradient for it.
        assert!(g_fused.get(&x).is_none());
    }
}
