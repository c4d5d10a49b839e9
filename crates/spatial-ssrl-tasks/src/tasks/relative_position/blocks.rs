//! Candidate blocks of the relative-position task: the 15x15 windows of low depth range near
//! the image centre, in scan order, and their rank order (distance to the centre).

use crate::task::DepthMap;
use crate::tasks::depth_stats::{self, NanRule, Normaliser};

/// Candidate blocks in pixel (scan) order, struct of arrays for the scans.
pub(super) struct Blocks {
    pub(super) x: Vec<u32>,
    pub(super) y: Vec<u32>,
    pub(super) lo: Vec<f32>,
    pub(super) hi: Vec<f32>,
    /// Rank key: squared distance to the image centre, then pixel index (the reference sorts
    /// stably by distance, so equal distances keep scan order).
    pub(super) key: Vec<u64>,
    /// `rows[y]..rows[y + 1]`: the blocks centred on image row `y`.
    pub(super) rows: Vec<usize>,
    /// Per image row: (min lo, max lo, min hi, max hi) of its blocks, to skip whole rows.
    pub(super) row_span: Vec<[f32; 4]>,
}

/// Collects the qualifying blocks of the normalised depth, in scan order.
pub(super) fn collect_blocks(
    depth: &DepthMap,
    norm: Normaliser,
    k: usize,
    inner: f32,
    margin: f64,
) -> Blocks {
    let (w, h) = (depth.width() as usize, depth.height() as usize);
    let half = (k / 2) as i64;
    let (wi, hi_) = (w as i64, h as i64);
    let (yc, xc) = (hi_ / 2, wi / 2);
    // `int()` of the reference truncates toward zero, as `as` does.
    let y_low = (yc as f64 - margin * h as f64) as i64;
    let y_high = (yc as f64 + margin * h as f64) as i64;
    let x_low = (xc as f64 - margin * w as f64) as i64;
    let x_high = (xc as f64 + margin * w as f64) as i64;
    let (y0, y1) = (half.max(y_low), (hi_ - half).min(y_high));
    let (x0, x1) = (half.max(x_low), (wi - half).min(x_high));
    let cap = usize::try_from((x1 - x0).max(0) * (y1 - y0).max(0)).unwrap_or(0);
    let mut b = Blocks {
        x: Vec::with_capacity(cap),
        y: Vec::with_capacity(cap),
        lo: Vec::with_capacity(cap),
        hi: Vec::with_capacity(cap),
        key: Vec::with_capacity(cap),
        rows: vec![0; h + 1],
        row_span: vec![],
    };
    let empty_span = [
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];
    b.row_span = vec![empty_span; h];
    if x0 < x1 && y0 < y1 {
        depth_stats::for_each_window_row(
            depth.values(),
            w,
            h,
            k,
            NanRule::Skip,
            |v| norm.apply(v),
            |top, mins, maxs| {
                let y = top as i64 + half;
                if y < y0 || y >= y1 {
                    return;
                }
                let dy2 = (y - yc).pow(2) as u64;
                let cols = (x0 - half) as usize..(x1 - half) as usize;
                let span = &mut b.row_span[y as usize];
                for (left, (&lo, &hi)) in
                    cols.clone().zip(mins[cols.clone()].iter().zip(&maxs[cols]))
                {
                    // All-invalid windows have lo = +inf > hi, and fail here as well.
                    if lo <= hi && hi - lo <= inner {
                        let x = left as i64 + half;
                        let d2 = dy2 + (x - xc).pow(2) as u64;
                        b.x.push(x as u32);
                        b.y.push(y as u32);
                        b.lo.push(lo);
                        b.hi.push(hi);
                        b.key.push(d2 << 32 | (y as u64 * w as u64 + x as u64));
                        *span = [
                            span[0].min(lo),
                            span[1].max(lo),
                            span[2].min(hi),
                            span[3].max(hi),
                        ];
                    }
                }
                b.rows[y as usize + 1] = b.x.len();
            },
        );
    }
    // Rows without blocks end where the previous row ended.
    for y in 1..=h {
        b.rows[y] = b.rows[y].max(b.rows[y - 1]);
    }
    b
}

/// Block indices in rank order, produced a chunk at a time: the search usually settles on one
/// of the first few blocks, so only the blocks nearest the centre are ever ranked. Each chunk
/// takes the blocks in the next annulus of squared distances (doubling until it holds enough).
pub(super) struct RankOrder<'a> {
    key: &'a [u64],
    /// Squared distances below this have been handed out.
    done_d2: u64,
    chunk: Vec<(u64, u32)>,
    pos: usize,
    left: usize,
}

impl<'a> RankOrder<'a> {
    const CHUNK: usize = 512;

    pub(super) fn new(b: &'a Blocks) -> Self {
        Self {
            key: &b.key,
            done_d2: 0,
            chunk: Vec::new(),
            pos: 0,
            left: b.key.len(),
        }
    }

    fn refill(&mut self) {
        let want = Self::CHUNK.min(self.left);
        let mut hi_d2 = self.done_d2.max(1024);
        loop {
            hi_d2 = hi_d2.saturating_mul(2);
            let range = self.done_d2..hi_d2;
            self.chunk.clear();
            let in_range = self
                .key
                .iter()
                .enumerate()
                .filter(|(_, k)| range.contains(&(*k >> 32)));
            self.chunk.extend(in_range.map(|(i, &k)| (k, i as u32)));
            if self.chunk.len() >= want {
                break;
            }
        }
        self.chunk.sort_unstable();
        self.done_d2 = hi_d2;
        self.left -= self.chunk.len();
        self.pos = 0;
    }
}

impl Iterator for RankOrder<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.pos == self.chunk.len() {
            if self.left == 0 {
                return None;
            }
            self.refill();
        }
        self.pos += 1;
        Some(self.chunk[self.pos - 1].1 as usize)
    }
}

/// Largest valid raw depth in the block centred on `(x, y)` (the reference's `nanmax`).
pub(super) fn block_depth(depth: &DepthMap, x: u32, y: u32, half: u32) -> f32 {
    let mut best = f32::NEG_INFINITY;
    for yy in y.saturating_sub(half)..=(y + half).min(depth.height() - 1) {
        for xx in x.saturating_sub(half)..=(x + half).min(depth.width() - 1) {
            if let Some(v) = depth.get(xx, yy) {
                best = best.max(v);
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_order_is_sorted_by_key_across_chunks() {
        let n = 3000u64;
        // Keys in a scrambled order; ranks must come out by increasing key.
        let key: Vec<u64> = (0..n).map(|i| (i * 7919) % n).collect();
        let b = Blocks {
            x: vec![],
            y: vec![],
            lo: vec![],
            hi: vec![],
            key: key.clone(),
            rows: vec![],
            row_span: vec![],
        };
        let order: Vec<usize> = RankOrder::new(&b).collect();
        assert_eq!(order.len(), n as usize);
        assert!(order.windows(2).all(|w| key[w[0]] < key[w[1]]));
    }
}
