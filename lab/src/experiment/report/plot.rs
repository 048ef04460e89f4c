//! SVG plots with `plotters` (SVG backend only: text goes out as SVG
//! `<text>` elements, so no system fonts are needed).

use std::ops::Range;
use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use thiserror::Error;

use super::{RunSummary, Sample};

/// Why a plot (or another output file) could not be written.
#[derive(Debug, Error)]
pub enum PlotError {
    /// Creating or writing a file failed.
    #[error("cannot write output: {0}")]
    Io(std::io::Error),
    /// The plotting library refused (its message).
    #[error("cannot draw plot: {0}")]
    Draw(String),
}

fn draw_err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// One line of [`plot_curves`].
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// Legend text.
    pub label: String,
    /// (x, y) points, drawn in order.
    pub points: Vec<(f64, f64)>,
    /// Draw points as well as the line (measured data, as opposed to a
    /// formula).
    pub markers: bool,
}

const FONT: &str = "sans-serif";

/// A range covering `values` with a little head room, never empty.
fn span(values: impl Iterator<Item = f64>, from_zero: bool) -> Range<f64> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    if from_zero {
        lo = lo.min(0.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-9);
    let hi = if hi - lo < 1e-9 { hi + 1.0 } else { hi + pad };
    lo..hi
}

/// Population and one-club size against time, one line per run (each
/// run's first replicate), in two panels.
pub fn plot_time_series(
    path: &Path,
    title: &str,
    runs: &[(&str, &[Sample])],
) -> Result<(), PlotError> {
    let root = SVGBackend::new(path, (1000, 760)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let root = root
        .titled(&format!("{title}: time series"), (FONT, 22))
        .map_err(draw_err)?;
    let panels = root.split_evenly((2, 1));
    let t_range = span(runs.iter().flat_map(|(_, s)| s.iter().map(|x| x.t)), true);
    type Pick = fn(&Sample) -> u32;
    let quantities: [(&str, Pick); 2] = [
        ("peers in the swarm", |s| s.population),
        ("one club (peers one piece short)", |s| s.one_club),
    ];
    for (panel, (label, get)) in panels.iter().zip(quantities) {
        let y_range = span(
            runs.iter()
                .flat_map(|(_, s)| s.iter().map(|x| f64::from(get(x)))),
            true,
        );
        let mut chart = ChartBuilder::on(panel)
            .caption(label, (FONT, 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(t_range.clone(), y_range)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("model time (1/U)")
            .y_desc("peers")
            .draw()
            .map_err(draw_err)?;
        for (i, (name, samples)) in runs.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    samples.iter().map(|s| (s.t, f64::from(get(s)))),
                    color.stroke_width(2),
                ))
                .map_err(draw_err)?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT, 13))
            .draw()
            .map_err(draw_err)?;
    }
    root.present().map_err(draw_err)
}

/// Throughput (units of U) per run: the mean over seeds as a dot, the
/// range from the smallest to the largest seed as a bar.
pub fn plot_throughput(path: &Path, title: &str, runs: &[RunSummary]) -> Result<(), PlotError> {
    let height = 140 + 44 * u32::try_from(runs.len()).unwrap_or(u32::MAX / 64).min(1000);
    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let x_range = span(
        runs.iter()
            .flat_map(|r| [r.throughput_u.min, r.throughput_u.max]),
        true,
    );
    let names: Vec<String> = runs.iter().map(|r| r.name.clone()).collect();
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{title}: throughput per run (mean, min-max over seeds)"),
            (FONT, 18),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(200)
        // A segmented range over 0..m has m + 1 rows: 0..n-1 gives one row
        // per run (one run needs 0..1 to draw at all).
        .build_cartesian_2d(
            x_range,
            (0..(runs.len().saturating_sub(1)).max(1)).into_segmented(),
        )
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc("throughput (completed downloads per unit time, in U)")
        .y_labels(runs.len().max(1))
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                names.get(*i).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        })
        .y_label_style((FONT, 14))
        .draw()
        .map_err(draw_err)?;
    let color = Palette99::pick(0).to_rgba();
    chart
        .draw_series(runs.iter().enumerate().map(|(i, r)| {
            PathElement::new(
                vec![
                    (r.throughput_u.min, SegmentValue::CenterOf(i)),
                    (r.throughput_u.max, SegmentValue::CenterOf(i)),
                ],
                color.stroke_width(3),
            )
        }))
        .map_err(draw_err)?;
    chart
        .draw_series(runs.iter().enumerate().map(|(i, r)| {
            Circle::new(
                (r.throughput_u.mean, SegmentValue::CenterOf(i)),
                6,
                color.filled(),
            )
        }))
        .map_err(draw_err)?;
    chart
        .draw_series(runs.iter().enumerate().map(|(i, r)| {
            Text::new(
                format!("{:.2}", r.throughput_u.mean),
                (r.throughput_u.max, SegmentValue::CenterOf(i)),
                (FONT, 13),
            )
        }))
        .map_err(draw_err)?;
    root.present().map_err(draw_err)
}

/// Several y-against-x curves on one chart with a legend (the simulator's
/// throughput-against-lambda sweep and the saturation formula).
pub fn plot_curves(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    curves: &[Curve],
) -> Result<(), PlotError> {
    let root = SVGBackend::new(path, (1000, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let x_range = span(
        curves.iter().flat_map(|c| c.points.iter().map(|p| p.0)),
        true,
    );
    let y_range = span(
        curves.iter().flat_map(|c| c.points.iter().map(|p| p.1)),
        true,
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 20))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(x_range, y_range)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()
        .map_err(draw_err)?;
    for (i, c) in curves.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                c.points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(draw_err)?
            .label(c.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        if c.markers {
            chart
                .draw_series(c.points.iter().map(|p| Circle::new(*p, 4, color.filled())))
                .map_err(draw_err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .draw()
        .map_err(draw_err)?;
    root.present().map_err(draw_err)
}
