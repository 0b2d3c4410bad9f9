//! The run's charts, drawn with plotters into inline SVG: latency of every completed client op
//! over time (log scale), latency quantiles per time bucket, and throughput per bucket by
//! outcome; all with the fault windows shaded and labelled.
//!
//! Large histories are thinned before drawing so that the page stays small: ok ops are reduced
//! to one point per small cell of the plot (cells grow until the budget fits, so the picture is
//! unchanged at screen resolution), and so are fail and info ops, with a budget of their own so
//! that a run where most ops fail does not bury the ok ones; every op near a violation is kept
//! (up to a generous cap, past which it goes through per-pixel thinning). What was thinned is
//! reported in `Plots::sampling` and printed on the page.

use crate::ops::{ClientOp, Outcome};
use crate::style::{self, Shape, SHAPES};
use faultline_checkers::faults::FaultWindow;
use faultline_checkers::outcome::HarnessSample;
use faultline_checkers::Op;
use plotters::coord::ranged1d::Ranged;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::{HashMap, HashSet};

pub const WIDTH: u32 = 1200;
const LATENCY_HEIGHT: u32 = 440;
const SMALL_HEIGHT: u32 = 320;
/// The quantile and throughput charts sit side by side.
const SMALL_WIDTH: u32 = 680;
/// Ok points drawn at most (after cell thinning).
const OK_POINT_BUDGET: usize = 25_000;
/// Fail and info points drawn at most (after cell thinning), away from violations.
const FAILED_POINT_BUDGET: usize = 10_000;
/// Points near a violation kept one for one up to this many.
const SPECIAL_POINT_BUDGET: usize = 30_000;

/// What the charts are drawn from.
pub struct PlotInput<'a> {
    pub history: &'a [Op],
    pub ops: &'a [ClientOp],
    pub windows: &'a [FaultWindow],
    pub end_ns: u64,
    /// Time spans (ns) around violations: ops completing inside them are always drawn.
    pub keep_spans: &'a [(u64, u64)],
    /// Moments (ns) of anomalies, marked with a labelled red line on the latency and throughput
    /// charts (at most `MAX_MARKERS` drawn).
    pub markers: &'a [(u64, String)],
}

/// Anomaly markers drawn at most per chart; beyond it the plot would be a red wall.
const MAX_MARKERS: usize = 20;

