//! Clock faults on nodes that share one kernel clock (the local cluster), through libfaketime.
//!
//! `date -s` would move every node's clock and the control node's at once, so instead the database
//! is started with libfaketime preloaded ([`env`]) and reads its offset from a file of its own
//! node (`/run` is private to each local-cluster node). libfaketime re-reads the file on every
//! time call (`FAKETIME_NO_CACHE`), so a bump or a strobe is a write of that file: no restart.
//! The monotonic clock is left alone (`FAKETIME_DONT_FAKE_MONOTONIC`), as `date -s` leaves it.
//! A missing or empty file means no offset, which is how the fault is healed.
//!
//! This works for programs that read the time through libc (PostgreSQL, the JVM); Go binaries
//! (etcd) read it through the vDSO, and Debian's redis-server links jemalloc, which recurses into
//! libfaketime at start-up: the adapters say so and `clock` is refused for them.

/// The offset file on each node (the node's private `/run`).
pub const FILE: &str = "/run/faultline/faketime";

/// Where Debian's libfaketime package puts the library (multiarch directory varies).
pub const LIB_GLOB: &str = "/usr/lib/*/faketime/libfaketime.so.1";

/// The environment the database starts with so that its clock follows [`FILE`].
pub fn env(lib: &str) -> Vec<(String, String)> {
    [
        ("LD_PRELOAD", lib),
        ("FAKETIME_TIMESTAMP_FILE", FILE),
        ("FAKETIME_NO_CACHE", "1"),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Print the path of libfaketime on the node (nothing when it is not installed).
pub fn find_lib_argv() -> Vec<String> {
    vec!["sh".into(), "-c".into(), format!("for f in {LIB_GLOB}; do [ -e \"$f\" ] && echo \"$f\" && break; done; true")]
}

/// libfaketime's relative offset syntax: seconds with a sign, e.g. `+1.250` or `-0.100`.
pub fn spec(offset_ms: i64) -> String {
    let sign = if offset_ms < 0 { '-' } else { '+' };
    let a = offset_ms.unsigned_abs();
    format!("{sign}{}.{:03}", a / 1000, a % 1000)
}

/// Set the node's offset to `offset_ms`, then strobe it (`flips` times to `offset + strobe_ms` and
/// back, `period_ms` apart), ending at `offset_ms`. Each write is atomic (a rename), so the
/// database never reads half a line.
pub fn bump_script(offset_ms: i64, strobe_ms: i64, flips: u32, period_ms: u64) -> String {
    let set = |ms: i64| format!("printf '%s\\n' '{}' > {FILE}.tmp && mv -f {FILE}.tmp {FILE}", spec(ms));
    let mut script = format!("set -e; mkdir -p /run/faultline; {}", set(offset_ms));
    if flips > 0 && strobe_ms != 0 {
        let pause = format!("{}.{:03}", period_ms / 1000, period_ms % 1000);
        script.push_str(&format!(
            "; i=0; while [ $i -lt {flips} ]; do {}; sleep {pause}; {}; sleep {pause}; i=$((i+1)); done",
            set(offset_ms + strobe_ms),
            set(offset_ms)
        ));
    }
    script
}

/// argv for [`bump_script`].
pub fn bump_argv(offset_ms: i64, strobe_ms: i64, flips: u32, period_ms: u64) -> Vec<String> {
    vec!["sh".into(), "-c".into(), bump_script(offset_ms, strobe_ms, flips, period_ms)]
}

/// Remove the offset (the database's clock is the kernel's again). Prints `reset` when there was
/// a file to remove, so `heal_nodes` can say what it did.
pub fn reset_argv() -> Vec<String> {
    vec!["sh".into(), "-c".into(), format!("if [ -e {FILE} ]; then rm -f {FILE} {FILE}.tmp && echo reset; fi")]
}

/// This machine's wall clock now, in Unix seconds (what node clocks are measured against).
pub fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The node's own wall clock, for clocks moved with `date` (real hosts): Unix seconds.
pub fn date_argv() -> Vec<String> {
    vec!["date".into(), "+%s.%N".into()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_in_libfaketime_syntax() {
        assert_eq!(spec(1250), "+1.250");
        assert_eq!(spec(-100), "-0.100");
        assert_eq!(spec(0), "+0.000");
        assert_eq!(spec(-30_000), "-30.000");
    }

    #[test]
    fn bump_writes_atomically_and_ends_at_the_offset() {
        let s = bump_script(-1500, 40, 2, 25);
        assert!(s.contains("'-1.500' > /run/faultline/faketime.tmp && mv -f"), "{s}");
        assert!(s.contains("'-1.460'"), "strobe to offset + delta: {s}");
        assert!(s.trim_end().ends_with("done"), "{s}");
        assert!(s.contains("sleep 0.025"), "{s}");
        assert!(!bump_script(100, 0, 3, 10).contains("while"), "no strobe without a delta");
    }

    #[test]
    fn environment_preloads_the_library_and_reads_the_file() {
        let e = env("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1");
        assert!(e.contains(&("FAKETIME_TIMESTAMP_FILE".into(), FILE.into())));
        assert!(e.contains(&("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into())));
        assert!(e.iter().any(|(k, v)| k == "LD_PRELOAD" && v.ends_with("libfaketime.so.1")));
    }
}
