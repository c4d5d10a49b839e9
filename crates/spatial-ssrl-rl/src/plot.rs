//! Training curves to PNG with `plotters` (bitmap backend, no font stack): one panel per
//! metric logged, each with a y axis and an x (step) axis carrying "nice" tick values. Text
//! is stamped with the public-domain 8x8 bitmap font, so the picture is the same on every
//! machine and needs no system fonts.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::metrics::MetricsLine;

/// Metrics drawn, in reading order, when at least one line logs them.
const PANELS: [&str; 16] = [
    "critic/score/mean",
    "reward/accuracy",
    "reward/format",
    "val/reward_score",
    "val/accuracy_reward",
    "actor/pg_loss",
    "actor/kl_loss",
    "actor/entropy",
    "actor/grad_norm",
    "actor/lr",
    "response_length/mean",
    "response_length/clip_ratio",
    "perf/throughput",
    "timing_s/step",
    "sft/loss",
    "sft/grad_norm",
];

const COLUMNS: usize = 4;
const GRPO: RGBColor = RGBColor(31, 119, 180);
const SFT: RGBColor = RGBColor(230, 120, 0);
const GRID: RGBColor = RGBColor(225, 225, 225);

fn plot_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Stamps `text` with its top-left corner at absolute pixel `(x, y)`, the 8x8 font scaled
/// by `scale`.
fn stamp(area: &DrawingArea<BitMapBackend<'_>, Shift>, text: &str, x: i32, y: i32, scale: i32) {
    for (i, ch) in text.chars().enumerate() {
        let glyph = font8x8::legacy::BASIC_LEGACY
            .get(ch as usize)
            .copied()
            .unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if (bits >> col) & 1 == 1 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let px = x + (i as i32 * 8 + col) * scale + dx;
                            let py = y + row as i32 * scale + dy;
                            let _ = area.draw_pixel((px, py), &BLACK);
                        }
                    }
                }
            }
        }
    }
}

/// Pixel width of `text` at `scale`.
fn text_width(text: &str, scale: i32) -> i32 {
    text.chars().count() as i32 * 8 * scale
}

/// Tick values covering `[lo, hi]` at a 1-2-5 spacing, about `target` of them.
fn nice_ticks(lo: f64, hi: f64, target: usize, integer: bool) -> (Vec<f64>, f64) {
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    if integer {
        step = step.max(1.0).round();
    }
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    ((first..=last).map(|k| k as f64 * step).collect(), step)
}

/// A tick label: as few digits as the spacing needs.
fn tick_label(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v.abs() >= 1e5 || v.abs() < 1e-3 {
        return format!("{v:.1e}");
    }
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    format!("{v:.decimals$}")
}

/// The points of `key` in lines of `phase`.
fn series(metrics: &[MetricsLine], key: &str, phase: &str) -> Vec<(f64, f64)> {
    metrics
        .iter()
        .filter(|m| m.phase == phase)
        .filter_map(|m| m.get(key).map(|v| (m.step as f64, v)))
        .filter(|p| p.1.is_finite())
        .collect()
}

