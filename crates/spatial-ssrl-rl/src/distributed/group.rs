//! The peer group: N threads of one process that meet at every collective call. Each call
//! is a rendezvous with a deadline; a peer that leaves (error, panic, or an early return)
//! ends every pending and later call of the others with a typed error instead of a hang.

use std::any::Any;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use burn::tensor::Device;

use crate::error::{Error, Result};

type Slot = Box<dyn Any + Send + Sync>;

/// Rendezvous state shared by the peers of one group.
struct State {
    /// Completed rendezvous so far; a waiter knows its call finished when this moves on.
    round: u64,
    /// What each rank brought to the open round.
    slots: Vec<Option<Slot>>,
    /// Everything the last completed round gathered, in rank order.
    gathered: Arc<Vec<Slot>>,
    /// The first rank that left the group, if any.
    departed: Option<usize>,
}

/// The shared half of a [`Peer`]: one per group.
pub(crate) struct Group {
    world: usize,
    timeout: Duration,
    state: Mutex<State>,
    changed: Condvar,
}

impl Group {
    pub(crate) fn new(world: usize, timeout: Duration) -> Arc<Group> {
        Arc::new(Group {
            world,
            timeout,
            state: Mutex::new(State {
                round: 0,
                slots: (0..world).map(|_| None).collect(),
                gathered: Arc::new(Vec::new()),
                departed: None,
            }),
            changed: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking peer never holds the lock while unwinding user code, so a poisoned lock
        // still holds consistent state.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks `rank` as gone and wakes every waiter.
    pub(crate) fn depart(&self, rank: usize) {
        let mut s = self.lock();
        s.departed.get_or_insert(rank);
        drop(s);
        self.changed.notify_all();
    }

    fn gather(&self, rank: usize, op: &'static str, value: Slot) -> Result<Arc<Vec<Slot>>> {
        let mut s = self.lock();
        if let Some(gone) = s.departed {
            return Err(Error::PeerLeft { rank: gone, op });
        }
        let round = s.round;
        s.slots[rank] = Some(value);
        if s.slots.iter().all(Option::is_some) {
            let all: Vec<Slot> = s.slots.iter_mut().filter_map(Option::take).collect();
            s.gathered = Arc::new(all);
            s.round += 1;
            let out = s.gathered.clone();
            drop(s);
            self.changed.notify_all();
            return Ok(out);
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            if s.round != round {
                // The round finished; its result stays until this rank joins the next one.
                return Ok(s.gathered.clone());
            }
            if let Some(gone) = s.departed {
                return Err(Error::PeerLeft { rank: gone, op });
            }
            let now = Instant::now();
            if now >= deadline {
                let missing = (0..self.world).filter(|&r| s.slots[r].is_none()).collect();
                // Leave the group so the late peers fail fast rather than wait for us.
                s.departed.get_or_insert(rank);
                drop(s);
                self.changed.notify_all();
                return Err(Error::CollectiveTimeout {
                    op,
                    secs: self.timeout.as_secs_f64(),
                    missing,
                });
            }
            s = self
                .changed
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// One data-parallel worker: its rank, the group size, its device, and the collective calls
/// it makes with the other peers.
///
/// [`Peer::solo`] is the single-device case: every call returns its input, so a trainer
/// holding a solo peer runs exactly as it does without one.
///
/// ```
/// use std::time::Duration;
/// use burn::tensor::Device;
/// use spatial_ssrl_rl::distributed::run_peers;
///
/// let devices = vec![Device::flex(), Device::flex()];
/// let sums = run_peers(devices, Duration::from_secs(10), vec![1.0, 2.0], |peer, x: f64| {
///     peer.sum_f64(&[x, 10.0 * x], "demo")
/// })?;
/// assert_eq!(sums, vec![vec![3.0, 30.0], vec![3.0, 30.0]]);
/// # Ok::<(), spatial_ssrl_rl::Error>(())
/// ```
#[derive(Clone)]
pub struct Peer {
    rank: usize,
    world: usize,
    device: Device,
    group: Option<Arc<Group>>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("rank", &self.rank)
            .field("world", &self.world)
            .field("device", &self.device)
            .finish()
    }
}

impl Peer {
    /// The only peer of a one-device run.
    pub fn solo(device: Device) -> Peer {
        Peer {
            rank: 0,
            world: 1,
            device,
            group: None,
        }
    }

    pub(crate) fn member(rank: usize, device: Device, group: Arc<Group>) -> Peer {
        Peer {
            rank,
            world: group.world,
            device,
            group: Some(group),
        }
    }

    /// This peer's index, `0..world`.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Peers in the group.
    pub fn world(&self) -> usize {
        self.world
    }

    /// The device this peer computes on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Whether this peer writes files every peer would write alike (checkpoints, metrics):
    /// rank 0.
    pub fn is_writer(&self) -> bool {
        self.rank == 0
    }

    /// Whether item `index` of a sequence dealt round-robin over the peers (GRPO groups,
    /// micro-batches) is this peer's.
    pub fn owns(&self, index: usize) -> bool {
        index % self.world == self.rank
    }

    /// Every peer's `value`, in rank order (`vec![value]` for a solo peer). `op` names the
    /// call in errors.
    ///
    /// # Errors
    /// [`Error::PeerLeft`] when another peer has left the group, [`Error::CollectiveTimeout`]
    /// when some peer did not arrive within the group's timeout.
    pub fn all_gather<T>(&self, value: T, op: &'static str) -> Result<Vec<T>>
    where
        T: Clone + Send + Sync + 'static,
    {
        let Some(group) = &self.group else {
            return Ok(vec![value]);
        };
        let all = group.gather(self.rank, op, Box::new(value))?;
        all.iter()
            .map(|v| {
                v.downcast_ref::<T>().cloned().ok_or_else(|| {
                    Error::Policy(format!("collective {op}: peers passed different types"))
                })
            })
            .collect()
    }

    /// Element-wise sum of every peer's `values`, added in rank order so every peer gets the
    /// same bits.
    ///
    /// # Errors
    /// As [`Peer::all_gather`], and [`Error::Shape`] when the peers' lengths differ.
    pub fn sum_f64(&self, values: &[f64], op: &'static str) -> Result<Vec<f64>> {
        if self.group.is_none() {
            return Ok(values.to_vec());
        }
        let all = self.all_gather(values.to_vec(), op)?;
        let mut out = vec![0.0; values.len()];
        for v in &all {
            if v.len() != out.len() {
                return Err(Error::Shape {
                    what: "all-reduced values",
                    expected: vec![out.len()],
                    got: vec![v.len()],
                });
            }
            out.iter_mut().zip(v).for_each(|(o, x)| *o += x);
        }
        Ok(out)
    }

    /// Waits until every peer arrives.
    ///
    /// # Errors
    /// As [`Peer::all_gather`].
    pub fn barrier(&self, op: &'static str) -> Result<()> {
        self.all_gather((), op).map(|_| ())
    }

    pub(crate) fn depart(&self) {
        if let Some(g) = &self.group {
            g.depart(self.rank);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(timeout: Duration) -> (Peer, Peer) {
        let g = Group::new(2, timeout);
        (
            Peer::member(0, Device::flex(), g.clone()),
            Peer::member(1, Device::flex(), g),
        )
    }

    #[test]
    fn a_missing_peer_times_out_with_the_missing_rank() {
        let (a, _b) = pair(Duration::from_millis(50));
        let err = a.all_gather(1u8, "test").unwrap_err();
        assert!(
            matches!(&err, Error::CollectiveTimeout { op: "test", missing, .. } if missing == &[1]),
            "{err}"
        );
    }

    #[test]
    fn a_departed_peer_ends_pending_calls() {
        let (a, b) = pair(Duration::from_secs(30));
        let t = std::thread::spawn(move || a.all_gather(1u8, "wait"));
        std::thread::sleep(Duration::from_millis(20));
        b.depart();
        let err = t.join().unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                Error::PeerLeft {
                    rank: 1,
                    op: "wait"
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn rounds_gather_in_rank_order() {
        let (a, b) = pair(Duration::from_secs(30));
        let t = std::thread::spawn(move || {
            (0..3)
                .map(|i| b.all_gather(10 + i, "r").unwrap())
                .collect::<Vec<_>>()
        });
        let mine: Vec<_> = (0..3).map(|i| a.all_gather(i, "r").unwrap()).collect();
        assert_eq!(mine, t.join().unwrap());
        assert_eq!(mine[2], vec![2, 12]);
    }
}
