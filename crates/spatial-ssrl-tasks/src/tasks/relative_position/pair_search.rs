//! The pair search of the relative-position task: the reference's near and far pair rules,
//! the metric check, and the first qualifying pair in rank order.

use super::PairKind;
use super::blocks::{Blocks, RankOrder, block_depth};
use crate::task::DepthMap;

/// A chosen pair, in rank order, and what the search cost.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pair {
    pub(super) a: usize,
    pub(super) b: usize,
    pub(super) steps: u64,
}

/// Everything the pair rules need besides the blocks.
pub(super) struct Rules<'a> {
    pub(super) kind: PairKind,
    pub(super) inter: f32,
    pub(super) min_dist: u32,
    pub(super) near_max_dy: u32,
    pub(super) diagonal_min_dx: u32,
    pub(super) metric: bool,
    pub(super) depth: &'a DepthMap,
    pub(super) half: u32,
    pub(super) max_steps: u64,
}

/// Back-projected lateral coordinate up to the focal length: `(u - cx) * Z` with the principal
/// point at the image centre and `u` the pixel centre.
fn lateral(x: u32, z: f32, width: u32) -> f64 {
    (f64::from(x) + 0.5 - f64::from(width) / 2.0) * f64::from(z)
}

impl Rules<'_> {
    /// The reference's pair rule for blocks `i` and `j`, plus the metric check.
    fn accepts(&self, b: &Blocks, i: usize, j: usize) -> bool {
        let dx = b.x[j].abs_diff(b.x[i]);
        let dy = b.y[j].abs_diff(b.y[i]);
        let (lateral_matters, ok) = match self.kind {
            PairKind::Near => {
                let ok = (b.hi[i] - b.lo[j]).abs() <= self.inter
                    && (b.hi[j] - b.lo[i]).abs() <= self.inter
                    && dy < self.near_max_dy
                    && dx >= self.min_dist;
                (true, ok)
            }
            PairKind::Far => {
                let gap = b.lo[i].max(b.lo[j]) - b.hi[i].min(b.hi[j]);
                let d2 = u64::from(dx).pow(2) + u64::from(dy).pow(2);
                let ok = gap >= self.inter && d2 >= u64::from(self.min_dist).pow(2);
                (dx > self.diagonal_min_dx, ok)
            }
        };
        if !(ok && self.metric && lateral_matters) {
            return ok;
        }
        let w = self.depth.width();
        let zi = block_depth(self.depth, b.x[i], b.y[i], self.half);
        let zj = block_depth(self.depth, b.x[j], b.y[j], self.half);
        let metric = lateral(b.x[j], zj, w) - lateral(b.x[i], zi, w);
        let image = f64::from(b.x[j]) - f64::from(b.x[i]);
        metric * image > 0.0
    }

    /// The range of blocks that can hold a partner of block `i` (near pairs: the rows within
    /// `near_max_dy`; far pairs: all), or `None` when the depth intervals rule every block out.
    fn partner_rows(&self, b: &Blocks, i: usize, extremes: &[f32; 4]) -> Option<(usize, usize)> {
        let (lo, hi, t) = (b.lo[i], b.hi[i], self.inter);
        match self.kind {
            PairKind::Far => {
                // A partner lies wholly above (its lo >= hi + t) or below (its hi <= lo - t).
                let possible = extremes[1] - hi >= t || lo - extremes[2] >= t;
                possible.then_some((0, b.rows.len() - 2))
            }
            PairKind::Near => {
                let possible = extremes[1] >= hi - t
                    && extremes[0] <= hi + t
                    && extremes[3] >= lo - t
                    && extremes[2] <= lo + t;
                let y = b.y[i] as usize;
                let reach = self.near_max_dy.saturating_sub(1) as usize;
                possible.then_some((y.saturating_sub(reach), (y + reach).min(b.rows.len() - 2)))
            }
        }
    }

    /// Could image row `y` hold a partner of block `i`? (Row-wide interval extremes.)
    fn row_may_pair(&self, b: &Blocks, i: usize, y: usize) -> bool {
        let s = &b.row_span[y];
        if s[0] > s[1] {
            return false;
        }
        let (lo, hi, t) = (b.lo[i], b.hi[i], self.inter);
        match self.kind {
            PairKind::Far => s[1] - hi >= t || lo - s[2] >= t,
            PairKind::Near => s[1] >= hi - t && s[0] <= hi + t && s[3] >= lo - t && s[2] <= lo + t,
        }
    }

    /// The reference's first pair: the first block in rank order that has a partner, with its
    /// lowest-ranked partner, bounded by `max_steps` block comparisons.
    ///
    /// The reference pairs each block only with later-ranked ones. The pair rules are
    /// symmetric, so when block `i` is reached no earlier block had any partner at all, and
    /// every partner of `i` ranks after it: the search may look for the lowest-ranked partner
    /// among all blocks, in scan order, without ranking them (rows that cannot hold one skipped).
    pub(super) fn search(&self, b: &Blocks) -> std::result::Result<Pair, u64> {
        let mut extremes = [
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        for s in &b.row_span {
            extremes = [
                extremes[0].min(s[0]),
                extremes[1].max(s[1]),
                extremes[2].min(s[2]),
                extremes[3].max(s[3]),
            ];
        }
        let mut steps = 0u64;
        for i in RankOrder::new(b) {
            let Some((y_first, y_last)) = self.partner_rows(b, i, &extremes) else {
                continue;
            };
            let mut best: Option<usize> = None;
            for y in y_first..=y_last {
                if !self.row_may_pair(b, i, y) {
                    continue;
                }
                for j in b.rows[y]..b.rows[y + 1] {
                    steps += 1;
                    if j != i && best.is_none_or(|bj| b.key[j] < b.key[bj]) && self.accepts(b, i, j)
                    {
                        best = Some(j);
                    }
                }
                if steps >= self.max_steps {
                    return Err(steps);
                }
            }
            if let Some(j) = best {
                return Ok(Pair { a: i, b: j, steps });
            }
        }
        Err(steps)
    }
}
