//! The picture of a transactional anomaly's cycle, as Elle draws them: the transactions on a
//! circle, each with its micro-ops, and one arrow per dependency from each to the next — ww
//! (write-write), wr (write-read), rw (read-write, the anti-dependency that write skew needs),
//! process and realtime orders — labelled with the key it is about. Following the arrows around
//! brings one back to the first transaction: it would have to precede itself.
//!
//! Input is one anomaly instance from the transactional checker (`cycle`: the transactions, the
//! first repeated at the end; `steps`: one per arrow). All text is escaped with `style::esc`.

use crate::style::{self, esc};
use serde_json::Value;
use std::fmt::Write;

const W: f64 = 620.0;
const H: f64 = 430.0;
const BOX_W: f64 = 190.0;
const BOX_H: f64 = 44.0;
/// Cycles longer than this are told in words only: a picture of twenty boxes explains nothing.
pub const MAX_DRAWN: usize = 10;

/// An arrow's colour and dash by dependency type.
fn edge_style(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "ww" => ("#6a3d9a", ""),
        "wr" => ("#1a9850", ""),
        "rw" => ("#d73027", ""),
        _ => ("#777777", " stroke-dasharray=\"6 4\""),
    }
}

/// "append x 1, r y [1 2]": a transaction's micro-ops, short.
fn mops_text(txn: &Value) -> String {
    let mops = txn.get("value").and_then(Value::as_array).cloned().unwrap_or_default();
    let words: Vec<String> = mops
        .iter()
        .map(|m| match m.as_array() {
            Some(parts) => parts.iter().map(|p| style::value_text(p, 24)).collect::<Vec<_>>().join(" "),
            None => style::value_text(m, 24),
        })
        .collect();
    words.join(", ")
}

