//! Rank 0's weights to every peer before training, as DDP does at start-up: parameters a
//! trainer initialises itself (LoRA adapters) come from each peer's own random stream, and
//! data-parallel training needs them identical.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};

use crate::distributed::group::Peer;
use crate::error::{Error, Result};

/// Host copies of every float parameter, in module order.
struct Collect(Vec<(Vec<usize>, Vec<f32>)>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        self.0.push((t.dims().to_vec(), crate::masked::to_host(t)));
    }
}

/// Overwrites every float parameter's value (ids and trainability stay).
struct Overwrite(std::vec::IntoIter<(Vec<usize>, Vec<f32>)>);

impl ModuleMapper for Overwrite {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.0.next() {
            Some((dims, values)) => param.map(|t| {
                let (device, dtype, grad) = (t.device(), t.dtype(), t.is_require_grad());
                Tensor::<D>::from_data(TensorData::new(values, dims), &device)
                    .cast(dtype)
                    .set_require_grad(grad)
            }),
            None => param,
        }
    }
}

/// `module` with rank 0's parameter values on every peer (itself for a solo peer).
///
/// # Errors
/// As [`Peer::all_gather`], and [`Error::Shape`] when rank 0's module has other parameters.
pub fn broadcast_module<M: Module>(peer: &Peer, module: M) -> Result<M> {
    if peer.world() == 1 {
        return Ok(module);
    }
    let mut mine = Collect(Vec::new());
    module.visit(&mut mine);
    let shapes: Vec<Vec<usize>> = mine.0.iter().map(|(d, _)| d.clone()).collect();
    // Only rank 0's copy is read; the others send nothing.
    let offer = peer.is_writer().then_some(mine.0);
    let all = peer.all_gather(offer, "weight broadcast")?;
    let root = all.into_iter().next().flatten().unwrap_or_default();
    let got: Vec<Vec<usize>> = root.iter().map(|(d, _)| d.clone()).collect();
    if got != shapes {
        return Err(Error::Shape {
            what: "broadcast parameters",
            expected: shapes.iter().map(|s| s.iter().product()).collect(),
            got: got.iter().map(|s| s.iter().product()).collect(),
        });
    }
    Ok(module.map(&mut Overwrite(root.into_iter())))
}
