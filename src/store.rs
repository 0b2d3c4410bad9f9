//! The run store: the only module that writes under `store/`.
//!
//! Layout: `store/<test-name>/<timestamp>/` holds `test.json` (the fully resolved configuration,
//! seed and exact command line), `history.jsonl` (appended during the run, flushed at least every
//! 50 ms so a run killed at any instant leaves complete lines that parse), `history.edn`,
//! `results.json`, `faultline.log`, `nodes/<node>/` (collected logs) and `report/`.
//! `store/latest` is a symlink to the newest run.

use anyhow::{Context, Result};
use faultline_checkers::{Op, OpType, Process};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};
use tokio_util::sync::CancellationToken;

/// How often buffered history lines reach the file, at the latest.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// The root of the store (default `./store`).
#[derive(Debug, Clone)]
pub struct Store {
    pub root: PathBuf,
}

/// One run's directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// Create `store/<name>/<timestamp>/` and point `store/latest` at it.
    pub fn create_run(&self, test_name: &str) -> Result<RunDir> {
        let safe_name: String = test_name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '-' })
            .collect();
        // A name that would leave its directory or shadow `latest` is refused, not rewritten.
        if safe_name.is_empty() || safe_name.starts_with('.') || safe_name == "latest" {
            anyhow::bail!("test name {test_name:?} cannot be a store directory");
        }
        let test_dir = self.root.join(&safe_name);
        fs::create_dir_all(&test_dir).with_context(|| format!("cannot create {}", test_dir.display()))?;
        // create_dir (not create_dir_all) fails when the directory exists, so two runs started in
        // the same millisecond (scripts, --test-count, parallel invocations) never share one.
        let mut stamp = timestamp_now();
        let mut n = 1;
        let path = loop {
            let path = test_dir.join(&stamp);
            match fs::create_dir(&path) {
                Ok(()) => break path,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => {
                    stamp = format!("{}-{n}", timestamp_now());
                    n += 1;
                }
                Err(e) => return Err(e).with_context(|| format!("cannot create run directory {}", path.display())),
            }
        };
        fs::create_dir_all(path.join("nodes"))
            .with_context(|| format!("cannot create run directory {}", path.display()))?;
        fs::create_dir_all(path.join("report"))?;
        let latest = self.root.join("latest");
        let _ = fs::remove_file(&latest);
        let target = Path::new(&safe_name).join(&stamp);
        std::os::unix::fs::symlink(&target, &latest).with_context(|| format!("cannot update {}", latest.display()))?;
        Ok(RunDir { path })
    }

    /// Write `index.html`, the list of every run, for the store root.
    pub fn write_index(&self) -> Result<PathBuf> {
        let html = faultline_reports::store_index_html(&self.root)?;
        let out = self.root.join("index.html");
        fs::write(&out, html).with_context(|| format!("cannot write {}", out.display()))?;
        Ok(out)
    }

    /// Every run directory in the store, oldest first.
    pub fn runs(&self) -> Result<Vec<RunDir>> {
        let mut runs = Vec::new();
        let Ok(tests) = fs::read_dir(&self.root) else { return Ok(runs) };
        for test in tests.flatten() {
            let tp = test.path();
            if tp.is_symlink() || !tp.is_dir() {
                continue;
            }
            for run in fs::read_dir(&tp)?.flatten() {
                let rp = run.path();
                if rp.join("test.json").exists() || rp.join("history.jsonl").exists() {
                    runs.push(RunDir { path: rp });
                }
            }
        }
        runs.sort_by_key(|r| r.path.file_name().map(|s| s.to_owned()));
        Ok(runs)
    }
}

/// `20261122T031500.123Z`: sortable, no colons.
pub fn timestamp_now() -> String {
    let s = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    s.replace(['-', ':'], "")
}

impl RunDir {
    /// An existing run directory (e.g. given to `faultline report`).
    pub fn at(path: impl Into<PathBuf>) -> RunDir {
        RunDir { path: path.into() }
    }
    /// Render this run's report from its stored files and write `report/`.
    pub fn write_report(&self) -> Result<PathBuf> {
        self.write_rendered(faultline_reports::render_run_dir(&self.path)?)
    }

    /// Render this run's report with its history already in memory (see
    /// `faultline_reports::load_run_with`) and write `report/`.
    pub fn write_report_with(&self, history: Vec<faultline_checkers::Op>, notes: Vec<String>) -> Result<PathBuf> {
        let input = faultline_reports::load_run_with(&self.path, history, notes)?;
        self.write_rendered(faultline_reports::render_report(&input)?)
    }

