//! Depth-map statistics shared by the RGB-D tasks: numpy-style percentiles, the two depth
//! normalisations of the reference scripts, and a sliding-window min/max filter.
//!
//! The reference scans every pixel's window with numpy (`patch.max() - patch.min()` per
//! pixel, seconds per image); the van Herk / Gil-Werman filter here gives every window's
//! extrema in O(1) per pixel, so a whole image costs a few milliseconds.
//!
//! Point sampling on top of them: [`flat_points`] lists the pixels whose patch is flat and
//! valid, per depth band; [`pick_point`] draws one uniformly.
//!
//! ```
//! use spatial_ssrl_tasks::prelude::*;
//! use spatial_ssrl_tasks::tasks::depth_stats::{Normaliser, flat_points, percentiles, pick_point};
//! // A 32x32 ramp: depth grows from 1 m (left) to 8.75 m (right).
//! let depth = DepthMap::from_values(32, 32, (0..32 * 32).map(|i| 1.0 + (i % 32) as f32 * 0.25).collect()).unwrap();
//! let (lo, hi) = percentiles(depth.values().iter().copied(), 0.0, 100.0).unwrap();
//! assert_eq!((lo, hi), (1.0, 8.75));
//! let norm = Normaliser::min_max(depth.values()).unwrap();
//! // Centres of 5x5 patches spanning under 0.2 normalised depth, near half and far half.
//! let bands = flat_points(&depth, norm, &[[0.0, 0.5], [0.5, 1.0]], 5, 0.2);
//! let (x, y) = pick_point(&bands[1], depth.width(), &mut TaskRng::seed_from_u64(9)).unwrap();
//! assert!(norm.apply(depth.get(x, y).unwrap()) >= 0.5 && (2..30).contains(&x) && (2..30).contains(&y));
//! ```

use rand::Rng;

use crate::task::{DepthMap, TaskRng};

/// What a window containing invalid (`NaN`) values reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NanRule {
    /// Invalid values are skipped (numpy `nanmin`/`nanmax`); an all-invalid window gives
    /// `min = +inf`, `max = -inf`.
    Skip,
    /// One invalid value spoils the window: `min = -inf`, `max = +inf`, so its range is infinite.
    Spoil,
}

/// Per-window extrema over a `width x height` grid for a `k x k` window (tests only: the tasks
/// stream rows through [`for_each_window_row`] instead of storing them).
#[cfg(test)]
///
/// Entry `(x0, y0)` (row-major, `out_w = width - k + 1` per row) covers the window whose
/// top-left corner is `(x0, y0)`.
#[derive(Debug, Clone)]
pub(crate) struct WindowExtrema {
    /// Windows per row.
    pub out_w: usize,
    /// Window rows.
    pub out_h: usize,
    /// Window side.
    pub k: usize,
    /// Minimum of each window.
    pub min: Vec<f32>,
    /// Maximum of each window.
    pub max: Vec<f32>,
}

#[cfg(test)]
impl WindowExtrema {
    /// Extrema of the window centred on pixel `(x, y)`, `None` when it does not fit the image.
    pub fn centred(&self, x: usize, y: usize) -> Option<(f32, f32)> {
        let half = self.k / 2;
        if x < half || y < half {
            return None;
        }
        let (x0, y0) = (x - half, y - half);
        if x0 >= self.out_w || y0 >= self.out_h {
            return None;
        }
        let i = y0 * self.out_w + x0;
        Some((self.min[i], self.max[i]))
    }
}

/// Min and max of every `k x k` window of a row-major grid. Returns `None` when the window
/// does not fit (`k == 0` or larger than the grid). Collects [`for_each_window_row`].
#[cfg(test)]
pub(crate) fn window_extrema(
    values: &[f32],
    width: usize,
    height: usize,
    k: usize,
    rule: NanRule,
) -> Option<WindowExtrema> {
    let out_w = width.checked_sub(k)? + 1;
    let out_h = height.checked_sub(k)? + 1;
    let mut min = Vec::with_capacity(out_w * out_h);
    let mut max = Vec::with_capacity(out_w * out_h);
    let fits = for_each_window_row(
        values,
        width,
        height,
        k,
        rule,
        |v| v,
        |_, lo, hi| {
            min.extend_from_slice(lo);
            max.extend_from_slice(hi);
        },
    );
    fits.then_some(WindowExtrema {
        out_w,
        out_h,
        k,
        min,
        max,
    })
}

