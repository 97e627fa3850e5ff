//! The report's chart: throughput and p99 latency per workload, one bar per server, on log
//! scales (the servers differ by orders of magnitude). plotters, bitmap backend, PNG.
//!
//! Input (written by bench/bench.py):
//! `{"title": "...", "servers": ["ec2gw SQLite", ...],
//!   "workloads": [{"name": "DescribeRegions\n64 conn", "results": {"ec2gw SQLite": {"rps": 1.0, "p99_ms": 2.0}}}]}`

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};
use serde::Deserialize;

use crate::Args;

#[derive(Deserialize)]
struct Summary {
    title: String,
    servers: Vec<String>,
    workloads: Vec<Workload>,
}

#[derive(Deserialize)]
struct Workload {
    name: String,
    results: std::collections::HashMap<String, Figures>,
}

#[derive(Deserialize)]
struct Figures {
    rps: Option<f64>,
    p99_ms: Option<f64>,
}

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

const COLORS: &[RGBColor] = &[
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(127, 127, 127),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
];

fn load_font() -> Result<(), String> {
    for path in FONT_PATHS {
        if let Ok(bytes) = std::fs::read(path) {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            for style in [FontStyle::Normal, FontStyle::Bold] {
                register_font("sans-serif", style, bytes)
                    .map_err(|_| format!("{path} is not a usable font"))?;
            }
            return Ok(());
        }
    }
    Err(format!(
        "no TrueType font found in {FONT_PATHS:?} (apt-get install fonts-dejavu-core)"
    ))
}

/// 1234 -> "1.2k", 0.5 -> "0.5".
fn compact(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn panel(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    title: &str,
    y_desc: &str,
    summary: &Summary,
    value: fn(&Figures) -> Option<f64>,
) -> Result<(), String> {
    let values: Vec<f64> = summary
        .workloads
        .iter()
        .flat_map(|w| w.results.values().filter_map(value))
        .filter(|v| *v > 0.0)
        .collect();
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let high = values.iter().copied().fold(0.0, f64::max);
    let (ymin, ymax) = if values.is_empty() {
        (0.1, 10.0)
    } else {
        (
            10f64.powf(low.log10().floor() - 0.3),
            10f64.powf(high.log10().ceil() + 0.3),
        )
    };
    let n = summary.workloads.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .margin_right(20)
        .x_label_area_size(52)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..n as f64, (ymin..ymax).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n + 1)
        .x_label_formatter(&|_| String::new())
        .y_label_formatter(&|v| compact(*v))
        .y_desc(y_desc)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(|e| e.to_string())?;

    let slots = summary.servers.len().max(1) as f64;
    let slot = 0.84 / slots;
    let value_style = TextStyle::from(("sans-serif", 13).into_font())
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    let missing_style = TextStyle::from(("sans-serif", 12).into_font())
        .color(&RGBColor(120, 120, 120))
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    for (s, server) in summary.servers.iter().enumerate() {
        let color = COLORS[s % COLORS.len()];
        let x0 = |i: usize| i as f64 + 0.08 + s as f64 * slot;
        let bars: Vec<(usize, f64)> = summary
            .workloads
            .iter()
            .enumerate()
            .filter_map(|(i, w)| w.results.get(server).and_then(value).map(|v| (i, v)))
            .filter(|(_, v)| *v > 0.0)
            .collect();
        chart
            .draw_series(bars.iter().map(|&(i, v)| {
                Rectangle::new([(x0(i), ymin), (x0(i) + slot * 0.92, v)], color.filled())
            }))
            .map_err(|e| e.to_string())?
            .label(server.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
        chart
            .draw_series(bars.iter().map(|&(i, v)| {
                Text::new(
                    compact(v),
                    (x0(i) + slot * 0.46, v * 1.04),
                    value_style.clone(),
                )
            }))
            .map_err(|e| e.to_string())?;
        // A server that was not run on a workload gets "n/a" where its bar would be.
        chart
            .draw_series(
                summary
                    .workloads
                    .iter()
                    .enumerate()
                    .filter(|(_, w)| !w.results.get(server).and_then(value).is_some_and(|v| v > 0.0))
                    .map(|(i, _)| {
                        Text::new(
                            "n/a".to_owned(),
                            (x0(i) + slot * 0.46, ymin * 1.15),
                            missing_style.clone(),
                        )
                    }),
            )
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;

    // Workload names under their group, drawn on the whole image in pixels.
    let label_style = TextStyle::from(("sans-serif", 15).into_font())
        .pos(Pos::new(HPos::Center, VPos::Top));
    for (i, w) in summary.workloads.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(i as f64 + 0.5, ymin));
        for (k, line) in w.name.lines().enumerate() {
            root.draw(&Text::new(
                line.to_owned(),
                (px, py + 8 + 18 * k as i32),
                label_style.clone(),
            ))
            .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

pub fn run(args: &Args) -> Result<(), String> {
    let input = args.required("input")?;
    let output = args.required("output")?;
    let text = std::fs::read_to_string(input).map_err(|e| format!("{input}: {e}"))?;
    let summary: Summary = serde_json::from_str(&text).map_err(|e| format!("{input}: {e}"))?;
    load_font()?;
    let root = BitMapBackend::new(output, (1600, 1100)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (head, body) = root.split_vertically(44);
    head.draw(&Text::new(
        summary.title.clone(),
        (800, 12),
        TextStyle::from(("sans-serif", 24).into_font()).pos(Pos::new(HPos::Center, VPos::Top)),
    ))
    .map_err(|e| e.to_string())?;
    let (top, bottom) = body.split_vertically(528);
    panel(
        &root,
        &top,
        "Throughput (successful requests/s, log scale; higher is better)",
        "requests/s",
        &summary,
        |f| f.rps,
    )?;
    panel(
        &root,
        &bottom,
        "p99 latency (ms, log scale; lower is better)",
        "p99 ms",
        &summary,
        |f| f.p99_ms,
    )?;
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}
