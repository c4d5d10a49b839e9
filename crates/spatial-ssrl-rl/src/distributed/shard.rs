//! What each peer computes: GRPO groups and micro-batches are dealt round-robin over the
//! peers ([`Peer::owns`]), so a group never straddles peers and every peer gets a share of
//! each mini-batch.

use crate::distributed::group::Peer;
use crate::error::Result;
use crate::policy::{Policy, SamplingConfig};

/// Samples the responses of `prompts` (groups of `n` consecutive sequences, `seeds[i]`
/// seeding sequence `i`): each peer generates the groups it owns, in calls of `micro`
/// sequences, and every peer returns all responses in order. Because each sequence draws
/// only from its own seed, the result is the one a single peer would get.
pub(crate) fn generate_groups<P: Policy>(
    peer: &Peer,
    infer: &P,
    prompts: &[P::Prompt],
    seeds: &[u64],
    n: usize,
    micro: usize,
    sampling: &SamplingConfig,
) -> Result<Vec<Vec<u32>>> {
    let n = n.max(1);
    let groups = prompts.len().div_ceil(n);
    let mine: Vec<usize> = (0..groups).filter(|&g| peer.owns(g)).collect();
    let rows: Vec<usize> = mine
        .iter()
        .flat_map(|&g| g * n..((g + 1) * n).min(prompts.len()))
        .collect();
    let my_prompts: Vec<P::Prompt> = rows.iter().map(|&i| prompts[i].clone()).collect();
    let my_seeds: Vec<u64> = rows.iter().map(|&i| seeds[i]).collect();
    let mut responses = Vec::with_capacity(rows.len());
    for (p, s) in my_prompts
        .chunks(micro.max(1))
        .zip(my_seeds.chunks(micro.max(1)))
    {
        responses.extend(infer.generate(p, sampling, s)?);
    }
    if peer.world() == 1 {
        return Ok(responses);
    }
    let shared: Vec<(usize, Vec<u32>)> = rows.into_iter().zip(responses).collect();
    let all = peer.all_gather(shared, "rollout gather")?;
    let mut out = vec![Vec::new(); prompts.len()];
    for (i, r) in all.into_iter().flatten() {
        out[i] = r;
    }
    Ok(out)
}

/// The micro-batches `[start, end)` of `rows` rows in mini-batches of `mini` rows, split into
/// micro-batches of `micro` rows, that `peer` computes (micro-batch `k` of each mini-batch
/// goes to peer `k % world`), grouped by mini-batch.
pub(crate) fn owned_micro_batches(
    peer: &Peer,
    rows: usize,
    mini: usize,
    micro: usize,
) -> Vec<Vec<(usize, usize)>> {
    let (mini, micro) = (mini.max(1), micro.max(1));
    (0..rows)
        .step_by(mini)
        .map(|m_start| {
            let m_end = (m_start + mini).min(rows);
            (m_start..m_end)
                .step_by(micro)
                .enumerate()
                .filter(|(k, _)| peer.owns(*k))
                .map(|(_, s)| (s, (s + micro).min(m_end)))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distributed::group::Group;
    use burn::tensor::Device;
    use std::time::Duration;

    #[test]
    fn micro_batches_are_dealt_per_mini_batch_and_cover_every_row_once() {
        let g = Group::new(2, Duration::from_secs(1));
        let peers = [
            Peer::member(0, Device::flex(), g.clone()),
            Peer::member(1, Device::flex(), g),
        ];
        let a = owned_micro_batches(&peers[0], 10, 6, 2);
        let b = owned_micro_batches(&peers[1], 10, 6, 2);
        assert_eq!(a, vec![vec![(0, 2), (4, 6)], vec![(6, 8)]]);
        assert_eq!(b, vec![vec![(2, 4)], vec![(8, 10)]]);
        let solo = owned_micro_batches(&Peer::solo(Device::flex()), 10, 6, 4);
        assert_eq!(solo, vec![vec![(0, 4), (4, 6)], vec![(6, 10)]]);
    }
}
