//! The charts: patch size against diff time, per tool in total (`chart.svg`) and per tool
//! and pair (`chart-pairs.svg`). Lower left is better on both.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use crate::compare::{Report, Status};
use crate::corpus::PairKind;
use crate::report::{common_pairs, totals};

const COLORS: [RGBColor; 14] = [
    RGBColor(214, 39, 40),   // fwdelta
    RGBColor(255, 127, 14),  // fwdelta-noverify
    RGBColor(140, 86, 75),   // fwdelta-bsdiff40
    RGBColor(31, 119, 180),  // bsdiff 4.3
    RGBColor(44, 160, 44),   // xdelta3
    RGBColor(148, 103, 189), // zstd
    RGBColor(23, 190, 207),  // bsdiff4
    RGBColor(188, 189, 34),  // detools-bsdiff
    RGBColor(127, 127, 127), // detools-hdiffpatch
    RGBColor(0, 0, 0),       // hdiffpatch-lzma2
    RGBColor(227, 119, 194), // hdiffpatch-zstd
    RGBColor(57, 59, 121),   // bsdiff-rs
    RGBColor(99, 121, 57),   // qbsdiff
    RGBColor(132, 60, 57),   // bidiff
];

fn color(report: &Report, tool: &str) -> RGBColor {
    let i = crate::tools::Tool::from_name(tool)
        .and_then(|t| crate::tools::Tool::ALL.iter().position(|x| *x == t))
        .or_else(|| report.tools.iter().position(|t| t.name == tool))
        .unwrap_or(0);
    COLORS[i % COLORS.len()]
}

/// A log axis range around `v` with some room on both sides.
fn log_range(v: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let v: Vec<f64> = v.filter(|x| x.is_finite() && *x > 0.0).collect();
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    (!v.is_empty()).then(|| (lo / 1.6, hi * 1.6))
}

/// A tick label without trailing zeros: 0.01, 0.5, 3, 120.
fn tick(v: f64) -> String {
    let s = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.4}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing the chart: {e}")
}

/// Writes `chart.svg` and `chart-pairs.svg` into `dir`.
pub fn write_charts(report: &Report, dir: &Path) -> Result<()> {
    totals_chart(report, &dir.join("chart.svg"))?;
    pairs_chart(report, &dir.join("chart-pairs.svg"))
}

fn no_data(path: &Path, what: &str) -> Result<()> {
    let root = SVGBackend::new(path, (900, 200)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    root.draw(&Text::new(
        format!("{what}: no finished results yet"),
        (20, 90),
        ("sans-serif", 20),
    ))
    .map_err(err)?;
    root.present().map_err(err)
}

fn totals_chart(report: &Report, path: &Path) -> Result<()> {
    // The firmware corpus when the run has one, the generated pairs otherwise.
    let (kind, what) = if report.pairs.iter().any(|p| p.kind == PairKind::Firmware) {
        (PairKind::Firmware, "Firmware corpus")
    } else {
        (PairKind::Generated, "Generated pairs")
    };
    let (common, _) = common_pairs(report, kind);
    let t: Vec<_> = totals(report, &common)
        .into_iter()
        .filter(|t| t.pairs_ok > 0 && t.diff_secs > 0.0 && t.patch_bytes > 0)
        .collect();
    let title = format!(
        "{what}, {} pairs: total patch size vs total diff time",
        common.len()
    );
    let (Some((x0, x1)), Some((_, y1))) = (
        log_range(t.iter().map(|t| t.diff_secs)),
        log_range(t.iter().map(|t| t.patch_bytes as f64)),
    ) else {
        return no_data(path, &title);
    };
    // Sizes on a linear axis from zero, so that distances compare as ratios do; times on a
    // log axis, since they span orders of magnitude.
    let (unit, div) = if y1 >= 2e6 { ("MB", 1e6) } else { ("kB", 1e3) };
    let y_top = y1 / 1.6 * 1.15 / div;
    let root = SVGBackend::new(path, (960, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(&title, ("sans-serif", 20))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(100)
        .build_cartesian_2d((x0..x1).log_scale(), 0.0..y_top)
        .map_err(err)?;
    let y_desc = format!("total patch size, {unit}");
    chart
        .configure_mesh()
        .x_desc("total diff time, seconds (log scale; median of runs)")
        .y_desc(y_desc.as_str())
        .x_labels(8)
        .y_labels(10)
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .draw()
        .map_err(err)?;
    for x in &t {
        let c = color(report, &x.tool);
        let at = (x.diff_secs, x.patch_bytes as f64 / div);
        chart
            .draw_series(std::iter::once(
                EmptyElement::at(at)
                    + Circle::new((0, 0), 6, c.filled())
                    + Text::new(
                        x.tool.clone(),
                        (9, -6),
                        ("sans-serif", 14).into_font().color(&c),
                    ),
            ))
            .map_err(err)?;
    }
    root.present().map_err(err)
}

fn pairs_chart(report: &Report, path: &Path) -> Result<()> {
    let ok: Vec<_> = report
        .cells
        .iter()
        .filter(|c| c.status == Status::Ok)
        .filter_map(|c| Some((c.tool.as_str(), c.diff_secs?, c.ratio?)))
        .filter(|(_, s, r)| *s > 0.0 && *r > 0.0)
        .collect();
    let title = "Every tool on every pair: patch/destination ratio vs diff time (filled: fwdelta)";
    let (Some((x0, x1)), Some((y0, y1))) = (
        log_range(ok.iter().map(|c| c.1)),
        log_range(ok.iter().map(|c| c.2)),
    ) else {
        return no_data(path, title);
    };
    let root = SVGBackend::new(path, (1100, 700)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(90)
        // Room above the points for the legend.
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1 * 6.0).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("diff time, seconds (log scale)")
        .y_desc("patch bytes / destination bytes (log scale)")
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .draw()
        .map_err(err)?;
    for t in &report.tools {
        let pts: Vec<(f64, f64)> = ok
            .iter()
            .filter(|c| c.0 == t.name)
            .map(|c| (c.1, c.2))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let c = color(report, &t.name);
        let fw = t.name.starts_with("fwdelta");
        chart
            .draw_series(pts.into_iter().map(move |p| {
                if fw {
                    Circle::new(p, 5, c.filled()).into_dyn()
                } else {
                    Circle::new(p, 4, c.stroke_width(2)).into_dyn()
                }
            }))
            .map_err(err)?
            .label(t.name.clone())
            .legend(move |(x, y)| Circle::new((x, y), 4, c.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.85))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::tick;

    #[test]
    fn ticks_drop_trailing_zeros() {
        assert_eq!(tick(10.0), "10");
        assert_eq!(tick(0.5), "0.5");
        assert_eq!(tick(0.01), "0.01");
        assert_eq!(tick(250.0), "250");
        assert_eq!(tick(2.5), "2.5");
    }
}