#[derive(Debug, Clone, serde::Serialize)]
pub struct FunctionShape {
    pub f: String,
    pub shape: Shape,
    pub icon: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Plots {
    pub latency_svg: String,
    pub quantiles_svg: String,
    pub throughput_svg: String,
    /// One marker shape per function, for the legend.
    pub functions: Vec<FunctionShape>,
    /// Sentences saying what was thinned and what is not plotted.
    pub sampling: Vec<String>,
    pub bucket: String,
    /// The quantile chart's series and colours, for a legend beside the chart (never over it).
    pub quantile_legend: Vec<(String, String)>,
}

struct Point {
    t_s: f64,
    lat_ms: f64,
    outcome: Outcome,
    shape: Shape,
}

pub fn draw(input: &PlotInput) -> anyhow::Result<Plots> {
    let dur_s = (input.end_ns as f64 / 1e9).max(1e-3);
    let from_s = axis_start_s(input, dur_s);
    let functions = function_shapes(input);
    let shape_of: HashMap<&str, Shape> = functions.iter().map(|f| (f.f.as_str(), f.shape)).collect();
    let mut sampling = Vec::new();

    // Latency range over all completed ops (log scale needs positive values).
    let lat_ms = |o: &ClientOp| o.latency_ns().map(|l| (l as f64 / 1e6).max(1e-3));
    let (mut lo, mut hi) = (f64::MAX, 0f64);
    for l in input.ops.iter().filter_map(lat_ms) {
        lo = lo.min(l);
        hi = hi.max(l);
    }
    if hi == 0.0 {
        (lo, hi) = (0.1, 10.0);
    }
    let y_lo = 10f64.powf(lo.log10().floor());
    let y_hi = 10f64.powf(hi.log10().ceil()).max(y_lo * 10.0);

    let (points, notes) = thin_points(input, &shape_of, (from_s, dur_s), y_lo, y_hi);
    sampling.extend(notes);
    if from_s > 0.0 {
        sampling.push(format!(
            "The time axes start at {from_s:.0} s: the set-up before the first client operation and the first fault is left off."
        ));
    }
    let pending = input.ops.iter().filter(|o| o.end.is_none()).count();
    if pending > 0 {
        sampling.push(format!("{pending} ops never completed (no latency) and are not in the latency plot."));
    }

    let latency_svg = latency_chart(input, &points, (from_s, dur_s), y_lo, y_hi)?;
    let bucket_ns = bucket_width_ns(input.end_ns.saturating_sub((from_s * 1e9) as u64));
    let (quantiles_svg, throughput_svg) = bucket_charts(input, (from_s, dur_s), bucket_ns)?;
    let quantile_legend = QUANTILES.iter().map(|(name, _, c)| (name.to_string(), rgb_hex(*c))).collect();
    Ok(Plots {
        latency_svg,
        quantiles_svg,
        throughput_svg,
        functions,
        sampling,
        bucket: style::duration(bucket_ns),
        quantile_legend,
    })
}

/// Where the time axes start (s): a round second just before the first client operation or
/// fault, so that a database's minute of set-up does not take a third of every chart; 0 when
/// the set-up is short beside the run.
fn axis_start_s(input: &PlotInput, dur_s: f64) -> f64 {
    let first_op = input.ops.iter().map(|o| o.start).min();
    let first_fault = input.windows.iter().map(|w| w.start).min();
    let Some(first) = first_op.into_iter().chain(first_fault).min() else { return 0.0 };
    let first_s = first as f64 / 1e9;
    if first_s < dur_s * 0.1 {
        return 0.0;
    }
    (first_s - (dur_s - first_s) * 0.02).floor().max(0.0)
}

/// The quantile series: name, quantile, colour.
const QUANTILES: [(&str, f64, RGBColor); 4] = [
    ("p50", 0.5, RGBColor(0x1f, 0x77, 0xb4)),
    ("p95", 0.95, RGBColor(0x9e, 0x5f, 0xc0)),
    ("p99", 0.99, RGBColor(0xd6, 0x27, 0x83)),
    ("max", 1.0, RGBColor(0x44, 0x44, 0x44)),
];

fn rgb_hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Marker shape per function, most frequent first.
fn function_shapes(input: &PlotInput) -> Vec<FunctionShape> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for o in input.ops {
        *counts.entry(input.history[o.invoke].f.as_str()).or_default() += 1;
    }
    let mut fs: Vec<(&str, usize)> = counts.into_iter().collect();
    fs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    fs.into_iter()
        .enumerate()
        .map(|(i, (f, _))| {
            let shape = SHAPES[i % SHAPES.len()];
            FunctionShape { f: f.to_string(), shape, icon: style::shape_icon(shape, "#555") }
        })
        .collect()
}