/// Streams the extrema of every `k x k` window of `map(values)`: calls `visit(y0, mins, maxs)`
/// once per window row `y0` (top edge) in order, entry `x0` of the slices being the window with
/// left edge `x0`. `map` turns a raw value into the filtered one (`NaN` = invalid). Returns
/// `false` (and visits nothing) when the window does not fit.
///
/// Only two blocks of `k` filtered rows are live at a time, so memory stays `O(k * width)`
/// and the working set stays in cache.
pub fn for_each_window_row(
    values: &[f32],
    width: usize,
    height: usize,
    k: usize,
    rule: NanRule,
    map: impl Fn(f32) -> f32,
    mut visit: impl FnMut(usize, &[f32], &[f32]),
) -> bool {
    if k == 0 || k > width || k > height || values.len() != width * height {
        return false;
    }
    let (nan_lo, nan_hi) = match rule {
        NanRule::Skip => (f32::INFINITY, f32::NEG_INFINITY),
        NanRule::Spoil => (f32::NEG_INFINITY, f32::INFINITY),
    };
    let ow = width - k + 1;
    let out_h = height - k + 1;
    let mut lo = vec![0.0f32; width];
    let mut hi = vec![0.0f32; width];
    let mut scratch = Scratch::new(width);
    // Row-filtered rows of the current and the next block of k rows, for min and max.
    let mut cur = (vec![0.0f32; k * ow], vec![0.0f32; k * ow]);
    let mut next = (vec![0.0f32; k * ow], vec![0.0f32; k * ow]);
    let mut suffix = (vec![0.0f32; k * ow], vec![0.0f32; k * ow]);
    let mut prefix = (vec![0.0f32; k * ow], vec![0.0f32; k * ow]);
    let mut out = (vec![0.0f32; ow], vec![0.0f32; ow]);
    let mut row_filter = |y: usize, dst_min: &mut [f32], dst_max: &mut [f32]| {
        for ((l, h), &v) in lo
            .iter_mut()
            .zip(hi.iter_mut())
            .zip(&values[y * width..(y + 1) * width])
        {
            let v = map(v);
            (*l, *h) = if v.is_nan() { (nan_lo, nan_hi) } else { (v, v) };
        }
        sliding_1d(&lo, k, dst_min, &mut scratch, min);
        sliding_1d(&hi, k, dst_max, &mut scratch, max);
    };
    for y in 0..k {
        row_filter(
            y,
            &mut next.0[y * ow..(y + 1) * ow],
            &mut next.1[y * ow..(y + 1) * ow],
        );
    }
    for r in (0..out_h).step_by(k) {
        std::mem::swap(&mut cur, &mut next);
        // Rows r + k .. r + 2k - 1 (as far as the image goes) become the next block.
        let reach = (r + 2 * k).min(height);
        for y in r + k..reach {
            let i = y - r - k;
            row_filter(
                y,
                &mut next.0[i * ow..(i + 1) * ow],
                &mut next.1[i * ow..(i + 1) * ow],
            );
        }
        let next_rows = reach.saturating_sub(r + k);
        column_block(
            &cur.0,
            &next.0,
            next_rows,
            ow,
            k,
            &mut suffix.0,
            &mut prefix.0,
            min,
        );
        column_block(
            &cur.1,
            &next.1,
            next_rows,
            ow,
            k,
            &mut suffix.1,
            &mut prefix.1,
            max,
        );
        visit(r, &suffix.0[..ow], &suffix.1[..ow]);
        for y0 in r + 1..(r + k).min(out_h) {
            let (i, j) = (y0 - r, y0 - r - 1);
            for (o, (&a, &b)) in out.0.iter_mut().zip(
                suffix.0[i * ow..(i + 1) * ow]
                    .iter()
                    .zip(&prefix.0[j * ow..]),
            ) {
                *o = min(a, b);
            }
            for (o, (&a, &b)) in out.1.iter_mut().zip(
                suffix.1[i * ow..(i + 1) * ow]
                    .iter()
                    .zip(&prefix.1[j * ow..]),
            ) {
                *o = max(a, b);
            }
            visit(y0, &out.0, &out.1);
        }
    }
    true
}

