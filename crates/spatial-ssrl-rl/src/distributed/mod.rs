//! Data-parallel training: N peers, one thread per device, each holding the whole policy and
//! optimiser state (replicated, not sharded as FSDP would).
//!
//! A GRPO step on N peers: each peer samples the prompt groups it owns (a group never
//! straddles peers) and the peers exchange the responses, so every peer scores the whole
//! batch and computes the same group advantages; each peer then computes behaviour
//! log-probs and gradients for the micro-batches it owns, the gradients are summed over the
//! peers before each optimiser step ([`all_reduce_grads`]), and identical steps keep the
//! weights identical. SFT deals its micro-batches the same way. `with_peer` first copies
//! rank 0's weights to every peer ([`broadcast_module`]), so adapters a trainer draws itself
//! (LoRA) agree; checkpoints are written by rank 0 only. With one peer ([`Peer::solo`])
//! every call is the identity: the trainers run as on one device.
//!
//! Every collective call has a deadline and notices a peer that left, so a crash ends the
//! run with [`Error::PeerLeft`](crate::Error::PeerLeft),
//! [`Error::PeerPanicked`](crate::Error::PeerPanicked) or
//! [`Error::CollectiveTimeout`](crate::Error::CollectiveTimeout), never a hang.
//!
//! Which burn operation sums the gradients, and why the collective one serves CUDA only, is
//! on [`GradReduce`]; burn 0.22 has no cross-machine level (`docs/training.md`).

mod broadcast;
mod group;
mod launch;
mod reduce;
pub(crate) mod shard;

pub use broadcast::broadcast_module;
pub use group::Peer;
pub(crate) use launch::write_once;
pub use launch::{peer_devices, run_peers};
pub use reduce::{GradReduce, all_reduce_grads};
