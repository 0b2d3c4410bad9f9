//! Shared look and text helpers: the outcome colours, marker shapes, escaping for markup we
//! build ourselves (SVG), and short human formats for times and values.
//!
//! The same three colours mean the same thing everywhere (plots, timeline, legends, CSS):
//! green = ok, red = fail, amber = info (indeterminate). Verdicts reuse them.

use crate::ops::Outcome;
use plotters::style::RGBColor;

pub const OK: RGBColor = RGBColor(0x1a, 0x98, 0x50);
pub const FAIL: RGBColor = RGBColor(0xd7, 0x30, 0x27);
pub const INFO: RGBColor = RGBColor(0xe6, 0x8a, 0x00);
/// Fault window shading and labels.
pub const FAULT: RGBColor = RGBColor(0x6a, 0x3d, 0x9a);
/// Anomaly markers on the charts.
pub const ANOMALY: RGBColor = RGBColor(0xb0, 0x00, 0x20);

pub fn outcome_color(o: Outcome) -> RGBColor {
    match o {
        Outcome::Ok => OK,
        Outcome::Fail => FAIL,
        Outcome::Info | Outcome::Pending => INFO,
    }
}

pub fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Marker shapes, assigned to functions (f) in order of frequency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    Circle,
    Triangle,
    Square,
    Cross,
}

pub const SHAPES: [Shape; 4] = [Shape::Circle, Shape::Triangle, Shape::Square, Shape::Cross];

/// A tiny inline SVG of a marker, for legends (markup only from constants).
pub fn shape_icon(shape: Shape, color: &str) -> String {
    let body = match shape {
        Shape::Circle => format!(r#"<circle cx="6" cy="6" r="4" fill="{color}"/>"#),
        Shape::Triangle => format!(r#"<polygon points="6,1 11,11 1,11" fill="{color}"/>"#),
        Shape::Square => format!(r#"<rect x="2" y="2" width="8" height="8" fill="{color}"/>"#),
        Shape::Cross => format!(r#"<path d="M2 2L10 10M10 2L2 10" stroke="{color}" stroke-width="2"/>"#),
    };
    format!(r#"<svg width="12" height="12" viewBox="0 0 12 12" aria-hidden="true">{body}</svg>"#)
}

/// Escape text for XML/HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Seconds with a precision that suits the magnitude: "0.0042 s", "12.3 s".
pub fn secs(ns: u64) -> String {
    let s = ns as f64 / 1e9;
    if s == 0.0 {
        "0 s".into()
    } else if s < 0.01 {
        format!("{s:.4} s")
    } else if s < 100.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.0} s")
    }
}

/// A duration in the unit that reads best: "850 µs", "12.5 ms", "3.20 s".
pub fn duration(ns: u64) -> String {
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.0} µs", ns as f64 / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{:.2} s", ns as f64 / 1e9)
    }
}

/// A JSON value as compact text, cut to `max` characters (with an ellipsis).
pub fn value_text(v: &serde_json::Value, max: usize) -> String {
    let s = match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "nil".into(),
        v => v.to_string(),
    };
    truncate(&s, max)
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A percentage with one decimal, or an em dash when unknown.
pub fn percent(x: Option<f64>) -> String {
    match x {
        Some(x) if x.is_finite() => format!("{:.1} %", x * 100.0),
        _ => "—".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(esc(r#"<script>"a"&'b'</script>"#), "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;");
    }

    #[test]
    fn formats_durations_by_magnitude() {
        assert_eq!(duration(500), "500 ns");
        assert_eq!(duration(12_500_000), "12.5 ms");
        assert_eq!(duration(3_200_000_000), "3.20 s");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }
}
