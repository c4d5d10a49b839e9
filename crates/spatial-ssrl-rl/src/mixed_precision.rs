//! Mixed precision as EasyR1's FSDP runs it: parameters held in bf16/f16 for the forward and
//! backward passes, gradients widened to f32 before they are accumulated, clipped and
//! reduced, and AdamW stepping an f32 master copy of every narrow parameter (its moments in
//! f32 too), the held parameter being the master rounded back to its dtype after each step.
//!
//! burn 0.22's AdamW steps a parameter in its own dtype (bf16 moments, and a 1e-6 update on
//! a bf16 weight mostly rounds away), so [`MasterAdamW`] wraps it: the master copy lives in
//! the optimiser state, keyed by `ParamId` like the moments, and is saved and restored with
//! them. f32 parameters take AdamW's plain path and record exactly what AdamW records, so
//! f32 checkpoints keep their layout.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{
    AdamW, AdamWState, GradientsParams, LearningRate, Optimizer, RecordState, StateSink,
    StateSource,
};
use burn::tensor::{DType, Device, Tensor};

/// Name of the master-weight leaf in a recorded optimiser state.
const MASTER: &str = "master";

/// AdamW that keeps an f32 master copy (and f32 moments) for parameters held narrower than
/// f32; f32 parameters step exactly as burn's [`AdamW`].
#[derive(Clone)]
pub struct MasterAdamW {
    inner: AdamW,
}

impl MasterAdamW {
    /// Wraps a configured AdamW.
    pub fn new(inner: AdamW) -> Self {
        MasterAdamW { inner }
    }
}

/// Per-parameter state of [`MasterAdamW`]: AdamW's moments, plus the f32 master value when
/// the parameter is held in bf16/f16.
#[derive(Clone)]
pub struct MasterAdamWState<const D: usize> {
    /// AdamW's state (f32 moments for a narrow parameter).
    pub adam: AdamWState<D>,
    /// The f32 value the held parameter rounds from (`None` for f32 parameters).
    pub master: Option<Tensor<D>>,
}

impl<const D: usize> RecordState for MasterAdamWState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        // AdamW's leaves under the same prefix: an f32 run's file is AdamW's own.
        self.adam.state_flatten(prefix, out);
        if let Some(m) = &self.master {
            out.push_tensor(prefix, MASTER, m.to_data());
        }
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let adam = AdamWState::state_unflatten(prefix, src, device)?;
        let master = src
            .take_tensor(prefix, MASTER)
            .map(|data| Tensor::from_data(data, (device, DType::F32)));
        Some(MasterAdamWState { adam, master })
    }
}

fn is_narrow(dtype: DType) -> bool {
    matches!(dtype, DType::BF16 | DType::F16)
}

/// `t` in f32 (burn's cast is a no-op when it already is).
fn to_f32<const D: usize>(t: Tensor<D>) -> Tensor<D> {
    t.cast(DType::F32)
}

impl Optimizer for MasterAdamW {
    type State<const D: usize> = MasterAdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let held = tensor.dtype();
        let (adam, master) = match state {
            Some(s) => (Some(s.adam), s.master),
            None => (None, None),
        };
        let grad = to_f32(grad);
        if !is_narrow(held) {
            let (t, adam) = self.inner.step(lr, tensor, grad, adam);
            return (t, adam.map(|adam| MasterAdamWState { adam, master: None }));
        }
        // The first step seeds the master from the held value; later steps continue from
        // the master, so updates smaller than the held dtype's rounding still accumulate.
        let master = master.unwrap_or_else(|| to_f32(tensor));
        let (master, adam) = self.inner.step(lr, master, grad, adam);
        let held_value = master.clone().cast(held);
        let state = adam.map(|adam| MasterAdamWState {
            adam,
            master: Some(master),
        });
        (held_value, state)
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.adam = AdamW::to_device(state.adam, device);
        state.master = state.master.map(|m| m.to_device(device));
        state
    }
}

struct Widen<'a> {
    grads: &'a mut GradientsParams,
}

impl ModuleVisitor for Widen<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, to_f32(g));
        }
    }
}

/// Casts every gradient of `module`'s parameters to f32 (FSDP's fp32 gradient reduction), so
/// that accumulation over micro-batches, the global norm and the optimiser see f32 whatever
/// dtype a parameter is held in. A no-op for an f32 model.
pub fn widen_grads<M: Module>(module: &M, grads: &mut GradientsParams) {
    module.visit(&mut Widen { grads });
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::optim::AdamWConfig;
    use burn::tensor::TensorData;

    fn adamw() -> MasterAdamW {
        MasterAdamW::new(AdamWConfig::new().with_weight_decay(0.0).build())
    }

    #[test]
    fn narrow_parameter_accumulates_updates_below_its_rounding() {
        let d = Device::default();
        let w32 = Tensor::<1>::from_data(TensorData::from([1.0f32, -2.0]), &d);
        let w16 = w32.clone().cast(DType::BF16);
        let g = Tensor::<1>::from_data(TensorData::from([1.0f32, -1.0]), &d);
        let opt = adamw();
        // 1e-4 per step is below bf16's spacing at 1.0 (2^-7): the held value only moves
        // once the master has drifted far enough, but the master tracks the f32 run.
        let lr = 1e-4;
        let (mut t32, mut s32) = (w32, None);
        let (mut t16, mut s16) = (w16, None);
        for _ in 0..50 {
            (t32, s32) = opt.step(lr, t32, g.clone(), s32);
            (t16, s16) = opt.step(lr, t16, g.clone().cast(DType::BF16), s16);
        }
        assert_eq!(t16.dtype(), DType::BF16);
        let state = s16.unwrap();
        assert_eq!(state.adam.momentum.moment_1.dtype(), DType::F32);
        let master: Vec<f32> = state.master.unwrap().to_data().try_to_vec::<f32>().unwrap();
        let f32_run: Vec<f32> = t32.to_data().try_to_vec::<f32>().unwrap();
        for (m, f) in master.iter().zip(&f32_run) {
            assert!((m - f).abs() < 1e-6, "master {m} vs f32 {f}");
        }
        let held: Vec<f32> = t16.cast(DType::F32).to_data().try_to_vec::<f32>().unwrap();
        assert!((held[0] - f32_run[0]).abs() <= 2f32.powi(-8));
        assert!(held[0] < 1.0, "50 steps of 1e-4 moved the bf16 weight");
        assert!(s32.unwrap().master.is_none());
    }

    #[test]
    fn state_round_trips_with_and_without_master() {
        let d = Device::default();
        let w = Tensor::<2>::from_data(TensorData::from([[0.5f32, 0.25]]), &d);
        let g = w.clone();
        for dtype in [DType::F32, DType::BF16] {
            let (_, s) = adamw().step(1e-3, w.clone().cast(dtype), g.clone().cast(dtype), None);
            let s = s.unwrap();
            let mut sink = StateSink::default();
            s.state_flatten("p", &mut sink);
            let mut src = StateSource::new(sink.scalars.into_iter().collect());
            for (name, data) in sink.tensors {
                src.insert_tensor(name, data);
            }
            let back = MasterAdamWState::<2>::state_unflatten("p", &mut src, &d).unwrap();
            assert_eq!(back.master.is_some(), dtype == DType::BF16);
            assert_eq!(back.adam.momentum.time, s.adam.momentum.time);
        }
    }
}