    fn write_rendered(&self, rendered: faultline_reports::RenderedReport) -> Result<PathBuf> {
        let dir = self.path.join("report");
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        fs::write(dir.join("summary.json"), &rendered.summary_json)
            .with_context(|| format!("cannot write {}", dir.display()))?;
        let page = dir.join("index.html");
        fs::write(&page, &rendered.html).with_context(|| format!("cannot write {}", page.display()))?;
        Ok(page)
    }
    pub fn history_jsonl(&self) -> PathBuf {
        self.path.join("history.jsonl")
    }
    pub fn results_json(&self) -> PathBuf {
        self.path.join("results.json")
    }
    pub fn test_json(&self) -> PathBuf {
        self.path.join("test.json")
    }
    pub fn log_file(&self) -> PathBuf {
        self.path.join("faultline.log")
    }
    /// `nodes/<node>/`, created on demand.
    pub fn node_dir(&self, node: &str) -> Result<PathBuf> {
        let p = self.path.join("nodes").join(node);
        fs::create_dir_all(&p)?;
        Ok(p)
    }

    pub fn write_json(&self, name: &str, value: &impl serde::Serialize) -> Result<()> {
        let path = self.path.join(name);
        let tmp = self.path.join(format!(".{name}.tmp"));
        let text = serde_json::to_string_pretty(value)?;
        fs::write(&tmp, text + "\n").with_context(|| format!("cannot write {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    pub fn write_text(&self, name: &str, text: &str) -> Result<()> {
        let path = self.path.join(name);
        fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Start the history writer for this run. Events sent to it are numbered in arrival order
    /// and appended to `history.jsonl`.
    /// `on_failure` is cancelled if the store stops taking the history (disk full): the run stops.
    pub fn history_writer(&self, start: Instant, on_failure: Option<CancellationToken>) -> Result<HistoryWriter> {
        HistoryWriter::create(&self.history_jsonl(), start, on_failure)
    }

    /// Send `faultline.log` lines of the process-wide logger to this run's log file.
    pub fn capture_log(&self) -> Result<()> {
        let file = OpenOptions::new().create(true).append(true).open(self.log_file())?;
        *run_log().lock().unwrap() = Some(file);
        Ok(())
    }
}

/// The run's log file, shared by the tracing layer in `main` (set when a run directory exists).
pub fn run_log() -> &'static Mutex<Option<File>> {
    static LOG: OnceLock<Mutex<Option<File>>> = OnceLock::new();
    LOG.get_or_init(|| Mutex::new(None))
}

/// The tracing target of [`say`]'s copies for the run log.
pub const SAY_TARGET: &str = "faultline::say";

/// Tell the user something about the run (stderr) and keep it in the run's `faultline.log`.
pub fn say(message: &str) {
    eprintln!("faultline: {}", crate::term::text(message));
    // Only for faultline.log: stderr has it already (main's stderr layer skips this target).
    tracing::info!(target: SAY_TARGET, "{message}");
}

/// A tracing writer that appends to the current run's `faultline.log`, if any.
#[derive(Clone, Copy, Default)]
pub struct RunLogWriter;

impl Write for RunLogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(f) = run_log().lock().unwrap().as_mut() {
            f.write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RunLogWriter {
    type Writer = RunLogWriter;
    fn make_writer(&'a self) -> Self::Writer {
        RunLogWriter
    }
}

/// An event on its way to the history file. The time is taken by the sender, as close to the
/// real event as possible; the writer assigns the index.
#[derive(Debug)]
pub struct Event {
    pub time: u64,
    pub kind: OpType,
    pub process: Process,
    pub f: String,
    pub value: serde_json::Value,
    pub key: Option<serde_json::Value>,
    pub node: Option<String>,
    pub error: Option<String>,
}

// An event is sent per operation: boxing it to shrink `Finish` would cost an allocation each.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Event(Event),
    Finish,
}

/// Appends events to `history.jsonl` from a dedicated thread.
///
/// Why a channel: the history order must be an order in which events really could have
/// happened. A worker sends its invoke *before* it sends the request and its completion *after*
/// the response arrives, so the arrival order at this single writer brackets every real
/// operation. Times are made monotonic in that order.
#[derive(Clone)]
pub struct HistoryWriter {
    tx: mpsc::Sender<Msg>,
    start: Instant,
    done: Arc<Mutex<Option<std::thread::JoinHandle<HistoryEnd>>>>,
    written: Arc<AtomicU64>,
}

/// How the history ended up on disk.
#[derive(Debug, Clone, Default)]
pub struct HistoryEnd {
    /// Events numbered and written (to the run's file or the rescue file).
    pub written: u64,
    /// Why the run's `history.jsonl` stopped taking events (disk full, store unwritable).
    pub failure: Option<String>,
    /// Where the whole history is, when the run's file could not take it.
    pub rescued: Option<PathBuf>,
    /// Events that could be written nowhere (the rescue failed too).
    pub lost: u64,
}

impl HistoryEnd {
    /// The file that holds the whole history (as far as anything does).
    pub fn history_file(&self, run: &RunDir) -> PathBuf {
        self.rescued.clone().unwrap_or_else(|| run.history_jsonl())
    }
}

/// Where history lines go: the run's file until it fails, then a rescue file outside the store
/// (`FAULTLINE_RESCUE_DIR`, else the temporary directory) that starts with a copy of what the
/// run's file holds, so that one file has the whole history.
struct Sink {
    path: PathBuf,
    file: File,
    /// Bytes known to be in the run's file: complete lines only.
    committed: u64,
    pending: Vec<u8>,
    failure: Option<String>,
    /// After a failure: the rescue file, or `None` when it could not be made either.
    rescue: Option<(PathBuf, File)>,
    lost: u64,
    on_failure: Option<CancellationToken>,
}

impl Sink {
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if self.failure.is_none() {
            match self.file.write_all(&self.pending) {
                Ok(()) => {
                    self.committed += self.pending.len() as u64;
                    self.pending.clear();
                    return;
                }
                Err(e) => self.fail(e),
            }
        }
        let rescued = match &mut self.rescue {
            Some((_, file)) => file.write_all(&self.pending).is_ok(),
            None => false,
        };
        if !rescued {
            self.lost += self.pending.iter().filter(|&&b| b == b'\n').count() as u64;
        }
        self.pending.clear();
    }

    /// The run's file failed: cut it back to its complete lines, stop the run, and carry on in
    /// the rescue file.
    fn fail(&mut self, e: std::io::Error) {
        let _ = self.file.set_len(self.committed);
        let failure = format!("cannot write {}: {e}", self.path.display());
        let dir = std::env::var_os("FAULTLINE_RESCUE_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let rescue = dir.join(format!("faultline-history-{}-{}.jsonl", timestamp_now(), std::process::id()));
        let made = (|| -> std::io::Result<File> {
            let mut out = OpenOptions::new().create_new(true).write(true).open(&rescue)?;
            std::io::copy(&mut File::open(&self.path)?.take(self.committed), &mut out)?;
            Ok(out)
        })();
        match made {
            Ok(file) => {
                say(&format!("{failure}; stopping the run; the whole history continues in {}", rescue.display()));
                self.rescue = Some((rescue, file));
            }
            Err(re) => say(&format!(
                "{failure}; stopping the run; {} keeps the history up to here (the rescue file {} failed too: {re})",
                self.path.display(),
                rescue.display()
            )),
        }
        self.failure = Some(failure);
        if let Some(token) = &self.on_failure {
            token.cancel();
        }
    }

    fn finish(mut self, written: u64) -> HistoryEnd {
        self.flush();
        match &self.rescue {
            Some((_, file)) => {
                let _ = file.sync_data();
            }
            None if self.failure.is_none() => {
                if let Err(e) = self.file.sync_data() {
                    self.failure = Some(format!("cannot sync {}: {e}", self.path.display()));
                }
            }
            None => {}
        }
        HistoryEnd { written, failure: self.failure, rescued: self.rescue.map(|(p, _)| p), lost: self.lost }
    }
}

impl HistoryWriter {
    /// `on_failure` is cancelled when the history cannot be written to the store: the run stops.
    fn create(path: &Path, start: Instant, on_failure: Option<CancellationToken>) -> Result<HistoryWriter> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let committed = file.metadata().map(|m| m.len()).unwrap_or(0);
        let (tx, rx) = mpsc::channel::<Msg>();
        let written = Arc::new(AtomicU64::new(0));
        let counter = written.clone();
        let mut sink = Sink {
            path: path.to_path_buf(),
            file,
            committed,
            pending: Vec::with_capacity(1 << 16),
            failure: None,
            rescue: None,
            lost: 0,
            on_failure,
        };
        let handle = std::thread::Builder::new().name("history-writer".into()).spawn(move || -> HistoryEnd {
            let mut index = 0u64;
            let mut last_time = 0u64;
            let mut last_flush = Instant::now();
            loop {
                match rx.recv_timeout(FLUSH_EVERY) {
                    Ok(Msg::Event(e)) => {
                        last_time = last_time.max(e.time);
                        let op = Op {
                            index,
                            time: last_time,
                            kind: e.kind,
                            process: e.process,
                            f: e.f.into(),
                            value: e.value,
                            key: e.key,
                            node: e.node,
                            error: e.error,
                        };
                        serde_json::to_writer(&mut sink.pending, &op).expect("an op serializes to JSON");
                        sink.pending.push(b'\n');
                        index += 1;
                        counter.store(index, Ordering::Relaxed);
                        if sink.pending.len() >= 1 << 16 {
                            sink.flush();
                        }
                    }
                    Ok(Msg::Finish) | Err(mpsc::RecvTimeoutError::Disconnected) => return sink.finish(index),
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                }
                if last_flush.elapsed() >= FLUSH_EVERY {
                    sink.flush();
                    last_flush = Instant::now();
                }
            }
        })?;
        Ok(HistoryWriter { tx, start, done: Arc::new(Mutex::new(Some(handle))), written })
    }

    /// Nanoseconds since the run started.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    /// Queue an event; its time is now.
    pub fn record(&self, mut e: Event) {
        e.time = self.now();
        let _ = self.tx.send(Msg::Event(e));
    }

    /// Events written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Flush everything and stop the writer thread; says where the history went.
    pub fn finish(&self) -> Result<HistoryEnd> {
        let _ = self.tx.send(Msg::Finish);
        let handle = self.done.lock().unwrap().take();
        match handle {
            Some(h) => h.join().map_err(|_| anyhow::anyhow!("history writer panicked")),
            None => Ok(HistoryEnd { written: self.written(), ..HistoryEnd::default() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_numbered_monotonic_history() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let run = store.create_run("my test").unwrap();
        assert!(dir.path().join("latest").join("nodes").is_dir());
        let w = run.history_writer(Instant::now(), None).unwrap();
        for i in 0..1000u64 {
            w.record(Event {
                time: 0,
                kind: if i % 2 == 0 { OpType::Invoke } else { OpType::Ok },
                process: Process::Client(i / 2 % 7),
                f: "write".into(),
                value: serde_json::json!(i),
                key: None,
                node: Some("n1".into()),
                error: None,
            });
        }
        assert_eq!(w.finish().unwrap().written, 1000);
        let text = fs::read_to_string(run.history_jsonl()).unwrap();
        let ops: Vec<Op> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(ops.len(), 1000);
        for (i, op) in ops.iter().enumerate() {
            assert_eq!(op.index, i as u64);
            if i > 0 {
                assert!(op.time >= ops[i - 1].time);
            }
        }
        assert_eq!(store.runs().unwrap().len(), 1);
    }

    #[test]
    fn flushes_while_running() {
        let dir = tempfile::tempdir().unwrap();
        let run = Store::new(dir.path()).create_run("t").unwrap();
        let w = run.history_writer(Instant::now(), None).unwrap();
        w.record(Event {
            time: 0,
            kind: OpType::Invoke,
            process: Process::Client(0),
            f: "read".into(),
            value: serde_json::Value::Null,
            key: None,
            node: None,
            error: None,
        });
        // Without finishing: the line must reach the file within the flush interval.
        std::thread::sleep(Duration::from_millis(150));
        let text = fs::read_to_string(run.history_jsonl()).unwrap();
        assert_eq!(text.lines().count(), 1);
        w.finish().unwrap();
    }

    #[test]
    fn a_full_store_stops_the_run_and_the_history_goes_to_a_rescue_file() {
        let dir = tempfile::tempdir().unwrap();
        let run = Store::new(dir.path()).create_run("t").unwrap();
        // /dev/full takes the open and refuses every write with ENOSPC, as a full disk does.
        std::os::unix::fs::symlink("/dev/full", run.history_jsonl()).unwrap();
        let stop = CancellationToken::new();
        let w = run.history_writer(Instant::now(), Some(stop.clone())).unwrap();
        for i in 0..10u64 {
            w.record(Event {
                time: 0,
                kind: OpType::Invoke,
                process: Process::Client(i),
                f: "read".into(),
                value: serde_json::Value::Null,
                key: None,
                node: None,
                error: None,
            });
        }
        let end = w.finish().unwrap();
        assert!(stop.is_cancelled(), "the run is told to stop");
        assert!(end.failure.as_deref().unwrap_or("").contains("No space left"), "{end:?}");
        let rescued = end.rescued.clone().expect("a rescue file");
        let text = fs::read_to_string(&rescued).unwrap();
        fs::remove_file(&rescued).unwrap();
        assert_eq!((end.written, end.lost, text.lines().count()), (10, 0, 10));
        assert_eq!(end.history_file(&run), rescued);
    }
}