/// Choose which completed ops to draw. See the module doc for the rules.
fn thin_points(
    input: &PlotInput,
    shape_of: &HashMap<&str, Shape>,
    (from_s, dur_s): (f64, f64),
    y_lo: f64,
    y_hi: f64,
) -> (Vec<Point>, Vec<String>) {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    let mut near_violation = Vec::new();
    let near = |t: u64| input.keep_spans.iter().any(|&(a, b)| t >= a && t <= b);
    for o in input.ops {
        let (Some(end), Some(lat)) = (o.end, o.latency_ns()) else { continue };
        let p = Point {
            t_s: o.start as f64 / 1e9,
            lat_ms: (lat as f64 / 1e6).max(1e-3),
            outcome: o.outcome,
            shape: *shape_of.get(input.history[o.invoke].f.as_str()).unwrap_or(&Shape::Circle),
        };
        if near(end) || near(o.start) {
            near_violation.push(p);
        } else if o.outcome == Outcome::Ok {
            ok.push(p);
        } else {
            failed.push(p);
        }
    }
    let mut notes = Vec::new();
    let (log_lo, log_span) = (y_lo.log10(), (y_hi.log10() - y_lo.log10()).max(1e-9));
    // Grid cell of a point, at `cell` plot pixels per cell.
    let cell_of = |p: &Point, cell: f64| -> (u32, u32, u8, u8) {
        let x = ((p.t_s - from_s).max(0.0) / (dur_s - from_s) * WIDTH as f64 / cell) as u32;
        let y = ((p.lat_ms.log10() - log_lo) / log_span * LATENCY_HEIGHT as f64 / cell) as u32;
        (x, y, p.shape as u8, p.outcome as u8)
    };
    let dedup = |pts: Vec<Point>, cell: f64| -> Vec<Point> {
        let mut seen = HashSet::with_capacity(pts.len().min(1 << 16));
        pts.into_iter().filter(|p| seen.insert(cell_of(p, cell))).collect()
    };
    // One point per cell, the cells growing until at most `budget` points remain; says so.
    let mut thin = |pts: Vec<Point>, budget: usize, what: &str| -> Vec<Point> {
        let total = pts.len();
        let mut drawn = pts;
        let mut cell = 1.0;
        while drawn.len() > budget {
            drawn = dedup(drawn, cell);
            cell *= 1.5;
        }
        if drawn.len() < total {
            notes.push(format!(
                "Latency plot: {} of {total} {what} drawn (one per {:.0}-pixel cell; hidden points lie under drawn ones).",
                drawn.len(),
                cell / 1.5
            ));
        }
        drawn
    };
    // Fail and info ops get their own, smaller budget, so that a run where most ops fail still
    // shows where the ok ones lie rather than a solid band of failures.
    let mut drawn = thin(ok, OK_POINT_BUDGET, "ok ops");
    let failed = thin(failed, FAILED_POINT_BUDGET, "fail/info ops");
    let total_near = near_violation.len();
    if total_near > SPECIAL_POINT_BUDGET {
        near_violation = dedup(near_violation, 1.0);
        notes.push(format!(
            "Latency plot: {} of {total_near} ops near a violation drawn (one per pixel).",
            near_violation.len()
        ));
    } else if total_near > 0 && !notes.is_empty() {
        notes.push(format!("Every op near a violation is drawn ({total_near})."));
    }
    // Ok first so that the rarer outcomes are drawn on top, and the ops near a violation last.
    drawn.extend(failed);
    drawn.extend(near_violation);
    (drawn, notes)
}

/// Axes, grid and axis titles, the same on every chart (a macro because plotters' formatter
/// bounds differ between linear and log axes).
macro_rules! mesh {
    ($chart:expr, $y_desc:expr) => {
        $chart
            .configure_mesh()
            .x_desc("time since start (s)")
            .y_desc($y_desc)
            .label_style(font(13))
            .axis_desc_style(font(14))
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .y_label_formatter(&|v| short_number(*v))
            .draw()
            .map_err(|e| anyhow::anyhow!("chart axes: {e}"))?
    };
}

fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&RGBColor(0x33, 0x33, 0x33))
}

/// Shade and label the fault windows on a chart whose y range is `y0..y1`.
fn shade_windows<DB, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    windows: &[FaultWindow],
    end_ns: u64,
    y0: Y::ValueType,
    y1: Y::ValueType,
    label: bool,
) -> anyhow::Result<()>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64>,
    Y: Ranged,
    Y::ValueType: Clone + 'static,
{
    for (i, w) in windows.iter().enumerate() {
        let (a, b) = (w.start as f64 / 1e9, w.end_or(end_ns) as f64 / 1e9);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(a, y0.clone()), (b, y1.clone())],
                style::FAULT.mix(0.12).filled(),
            )))
            .map_err(|e| anyhow::anyhow!("drawing fault window: {e}"))?;
        if label {
            // Stagger labels over three rows so that neighbouring windows stay legible.
            let row = (i % 3) as i32;
            let text = Text::new(style::truncate(&w.fault, 28), (3, 3 + 14 * row), font(12).color(&style::FAULT));
            chart
                .draw_series(std::iter::once(EmptyElement::at((a, y1.clone())) + text))
                .map_err(|e| anyhow::anyhow!("labelling fault window: {e}"))?;
        }
    }
    Ok(())
}