/// Suffix extrema down the rows of `cur` (one block of `k` rows of width `w`) and prefix
/// extrema over the first `next_rows` rows of `next`: the two halves of every window that
/// starts inside the block (van Herk / Gil-Werman along columns).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn column_block<F: Fn(f32, f32) -> f32 + Copy>(
    cur: &[f32],
    next: &[f32],
    next_rows: usize,
    w: usize,
    k: usize,
    suffix: &mut [f32],
    prefix: &mut [f32],
    op: F,
) {
    suffix[(k - 1) * w..k * w].copy_from_slice(&cur[(k - 1) * w..k * w]);
    for i in (0..k - 1).rev() {
        let (s_cur, s_below) = suffix.split_at_mut((i + 1) * w);
        for ((s, &a), &v) in s_cur[i * w..]
            .iter_mut()
            .zip(&s_below[..w])
            .zip(&cur[i * w..(i + 1) * w])
        {
            *s = op(a, v);
        }
    }
    // Windows starting in this block reach at most k - 1 rows into the next one.
    for i in 0..next_rows.min(k - 1) {
        if i == 0 {
            prefix[..w].copy_from_slice(&next[..w]);
        } else {
            let (done, p_cur) = prefix.split_at_mut(i * w);
            for ((p, &a), &v) in p_cur[..w]
                .iter_mut()
                .zip(&done[(i - 1) * w..])
                .zip(&next[i * w..(i + 1) * w])
            {
                *p = op(a, v);
            }
        }
    }
}

/// `min` without NaN handling (inputs are NaN-free here), so it compiles to one instruction.
#[inline(always)]
fn min(a: f32, b: f32) -> f32 {
    if b < a { b } else { a }
}

/// `max` without NaN handling, see [`min`].
#[inline(always)]
fn max(a: f32, b: f32) -> f32 {
    if b > a { b } else { a }
}

/// Prefix/suffix buffers of the 1-D van Herk / Gil-Werman filter.
struct Scratch {
    prefix: Vec<f32>,
    suffix: Vec<f32>,
}

impl Scratch {
    fn new(n: usize) -> Self {
        Self {
            prefix: vec![0.0; n],
            suffix: vec![0.0; n],
        }
    }
}

/// `out[i] = op-fold of src[i..i + k]` for every window that fits: block-wise prefix and suffix
/// scans, then one `op` per output.
#[inline(always)]
fn sliding_1d<F: Fn(f32, f32) -> f32 + Copy>(
    src: &[f32],
    k: usize,
    out: &mut [f32],
    s: &mut Scratch,
    op: F,
) {
    let n = src.len();
    for (b, block) in src.chunks(k).enumerate() {
        let start = b * k;
        let prefix = &mut s.prefix[start..start + block.len()];
        let mut acc = block[0];
        for (p, &v) in prefix.iter_mut().zip(block) {
            acc = op(acc, v);
            *p = acc;
        }
        let suffix = &mut s.suffix[start..start + block.len()];
        let mut acc = block[block.len() - 1];
        for (p, &v) in suffix.iter_mut().zip(block).rev() {
            acc = op(acc, v);
            *p = acc;
        }
    }
    for ((o, &a), &b) in out
        .iter_mut()
        .zip(&s.suffix[..n + 1 - k])
        .zip(&s.prefix[k - 1..])
    {
        *o = op(a, b);
    }
}

/// Two percentiles `q_lo <= q_hi` (0..=100) of `values` (NaN-free) with numpy's default
/// linear interpolation between the closest ranks, from one partial sort. `None` when empty.
///
/// Selection runs on order-preserving integer images of the floats: integer comparisons make
/// the partial sort several times faster than `f32::total_cmp`.
pub fn percentiles(values: impl Iterator<Item = f32>, q_lo: f64, q_hi: f64) -> Option<(f64, f64)> {
    let to_key = |v: f32| {
        let b = v.to_bits();
        if b >> 31 == 1 { !b } else { b | 1 << 31 }
    };
    let from_key = |k: u32| f32::from_bits(if k >> 31 == 1 { k & !(1 << 31) } else { !k });
    let mut keys: Vec<u32> = values.map(to_key).collect();
    let n = keys.len();
    if n == 0 {
        return None;
    }
    let pos = |q: f64| (q.clamp(0.0, 100.0) / 100.0) * (n - 1) as f64;
    let (p_lo, p_hi) = (pos(q_lo), pos(q_hi.max(q_lo)));
    let (r_lo, r_hi) = (p_lo.floor() as usize, p_hi.floor() as usize);
    keys.select_nth_unstable(r_lo);
    if r_hi > r_lo {
        keys[r_lo + 1..].select_nth_unstable(r_hi - r_lo - 1);
    }
    // Everything after a selected rank is >= it, so the next rank is the minimum after it.
    let interpolate = |r: usize, p: f64| -> f64 {
        let a = f64::from(from_key(keys[r]));
        let frac = p - r as f64;
        if frac == 0.0 || r + 1 >= n {
            return a;
        }
        let b = f64::from(from_key(
            keys[r + 1..].iter().copied().min().unwrap_or(keys[r]),
        ));
        // numpy's lerp form, exact at both ends.
        if frac >= 0.5 {
            b - (b - a) * (1.0 - frac)
        } else {
            a + (b - a) * frac
        }
    };
    Some((interpolate(r_lo, p_lo), interpolate(r_hi, p_hi)))
}

