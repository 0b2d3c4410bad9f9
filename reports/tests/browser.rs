//! Open a rendered report in headless Chromium: the page loads (our inline script ran), its
//! plots are in the DOM, nothing from the data executed, and the screenshot is not blank.
//!
//! Skips (loudly) only when chromium is absent and FAULTLINE_REQUIRE_BROWSER is unset;
//! scripts/test sets it, so there a missing browser fails the test.

mod fixture;

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
    })
}

fn run_chromium(bin: &Path, profile: &Path, extra: &[&str], url: &str) -> std::process::Output {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ]);
    cmd.arg(format!("--user-data-dir={}", profile.display()));
    cmd.args(extra).arg(url);
    cmd.output().expect("chromium could not be started")
}

#[test]
fn report_opens_in_a_real_browser() {
    let Some(bin) = chromium() else {
        if std::env::var_os("FAULTLINE_REQUIRE_BROWSER").is_some() {
            panic!("chromium is not installed but FAULTLINE_REQUIRE_BROWSER is set (apt-get install -y chromium)");
        }
        eprintln!("\n!!!!! SKIPPING report_opens_in_a_real_browser: chromium is not installed (apt-get install -y chromium) !!!!!\n");
        return;
    };
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-browser");
    let _ = std::fs::remove_dir_all(&out_dir);
    let run = out_dir.join("store/etcd-register/20240101T000000Z");
    fixture::write_run(&run);
    let page = faultline_reports::write_run_report(&run).unwrap();
    let url = format!("file://{}", page.display());

    let profile = tempfile::tempdir().unwrap();
    let dom = run_chromium(&bin, profile.path(), &["--dump-dom", "--virtual-time-budget=3000"], &url);
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.status.success(), "chromium --dump-dom failed: {}", String::from_utf8_lossy(&dom.stderr));
    assert!(
        dom_text.contains("data-loaded=\"yes\""),
        "the page's inline script did not run; DOM starts: {}",
        &dom_text[..dom_text.len().min(400)]
    );
    let plots: usize = dom_text
        .split("data-plots=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        plots >= 4,
        "expected the latency, quantile, throughput and linearizability SVGs in the DOM, found {plots}"
    );
    // Hostile values stay text after parsing: no element was created from them.
    assert!(!dom_text.contains("<svg onload"), "a value from the database became markup");
    assert!(!dom_text.contains("<b>partition</b>"), "a fault name became markup");

    let shot = out_dir.join("report.png");
    let profile = tempfile::tempdir().unwrap();
    let r = run_chromium(
        &bin,
        profile.path(),
        &[&format!("--screenshot={}", shot.display()), "--window-size=1400,3000"],
        &url,
    );
    assert!(r.status.success(), "chromium --screenshot failed: {}", String::from_utf8_lossy(&r.stderr));
    let png = std::fs::read(&shot).expect("no screenshot written");
    assert_eq!(&png[1..4], b"PNG");
    // A blank page of the same size, for comparison: a real report compresses far worse.
    let blank_page = out_dir.join("blank.html");
    std::fs::write(&blank_page, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let blank_shot = out_dir.join("blank.png");
    let profile = tempfile::tempdir().unwrap();
    run_chromium(
        &bin,
        profile.path(),
        &[&format!("--screenshot={}", blank_shot.display()), "--window-size=1400,3000"],
        &format!("file://{}", blank_page.display()),
    );
    let blank = std::fs::metadata(&blank_shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        png.len() as u64 > 20_000 && png.len() as u64 > blank * 10,
        "screenshot looks blank: {} bytes (blank page: {blank} bytes)",
        png.len()
    );
    eprintln!("screenshot: {} ({} bytes; blank page {blank} bytes)", shot.display(), png.len());
}
