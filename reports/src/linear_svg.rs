//! The picture of a linearizability failure, in the manner of Porcupine's and Knossos's: one
//! lane per process, each op a bar from its invocation to its completion (info ops open to the
//! right), the longest linearizable prefix highlighted in green and numbered in linearization
//! order, the op that cannot be linearized next in red, and the ops concurrent with it in amber.
//!
//! When the failing op is a read whose value was written long before the window (a stale read),
//! that write is drawn too, in blue, at the left of a break in the time axis: the picture shows
//! where the value came from without squeezing the window into a sliver.
//!
//! Input is the `failure` object of the linearizability checker's result (see the module
//! `checks`); every field is optional here, so a partial object still draws what it can.
//! The consistency ladder's witnesses (`Failure::from_witness`) are drawn by the same function:
//! the few operations of a broken model's witness on their process lanes, in red.
//! All text placed in the SVG is escaped with `style::esc`.

use crate::style::{self, esc};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

const WIDTH: f64 = 1200.0;
const LEFT: f64 = 110.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 34.0;
const LANE: f64 = 34.0;
const BAR: f64 = 22.0;
const AXIS: f64 = 40.0;
/// The writer's outline: blue, apart from the outcome colours.
const WRITER_STROKE: &str = "#2f6db5";

/// One op of the failure window, read tolerantly from JSON.
#[derive(Debug, Clone)]
pub struct FailureOp {
    pub id: String,
    /// The invocation's history index, when the result gives it.
    pub index: Option<u64>,
    pub process: String,
    pub f: String,
    pub value: Value,
    pub output: Value,
    pub kind: String,
    pub start: u64,
    pub end: Option<u64>,
}

/// How an op of the window relates to the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// In the longest linearizable prefix, at this position (1-based).
    Linearized(usize),
    Failing,
    Concurrent,
    /// Wrote the value the failing read returned (outside the window).
    Writer,
    /// One of a ladder witness's operations.
    Involved,
    Other,
}

/// The failure, parsed.
#[derive(Debug, Clone)]
pub struct Failure {
    pub key: Option<Value>,
    pub ops: Vec<FailureOp>,
    pub linearized: Vec<String>,
    /// Each linearized op's place in the whole prefix, from 1 (older results: empty, and the
    /// ops are numbered from 1 in the window).
    pub positions: Vec<usize>,
    /// How many ops the whole prefix holds (older results: `linearized.len()`).
    pub linearized_count: usize,
    /// The op of the prefix that set the state named.
    pub fixed_by: Option<String>,
    pub states: Vec<String>,
    pub failing: Option<String>,
    pub concurrent: Vec<String>,
    /// The write behind the failing read's value, when it lies outside `ops`.
    pub writer: Option<FailureOp>,
    /// A ladder witness's pattern (e.g. CyclicCF), when this is one: every op is then in it.
    pub witness: Option<String>,
}

/// Ids may be numbers or strings; compare them as text.
fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

fn ns(v: Option<&Value>) -> Option<u64> {
    v.and_then(|v| v.as_u64().or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)))
}

