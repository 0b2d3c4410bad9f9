//! `faultline check --models ladder`: the table, `--json` carrying `checkers.ladder`, the exit
//! code staying the linearizable rung's, the default output unchanged without `--models`, and
//! the report drawing each broken rung's witness on process lanes.

use std::process::Command;

/// Each process writes, then reads the other's write: linearizability and sequential
/// consistency break, causal memory holds, causal convergence breaks (CyclicCF).
const HISTORY: &str = r#"{"index":0,"time":0,"type":"invoke","process":0,"f":"write","value":1}
{"index":1,"time":1,"type":"ok","process":0,"f":"write","value":1}
{"index":2,"time":2,"type":"invoke","process":1,"f":"write","value":2}
{"index":3,"time":3,"type":"ok","process":1,"f":"write","value":2}
{"index":4,"time":4,"type":"invoke","process":0,"f":"read","value":null}
{"index":5,"time":5,"type":"ok","process":0,"f":"read","value":2}
{"index":6,"time":6,"type":"invoke","process":1,"f":"read","value":null}
{"index":7,"time":7,"type":"ok","process":1,"f":"read","value":1}
"#;

fn run(args: &[&str]) -> (i32, String) {
    run_in(&tempfile::tempdir().unwrap(), args)
}

fn run_in(dir: &tempfile::TempDir, args: &[&str]) -> (i32, String) {
    let file = dir.path().join("h.jsonl");
    std::fs::write(&file, HISTORY).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline")).arg("check").args(args).arg(&file).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_ladder_table_and_json() {
    let (code, text) = run(&["--models", "ladder"]);
    assert_eq!(code, 1, "the exit code is the linearizable rung's: {text}");
    for row in ["linearizable", "sequential", "causal-memory", "causal-convergence", "monotonic-reads", "convergence"] {
        assert!(text.contains(&format!("         {row} ")), "no row {row}: {text}");
    }
    assert!(text.contains("strongest model that holds: causal-memory"), "{text}");
    assert!(text.contains("CyclicCF"), "{text}");

    let (code, json) = run(&["--models", "ladder", "--json"]);
    assert_eq!(code, 1);
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    let ladder = &first["checkers"]["ladder"];
    assert_eq!(ladder["strongest"], serde_json::json!(["causal-memory"]));
    let rungs = ladder["rungs"].as_array().unwrap();
    let ccv = rungs.iter().find(|r| r["model"] == "causal-convergence").unwrap();
    assert_eq!(ccv["status"], "broken");
    assert_eq!(ccv["witness"]["pattern"], "CyclicCF");
    assert_eq!(ccv["witness"]["ops"].as_array().unwrap().len(), 4);
    assert_eq!(first["checkers"]["linearizable"]["verdict"], "invalid");
}

#[test]
fn without_models_the_output_is_unchanged() {
    let (code, text) = run(&[]);
    assert_eq!(code, 1);
    assert!(!text.contains("strongest model"), "{text}");
    let (_, json) = run(&["--json"]);
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert!(first["checkers"].get("ladder").is_none());
}

#[test]
fn the_report_draws_each_broken_rungs_witness_on_process_lanes() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let (code, text) = run_in(&dir, &["--models", "ladder", "--report", report.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    let html = std::fs::read_to_string(report.join("h.jsonl").join("index.html")).unwrap();
    // The ladder's table heads the checker section, before the linearizable checker's.
    let table = html.find("Consistency ladder (strongest first)").expect("the ladder table");
    assert!(table < html.find(r#"id="checker-linearizable""#).unwrap());
    // Sequential consistency and causal convergence break with the CyclicCF witness: its four
    // operations, each on its process's lane, in one picture per rung.
    for rung in ["sequential", "causal-convergence"] {
        let title = format!("<h4>{rung}: CyclicCF</h4>");
        let at = html.find(&title).unwrap_or_else(|| panic!("no picture for {rung}"));
        let svg_start = at + html[at..].find("<svg").unwrap();
        let svg = &html[svg_start..svg_start + html[svg_start..].find("</svg>").unwrap()];
        assert!(svg.contains("the operations of the CyclicCF witness"), "{svg}");
        for lane in ["process 0", "process 1"] {
            assert!(svg.contains(lane), "{rung}: no lane {lane}");
        }
        for op in ["write 1", "write 2", "read nil → 2", "read nil → 1"] {
            assert!(svg.contains(op), "{rung}: {op} not drawn");
        }
    }
    // Rungs that hold have no picture, and the linearizable failure keeps its own.
    assert!(!html.contains("<h4>causal-memory:"));
    assert!(!html.contains("<h4>linearizable:"));
    assert!(html.contains("cannot be linearized next"));
}
