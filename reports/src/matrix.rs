//! The summary page of `faultline test-all`: a matrix of verdicts, one row per database and
//! workload, one column per fault set, each cell linking to its runs' reports and naming the
//! anomaly kinds found. Plain data in, HTML out.

use crate::render;
use anyhow::Context as _;
use serde::Serialize;

/// One run in a cell.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MatrixRun {
    /// "valid", "invalid", "unknown" or "error".
    pub verdict: String,
    /// The run's report, relative to the matrix page (empty when the run left none).
    pub href: String,
    /// The anomaly kinds found, comma-separated.
    pub kinds: String,
    /// Why there is no verdict (an error), or other words.
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MatrixRow {
    pub label: String,
    /// One cell per column: the runs of that combination.
    pub cells: Vec<Vec<MatrixRun>>,
}

/// What the page shows.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixView {
    pub store: String,
    pub started: String,
    pub columns: Vec<String>,
    pub rows: Vec<MatrixRow>,
    pub worst: String,
    pub runs: usize,
    /// Whether Ctrl-C stopped the matrix before every combination ran.
    pub stopped: bool,
}

/// The matrix page.
pub fn matrix_html(view: &MatrixView) -> anyhow::Result<String> {
    #[derive(Serialize)]
    struct Page<'a> {
        #[serde(flatten)]
        view: &'a MatrixView,
        css: &'static str,
    }
    let ctx = tera::Context::from_serialize(&Page { view, css: render::CSS })
        .map_err(|e| anyhow::anyhow!("matrix data: {e:?}"))?;
    render::tera()?
        .render("matrix.html", &ctx)
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .context("rendering the test matrix")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_link_their_runs_and_escape_text() {
        let run = |verdict: &str, kinds: &str| MatrixRun {
            verdict: verdict.into(),
            href: "../etcd-register-none/x/report/index.html".into(),
            kinds: kinds.into(),
            note: String::new(),
        };
        let view = MatrixView {
            store: "store".into(),
            started: "now".into(),
            columns: vec!["none".into(), "partition-one".into()],
            rows: vec![MatrixRow {
                label: "etcd · register".into(),
                cells: vec![vec![run("valid", "")], vec![run("invalid", "<G2-item>")]],
            }],
            worst: "invalid".into(),
            runs: 2,
            stopped: false,
        };
        let html = matrix_html(&view).unwrap();
        assert!(html.contains(r#"<a href="../etcd-register-none/x/report/index.html">invalid</a>"#), "{html}");
        assert!(html.contains("&lt;G2-item&gt;") && !html.contains("<G2-item>"));
        assert!(html.contains("<th>partition-one</th>"));
    }
}