/// A per-value depth normalisation (`NaN` = invalid), applied while filtering so no
/// normalised copy of the depth map is ever stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Normaliser {
    /// `(d - lo) / (hi - lo)`, as the relative-position reference does; every valid pixel
    /// becomes `1.0` when `hi == lo`.
    MinMax {
        /// Depth mapped to 0.
        lo: f32,
        /// Depth mapped to 1.
        hi: f32,
    },
    /// The depth-ordering reference: values outside `[lo, hi]` become invalid, the rest map to
    /// `(d - lo) / (hi - lo)` (all invalid when `hi == lo`).
    Clipped {
        /// Depth mapped to 0; shallower is invalid.
        lo: f32,
        /// Depth mapped to 1; deeper is invalid.
        hi: f32,
    },
}

impl Normaliser {
    /// Min-max normalisation over the valid values; `None` when none is valid.
    pub fn min_max(values: &[f32]) -> Option<Self> {
        let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
        for &v in values.iter().filter(|v| !v.is_nan()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        (lo <= hi).then_some(Normaliser::MinMax { lo, hi })
    }

    /// The normalised value of `v`.
    #[inline(always)]
    pub fn apply(self, v: f32) -> f32 {
        match self {
            Normaliser::MinMax { lo, hi } => {
                if v.is_nan() {
                    f32::NAN
                } else if hi == lo {
                    1.0
                } else {
                    (v - lo) / (hi - lo)
                }
            }
            Normaliser::Clipped { lo, hi } => {
                if v >= lo && v <= hi && hi > lo {
                    (v - lo) / (hi - lo)
                } else {
                    f32::NAN
                }
            }
        }
    }
}

/// Pixel indices (`y * width + x`, scan order), one list per band `[low, high]` of normalised
/// depth, of the pixels whose centred `k x k` patch lies inside the map, holds no invalid
/// value and spans less than `max_range` after `norm`. Empty lists when the patch does not fit.
pub fn flat_points(
    depth: &DepthMap,
    norm: Normaliser,
    bands: &[[f32; 2]],
    k: usize,
    max_range: f32,
) -> Vec<Vec<u32>> {
    let mut out = vec![Vec::new(); bands.len()];
    let (w, h) = (depth.width() as usize, depth.height() as usize);
    let half = k / 2;
    let values = depth.values();
    for_each_window_row(
        values,
        w,
        h,
        k,
        NanRule::Spoil,
        |v| norm.apply(v),
        |y0, mins, maxs| {
            for (x0, (&lo, &hi)) in mins.iter().zip(maxs).enumerate() {
                // A spoiled (invalid) window has an infinite (or NaN) range and fails here.
                if hi - lo < max_range {
                    let idx = (y0 + half) * w + x0 + half;
                    let v = norm.apply(values[idx]);
                    for (b, band) in bands.iter().enumerate() {
                        if v >= band[0] && v <= band[1] {
                            out[b].push(idx as u32);
                        }
                    }
                }
            }
        },
    );
    out
}

/// A uniform draw `(x, y)` among pixel indices `points` of a map `width` wide; `None` when
/// there is none.
pub fn pick_point(points: &[u32], width: u32, rng: &mut TaskRng) -> Option<(u32, u32)> {
    if points.is_empty() || width == 0 {
        return None;
    }
    let idx = points[rng.random_range(0..points.len())];
    Some((idx % width, idx / width))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute(values: &[f32], w: usize, h: usize, k: usize, rule: NanRule) -> (Vec<f32>, Vec<f32>) {
        let (ow, oh) = (w - k + 1, h - k + 1);
        let mut mn = vec![0.0; ow * oh];
        let mut mx = vec![0.0; ow * oh];
        for y0 in 0..oh {
            for x0 in 0..ow {
                let (mut a, mut b) = (f32::INFINITY, f32::NEG_INFINITY);
                let mut spoiled = false;
                for y in y0..y0 + k {
                    for x in x0..x0 + k {
                        let v = values[y * w + x];
                        if v.is_nan() {
                            spoiled = true;
                        } else {
                            a = a.min(v);
                            b = b.max(v);
                        }
                    }
                }
                if spoiled && rule == NanRule::Spoil {
                    (a, b) = (f32::NEG_INFINITY, f32::INFINITY);
                }
                mn[y0 * ow + x0] = a;
                mx[y0 * ow + x0] = b;
            }
        }
        (mn, mx)
    }

    #[test]
    fn window_extrema_matches_brute_force() {
        let (w, h) = (23, 17);
        let mut state = 12345u32;
        let values: Vec<f32> = (0..w * h)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                if state >> 28 == 0 {
                    f32::NAN
                } else {
                    (state >> 8) as f32 / 65536.0
                }
            })
            .collect();
        for k in [1, 2, 3, 5, 7, 16, 17] {
            for rule in [NanRule::Skip, NanRule::Spoil] {
                let got = window_extrema(&values, w, h, k, rule).unwrap();
                let (mn, mx) = brute(&values, w, h, k, rule);
                assert_eq!(got.min, mn, "min k={k} {rule:?}");
                assert_eq!(got.max, mx, "max k={k} {rule:?}");
            }
        }
        assert!(window_extrema(&values, w, h, 18, NanRule::Skip).is_none());
        assert!(window_extrema(&values, w, h, 0, NanRule::Skip).is_none());
    }

    #[test]
    fn centred_lookup() {
        let values: Vec<f32> = (0..25).map(|v| v as f32).collect();
        let e = window_extrema(&values, 5, 5, 3, NanRule::Skip).unwrap();
        assert_eq!(e.centred(1, 1), Some((0.0, 12.0)));
        assert_eq!(e.centred(3, 3), Some((12.0, 24.0)));
        assert_eq!(e.centred(0, 2), None);
        assert_eq!(e.centred(4, 2), None);
    }

    #[test]
    fn percentiles_are_numpy_linear() {
        // numpy.percentile([1, 2, 3, 4], [0, 0.5, 50, 99.5, 100]) = 1, 1.015, 2.5, 3.985, 4
        let v = [4.0f32, 1.0, 3.0, 2.0];
        let qs = [
            (0.0, 1.0),
            (0.5, 1.015),
            (50.0, 2.5),
            (99.5, 3.985),
            (100.0, 4.0),
        ];
        for (q1, want1) in qs {
            for (q2, want2) in qs.iter().copied().filter(|(q2, _)| *q2 >= q1) {
                let (a, b) = percentiles(v.iter().copied(), q1, q2).unwrap();
                assert!(
                    (a - want1).abs() < 1e-12 && (b - want2).abs() < 1e-12,
                    "{q1},{q2}: {a} {b}"
                );
            }
        }
        // Ties and a longer input: numpy.percentile(range(1000) with 7 repeated, [0.5, 99.5]).
        let w: Vec<f32> = (0..1000)
            .map(|i| if i % 10 == 0 { 7.0 } else { i as f32 - 500.0 })
            .collect();
        let mut sorted = w.clone();
        sorted.sort_by(f32::total_cmp);
        let (a, b) = percentiles(w.iter().copied(), 0.5, 99.5).unwrap();
        let lerp = |p: f64| {
            let r = p.floor() as usize;
            f64::from(sorted[r])
                + (f64::from(sorted[r + 1]) - f64::from(sorted[r])) * (p - r as f64)
        };
        assert!((a - lerp(0.005 * 999.0)).abs() < 1e-9 && (b - lerp(0.995 * 999.0)).abs() < 1e-9);
        assert_eq!(percentiles([7.0].into_iter(), 0.5, 99.5), Some((7.0, 7.0)));
        assert_eq!(
            percentiles([-0.0, 0.0, -3.5, 2.0].into_iter(), 0.0, 100.0),
            Some((-3.5, 2.0))
        );
        assert_eq!(percentiles(std::iter::empty(), 0.5, 99.5), None);
    }

    #[test]
    fn normalisations() {
        let n = Normaliser::min_max(&[2.0, f32::NAN, 4.0, 3.0]).unwrap();
        assert_eq!(n, Normaliser::MinMax { lo: 2.0, hi: 4.0 });
        assert_eq!((n.apply(2.0), n.apply(4.0), n.apply(3.0)), (0.0, 1.0, 0.5));
        assert!(n.apply(f32::NAN).is_nan());
        assert_eq!(Normaliser::min_max(&[5.0, 5.0]).unwrap().apply(5.0), 1.0);
        assert!(Normaliser::min_max(&[f32::NAN]).is_none());
        let c = Normaliser::Clipped { lo: 1.0, hi: 3.0 };
        assert_eq!((c.apply(1.0), c.apply(2.0), c.apply(3.0)), (0.0, 0.5, 1.0));
        assert!(c.apply(9.0).is_nan() && c.apply(f32::NAN).is_nan());
        assert!(Normaliser::Clipped { lo: 1.0, hi: 1.0 }.apply(1.0).is_nan());
    }
}
