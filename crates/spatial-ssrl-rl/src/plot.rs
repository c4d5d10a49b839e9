//! Training curves to PNG with `plotters` (bitmap backend only, no font stack): one panel per
//! metric a researcher looks at first, titles and value ranges stamped with the public-domain
//! 8x8 bitmap font.

use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::metrics::StepMetrics;

type Getter = fn(&StepMetrics) -> f64;

/// The panels, in reading order.
const PANELS: [(&str, Getter); 12] = [
    ("reward mean", |m| m.reward.mean),
    ("reward std", |m| m.reward.std),
    ("accuracy", |m| m.accuracy),
    ("format", |m| m.format),
    ("pg_loss", |m| m.pg_loss),
    ("kl", |m| m.kl),
    ("entropy", |m| m.entropy),
    ("grad_norm", |m| m.grad_norm),
    ("clipfrac high", |m| m.clipfrac_high),
    ("ppo_kl", |m| m.ppo_kl),
    ("response len", |m| m.response_length_mean),
    ("tokens/s", |m| m.tokens_per_sec),
];

fn plot_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Stamps `text` at pixel `(x, y)` with the 8x8 font scaled by `scale`.
fn stamp<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    text: &str,
    x: i32,
    y: i32,
    scale: i32,
) {
    for (i, ch) in text.chars().enumerate() {
        let code = ch as usize;
        let glyph = if code < 128 {
            font8x8::legacy::BASIC_LEGACY[code]
        } else {
            [0u8; 8]
        };
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

fn short(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-3) {
        format!("{v:.2e}")
    } else {
        format!("{v:.4}")
    }
}

/// Draws the training curves of `metrics` into a `width x height` PNG at `out`. GRPO and SFT
/// steps are drawn as separate lines (blue and orange).
pub fn plot_metrics(metrics: &[StepMetrics], out: &Path, width: u32, height: u32) -> Result<()> {
    if metrics.is_empty() {
        return Err(plot_err(out, "no metrics to plot"));
    }
    if let Some(parent) = out.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let root = BitMapBackend::new(out, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(out, e))?;
    let panels = root.split_evenly((3, 4));
    let (x_min, x_max) = metrics.iter().fold((u64::MAX, 0), |(lo, hi), m| {
        (lo.min(m.step), hi.max(m.step))
    });
    let x_max = if x_max == x_min { x_min + 1 } else { x_max };
    for (area, (title, get)) in panels.iter().zip(PANELS) {
        let values: Vec<f64> = metrics.iter().map(get).filter(|v| v.is_finite()).collect();
        let (mut lo, mut hi) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if hi - lo < 1e-12 {
            (lo, hi) = (lo - 0.5, hi + 0.5);
        }
        let pad = (hi - lo) * 0.05;
        let (w, h) = area.dim_in_pixel();
        let mut chart = ChartBuilder::on(area)
            .margin_top(22)
            .margin_bottom(14)
            .margin_left(8)
            .margin_right(8)
            .build_cartesian_2d(x_min as f64..x_max as f64, (lo - pad)..(hi + pad))
            .map_err(|e| plot_err(out, e))?;
        chart
            .plotting_area()
            .fill(&RGBColor(248, 248, 248))
            .map_err(|e| plot_err(out, e))?;
        for (phase, color) in [("grpo", BLUE), ("sft", RGBColor(230, 120, 0))] {
            let pts: Vec<(f64, f64)> = metrics
                .iter()
                .filter(|m| m.phase == phase || (phase == "grpo" && m.phase.is_empty()))
                .map(|m| (m.step as f64, get(m)))
                .filter(|p| p.1.is_finite())
                .collect();
            if !pts.is_empty() {
                chart
                    .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                    .map_err(|e| plot_err(out, e))?;
            }
        }
        area.draw(&Rectangle::new(
            [(0, 0), (w as i32 - 1, h as i32 - 1)],
            BLACK.stroke_width(1),
        ))
        .map_err(|e| plot_err(out, e))?;
        stamp(area, title, 8, 5, 2);
        stamp(area, &format!("max {}", short(hi)), 8, h as i32 - 12, 1);
        stamp(
            area,
            &format!("min {}", short(lo)),
            w as i32 / 2,
            h as i32 - 12,
            1,
        );
    }
    root.present().map_err(|e| plot_err(out, e))?;
    Ok(())
}