fn panel(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    metrics: &[MetricsLine],
    key: &str,
    out: &Path,
) -> Result<()> {
    let lines: Vec<(RGBColor, Vec<(f64, f64)>)> = [(GRPO, "grpo"), (SFT, "sft")]
        .into_iter()
        .map(|(c, phase)| (c, series(metrics, key, phase)))
        .filter(|(_, pts)| !pts.is_empty())
        .collect();
    let all = lines.iter().flat_map(|(_, p)| p.iter());
    let (x0, x1, y0, y1) = all.fold(
        (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ),
        |(a, b, c, d), &(x, y)| (a.min(x), b.max(x), c.min(y), d.max(y)),
    );
    let (x0, x1) = if x1 > x0 {
        (x0, x1)
    } else {
        (x0 - 1.0, x0 + 1.0)
    };
    let (y0, y1) = if y1 - y0 > 1e-12 * y0.abs().max(1.0) {
        let pad = (y1 - y0) * 0.08;
        (y0 - pad, y1 + pad)
    } else {
        (y0 - 0.5 * y0.abs().max(1e-3), y1 + 0.5 * y1.abs().max(1e-3))
    };
    let (w, h) = area.dim_in_pixel();
    let mut chart = ChartBuilder::on(area)
        .margin_top(24)
        .margin_right(14)
        .margin_left(6)
        .margin_bottom(4)
        .x_label_area_size(30)
        .y_label_area_size(62)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| plot_err(out, e))?;
    chart
        .plotting_area()
        .fill(&RGBColor(250, 250, 250))
        .map_err(|e| plot_err(out, e))?;
    let (px, py) = chart.plotting_area().get_pixel_range();
    let axis = |pts: Vec<(i32, i32)>, color: RGBColor| {
        root.draw(&PathElement::new(pts, color.stroke_width(1)))
            .map_err(|e| plot_err(out, e))
    };
    let (yticks, ystep) = nice_ticks(y0, y1, (h as usize / 60).clamp(3, 6), false);
    for v in &yticks {
        let (_, y) = chart.backend_coord(&(x0, *v));
        axis(vec![(px.start, y), (px.end, y)], GRID)?;
        axis(vec![(px.start - 4, y), (px.start, y)], BLACK)?;
        let label = tick_label(*v, ystep);
        stamp(root, &label, px.start - 7 - text_width(&label, 1), y - 4, 1);
    }
    let (xticks, xstep) = nice_ticks(x0, x1, (w as usize / 80).clamp(2, 8), true);
    for v in &xticks {
        let (x, _) = chart.backend_coord(&(*v, y0));
        axis(vec![(x, py.start), (x, py.end)], GRID)?;
        axis(vec![(x, py.end), (x, py.end + 4)], BLACK)?;
        let label = tick_label(*v, xstep);
        stamp(root, &label, x - text_width(&label, 1) / 2, py.end + 7, 1);
    }
    axis(
        vec![(px.start, py.start), (px.start, py.end), (px.end, py.end)],
        BLACK,
    )?;
    stamp(root, "step", (px.start + px.end) / 2 - 16, py.end + 19, 1);
    for (color, pts) in lines {
        let single = pts.len() == 1;
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| plot_err(out, e))?;
        // Sparse series (validation every few steps) get markers so single points show.
        if single || key.starts_with("val/") {
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
                .map_err(|e| plot_err(out, e))?;
        }
    }
    let (bx, by) = area.get_base_pixel();
    stamp(root, key, bx + 10, by + 6, 1);
    root.draw(&Rectangle::new(
        [(bx, by), (bx + w as i32 - 1, by + h as i32 - 1)],
        RGBColor(180, 180, 180).stroke_width(1),
    ))
    .map_err(|e| plot_err(out, e))?;
    Ok(())
}

/// Draws one panel per logged metric of `metrics` (EasyR1 names, see [`MetricsLine`]) into
/// a `width x height` PNG at `out`, with step and value axes. GRPO lines are blue, SFT
/// orange; validation points are marked.
///
/// # Errors
/// [`Error::Plot`] when there is nothing to draw or the PNG cannot be written.
pub fn plot_metrics(metrics: &[MetricsLine], out: &Path, width: u32, height: u32) -> Result<()> {
    let keys: Vec<&str> = PANELS
        .iter()
        .copied()
        .filter(|k| metrics.iter().any(|m| m.get(k).is_some_and(f64::is_finite)))
        .collect();
    if keys.is_empty() {
        return Err(plot_err(out, "no metrics to plot"));
    }
    if let Some(parent) = out.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let root = BitMapBackend::new(out, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(out, e))?;
    let rows = keys.len().div_ceil(COLUMNS);
    let cols = keys.len().min(COLUMNS);
    let areas = root.split_evenly((rows, cols));
    for (area, key) in areas.iter().zip(&keys) {
        panel(&root, area, metrics, key, out)?;
    }
    root.present().map_err(|e| plot_err(out, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let (t, step) = nice_ticks(0.13, 0.87, 4, false);
        assert_eq!(step, 0.2);
        assert_eq!(t.len(), 4);
        assert!((t[0] - 0.2).abs() < 1e-12 && (t[3] - 0.8).abs() < 1e-12);
        assert_eq!(tick_label(t[1], step), "0.4");
        let (t, step) = nice_ticks(1.0, 3.0, 8, true);
        assert_eq!((t, step), (vec![1.0, 2.0, 3.0], 1.0));
        assert_eq!(tick_label(2e-6, 1e-6), "2.0e-6");
    }
}