/// Mark each anomaly with a vertical red line and its label, on a chart whose y range is `y0..y1`.
fn mark_anomalies<DB, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    markers: &[(u64, String)],
    y0: Y::ValueType,
    y1: Y::ValueType,
) -> anyhow::Result<()>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64>,
    Y: Ranged,
    Y::ValueType: Clone + 'static,
{
    for (i, (t, label)) in markers.iter().take(MAX_MARKERS).enumerate() {
        let x = *t as f64 / 1e9;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x, y0.clone()), (x, y1.clone())],
                style::ANOMALY.stroke_width(2),
            )))
            .map_err(|e| anyhow::anyhow!("drawing anomaly marker: {e}"))?;
        // Labels sit below the fault window labels, staggered like them.
        let row = 3 + (i % 2) as i32;
        let text = Text::new(style::truncate(label, 40), (4, 3 + 14 * row), font(12).color(&style::ANOMALY));
        chart
            .draw_series(std::iter::once(EmptyElement::at((x, y1.clone())) + text))
            .map_err(|e| anyhow::anyhow!("labelling anomaly marker: {e}"))?;
    }
    Ok(())
}

fn root(buf: &mut String, width: u32, height: u32) -> DrawingArea<SVGBackend<'_>, Shift> {
    let root = SVGBackend::with_string(buf, (width, height)).into_drawing_area();
    let _ = root.fill(&WHITE);
    root
}

fn latency_chart(
    input: &PlotInput,
    points: &[Point],
    (from_s, dur_s): (f64, f64),
    y_lo: f64,
    y_hi: f64,
) -> anyhow::Result<String> {
    let mut buf = String::with_capacity(points.len() * 100 + 20_000);
    {
        let root = root(&mut buf, WIDTH, LATENCY_HEIGHT);
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(from_s..dur_s, (y_lo..y_hi).log_scale())
            .map_err(|e| anyhow::anyhow!("latency chart: {e}"))?;
        mesh!(chart, "latency (ms, log scale)");
        shade_windows(&mut chart, input.windows, input.end_ns, y_lo, y_hi, true)?;
        mark_anomalies(&mut chart, input.markers, y_lo, y_hi)?;
        // Dense plots: translucent markers, so that the ok cloud shows through the rarer
        // outcomes drawn over it.
        let alpha = if points.len() > 5_000 { 0.55 } else { 1.0 };
        let color = |o: Outcome| style::outcome_color(o).mix(alpha);
        for shape in SHAPES {
            let pts = points.iter().filter(|p| p.shape == shape);
            let draw = |c: &mut ChartContext<'_, _, _>, it: Vec<&Point>| -> anyhow::Result<()> {
                let res = match shape {
                    Shape::Circle => c.draw_series(
                        it.into_iter().map(|p| Circle::new((p.t_s, p.lat_ms), 2, color(p.outcome).filled())),
                    ),
                    Shape::Triangle => c.draw_series(
                        it.into_iter().map(|p| TriangleMarker::new((p.t_s, p.lat_ms), 4, color(p.outcome).filled())),
                    ),
                    Shape::Square => c.draw_series(it.into_iter().map(|p| {
                        EmptyElement::at((p.t_s, p.lat_ms))
                            + Rectangle::new([(-2, -2), (2, 2)], color(p.outcome).filled())
                    })),
                    Shape::Cross => c.draw_series(
                        it.into_iter().map(|p| Cross::new((p.t_s, p.lat_ms), 3, color(p.outcome).stroke_width(1))),
                    ),
                };
                res.map(|_| ()).map_err(|e| anyhow::anyhow!("latency points: {e}"))
            };
            draw(&mut chart, pts.collect())?;
        }
        root.present().map_err(|e| anyhow::anyhow!("latency chart: {e}"))?;
    }
    Ok(compact_svg(buf))
}