impl Failure {
    pub fn parse(v: &Value) -> Option<Failure> {
        let obj = v.as_object()?;
        let ops = obj
            .get("ops")
            .and_then(Value::as_array)
            .map(|ops| ops.iter().enumerate().filter_map(|(i, o)| FailureOp::parse(o, i)).collect())
            .unwrap_or_default();
        let ids =
            |k: &str| obj.get(k).and_then(Value::as_array).map(|a| a.iter().map(id_text).collect()).unwrap_or_default();
        let linearized: Vec<String> = ids("linearized");
        let positions: Vec<usize> = obj
            .get("positions")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|p| p.as_u64().map(|p| p as usize)).collect())
            .filter(|p: &Vec<usize>| p.len() == linearized.len())
            .unwrap_or_default();
        Some(Failure {
            key: obj.get("key").cloned(),
            ops,
            linearized_count: ns(obj.get("linearized_count")).map_or(linearized.len(), |n| n as usize),
            linearized,
            positions,
            fixed_by: obj.get("fixed_by").filter(|v| !v.is_null()).map(id_text),
            states: obj
                .get("states")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(|s| style::value_text(s, 200)).collect())
                .unwrap_or_default(),
            failing: obj.get("failing").filter(|v| !v.is_null()).map(id_text),
            concurrent: ids("concurrent"),
            writer: obj.get("writer").and_then(|w| FailureOp::parse(w, usize::MAX)),
            witness: None,
        })
    }

    /// A ladder rung's witness (`{pattern, ops: [{index, process, f, value, output, type,
    /// start, end}]}`) as a picture of its operations. Ops are named by their history index.
    /// Witnesses without times (older results) are laid out by history index.
    pub fn from_witness(w: &Value) -> Option<Failure> {
        let raw = w.get("ops").and_then(Value::as_array).filter(|ops| !ops.is_empty())?;
        let timed = raw.iter().any(|o| o.get("start").is_some());
        let ops = raw
            .iter()
            .enumerate()
            .filter_map(|(i, o)| {
                let mut op = FailureOp::parse(o, i)?;
                let index = ns(o.get("index"));
                if let Some(index) = index {
                    op.id = index.to_string();
                }
                if !timed {
                    op.start = index.unwrap_or(i as u64) * 2;
                    op.end = (op.kind != "info").then_some(op.start + 1);
                }
                Some(op)
            })
            .collect();
        Some(Failure {
            key: raw[0].get("key").cloned(),
            ops,
            linearized: Vec::new(),
            positions: Vec::new(),
            linearized_count: 0,
            fixed_by: None,
            states: Vec::new(),
            failing: None,
            concurrent: Vec::new(),
            writer: None,
            witness: Some(w.get("pattern").map(id_text).unwrap_or_else(|| "witness".into())),
        })
    }

    pub fn role(&self, id: &str) -> Role {
        if self.witness.is_some() {
            return Role::Involved;
        }
        if self.failing.as_deref() == Some(id) {
            return Role::Failing;
        }
        if self.writer.as_ref().is_some_and(|w| w.id == id) {
            return Role::Writer;
        }
        if let Some(i) = self.linearized.iter().position(|x| x == id) {
            return Role::Linearized(self.positions.get(i).copied().unwrap_or(i + 1));
        }
        if self.concurrent.iter().any(|x| x == id) {
            return Role::Concurrent;
        }
        Role::Other
    }

    pub fn op(&self, id: &str) -> Option<&FailureOp> {
        self.ops.iter().find(|o| o.id == id)
    }

    /// The time span the window covers, for keeping nearby points in the plots.
    /// When the failing op ran (its start), if the failure names it.
    pub fn failing_time(&self) -> Option<u64> {
        let id = self.failing.as_deref()?;
        self.ops.iter().find(|o| o.id == id).map(|o| o.start)
    }

    /// History indices of the ops the argument names: the failing op, the op that fixed the
    /// state, the concurrent ones and the writer of the value read.
    pub fn named_indices(&self) -> Vec<u64> {
        let named = |o: &&FailureOp| {
            self.failing.as_deref() == Some(o.id.as_str())
                || self.fixed_by.as_deref() == Some(o.id.as_str())
                || self.concurrent.contains(&o.id)
        };
        self.ops.iter().filter(named).chain(&self.writer).filter_map(|o| o.index).collect()
    }

    pub fn span(&self) -> Option<(u64, u64)> {
        let a = self.ops.iter().map(|o| o.start).min()?;
        let b = self.ops.iter().map(|o| o.end.unwrap_or(o.start)).max()?;
        Some((a, b))
    }
}

impl FailureOp {
    /// One op of a failure object; `i` names it when it has no id.
    fn parse(o: &Value, i: usize) -> Option<FailureOp> {
        let o = o.as_object()?;
        Some(FailureOp {
            id: o.get("id").map(id_text).unwrap_or_else(|| i.to_string()),
            index: ns(o.get("index")),
            process: o.get("process").map(id_text).unwrap_or_else(|| "?".into()),
            f: o.get("f").map(id_text).unwrap_or_default(),
            value: o.get("value").cloned().unwrap_or(Value::Null),
            output: o.get("output").cloned().unwrap_or(Value::Null),
            kind: o.get("type").map(id_text).unwrap_or_else(|| "ok".into()),
            start: ns(o.get("start")).unwrap_or(0),
            end: ns(o.get("end")),
        })
    }
}

