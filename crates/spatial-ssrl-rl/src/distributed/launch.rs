//! Starting the peers: one scoped thread per device, each with its [`Peer`]; the run ends when
//! every thread has returned, and a failing peer makes the others fail fast (see
//! [`Peer::all_gather`]) instead of waiting for it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use burn::tensor::Device;

use crate::distributed::group::{Group, Peer};
use crate::error::{Error, Result};

/// The devices of `n` peers on this machine: CUDA devices `0..n` in a `cuda` build, else `n`
/// CPU (flex) devices, one thread each.
pub fn peer_devices(n: usize) -> Vec<Device> {
    (0..n)
        .map(|_i| {
            #[cfg(feature = "cuda")]
            {
                Device::cuda(_i)
            }
            #[cfg(not(feature = "cuda"))]
            {
                Device::flex()
            }
        })
        .collect()
}

/// Runs `write` on rank 0 only (a checkpoint every peer would write alike) and returns its
/// result on every peer once it is done, so no peer reads a checkpoint before it exists.
pub(crate) fn write_once(
    peer: &Peer,
    dir: &Path,
    write: impl FnOnce() -> Result<PathBuf>,
) -> Result<PathBuf> {
    if peer.world() == 1 {
        return write();
    }
    let mine = peer.is_writer().then(write);
    let shared = mine
        .as_ref()
        .map(|r| r.as_ref().map_err(ToString::to_string).cloned());
    let all = peer.all_gather(shared, "checkpoint write")?;
    if let Some(own) = mine {
        return own;
    }
    match all.into_iter().next().flatten() {
        Some(Ok(path)) => Ok(path),
        Some(Err(reason)) => Err(Error::Checkpoint {
            path: dir.to_path_buf(),
            reason: format!("rank 0 could not write it: {reason}"),
        }),
        None => Err(Error::Checkpoint {
            path: dir.to_path_buf(),
            reason: "rank 0 wrote nothing".into(),
        }),
    }
}

/// Leaves the group when the peer's thread ends, however it ends (return, error, panic).
struct Departure(Peer);

impl Drop for Departure {
    fn drop(&mut self) {
        self.0.depart();
    }
}

/// Runs `work(peer, input)` on one thread per device, `inputs[i]` going to rank `i`, and
/// returns every peer's result in rank order. Each collective call waits at most `timeout`.
///
/// # Errors
/// [`Error::Config`] when `devices` is empty or `inputs` has another length; otherwise the
/// first failure in rank order that caused the others (a peer's own error or
/// [`Error::PeerPanicked`]) rather than the [`Error::PeerLeft`] it caused elsewhere.
pub fn run_peers<I, T, F>(
    devices: Vec<Device>,
    timeout: Duration,
    inputs: Vec<I>,
    work: F,
) -> Result<Vec<T>>
where
    I: Send,
    T: Send,
    F: Fn(Peer, I) -> Result<T> + Sync,
{
    if devices.is_empty() || inputs.len() != devices.len() {
        return Err(Error::Config {
            key: "trainer.n_gpus_per_node",
            value: devices.len().to_string(),
            reason: "needs at least one device and one input per device",
        });
    }
    let group = Group::new(devices.len(), timeout);
    let results: Vec<Result<T>> = std::thread::scope(|s| {
        let handles: Vec<_> = devices
            .into_iter()
            .zip(inputs)
            .enumerate()
            .map(|(rank, (device, input))| {
                let peer = Peer::member(rank, device, group.clone());
                let work = &work;
                s.spawn(move || {
                    let _leave = Departure(peer.clone());
                    work(peer, input)
                })
            })
            .collect();
        handles
            .into_iter()
            .enumerate()
            .map(|(rank, h)| {
                h.join().unwrap_or_else(|payload| {
                    let message = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    Err(Error::PeerPanicked { rank, message })
                })
            })
            .collect()
    });
    if results.iter().all(Result::is_ok) {
        return Ok(results.into_iter().filter_map(Result::ok).collect());
    }
    let secondary = |e: &Error| matches!(e, Error::PeerLeft { .. });
    let mut errors: Vec<Error> = results.into_iter().filter_map(Result::err).collect();
    let root = errors.iter().position(|e| !secondary(e)).unwrap_or(0);
    Err(errors.swap_remove(root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_peer_is_reported_not_the_peers_it_stopped() {
        let devices = vec![Device::flex(), Device::flex()];
        let err = run_peers(devices, Duration::from_secs(30), vec![0, 1], |peer, r| {
            if r == 1 {
                panic!("injected");
            }
            peer.barrier("step")
        })
        .unwrap_err();
        assert!(
            matches!(&err, Error::PeerPanicked { rank: 1, message } if message == "injected"),
            "{err}"
        );
    }

    #[test]
    fn input_count_must_match_devices() {
        let err = run_peers(
            vec![Device::flex()],
            Duration::from_secs(1),
            vec![1, 2],
            |_, x| Ok(x),
        );
        assert!(matches!(err, Err(Error::Config { .. })));
    }
}