/// When the lost elements were acknowledged: one mark per element (cumulative count over time),
/// with the fault windows shaded, so one sees at a glance whether they were all acknowledged
/// during one fault (by the old primary during a failover, say).
pub fn lost_chart(acks_ns: &[u64], windows: &[FaultWindow], end_ns: u64) -> anyhow::Result<String> {
    let mut acks: Vec<u64> = acks_ns.to_vec();
    acks.sort_unstable();
    let dur_s = (end_ns.max(acks.last().copied().unwrap_or(0)) as f64 / 1e9).max(1e-3);
    let y_top = (acks.len() as f64 * 1.1).max(1.0);
    let mut buf = String::with_capacity(acks.len() * 80 + 10_000);
    {
        let root = root(&mut buf, SMALL_WIDTH, 220);
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..dur_s, 0f64..y_top)
            .map_err(|e| anyhow::anyhow!("lost chart: {e}"))?;
        mesh!(chart, "lost elements (cumulative)");
        shade_windows(&mut chart, windows, end_ns, 0.0, y_top, true)?;
        chart
            .draw_series(
                acks.iter()
                    .enumerate()
                    .map(|(i, t)| Circle::new((*t as f64 / 1e9, (i + 1) as f64), 2, style::ANOMALY.filled())),
            )
            .map_err(|e| anyhow::anyhow!("lost chart: {e}"))?;
        root.present().map_err(|e| anyhow::anyhow!("lost chart: {e}"))?;
    }
    Ok(compact_svg(buf))
}

/// A bank's total over time: one point per ok read of the balances (wrong ones in red), the
/// initial total as a line, the fault windows shaded; money created or destroyed shows as
/// points off the line.
pub fn total_chart(points: &[(u64, i64)], total: i64, windows: &[FaultWindow], end_ns: u64) -> anyhow::Result<String> {
    let dur_s = (end_ns.max(points.last().map_or(0, |p| p.0)) as f64 / 1e9).max(1e-3);
    let lo = points.iter().map(|p| p.1).min().unwrap_or(total).min(total) as f64;
    let hi = points.iter().map(|p| p.1).max().unwrap_or(total).max(total) as f64;
    let pad = ((hi - lo) * 0.1).max(1.0);
    let (y0, y1) = (lo - pad, hi + pad);
    let mut buf = String::with_capacity(points.len() * 80 + 10_000);
    {
        let root = root(&mut buf, SMALL_WIDTH, 240);
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..dur_s, y0..y1)
            .map_err(|e| anyhow::anyhow!("total chart: {e}"))?;
        mesh!(chart, "total of the balances read");
        shade_windows(&mut chart, windows, end_ns, y0, y1, true)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, total as f64), (dur_s, total as f64)],
                RGBColor(0x99, 0x99, 0x99).stroke_width(1),
            )))
            .map_err(|e| anyhow::anyhow!("total chart: {e}"))?;
        chart
            .draw_series(points.iter().map(|&(t, v)| {
                let color = if v == total { style::OK } else { style::ANOMALY };
                Circle::new((t as f64 / 1e9, v as f64), 2, color.filled())
            }))
            .map_err(|e| anyhow::anyhow!("total chart: {e}"))?;
        root.present().map_err(|e| anyhow::anyhow!("total chart: {e}"))?;
    }
    Ok(compact_svg(buf))
}

/// The harness's resident memory over the run (one point per 10 s sample), with its descriptor
/// count in the legend: a soak's memory line should be flat.
pub fn harness_chart(samples: &[HarnessSample]) -> anyhow::Result<String> {
    let dur_s = samples.last().map_or(1.0, |s| s.t_s).max(1e-3);
    let top = samples.iter().map(|s| s.rss_mb).fold(0.0, f64::max) * 1.2 + 1.0;
    let mut buf = String::new();
    {
        let root = root(&mut buf, SMALL_WIDTH, 200);
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..dur_s, 0f64..top)
            .map_err(|e| anyhow::anyhow!("harness chart: {e}"))?;
        mesh!(chart, "harness RSS (MB)");
        // One series, named by the axis; the descriptor counts are in the summary above it.
        chart
            .draw_series(LineSeries::new(samples.iter().map(|s| (s.t_s, s.rss_mb)), style::OK.stroke_width(2)))
            .map_err(|e| anyhow::anyhow!("harness chart: {e}"))?;
        chart
            .draw_series(samples.iter().map(|s| Circle::new((s.t_s, s.rss_mb), 3, style::OK.filled())))
            .map_err(|e| anyhow::anyhow!("harness chart: {e}"))?;
        root.present().map_err(|e| anyhow::anyhow!("harness chart: {e}"))?;
    }
    Ok(compact_svg(buf))
}