/// The time axis: linear over the window, with the writer (if long before it) on a short segment
/// at the left, past a break.
struct Axis {
    /// The window's first invocation (or the writer's, without a break).
    t0: u64,
    t1: u64,
    /// The writer's segment, when the axis breaks: its time range.
    before: Option<(u64, u64)>,
}

/// Share of the plot width the writer's segment and the break take.
const BEFORE_W: f64 = 0.12;
const BREAK_W: f64 = 0.05;

impl Axis {
    fn new(f: &Failure) -> Axis {
        let window_t0 = f.ops.iter().map(|o| o.start).min();
        let t_last = f.ops.iter().chain(&f.writer).map(|o| o.end.unwrap_or(o.start)).max().unwrap_or(0);
        let mut t0 = window_t0.unwrap_or(t_last);
        let mut before = None;
        if let Some(w) = &f.writer {
            let w_end = w.end.unwrap_or(w.start);
            // Break the axis when the gap would take more than a quarter of a linear one.
            if window_t0.is_some() && w_end < t0 && (t0 - w.start) * 3 > t_last.saturating_sub(t0) * 4 + 3 {
                before = Some((w.start, w_end.max(w.start + 1)));
            } else {
                t0 = t0.min(w.start);
            }
        }
        let t_last = t_last.max(t0 + 1);
        // Leave room on the right for open (info) ops.
        Axis { t0, t1: t_last + (t_last - t0) / 12 + 1, before }
    }

    fn x(&self, t: u64) -> f64 {
        let plot_w = WIDTH - LEFT - RIGHT;
        match self.before {
            Some((a, b)) if t < self.t0 => LEFT + (t.clamp(a, b) - a) as f64 / (b - a) as f64 * plot_w * BEFORE_W,
            Some(_) => {
                let left = LEFT + plot_w * (BEFORE_W + BREAK_W);
                left + (t - self.t0) as f64 / (self.t1 - self.t0) as f64 * (WIDTH - RIGHT - left)
            }
            None => LEFT + t.saturating_sub(self.t0) as f64 / (self.t1 - self.t0) as f64 * plot_w,
        }
    }
}

/// "read nil → 3", the op as one would say it.
pub fn op_text(o: &FailureOp, max: usize) -> String {
    let mut s = format!("{} {}", o.f, style::value_text(&o.value, max));
    if !o.output.is_null() && o.output != o.value {
        let _ = write!(s, " → {}", style::value_text(&o.output, max));
    }
    s
}

