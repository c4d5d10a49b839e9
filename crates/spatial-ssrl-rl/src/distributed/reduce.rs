//! Gradient all-reduce before each optimiser step: every peer ends with the sum of all
//! peers' gradients, bit-identical across peers, so identical optimiser steps keep the
//! weights identical.
//!
//! Two burn engines, picked by [`GradReduce::for_devices`]:
//! - [`GradReduce::Collective`]: burn 0.22's collective, `burn::tensor::distributed::
//!   all_reduce` with `ReduceOperation::Sum` over the peers' devices (NCCL underneath), then
//!   `CollectiveTensor::resolve`. burn implements it for the cubecl CUDA runtime only.
//! - [`GradReduce::DeviceSum`]: burn's multi-device gradient sum, `MultiGradientsParams`
//!   (the type `ModuleOptimizer::step_multi` takes), for every other backend: each peer sees
//!   every peer's gradient tensors and `MultiGradientsParams::remove` adds them, moving them
//!   with `Tensor::to_device`; every peer adds in the same order, so all get the same bits.
//!   The collective is not available there: `burn-backend-extension-0.22.1/src/catalog.rs`
//!   declares `Flex`, `NdArray` and `LibTorch` with `distributed: false` (lines 30-47), so
//!   `burn-dispatch-0.22.1/src/ops/distributed.rs` has no arm for them and panics
//!   ("Distributed operations are not supported"), and cubecl's CPU and wgpu runtimes panic
//!   inside cubecl's `all_reduce` (catalog.rs lines 21-26).

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, MultiGradientsParams};
use burn::tensor::distributed::{ReduceOperation, all_reduce};
use burn::tensor::{Device, Tensor};

use crate::distributed::group::Peer;
use crate::error::{Error, Result};

/// Which burn operation sums the peers' gradients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradReduce {
    /// burn's collective `all_reduce` (CUDA devices).
    Collective,
    /// burn's `MultiGradientsParams` sum over the peers' gradient tensors (any backend).
    DeviceSum,
}

impl GradReduce {
    /// burn's collective when the peers are CUDA devices of a `cuda` build, else the
    /// multi-device sum.
    pub fn for_devices(devices: &[Device]) -> GradReduce {
        let cuda = cfg!(feature = "cuda")
            && !devices.is_empty()
            && devices.iter().all(|d| {
                let name = format!("{:?}", d.clone().inner()).to_lowercase();
                name.contains("cuda")
            });
        if cuda {
            GradReduce::Collective
        } else {
            GradReduce::DeviceSum
        }
    }
}

/// Sums each parameter's gradient over the peers, one parameter at a time in module order
/// (every peer visits the same parameters in the same order, so the calls pair up).
struct SumVisitor<'a> {
    peer: &'a Peer,
    engine: GradReduce,
    grads: &'a mut GradientsParams,
    devices: &'a [Device],
    device: &'a Device,
    failed: Option<Error>,
}

impl SumVisitor<'_> {
    fn sum<const D: usize>(&mut self, param: &Param<Tensor<D>>) -> Result<()> {
        let id = param.id;
        let mine = self.grads.remove::<D>(id);
        match self.engine {
            GradReduce::Collective => {
                // A peer without a gradient for this parameter contributes zeros.
                let g = mine.unwrap_or_else(|| Tensor::zeros(param.val().dims(), self.device));
                let summed = all_reduce(g, ReduceOperation::Sum, self.devices.to_vec());
                self.grads.register(id, summed.resolve());
            }
            GradReduce::DeviceSum => {
                let all = self.peer.all_gather(mine, "gradient all-reduce")?;
                let mut multi = MultiGradientsParams::default();
                for (g, d) in all.into_iter().zip(self.devices) {
                    let mut one = GradientsParams::new();
                    if let Some(g) = g {
                        one.register(id, g);
                    }
                    multi.grads.push((one, d.clone()));
                }
                if let Some((summed, _)) = multi.remove::<D>(id) {
                    self.grads.register(id, summed.to_device(self.device));
                }
            }
        }
        Ok(())
    }
}

impl ModuleVisitor for SumVisitor<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if self.failed.is_none()
            && let Err(e) = self.sum(param)
        {
            self.failed = Some(e);
        }
    }
}

/// Sums `grads` (this peer's gradients of `module`) over every peer of the group; the
/// identity for a solo peer.
///
/// # Errors
/// [`Error::PeerLeft`] / [`Error::CollectiveTimeout`] from the peer group.
pub fn all_reduce_grads<M: Module>(
    peer: &Peer,
    engine: GradReduce,
    module: &M,
    mut grads: GradientsParams,
) -> Result<GradientsParams> {
    if peer.world() == 1 {
        return Ok(grads);
    }
    let device = peer.device().clone().inner();
    // Every peer reaches this point before any collective starts: a peer that failed earlier
    // then ends the others here with a typed error, not inside a collective.
    let devices = peer.all_gather(device.clone(), "all-reduce rendezvous")?;
    let mut v = SumVisitor {
        peer,
        engine,
        grads: &mut grads,
        devices: &devices,
        device: &device,
        failed: None,
    };
    module.visit(&mut v);
    match v.failed {
        Some(e) => Err(e),
        None => Ok(grads),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_devices_use_the_multi_device_sum() {
        assert_eq!(
            GradReduce::for_devices(&[Device::flex(), Device::flex()]),
            GradReduce::DeviceSum
        );
    }
}