/// The SVG for one anomaly instance, or `None` when it is not a drawable cycle.
pub fn draw(kind: &str, anomaly: &Value) -> Option<String> {
    let txns = anomaly.get("cycle")?.as_array()?;
    let steps = anomaly.get("steps")?.as_array()?;
    let n = steps.len();
    if !(1..=MAX_DRAWN).contains(&n) || txns.len() < n {
        return None;
    }
    let (cx, cy) = (W / 2.0, H / 2.0 + 12.0);
    let (rx, ry) = (W / 2.0 - BOX_W / 2.0 - 12.0, H / 2.0 - BOX_H / 2.0 - 26.0);
    // The first transaction at the top, the others clockwise.
    let at = |i: usize| {
        let a = -std::f64::consts::FRAC_PI_2 + i as f64 * std::f64::consts::TAU / n as f64;
        (cx + rx * a.cos(), cy + ry * a.sin())
    };
    let mut s = String::with_capacity(4096);
    let _ = write!(
        s,
        r##"<svg class="cycle" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="system-ui, sans-serif" font-size="12"><defs>"##
    );
    for k in ["ww", "wr", "rw", "other"] {
        let (color, _) = edge_style(k);
        let _ = write!(
            s,
            r##"<marker id="arrow-{k}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="{color}"/></marker>"##
        );
    }
    s.push_str("</defs>");
    let _ = write!(
        s,
        r##"<text x="10" y="18" font-weight="600">{}</text>"##,
        esc(&format!("{kind}: a cycle of {n} transaction{}", if n == 1 { "" } else { "s" }))
    );
    // Arrows first, under the boxes: from box i's edge to box i+1's, bowed outwards a little so
    // that a two-transaction cycle shows two arrows, not one line.
    for (i, step) in steps.iter().enumerate() {
        let kind = step.get("type").and_then(Value::as_str).unwrap_or("?");
        let (color, dash) = edge_style(kind);
        let marker = if matches!(kind, "ww" | "wr" | "rw") { kind } else { "other" };
        let ((x0, y0), (x1, y1)) = (at(i), at((i + 1) % n));
        let (x1, y1) = if n == 1 { (x0 + 1.0, y0 - 60.0) } else { (x1, y1) };
        let (dx, dy) = (x1 - x0, y1 - y0);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        // Leave the boxes: shorten by their half-diagonal along the line.
        let cut = |ux: f64, uy: f64| (BOX_W / 2.0 * ux.abs() + BOX_H / 2.0 * uy.abs()).min(len / 2.5);
        let (ux, uy) = (dx / len, dy / len);
        let c = cut(ux, uy);
        let (ax, ay, bx, by) = (x0 + ux * c, y0 + uy * c, x1 - ux * c, y1 - uy * c);
        // Control point: the midpoint pushed along the arrow's left-hand normal, which points out
        // of the circle for clockwise arrows and keeps the two arrows of a 2-cycle apart.
        let (mx, my) = ((ax + bx) / 2.0, (ay + by) / 2.0);
        let bow = if n <= 2 { 70.0 } else { 24.0 };
        let (qx, qy) = (mx + uy * bow, my - ux * bow);
        let key = step.get("key").map(|k| format!(" {}", style::value_text(k, 16))).unwrap_or_default();
        let _ = write!(
            s,
            r##"<path d="M{ax:.1} {ay:.1} Q{qx:.1} {qy:.1} {bx:.1} {by:.1}" fill="none" stroke="{color}" stroke-width="2"{dash} marker-end="url(#arrow-{marker})"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{color}" font-weight="600" paint-order="stroke" stroke="#fff" stroke-width="4">{}</text>"##,
            (mx + qx) / 2.0,
            (my + qy) / 2.0 + 4.0,
            esc(&format!("{kind}{key}"))
        );
    }
    for (i, txn) in txns.iter().take(n).enumerate() {
        let (x, y) = at(i);
        let name = format!(
            "T{}{}",
            style::value_text(txn.get("index").unwrap_or(&Value::Null), 12),
            txn.get("process")
                .filter(|p| !p.is_null())
                .map(|p| format!(" · process {}", style::value_text(p, 8)))
                .unwrap_or_default()
        );
        let _ = write!(
            s,
            r##"<g><title>{}</title><rect x="{:.1}" y="{:.1}" width="{BOX_W}" height="{BOX_H}" rx="5" fill="#f7f7f7" stroke="#555"/><text x="{:.1}" y="{:.1}" font-weight="600">{}</text><text x="{:.1}" y="{:.1}" fill="#333">{}</text></g>"##,
            esc(&format!("{name}: {}", mops_text(txn))),
            x - BOX_W / 2.0,
            y - BOX_H / 2.0,
            x - BOX_W / 2.0 + 6.0,
            y - 4.0,
            esc(&name),
            x - BOX_W / 2.0 + 6.0,
            y + 14.0,
            esc(&style::truncate(&mops_text(txn), 28))
        );
    }
    s.push_str("</svg>");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn draws_a_g2_cycle_with_escaped_text_and_declines_long_ones() {
        let g2 = json!({
            "cycle": [
                {"index": 3, "process": 1, "type": "ok", "value": [["r", "<x>", [1]], ["append", "y", 2]]},
                {"index": 5, "process": 2, "type": "ok", "value": [["r", "y", []], ["append", "<x>", 4]]},
                {"index": 3, "process": 1, "type": "ok", "value": []}
            ],
            "steps": [{"type": "rw", "key": "y"}, {"type": "rw", "key": "<x>"}]
        });
        let svg = draw("G2-item", &g2).unwrap();
        assert_eq!(svg.matches("marker-end=").count(), 2, "one arrow per step");
        assert!(svg.contains("rw &lt;x&gt;") && !svg.contains("<x>"), "{svg}");
        assert!(svg.contains("T5 · process 2"));
        let long = json!({"cycle": vec![json!({"index": 1}); 13], "steps": vec![json!({"type": "ww"}); 12]});
        assert!(draw("G0", &long).is_none());
    }
}