/// The SVG: lanes, bars, a time axis and a legend.
pub fn draw(f: &Failure) -> String {
    let mut lanes: BTreeMap<(u8, u64, String), Vec<&FailureOp>> = BTreeMap::new();
    for o in f.ops.iter().chain(&f.writer) {
        // Numeric processes in numeric order, then any others by name.
        let key = match o.process.parse::<u64>() {
            Ok(n) => (0, n, String::new()),
            Err(_) => (1, 0, o.process.clone()),
        };
        lanes.entry(key).or_default().push(o);
    }
    let axis = Axis::new(f);
    let (t0, t1) = (axis.t0, axis.t1);
    let x = |t: u64| axis.x(t);
    let height = TOP + lanes.len().max(1) as f64 * LANE + AXIS;
    let mut s = String::with_capacity(2048 + f.ops.len() * 400);
    let _ = write!(
        s,
        r#"<svg class="linear" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="system-ui, sans-serif" font-size="12">"#
    );
    s.push_str(r##"<defs><linearGradient id="open" x1="0" x2="1"><stop offset="0.6" stop-color="#fff3d6"/><stop offset="1" stop-color="#fff3d6" stop-opacity="0"/></linearGradient></defs>"##);
    // Legend.
    let (fail, ok, info) = (style::hex(style::FAIL), style::hex(style::OK), style::hex(style::INFO));
    let (writer, grey) = (WRITER_STROKE.to_string(), "#999999".to_string());
    let witness_label = f.witness.as_ref().map(|p| format!("the operations of the {p} witness"));
    let legend: Vec<(&str, &String, &str)> = match &witness_label {
        Some(label) => vec![("#fde0dd", &fail, label.as_str())],
        None => vec![
            ("#d9f2e3", &ok, "linearizable prefix (#n: place in it)"),
            ("#fde0dd", &fail, "cannot be linearized next"),
            ("#fff3d6", &info, "concurrent with it"),
            ("#dbe9f8", &writer, "wrote the value read"),
            ("#eeeeee", &grey, "other ops of the key"),
        ],
    };
    let mut lx = LEFT;
    for (fill, stroke, label) in legend {
        let _ = write!(
            s,
            r#"<rect x="{lx}" y="8" width="14" height="12" fill="{fill}" stroke="{stroke}"/><text x="{}" y="18">{}</text>"#,
            lx + 19.0,
            esc(label)
        );
        lx += 26.0 + label.len() as f64 * 6.6;
    }
    for (lane, ((_, _, _), ops)) in lanes.iter().enumerate() {
        let y = TOP + lane as f64 * LANE;
        let name = &ops[0].process;
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#e5e5e5"/><text x="{}" y="{}" text-anchor="end">process {}</text>"##,
            y + LANE / 2.0,
            WIDTH - RIGHT,
            y + LANE / 2.0,
            LEFT - 10.0,
            y + LANE / 2.0 + 4.0,
            esc(&style::truncate(name, 10))
        );
        for o in ops {
            bar(&mut s, f, o, y + (LANE - BAR) / 2.0, &x, t1);
        }
    }
    // Time axis, in ms since the window's first invocation.
    let ay = TOP + lanes.len().max(1) as f64 * LANE + 6.0;
    let _ = write!(s, r##"<line x1="{LEFT}" y1="{ay}" x2="{}" y2="{ay}" stroke="#888"/>"##, WIDTH - RIGHT);
    if let Some((a, _)) = axis.before {
        // The break: a white gap across the lanes and the axis, marked with two slashes, and how
        // long it is; the writer's start is labelled relative to the window.
        let (bx0, bx1) = (x(t0 - 1) + 4.0, x(t0) - 4.0);
        let _ = write!(
            s,
            r##"<rect x="{bx0:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="#fff"/><path d="M{:.1} {:.1} l6 -10 M{:.1} {:.1} l6 -10" stroke="#555" stroke-width="1.5"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#444">{}</text><text x="{LEFT}" y="{:.1}" text-anchor="middle" fill="#444">−{}</text>"##,
            bx1 - bx0,
            ay - TOP,
            bx0 + 2.0,
            ay + 5.0,
            bx1 - 8.0,
            ay + 5.0,
            (bx0 + bx1) / 2.0,
            ay + 32.0,
            esc(&format!("{} gap", style::duration(t0 - a))),
            ay + 32.0,
            esc(&style::duration(t0 - a))
        );
    }
    for i in 0..=8u64 {
        let t = t0 + (t1 - t0) * i / 8;
        let _ = write!(
            s,
            r##"<line x1="{0}" y1="{ay}" x2="{0}" y2="{1}" stroke="#888"/><text x="{0}" y="{2}" text-anchor="middle" fill="#444">{3}</text>"##,
            x(t),
            ay + 5.0,
            ay + 18.0,
            esc(&style::duration(t - t0))
        );
    }
    let _ = write!(
        s,
        r##"<text x="{}" y="{}" text-anchor="end" fill="#444">time since the window's first invocation</text>"##,
        WIDTH - RIGHT,
        ay + 32.0
    );
    s.push_str("</svg>");
    s
}

fn bar(s: &mut String, f: &Failure, o: &FailureOp, y: f64, x: &dyn Fn(u64) -> f64, t1: u64) {
    let role = f.role(&o.id);
    let open = o.end.is_none() || o.kind == "info";
    let (fill, stroke, width) = match role {
        Role::Linearized(_) => ("#d9f2e3".to_string(), style::hex(style::OK), 1.5),
        Role::Failing => ("#fde0dd".to_string(), style::hex(style::FAIL), 3.0),
        Role::Concurrent => ("#fff3d6".to_string(), style::hex(style::INFO), 1.5),
        Role::Writer => ("#dbe9f8".to_string(), WRITER_STROKE.to_string(), 2.0),
        Role::Involved => ("#fde0dd".to_string(), style::hex(style::FAIL), 2.0),
        Role::Other => ("#eeeeee".to_string(), "#999999".to_string(), 1.0),
    };
    let fill = if open && role != Role::Failing { "url(#open)".to_string() } else { fill };
    let x0 = x(o.start);
    let x1 = if open { x(t1) } else { x(o.end.unwrap_or(o.start)) };
    let w = (x1 - x0).max(3.0);
    let dash = if open { r#" stroke-dasharray="5 3""# } else { "" };
    let prefix = match role {
        Role::Linearized(n) => format!("#{n} "),
        Role::Failing => "✗ ".into(),
        _ => String::new(),
    };
    let label = format!("{prefix}{}", op_text(o, 40));
    let fits = ((w - 8.0) / 6.8).max(0.0) as usize;
    let duration = match o.end {
        Some(e) => style::duration(e.saturating_sub(o.start)),
        None => "never completed".into(),
    };
    let title = format!(
        "op {} · process {} · {} ({}) · {}{}",
        o.id,
        o.process,
        op_text(o, 400),
        o.kind,
        duration,
        match role {
            Role::Linearized(n) => format!(" · linearized #{n}"),
            Role::Failing => " · cannot be linearized next".into(),
            Role::Concurrent => " · concurrent with the failing op".into(),
            Role::Writer => " · wrote the value the failing read returned".into(),
            Role::Involved => format!(" · in the {} witness", f.witness.as_deref().unwrap_or_default()),
            Role::Other => String::new(),
        }
    );
    let _ = write!(
        s,
        r#"<g><title>{}</title><rect x="{x0:.1}" y="{y:.1}" width="{w:.1}" height="{BAR}" rx="3" fill="{fill}" stroke="{stroke}" stroke-width="{width}"{dash}/>"#,
        esc(&title)
    );
    let full = label.chars().count();
    if role == Role::Failing && fits < full.min(24) {
        // The failing op's label must be readable: beside its bar, on a white ground, on the side
        // with room.
        let text_w = full.min(48) as f64 * 6.8 + 8.0;
        let tx = if x0 + w + text_w < WIDTH - RIGHT { x0 + w + 4.0 } else { (x0 - text_w).max(LEFT) };
        let _ = write!(
            s,
            r##"<rect x="{tx:.1}" y="{y:.1}" width="{text_w:.1}" height="{BAR}" rx="3" fill="#fff" stroke="{stroke}" stroke-width="1" opacity="0.95"/><text x="{:.1}" y="{:.1}" fill="#222" font-weight="600">{}</text>"##,
            tx + 4.0,
            y + BAR / 2.0 + 4.0,
            esc(&style::truncate(&label, 48))
        );
    } else if fits >= 3 {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" fill="#222">{}</text>"##,
            x0 + 4.0,
            y + BAR / 2.0 + 4.0,
            esc(&style::truncate(&label, fits))
        );
    }
    s.push_str("</g>");
}

/// Sentences that explain the failure in words. Every op they name is drawn (the checker's
/// cross-check sees to it), so each claim can be checked against the picture.
pub fn explain(f: &Failure) -> Vec<String> {
    let mut out = Vec::new();
    let key = match &f.key {
        Some(k) if !k.is_null() => format!("key {}", style::value_text(k, 80)),
        _ => "the history".into(),
    };
    let by_id: HashMap<&str, &FailureOp> = f.ops.iter().map(|o| (o.id.as_str(), o)).collect();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let named = |id: &str| match by_id.get(id) {
        Some(o) => format!("op {id} (process {}: {})", o.process, op_text(o, 60)),
        None => format!("op {id}"),
    };
    let count = f.linearized_count;
    let drawn = match (f.linearized.len(), f.positions.first(), f.positions.last()) {
        (0, ..) => "none of them is in the picture".to_string(),
        (n, Some(a), Some(b)) if n == count => format!("all {n} are drawn in green, numbered #{a} to #{b}"),
        (n, Some(a), Some(b)) => {
            format!("the {n} in the picture are drawn in green, numbered by their place in it (#{a} to #{b})")
        }
        (n, ..) => format!("the {n} in the picture are drawn in green, numbered in order"),
    };
    out.push(format!(
        "On {key}, the longest prefix of the history that could be linearized holds {count} op{}; {drawn}.",
        plural(count)
    ));
    let states = f.states.iter().map(|s| style::truncate(s, 80)).collect::<Vec<_>>().join(" or ");
    match (&f.fixed_by, f.states.len()) {
        (_, 0) => {}
        (Some(id), 1) => out.push(format!(
            "It leaves the model at {states}: {} set it, the last op of the prefix to change the state{}.",
            named(id),
            match f.role(id) {
                Role::Linearized(n) => format!(" (#{n})"),
                _ => String::new(),
            }
        )),
        (Some(id), n) => out.push(format!(
            "Depending on the order of its ops that overlap, it leaves the model at any of {n} states ({states}); in the order drawn, {} set the state last.",
            named(id)
        )),
        (None, _) => out.push(format!(
            "It leaves the model in its initial state, {states}: no op of the prefix changed it."
        )),
    }
    if let Some(id) = &f.failing {
        let concurrent = match f.concurrent.len() {
            0 => "; no op outside the prefix overlaps it, so nothing could come between".to_string(),
            n => format!(
                "; {n} op{} outside the prefix overlap{} it, in amber: {}{}, and the search found that linearizing {} first does not help either",
                plural(n),
                if n == 1 { "s" } else { "" },
                f.concurrent.iter().take(5).map(|id| named(id)).collect::<Vec<_>>().join(", "),
                if n > 5 { format!(" and {} more", n - 5) } else { String::new() },
                if n == 1 { "it" } else { "them" }
            ),
        };
        match by_id.get(id.as_str()) {
            Some(o) => out.push(format!(
                "Op {id} (process {}: {}, {}) cannot be linearized next from {}{concurrent}.",
                o.process,
                op_text(o, 80),
                o.kind,
                if f.states.len() == 1 { "that state" } else { "any of those states" }
            )),
            None => out.push(format!("Op {id} cannot be linearized next.")),
        }
    }
    if let (Some(w), Some(first)) = (&f.writer, f.ops.iter().map(|o| o.start).min()) {
        let when = if w.start < first {
            format!("{} before the window's first op", style::duration(first - w.start))
        } else {
            "in the window's time span".into()
        };
        out.push(format!(
            "The value read was written by process {} (op {}: {}, {}), {when}; it is drawn in blue{}.",
            w.process,
            w.id,
            op_text(w, 80),
            w.kind,
            if w.start < first { " at the left of the break" } else { "" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failure() -> Value {
        json!({
            "key": "<b>k</b>",
            "ops": [
                {"id": 0, "index": 0, "process": 0, "f": "write", "value": 1, "output": null, "type": "ok", "start": 0, "end": 1000},
                {"id": 1, "index": 2, "process": 1, "f": "read", "value": null, "output": "<script>alert(1)</script>", "type": "ok", "start": 1500, "end": 3000},
                {"id": 2, "index": 3, "process": 2, "f": "write", "value": 2, "output": null, "type": "info", "start": 1200, "end": null}
            ],
            "linearized": [0], "states": ["1"], "failing": 1, "concurrent": [2]
        })
    }

    #[test]
    fn draws_roles_and_escapes_values() {
        let f = Failure::parse(&failure()).unwrap();
        assert_eq!(f.role("0"), Role::Linearized(1));
        assert_eq!(f.role("1"), Role::Failing);
        assert_eq!(f.role("2"), Role::Concurrent);
        let svg = draw(&f);
        assert!(!svg.contains("<script>"), "raw value leaked into the SVG");
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(svg.contains("stroke-dasharray"), "the info op must be drawn open");
        assert_eq!(svg.matches("<title>").count(), 3);
        assert!(explain(&f)[2].contains("Op 1 (process 1: read nil → <script>"), "{:?}", explain(&f));
    }

    #[test]
    fn tolerates_partial_objects() {
        let f = Failure::parse(&json!({"ops": [{"f": "read"}], "failing": null})).unwrap();
        assert!(draw(&f).ends_with("</svg>"));
        assert!(Failure::parse(&json!("nope")).is_none());
        assert!(draw(&Failure::parse(&json!({})).unwrap()).contains("<svg"));
    }

    #[test]
    fn a_stale_reads_writer_long_before_the_window_is_drawn_past_a_break() {
        let mut v = failure();
        v["writer"] = json!({"id": 9, "process": 3, "f": "write", "value": "<script>alert(1)</script>", "output": null, "type": "ok", "start": 10, "end": 20});
        for o in v["ops"].as_array_mut().unwrap() {
            for t in ["start", "end"] {
                if let Some(n) = o[t].as_u64() {
                    o[t] = json!(n + 1_000_000_000);
                }
            }
        }
        // The first write takes 1 ms, so the failing read (1.5 us) is a sliver of the axis.
        v["ops"][0]["start"] = json!(1_000_000_000u64 - 1_000_000);
        let f = Failure::parse(&v).unwrap();
        assert_eq!(f.role("9"), Role::Writer);
        let svg = draw(&f);
        assert!(svg.contains("wrote the value read") && svg.contains(" gap<"), "{svg}");
        assert_eq!(svg.matches("<title>").count(), 4, "the writer has its own bar");
        let words = explain(&f).join(" ");
        assert!(words.contains("written by process 3 (op 9") && words.contains("before the window"), "{words}");
        // The failing read's bar is short: its label is beside it, whole.
        assert!(svg.contains("font-weight=\"600\">✗ read nil → &lt;script&gt;"), "{svg}");
    }

    /// The etcd stale read of the reports issue: the prefix of 63 ops ends with write 4 and the
    /// write 0 that left the register at 0; the words name that write and number both by their
    /// place in the whole prefix, and nothing is called concurrent that is drawn as linearized.
    #[test]
    fn the_words_name_the_op_that_fixed_the_state_and_the_whole_prefix() {
        let v = json!({
            "key": 2,
            "ops": [
                {"id": 61, "process": 4, "f": "write", "value": 0, "output": 0, "type": "ok", "start": 5054788888u64, "end": 5064625207u64},
                {"id": 62, "process": 5, "f": "write", "value": 4, "output": 4, "type": "ok", "start": 5060712098u64, "end": 5067560317u64},
                {"id": 63, "process": 6, "f": "read", "value": null, "output": 2, "type": "ok", "start": 5064645669u64, "end": 5065916761u64}
            ],
            "linearized": [62, 61], "positions": [62, 63], "linearized_count": 63, "states": ["0"],
            "failing": 63, "concurrent": [], "fixed_by": 61
        });
        let f = Failure::parse(&v).unwrap();
        assert_eq!(f.role("61"), Role::Linearized(63));
        assert_eq!(f.role("62"), Role::Linearized(62));
        let words = explain(&f).join(" ");
        assert!(words.contains("holds 63 ops"), "{words}");
        assert!(words.contains("It leaves the model at 0: op 61 (process 4: write 0) set it"), "{words}");
        assert!(words.contains("#63"), "{words}");
        assert!(words.contains("no op outside the prefix overlaps it"), "{words}");
        assert!(!words.contains("amber"), "{words}");
        let svg = draw(&f);
        assert!(svg.contains(">#63 write 0<") && svg.contains(">#62 write 4<"), "{svg}");
    }
}