/// plotters writes every default attribute; dropping the ones that say nothing keeps a
/// twenty-thousand-point chart at about half the bytes.
fn compact_svg(svg: String) -> String {
    svg.replace(" opacity=\"1\"", "").replace(" stroke=\"none\" stroke-width=\"1\"", "")
}

/// A y-axis label: 0.001, 0.5, 10, 2000.
fn short_number(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Bucket width: a round number of seconds giving about 120 buckets over the run.
pub fn bucket_width_ns(end_ns: u64) -> u64 {
    const STEPS_MS: [u64; 17] =
        [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 300_000];
    let target = end_ns / 120;
    STEPS_MS.iter().map(|ms| ms * 1_000_000).find(|&w| w >= target).unwrap_or(600_000_000_000)
}

fn bucket_charts(input: &PlotInput, (from_s, dur_s): (f64, f64), bucket_ns: u64) -> anyhow::Result<(String, String)> {
    let n = (input.end_ns / bucket_ns + 1) as usize;
    let mut lat: Vec<Vec<u64>> = vec![Vec::new(); n];
    let mut counts = vec![[0u64; 3]; n];
    for o in input.ops {
        let Some(end) = o.end else { continue };
        let b = ((end / bucket_ns) as usize).min(n - 1);
        let slot = match o.outcome {
            Outcome::Ok => 0,
            Outcome::Fail => 1,
            _ => 2,
        };
        counts[b][slot] += 1;
        // Quantiles of successes only: a refused connection answers fast and would flatter them.
        if let (Outcome::Ok, Some(l)) = (o.outcome, o.latency_ns()) {
            lat[b].push(l);
        }
    }
    let mid = |b: usize| (b as f64 + 0.5) * bucket_ns as f64 / 1e9;
    // Quantile series (ms), skipping empty buckets.
    let mut series: [Vec<(f64, f64)>; 4] = Default::default();
    for (b, l) in lat.iter_mut().enumerate() {
        if l.is_empty() {
            continue;
        }
        l.sort_unstable();
        for (k, (_, q, _)) in QUANTILES.iter().enumerate() {
            let i = ((l.len() - 1) as f64 * q).round() as usize;
            series[k].push((mid(b), (l[i] as f64 / 1e6).max(1e-3)));
        }
    }
    let (mut lo, mut hi) = (f64::MAX, 0f64);
    for s in &series {
        for &(_, v) in s {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if hi == 0.0 {
        (lo, hi) = (0.1, 10.0);
    }
    let y_lo = 10f64.powf(lo.log10().floor());
    let y_hi = 10f64.powf(hi.log10().ceil()).max(y_lo * 10.0);
    let mut qbuf = String::new();
    {
        let root = root(&mut qbuf, SMALL_WIDTH, SMALL_HEIGHT);
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(from_s..dur_s, (y_lo..y_hi).log_scale())
            .map_err(|e| anyhow::anyhow!("quantile chart: {e}"))?;
        mesh!(chart, "latency (ms, log scale)");
        shade_windows(&mut chart, input.windows, input.end_ns, y_lo, y_hi, false)?;
        // The legend is on the page beside the chart (`Plots::quantile_legend`): inside the
        // plot area it covered the data.
        for (k, (_, _, c)) in QUANTILES.iter().enumerate() {
            chart
                .draw_series(LineSeries::new(series[k].iter().copied(), c.stroke_width(2)))
                .map_err(|e| anyhow::anyhow!("quantile chart: {e}"))?;
        }
        root.present().map_err(|e| anyhow::anyhow!("quantile chart: {e}"))?;
    }
    // Throughput (ops/s) per outcome.
    let per_s = 1e9 / bucket_ns as f64;
    let top = counts.iter().flat_map(|c| c.iter()).copied().max().unwrap_or(0) as f64 * per_s;
    let y_top = if top <= 0.0 { 1.0 } else { top * 1.1 };
    let mut tbuf = String::new();
    {
        let root = root(&mut tbuf, SMALL_WIDTH, SMALL_HEIGHT);
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(from_s..dur_s, 0f64..y_top)
            .map_err(|e| anyhow::anyhow!("throughput chart: {e}"))?;
        mesh!(chart, "throughput (ops/s)");
        shade_windows(&mut chart, input.windows, input.end_ns, 0.0, y_top, false)?;
        mark_anomalies(&mut chart, input.markers, 0.0, y_top)?;
        // The legend (ok, fail, info) is on the page, as for the latency chart.
        for (slot, c) in [style::OK, style::FAIL, style::INFO].into_iter().enumerate() {
            if counts.iter().all(|b| b[slot] == 0) {
                continue;
            }
            chart
                .draw_series(LineSeries::new(
                    counts
                        .iter()
                        .enumerate()
                        .filter(|(b, _)| mid(*b) >= from_s)
                        .map(|(b, k)| (mid(b), k[slot] as f64 * per_s)),
                    c.stroke_width(2),
                ))
                .map_err(|e| anyhow::anyhow!("throughput chart: {e}"))?;
        }
        root.present().map_err(|e| anyhow::anyhow!("throughput chart: {e}"))?;
    }
    Ok((qbuf, tbuf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::{OpType, Process};

    /// A run where most ops fail: the failures are thinned to their own budget, so the ok ops
    /// (a fifth of the run) are not buried; the ops near a violation are all kept.
    #[test]
    fn many_failures_do_not_bury_ok_ops() {
        let n = 200_000u64;
        let history: Vec<Op> = (0..n)
            .map(|i| Op {
                index: i,
                time: i,
                kind: OpType::Invoke,
                process: Process::Client(i),
                f: "write".into(),
                value: serde_json::Value::Null,
                key: None,
                node: None,
                error: None,
            })
            .collect();
        let ops: Vec<ClientOp> = (0..n)
            .map(|i| ClientOp {
                process: i,
                invoke: i as usize,
                complete: None,
                start: i * 100_000,
                // Latencies spread over three decades, so the points fill the plot.
                end: Some(i * 100_000 + 1_000_000 + (i * 7919 % 1_000) * 1_000_000),
                outcome: if i % 5 == 0 { Outcome::Ok } else { Outcome::Fail },
            })
            .collect();
        let keep = [(10_000_000_000u64, 10_050_000_000u64)];
        let input = PlotInput {
            history: &history,
            ops: &ops,
            windows: &[],
            end_ns: n * 100_000 + 2e9 as u64,
            keep_spans: &keep,
            markers: &[],
        };
        let shape_of = HashMap::new();
        let (points, notes) = thin_points(&input, &shape_of, (0.0, input.end_ns as f64 / 1e9), 0.1, 10_000.0);
        let count = |o: Outcome| points.iter().filter(|p| p.outcome == o).count();
        assert!(count(Outcome::Fail) <= FAILED_POINT_BUDGET + 500, "{} fail points", count(Outcome::Fail));
        assert!(count(Outcome::Ok) > count(Outcome::Fail), "ok {} fail {}", count(Outcome::Ok), count(Outcome::Fail));
        let near = ops.iter().filter(|o| o.start >= keep[0].0 && o.start <= keep[0].1).count();
        let near_drawn = points.iter().filter(|p| p.t_s >= 10.0 && p.t_s <= 10.05).count();
        assert!(near_drawn >= near, "every op near the violation is drawn: {near_drawn} of {near}");
        assert!(notes.iter().any(|n| n.contains("fail/info ops drawn")), "{notes:?}");
    }
}
