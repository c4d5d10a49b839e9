//! Gradient all-reduce before each optimiser step: every peer ends with the sum of all
//! peers' gradients, bit-identical across peers, so identical optimiser steps keep the
//! weights identical.
//!
//! Two engines, picked by [`GradReduce::for_devices`]:
//! - [`GradReduce::Burn`]: burn 0.22's collective, `burn::tensor::distributed::all_reduce`
//!   with `ReduceOperation::Sum` over the peers' devices, resolved with `CollectiveTensor::resolve`.
//!   burn implements it for the cubecl CUDA runtime only (NCCL underneath).
//! - [`GradReduce::Host`]: for every other backend, because burn 0.22 has no collective for
//!   them: `burn-backend-extension-0.22.1/src/catalog.rs` declares `Flex`, `NdArray` and
//!   `LibTorch` with `distributed: false` (lines 30-47), so `burn-dispatch-0.22.1/src/ops/
//!   distributed.rs` has no arm for them and panics ("Distributed operations are not
//!   supported"), and the cubecl CPU/wgpu runtimes panic inside cubecl's `all_reduce`
//!   (catalog.rs lines 21-26). The host engine copies each gradient to the host, exchanges
//!   it through the peer group and adds the peers' copies in rank order.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::distributed::{ReduceOperation, all_reduce};
use burn::tensor::{Device, Tensor, TensorData};

use crate::distributed::group::Peer;
use crate::error::{Error, Result};

/// Which all-reduce the peers use for gradients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradReduce {
    /// burn's `all_reduce` (CUDA devices).
    Burn,
    /// Host copies summed in rank order (backends burn 0.22 has no collective for).
    Host,
}

impl GradReduce {
    /// burn's collective when the peers are CUDA devices of a `cuda` build, else the host
    /// engine.
    pub fn for_devices(devices: &[Device]) -> GradReduce {
        let cuda = cfg!(feature = "cuda")
            && devices.iter().all(|d| {
                let name = format!("{:?}", d.clone().inner());
                name.contains("Cuda") || name.contains("cuda")
            });
        if cuda {
            GradReduce::Burn
        } else {
            GradReduce::Host
        }
    }
}

/// One parameter's gradient on the host: shape and values (`None`: no gradient on this peer).
type HostGrad = Option<(Vec<usize>, Vec<f32>)>;

/// Collects the gradient of every float parameter, in module order.
struct Take<'a> {
    grads: &'a mut GradientsParams,
    out: Vec<(ParamId, HostGrad)>,
}

impl ModuleVisitor for Take<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let g = self.grads.remove::<D>(param.id).map(|g| {
            let dims = g.dims().to_vec();
            (dims, crate::masked::to_host(g))
        });
        self.out.push((param.id, g));
    }
}

/// Puts summed host gradients back, on `device`, for parameters that had one anywhere.
struct Put<'a> {
    grads: &'a mut GradientsParams,
    summed: std::vec::IntoIter<HostGrad>,
    device: &'a Device,
}

impl ModuleVisitor for Put<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(Some((dims, values))) = self.summed.next() {
            let t = Tensor::<D>::from_data(TensorData::new(values, dims), self.device);
            self.grads.register(param.id, t);
        }
    }
}

/// Every peer's device, gathered once per call for burn's collective.
struct BurnSum<'a> {
    grads: &'a mut GradientsParams,
    devices: &'a [Device],
    device: &'a Device,
}

impl ModuleVisitor for BurnSum<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        // Every peer visits the same parameters in the same order, so the collective calls
        // pair up; a peer without a gradient contributes zeros.
        let g = self
            .grads
            .remove::<D>(param.id)
            .unwrap_or_else(|| Tensor::zeros(param.val().dims(), self.device));
        let summed = all_reduce(g, ReduceOperation::Sum, self.devices.to_vec()).resolve();
        self.grads.register(param.id, summed);
    }
}

/// Sums `grads` (this peer's gradients of `module`) over every peer of the group; the
/// identity for a solo peer.
///
/// # Errors
/// [`Error::PeerLeft`] / [`Error::CollectiveTimeout`] from the peer group, [`Error::Shape`]
/// when peers hold gradients of different shapes for one parameter.
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
    match engine {
        GradReduce::Burn => {
            // Every peer must reach the collective before any enters it: a peer that failed
            // earlier then ends the others here, with a typed error, instead of inside NCCL.
            let devices = peer.all_gather(device.clone(), "all-reduce rendezvous")?;
            let mut v = BurnSum {
                grads: &mut grads,
                devices: &devices,
                device: &device,
            };
            module.visit(&mut v);
            Ok(grads)
        }
        GradReduce::Host => {
            let mut take = Take {
                grads: &mut grads,
                out: Vec::new(),
            };
            module.visit(&mut take);
            let mine: Vec<HostGrad> = take.out.into_iter().map(|(_, g)| g).collect();
            let all = peer.all_gather(mine, "gradient all-reduce")?;
            let summed = sum_in_rank_order(&all)?;
            let mut put = Put {
                grads: &mut grads,
                summed: summed.into_iter(),
                device: &device,
            };
            module.visit(&mut put);
            Ok(grads)
        }
    }
}

/// Adds the peers' host gradients parameter by parameter, rank 0 first.
fn sum_in_rank_order(all: &[Vec<HostGrad>]) -> Result<Vec<HostGrad>> {
    let n = all.first().map_or(0, Vec::len);
    let mut out: Vec<HostGrad> = vec![None; n];
    for peer in all {
        if peer.len() != n {
            return Err(Error::Shape {
                what: "gradient list",
                expected: vec![n],
                got: vec![peer.len()],
            });
        }
        for (acc, g) in out.iter_mut().zip(peer) {
            let Some((dims, values)) = g else { continue };
            match acc {
                None => *acc = Some((dims.clone(), values.clone())),
                Some((d, a)) => {
                    if d != dims {
                        return Err(Error::Shape {
                            what: "gradient",
                            expected: d.clone(),
                            got: dims.clone(),
                        });
                    }
                    a.iter_mut().zip(values).for_each(|(a, v)| *a += v);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_sum_skips_missing_gradients_and_checks_shapes() {
        let a = vec![Some((vec![2], vec![1.0, 2.0])), None];
        let b = vec![Some((vec![2], vec![0.5, 0.5])), None];
        let s = sum_in_rank_order(&[a.clone(), b]).unwrap();
        assert_eq!(s, vec![Some((vec![2], vec![1.5, 2.5])), None]);
        let c = vec![Some((vec![1, 2], vec![0.5, 0.5])), None];
        assert!(matches!(
            sum_in_rank_order(&[a, c]),
            Err(Error::Shape { what: "gradient", .. })
        ));
    }

    #[test]
    fn cpu_devices_use_the_host_engine() {
        assert_eq!(
            GradReduce::for_devices(&[Device::flex(), Device::flex()]),
            GradReduce::Host
        );
    }
}
