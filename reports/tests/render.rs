//! A stored run renders into a self-contained page that shows every value as text.

mod fixture;

use fixture::XSS;

fn render_fixture() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let store = tempfile::tempdir().unwrap();
    let run = store.path().join("etcd-register").join("20240101T000000Z");
    fixture::write_run(&run);
    let page = faultline_reports::write_run_report(&run).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    (store, run, html)
}

#[test]
fn hostile_values_are_shown_as_text() {
    let (_store, _run, html) = render_fixture();
    assert_eq!(html.matches("<script").count(), 1, "only our own loader script may appear");
    assert!(!html.contains(XSS), "a raw <script> from the data reached the page");
    assert!(!html.contains("<b>partition</b>"), "a fault name was not escaped (SVG labels or table)");
    assert!(!html.contains("<svg onload"), "an attribute value broke out of its quotes");
    assert!(html.contains("svg onload"), "the node name must be shown (as text)");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;")
            || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
    );
    // Escaped inside the linearizability SVG's text and titles as well.
    let svg_start = html.find("<svg class=\"linear\"").expect("the linearizability picture is drawn");
    let svg = &html[svg_start..svg_start + html[svg_start..].find("</svg>").unwrap()];
    assert!(svg.contains("&lt;script&gt;"), "the failing read's output must be in the picture");
    // The fault window label inside the plotters SVG.
    assert!(html.contains("&lt;b&gt;partition&lt;/b&gt;") || html.contains("&lt;b&gt;partition&lt;&#x2F;b&gt;"));
}

#[test]
fn page_is_self_contained_and_complete() {
    let (_store, _run, html) = render_fixture();
    for forbidden in ["<link", " src=", "@import", "url(http", "https://", "<iframe"] {
        assert!(!html.contains(forbidden), "page references something external: {forbidden}");
    }
    // Only the SVG namespace may mention http.
    assert_eq!(html.matches("http://").count(), html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count());
    assert!(html.matches("<svg").count() >= 4, "latency, quantiles, throughput and the linearizability picture");
    for section in [
        "INVALID",
        "id=\"verdict\"",
        "v-invalid",
        "cannot be linearized",
        "faultline test --seed 42",
        "time since start (s)",
        "latency (ms, log scale)",
        "throughput (ops/s)",
        "Lost (acknowledged, then missing)",
        "What each node holds",
        "availability&gt;=0.99",
        "61.0 %",
        "12.0 ms",
        "p0",
        "p4",
    ] {
        assert!(html.contains(section), "missing from the page: {section}");
    }
    for link in ["../history.jsonl", "../history.edn", "../results.json", "../nodes/n1/db.log"] {
        assert!(
            html.contains(&format!("href=\"{link}\""))
                || html.contains(&format!("href=\"{}\"", link.replace('/', "&#x2F;"))),
            "no link to {link}"
        );
    }
}

#[test]
fn store_index_lists_runs_with_verdicts() {
    let (store, run, _html) = render_fixture();
    // A second run without a report or results, and a junk directory.
    let bare = store.path().join("redis-set").join("20240202T000000Z");
    std::fs::create_dir_all(&bare).unwrap();
    std::fs::write(bare.join("test.json"), r#"{"name": "redis-set", "db": "redis"}"#).unwrap();
    std::fs::create_dir_all(store.path().join("junk/empty")).unwrap();
    let index = faultline_reports::render_store_index(store.path()).unwrap();
    let html = std::fs::read_to_string(index).unwrap();
    assert!(!html.contains(XSS));
    assert!(html.contains("v-invalid") && html.contains("v-unknown"));
    assert!(
        html.contains("etcd-register&#x2F;20240101T000000Z&#x2F;report&#x2F;index.html")
            || html.contains("etcd-register/20240101T000000Z/report/index.html")
    );
    assert!(html.contains("no report"));
    assert!(html.contains(">400<"), "op count from the report summary");
    // Newest first.
    assert!(html.find("redis-set").unwrap() < html.find("etcd").unwrap());
    let _ = run;
}

#[test]
fn a_checked_history_without_config_renders() {
    let dir = tempfile::tempdir().unwrap();
    let h = r#"{"index":0,"time":0,"type":"invoke","process":0,"f":"read","value":null}
{"index":1,"time":5000,"type":"ok","process":0,"f":"read","value":3}
"#;
    let (ops, _) = faultline_reports::load::parse_history_jsonl(h, "h").unwrap();
    let out = faultline_reports::write_history_report(dir.path(), "c01.edn", ops, None, vec![]).unwrap();
    let html = std::fs::read_to_string(out).unwrap();
    assert!(html.contains("not been checked"));
    assert!(!html.contains("id=\"config\""));
    // An empty history still renders.
    let out = faultline_reports::write_history_report(
        dir.path(),
        "empty",
        vec![],
        Some(serde_json::json!({"verdict": "valid"})),
        vec![],
    )
    .unwrap();
    assert!(std::fs::read_to_string(out).unwrap().contains("v-valid"));
}

#[test]
fn missing_or_broken_inputs_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = faultline_reports::write_run_report(&dir.path().join("nope")).unwrap_err();
    assert!(format!("{err:#}").contains("does not exist"));
    std::fs::write(dir.path().join("results.json"), "{oops").unwrap();
    let err = faultline_reports::write_run_report(dir.path()).unwrap_err();
    assert!(format!("{err:#}").contains("results.json is not valid JSON"), "{err:#}");
}
