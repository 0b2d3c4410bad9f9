//! SSH control of nodes: one multiplexed OpenSSH master per node (openssh native-mux), reused for
//! every command of a run.
//!
//! - [`Node::connect`] starts the master; [`connect_all`] does it for every node in parallel.
//! - Commands take an argv that arrives literally on the node (each argument is shell-escaped for
//!   the remote login shell); a non-zero exit status is a result ([`CmdOutput`]), not an error.
//! - At most [`CHANNELS_PER_NODE`] channels are open per node (sshd allows 10 by default); more
//!   requests wait for a free one.
//! - When the master dies it is restarted with backoff, but a command is only retried when its
//!   channel could not be opened: a command that may have started never runs twice.
//! - Errors name the node, the command and the cause, plus the tail of stderr. The sudo password
//!   only ever travels on stdin and prints as `<redacted>`.

use std::fmt;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Mutex, Semaphore};

/// Channels one node may have open at once; sshd's default `MaxSessions` is 10.
pub const CHANNELS_PER_NODE: usize = 8;
/// Attempts at opening a channel (restarting a dead master in between) before giving up.
const OPEN_ATTEMPTS: u32 = 4;
/// How much of stderr an error message quotes.
const STDERR_TAIL: usize = 600;

/// A password that never shows up in Debug or Display output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself; only for writing it to a remote stdin.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Secret, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

/// One node to control: a display name and where its sshd listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub host: String,
    pub port: u16,
}

impl NodeSpec {
    /// Parse `host`, `host:port`, `[v6]:port` or a bare IPv6 address; the name is the entry
    /// without a default port.
    pub fn parse(entry: &str, default_port: u16) -> Result<NodeSpec> {
        let entry = entry.trim();
        let bad = |why: &str| anyhow!("bad node {entry:?}: {why}");
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
            match after.strip_prefix(':') {
                Some(p) => (host.to_string(), Some(p)),
                None if after.is_empty() => (host.to_string(), None),
                None => return Err(bad("unexpected text after ']'")),
            }
        } else if entry.matches(':').count() == 1 {
            let (h, p) = entry.split_once(':').unwrap_or((entry, ""));
            (h.to_string(), Some(p))
        } else {
            (entry.to_string(), None)
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '@' || c == '/') {
            return Err(bad("expected host or host:port"));
        }
        let port = match port {
            Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| bad("port must be 1-65535"))?,
            None => default_port,
        };
        Ok(NodeSpec { name: entry.to_string(), host, port })
    }
}

/// How to log in to nodes.
#[derive(Clone, Debug)]
pub struct SshOptions {
    pub user: String,
    /// Private key (`ssh -i`, with IdentitiesOnly).
    pub key: Option<PathBuf>,
    /// Refuse unknown hosts too (changed host keys are always refused).
    pub strict: bool,
    pub sudo_password: Option<Secret>,
    /// Applies to TCP connect and the ssh handshake.
    pub connect_timeout: Duration,
    /// known_hosts file to use instead of ~/.ssh/known_hosts.
    pub known_hosts: Option<PathBuf>,
    /// ssh_config to use instead of ~/.ssh/config and /etc/ssh/ssh_config (`ssh -F`).
    pub config_file: Option<PathBuf>,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            user: "root".into(),
            key: None,
            strict: false,
            sudo_password: None,
            connect_timeout: Duration::from_secs(5),
            known_hosts: None,
            config_file: None,
        }
    }
}

/// What a finished remote command produced. Any exit status, 255 included, is a result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmdOutput {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.status == 0
    }
    /// Ok(self) when the status is 0, else an error naming node, command, status and stderr.
    pub fn check(self, node: &str, argv: &[&str]) -> Result<CmdOutput> {
        if self.success() {
            Ok(self)
        } else {
            bail!("node {node}: `{}` exited with status {}{}", show_argv(argv), self.status, stderr_tail(&self.stderr))
        }
    }
}

/// A connected node: a cheap handle (clone it freely) on one ssh master.
#[derive(Clone)]
pub struct Node {
    pub name: String,
    pub host: String,
    pub port: u16,
    inner: Arc<Inner>,
}

struct Inner {
    spec: NodeSpec,
    opts: SshOptions,
    /// The current master and its generation (bumped on every reconnect).
    master: StdMutex<(u64, Arc<Session>)>,
    /// Held while reconnecting, so that concurrent failures restart the master once.
    reconnecting: Mutex<()>,
    channels: Semaphore,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Node({} {}:{})", self.name, self.host, self.port)
    }
}

/// Where a command's stdin comes from.
enum Input<'a> {
    Null,
    Bytes(Vec<u8>),
    File(&'a Path, &'a mut Sha256),
}

impl Node {
    /// Start the ssh master for `spec`; fails within about the connect timeout with the cause.
    pub async fn connect(spec: &NodeSpec, opts: &SshOptions) -> Result<Node> {
        let session = launch_master(spec, opts).await?;
        Ok(Node {
            name: spec.name.clone(),
            host: spec.host.clone(),
            port: spec.port,
            inner: Arc::new(Inner {
                spec: spec.clone(),
                opts: opts.clone(),
                master: StdMutex::new((0, Arc::new(session))),
                reconnecting: Mutex::new(()),
                channels: Semaphore::new(CHANNELS_PER_NODE),
            }),
        })
    }

    /// The control socket of the current ssh master (for diagnostics and `ssh -S SOCKET`).
    pub fn control_socket(&self) -> PathBuf {
        self.inner.master.lock().unwrap_or_else(|p| p.into_inner()).1.control_socket().to_path_buf()
    }

    /// The login user.
    pub fn user(&self) -> &str {
        &self.inner.opts.user
    }

    /// Run `argv` as the login user; each argument arrives literally. The node itself ends the
    /// command at `timeout` (see `remote_limit`), so nothing outlives a timed-out call.
    pub async fn run(&self, argv: &[&str], timeout: Duration) -> Result<CmdOutput> {
        self.exec_limited(&[], argv, Input::Null, timeout).await
    }

    /// Run `argv` as root: directly when logged in as root, else through `sudo -n`, or
    /// `sudo -S` with the password written to stdin. Ended by the node at `timeout`, like `run`.
    pub async fn run_root(&self, argv: &[&str], timeout: Duration) -> Result<CmdOutput> {
        let opts = &self.inner.opts;
        if opts.user == "root" {
            return self.exec_limited(&[], argv, Input::Null, timeout).await;
        }
        match &opts.sudo_password {
            None => self.exec_limited(&["sudo", "-n", "--"], argv, Input::Null, timeout).await,
            Some(pw) => {
                let input = format!("{}\n", pw.expose()).into_bytes();
                self.exec_limited(&["sudo", "-S", "-p", "", "--"], argv, Input::Bytes(input), timeout).await
            }
        }
    }

    /// `exec` of `prefix`, then `remote_limit`, then `argv` (the limit inside sudo, so that it can
    /// end a root process). Waits a little longer than the limit (the node's own timeout should
    /// fire first and end the process), and reports the node's timeout as a timeout of `argv`.
    async fn exec_limited(
        &self,
        prefix: &[&str],
        argv: &[&str],
        input: Input<'_>,
        timeout: Duration,
    ) -> Result<CmdOutput> {
        let limit = remote_limit(timeout);
        let full: Vec<&str> =
            prefix.iter().copied().chain(limit.iter().map(String::as_str)).chain(argv.iter().copied()).collect();
        let started = std::time::Instant::now();
        // A second plus a tenth of the limit, at most 5 s: the node's timeout has fired by then
        // unless the node or the link is gone.
        let grace = (Duration::from_secs(1) + timeout / 10).min(Duration::from_secs(5));
        let out = self.exec(&full, input, timeout + grace).await?;
        if out.status == 127 && out.stderr.contains("timeout") && !out.stderr.contains(argv.first().unwrap_or(&"")) {
            bail!("node {}: `timeout` (coreutils) is missing: faultline runs every command under it", self.name);
        }
        // 124: `timeout` ended it; 137: it had to be killed after ignoring SIGTERM.
        if matches!(out.status, 124 | 137) && started.elapsed() >= timeout {
            bail!(
                "node {}: `{}` timed out after {} (ended on the node)",
                self.name,
                show_argv(argv),
                humantime::format_duration(timeout)
            );
        }
        Ok(out)
    }

    /// Run a shell script (`sh -c script`) as the login user, for the rare pipeline.
    pub async fn sh(&self, script: &str, timeout: Duration) -> Result<CmdOutput> {
        self.run(&["sh", "-c", script], timeout).await
    }

    /// Run a shell script as root.
    pub async fn sh_root(&self, script: &str, timeout: Duration) -> Result<CmdOutput> {
        self.run_root(&["sh", "-c", script], timeout).await
    }

    /// Run `argv` with this process's stdin, stdout and stderr (output streams as it comes);
    /// returns the exit status.
    pub async fn run_interactive(&self, argv: &[&str]) -> Result<i32> {
        // stdout and stderr come through pipes this process copies, each to its end, before the
        // exit status is taken: with both handed to the ssh master, the status could come back
        // (and this process exit) before the master had written the command's stderr.
        let (mut child, _permit) = self.open(argv, [StdioKind::Inherit, StdioKind::Piped, StdioKind::Piped]).await?;
        child.stdin().take();
        let mut out = child.stdout().take().ok_or_else(|| anyhow!("no stdout pipe"))?;
        let mut err = child.stderr().take().ok_or_else(|| anyhow!("no stderr pipe"))?;
        let copy_out = async {
            let mut to = tokio::io::stdout();
            let r = tokio::io::copy(&mut out, &mut to).await;
            let _ = to.flush().await;
            r
        };
        let copy_err = async {
            let mut to = tokio::io::stderr();
            let r = tokio::io::copy(&mut err, &mut to).await;
            let _ = to.flush().await;
            r
        };
        let (o, e) = tokio::join!(copy_out, copy_err);
        o.and(e).with_context(|| format!("node {}: `{}`: copying its output", self.name, show_argv(argv)))?;
        let status = child.wait().await;
        finish_status(status, &self.name, argv)
    }

    /// Copy a local file to `remote` (as the login user), through a temporary file renamed into
    /// place once its sha256 matches the local one.
    pub async fn upload(&self, local: &Path, remote: &str) -> Result<()> {
        let size = std::fs::metadata(local)
            .with_context(|| format!("cannot upload {} to {}: cannot read it", local.display(), self.name))?
            .len();
        let timeout = transfer_timeout(size);
        let tmp = format!("{remote}.faultline-upload");
        let mut hasher = Sha256::new();
        let argv = ["sh", "-c", "cat > \"$1\"", "sh", &tmp];
        let out = self.exec(&argv, Input::File(local, &mut hasher), timeout).await?;
        if !out.success() {
            bail!(
                "node {}: upload of {} to {remote} failed (status {}){}",
                self.name,
                local.display(),
                out.status,
                stderr_tail(&out.stderr)
            );
        }
        let local_sum = hex(&hasher.finalize());
        let remote_sum = self.sha256(&tmp).await?;
        if remote_sum != local_sum {
            let _ = self.run(&["rm", "-f", &tmp], Duration::from_secs(10)).await;
            bail!(
                "node {}: upload of {} to {remote} arrived corrupted (sha256 {remote_sum}, expected {local_sum})",
                self.name,
                local.display()
            );
        }
        self.run(&["mv", "-f", &tmp, remote], Duration::from_secs(30))
            .await?
            .check(&self.name, &["mv", "-f", &tmp, remote])?;
        Ok(())
    }

    /// Copy `remote` (readable by the login user) to a local file, checking its sha256.
    pub async fn download(&self, remote: &str, local: &Path) -> Result<()> {
        let remote_sum = self.sha256(remote).await?;
        let size: u64 =
            self.run(&["stat", "-c", "%s", remote], Duration::from_secs(10)).await?.stdout.trim().parse().unwrap_or(0);
        let argv = ["cat", remote];
        let (mut child, _permit) = self.open(&argv, [StdioKind::Null, StdioKind::Piped, StdioKind::Piped]).await?;
        let mut stdout = child.stdout().take().ok_or_else(|| anyhow!("no stdout pipe"))?;
        let mut stderr = child.stderr().take().ok_or_else(|| anyhow!("no stderr pipe"))?;
        let mut file =
            tokio::fs::File::create(local).await.with_context(|| format!("cannot create {}", local.display()))?;
        let copy = async {
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = stdout.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                file.write_all(&buf[..n]).await?;
            }
            file.flush().await?;
            Ok::<_, std::io::Error>(hex(&hasher.finalize()))
        };
        let mut err_bytes = Vec::new();
        let work = async {
            let (sum, _) = tokio::join!(copy, stderr.read_to_end(&mut err_bytes));
            let status = child.wait().await;
            (sum, status)
        };
        let (sum, status) = tokio::time::timeout(transfer_timeout(size), work).await.map_err(|_| {
            anyhow!(
                "node {}: download of {remote} timed out after {}",
                self.name,
                humantime::format_duration(transfer_timeout(size))
            )
        })?;
        let sum =
            sum.with_context(|| format!("node {}: download of {remote} to {} failed", self.name, local.display()))?;
        let status = finish_status(status, &self.name, &argv)?;
        if status != 0 {
            bail!(
                "node {}: download of {remote} failed (status {status}){}",
                self.name,
                stderr_tail(&String::from_utf8_lossy(&err_bytes))
            );
        }
        if sum != remote_sum {
            bail!("node {}: download of {remote} arrived corrupted (sha256 {sum}, expected {remote_sum})", self.name);
        }
        Ok(())
    }

    /// sha256 of a remote file, in hex.
    pub async fn sha256(&self, remote: &str) -> Result<String> {
        let argv = ["sha256sum", "--", remote];
        let out = self.run(&argv, Duration::from_secs(120)).await?.check(&self.name, &argv)?;
        out.stdout
            .split_whitespace()
            .next()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("node {}: sha256sum printed nothing for {remote}", self.name))
    }

    /// Start `argv` as a root daemon that outlives the ssh channel (own session, stdin from
    /// /dev/null, output appended to `logfile`), in `cwd` with `env` added; writes its pid to
    /// `pidfile` and returns it.
    pub async fn start_daemon(
        &self,
        argv: &[&str],
        pidfile: &str,
        logfile: &str,
        env: &[(String, String)],
        cwd: &str,
    ) -> Result<u32> {
        if argv.is_empty() {
            bail!("node {}: start_daemon needs a command", self.name);
        }
        for (k, _) in env {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                bail!("node {}: bad environment variable name {k:?}", self.name);
            }
        }
        // A background job of a non-interactive shell is not a process group leader, so setsid
        // execs in place and $! is the daemon's own pid.
        const SCRIPT: &str = r#"pidfile=$1 logfile=$2 cwd=$3; shift 3
mkdir -p "$cwd" "$(dirname "$pidfile")" "$(dirname "$logfile")" || exit 1
cd "$cwd" || exit 1
setsid "$@" </dev/null >>"$logfile" 2>&1 &
pid=$!
echo "$pid" > "$pidfile" || exit 1
echo "$pid""#;
        let assignments: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut full: Vec<&str> = vec!["sh", "-c", SCRIPT, "sh", pidfile, logfile, cwd, "env"];
        full.extend(assignments.iter().map(String::as_str));
        full.extend(argv.iter().copied());
        let out = self.run_root(&full, Duration::from_secs(30)).await?;
        if !out.success() {
            bail!(
                "node {}: could not start `{}` (status {}){}",
                self.name,
                show_argv(argv),
                out.status,
                stderr_tail(&out.stderr)
            );
        }
        out.stdout
            .trim()
            .parse::<u32>()
            .map_err(|_| anyhow!("node {}: starting `{}` printed no pid: {:?}", self.name, show_argv(argv), out.stdout))
    }

    /// Send `signal` (e.g. "TERM", "KILL", "STOP", "CONT" or a number) to the process in
    /// `pidfile`, as root, if /proc/PID/comm is `expected_comm` (pids wrap). Returns whether it
    /// was signalled; false when the pidfile is missing or the process is gone or another one.
    pub async fn signal_pidfile(&self, pidfile: &str, expected_comm: &str, signal: &str) -> Result<bool> {
        const SCRIPT: &str = r#"pidfile=$1 comm=$2 sig=$3
[ -r "$pidfile" ] || { echo missing; exit 0; }
pid=$(cat "$pidfile")
case "$pid" in ''|*[!0-9]*) echo missing; exit 0;; esac
actual=$(cat "/proc/$pid/comm" 2>/dev/null) || { echo gone; exit 0; }
[ "$actual" = "$comm" ] || { echo gone; exit 0; }
# The process may exit between the check and the signal: that is "gone", not an error.
if kill -s "$sig" "$pid" 2>/dev/null; then echo signalled; else echo gone; fi"#;
        // The kernel keeps 15 bytes of the command name.
        let comm: String = expected_comm.chars().take(15).collect();
        let sig = signal.trim_start_matches("SIG");
        let argv = ["sh", "-c", SCRIPT, "sh", pidfile, &comm, sig];
        let out = self.run_root(&argv, Duration::from_secs(15)).await?.check(&self.name, &argv)?;
        Ok(out.stdout.trim() == "signalled")
    }

    /// Run `argv` with `input`, collecting stdout and stderr, within `timeout`.
    async fn exec(&self, argv: &[&str], input: Input<'_>, timeout: Duration) -> Result<CmdOutput> {
        let work = async {
            let stdin = if matches!(input, Input::Null) { StdioKind::Null } else { StdioKind::Piped };
            let (mut child, _permit) = self.open(argv, [stdin, StdioKind::Piped, StdioKind::Piped]).await?;
            let stdin_pipe = child.stdin().take();
            let mut stdout = child.stdout().take().ok_or_else(|| anyhow!("no stdout pipe"))?;
            let mut stderr = child.stderr().take().ok_or_else(|| anyhow!("no stderr pipe"))?;
            let feed = async move {
                let Some(mut pipe) = stdin_pipe else { return Ok(()) };
                match input {
                    Input::Null => {}
                    Input::Bytes(bytes) => pipe.write_all(&bytes).await?,
                    Input::File(path, hasher) => {
                        let mut file = tokio::fs::File::open(path).await?;
                        let mut buf = vec![0u8; 256 * 1024];
                        loop {
                            let n = file.read(&mut buf).await?;
                            if n == 0 {
                                break;
                            }
                            hasher.update(&buf[..n]);
                            pipe.write_all(&buf[..n]).await?;
                        }
                    }
                }
                pipe.shutdown().await?;
                Ok::<_, std::io::Error>(())
            };
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let (fed, read_out, read_err) =
                tokio::join!(feed, read_all(&mut stdout, &mut out), read_all(&mut stderr, &mut err));
            let status = child.wait().await;
            let stderr_text = String::from_utf8_lossy(&err).into_owned();
            let status =
                finish_status(status, &self.name, argv).map_err(|e| anyhow!("{e:#}{}", stderr_tail(&stderr_text)))?;
            // A failed stdin write (the command exited without reading it all) only matters when
            // the command also failed; the status says what happened.
            if let Err(e) = read_out.and(read_err) {
                bail!("node {}: `{}`: reading its output failed: {e}", self.name, show_argv(argv));
            }
            if let Err(e) = fed {
                if status == 0 {
                    bail!("node {}: `{}`: writing its input failed: {e}", self.name, show_argv(argv));
                }
            }
            Ok(CmdOutput { status, stdout: String::from_utf8_lossy(&out).into_owned(), stderr: stderr_text })
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => bail!(
                "node {}: `{}` timed out after {}",
                self.name,
                show_argv(argv),
                humantime::format_duration(timeout)
            ),
        }
    }

    /// Open a channel running `argv`, waiting for a free channel slot. Restarts a dead master
    /// and retries only while the channel could not be opened, so nothing ever runs twice.
    async fn open(
        &self,
        argv: &[&str],
        stdio: [StdioKind; 3],
    ) -> Result<(openssh::Child<Arc<Session>>, tokio::sync::SemaphorePermit<'_>)> {
        let Some((program, args)) = argv.split_first() else {
            bail!("node {}: empty command", self.name);
        };
        if argv.iter().any(|a| a.contains('\0')) {
            bail!("node {}: `{}`: arguments cannot contain NUL bytes", self.name, show_argv(argv));
        }
        let permit = self.inner.channels.acquire().await.map_err(|_| anyhow!("node {}: closed", self.name))?;
        let mut delay = Duration::from_millis(100);
        let mut attempt = 1;
        loop {
            let (generation, session) = {
                let guard = self.inner.master.lock().unwrap_or_else(|p| p.into_inner());
                (guard.0, guard.1.clone())
            };
            let mut cmd = Session::to_command(session.clone(), *program);
            cmd.args(args.iter().copied())
                .stdin(make_stdio(stdio[0]))
                .stdout(make_stdio(stdio[1]))
                .stderr(make_stdio(stdio[2]));
            let err = match cmd.spawn().await {
                Ok(child) => return Ok((child, permit)),
                Err(e) => e,
            };
            let channel_not_opened =
                matches!(err, openssh::Error::Disconnected | openssh::Error::SshMux(_) | openssh::Error::Master(_));
            if !channel_not_opened || attempt >= OPEN_ATTEMPTS {
                bail!("node {}: `{}` could not be started: {}", self.name, show_argv(argv), error_chain(&err));
            }
            tracing::info!(node = %self.name, attempt, "channel could not be opened ({}); checking the ssh master", error_chain(&err));
            if session.check().await.is_err() {
                self.reconnect(generation).await.with_context(|| {
                    format!(
                        "node {}: `{}` could not be started: the ssh master died and reconnecting failed",
                        self.name,
                        show_argv(argv)
                    )
                })?;
            } else {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            attempt += 1;
        }
    }

    /// Replace the master of generation `seen`, with backoff; a no-op when another task already
    /// replaced it.
    async fn reconnect(&self, seen: u64) -> Result<()> {
        let _guard = self.inner.reconnecting.lock().await;
        if self.inner.master.lock().unwrap_or_else(|p| p.into_inner()).0 != seen {
            return Ok(());
        }
        let mut delay = Duration::from_millis(200);
        let mut last = None;
        for attempt in 1..=OPEN_ATTEMPTS {
            match launch_master(&self.inner.spec, &self.inner.opts).await {
                Ok(session) => {
                    let mut guard = self.inner.master.lock().unwrap_or_else(|p| p.into_inner());
                    *guard = (seen + 1, Arc::new(session));
                    tracing::info!(node = %self.name, attempt, "ssh master restarted");
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(node = %self.name, attempt, "reconnect failed: {e:#}");
                    last = Some(e);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(3));
                }
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("reconnect failed")))
    }
}

async fn read_all<R: AsyncRead + Unpin>(r: &mut R, into: &mut Vec<u8>) -> std::io::Result<()> {
    r.read_to_end(into).await.map(|_| ())
}

/// How a channel's stdin, stdout or stderr is connected (rebuilt for every open attempt, since
/// spawning consumes openssh's Stdio).
#[derive(Clone, Copy)]
enum StdioKind {
    Null,
    Piped,
    Inherit,
}

fn make_stdio(kind: StdioKind) -> Stdio {
    match kind {
        StdioKind::Null => Stdio::null(),
        StdioKind::Piped => Stdio::piped(),
        StdioKind::Inherit => Stdio::inherit(),
    }
}

/// Turn the mux wait result into an exit status. openssh reports status 127 as an error; it is a
/// result here like any other.
fn finish_status(status: Result<std::process::ExitStatus, openssh::Error>, node: &str, argv: &[&str]) -> Result<i32> {
    match status {
        Ok(s) => Ok(s.code().unwrap_or(255)),
        Err(openssh::Error::Remote(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(127),
        Err(openssh::Error::RemoteProcessTerminated) => {
            bail!(
                "node {node}: `{}` ended without an exit status (killed by a signal, or the ssh connection was lost)",
                show_argv(argv)
            )
        }
        Err(e) => bail!("node {node}: `{}` failed: {}", show_argv(argv), error_chain(&e)),
    }
}

/// The prefix that makes the node end a command after `timeout` (coreutils `timeout`: SIGTERM,
/// then SIGKILL 2 s later). Without it, a command whose call timed out here would keep running
/// on the node, holding locks or ports, after its ssh channel was dropped.
fn remote_limit(timeout: Duration) -> [String; 4] {
    ["timeout".into(), "-k".into(), "2".into(), format!("{:.3}", timeout.as_secs_f64().max(0.001))]
}

/// Start one ssh master for `spec`, bounded by the connect timeout, with a classified error.
async fn launch_master(spec: &NodeSpec, opts: &SshOptions) -> Result<Session> {
    let mut b = SessionBuilder::default();
    b.user(opts.user.clone())
        .port(spec.port)
        .connect_timeout(opts.connect_timeout.max(Duration::from_secs(1)))
        .server_alive_interval(Duration::from_secs(5))
        .known_hosts_check(if opts.strict { KnownHosts::Strict } else { KnownHosts::Add })
        // A master orphaned by a crash goes away on its own after 10 idle minutes.
        .control_persist(ControlPersist::IdleFor(NonZeroUsize::new(600).expect("non-zero")));
    if let Some(key) = &opts.key {
        b.keyfile(key);
    }
    if let Some(kh) = &opts.known_hosts {
        b.user_known_hosts_file(kh);
    }
    if let Some(cfg) = &opts.config_file {
        b.config_file(cfg);
    }
    let where_ = format!("node {} ({}@{}:{})", spec.name, opts.user, spec.host, spec.port);
    // ssh's ConnectTimeout covers connect and handshake; the outer bound catches anything else.
    let limit = opts.connect_timeout * 2 + Duration::from_secs(5);
    let dir = match tokio::time::timeout(limit, b.launch_master(&spec.host)).await {
        Err(_) => bail!("{where_}: cannot connect over ssh: timed out after {}", humantime::format_duration(limit)),
        Ok(Err(e)) => {
            let text = error_chain(&e);
            bail!(
                "{where_}: cannot connect over ssh: {}{}",
                classify_connect_error(&text, opts.strict),
                stderr_tail(&text).replacen("(stderr:", "(ssh said:", 1)
            )
        }
        Ok(Ok(dir)) => dir,
    };
    Ok(Session::new_native_mux(dir))
}

/// Name the cause of a failed ssh login from ssh's own words.
pub fn classify_connect_error(text: &str, strict: bool) -> &'static str {
    let t = text.to_lowercase();
    if t.contains("remote host identification has changed") || (t.contains("host key for") && t.contains("has changed"))
    {
        "host key changed (refusing: possible man-in-the-middle; fix known_hosts if the node was rebuilt)"
    } else if t.contains("host key verification failed") {
        if strict {
            "host key unknown or changed (strict host key checking is on)"
        } else {
            "host key verification failed"
        }
    } else if t.contains("permission denied") || t.contains("too many authentication failures") {
        "authentication failed"
    } else if t.contains("connection refused") {
        "connection refused (nothing listening on the ssh port)"
    } else if t.contains("no route to host") || t.contains("network is unreachable") {
        "unreachable"
    } else if t.contains("timed out") {
        "timed out"
    } else if t.contains("could not resolve hostname") || t.contains("name or service not known") {
        "unknown host name"
    } else if t.contains("connection closed") || t.contains("connection reset") {
        "connection closed by the node during the ssh handshake"
    } else {
        "ssh failed"
    }
}

/// Connect to every node in parallel; on failure the error lists every node that failed.
pub async fn connect_all(specs: &[NodeSpec], opts: &SshOptions) -> Result<Vec<Node>> {
    let mut tasks = Vec::new();
    for spec in specs {
        let (spec, opts) = (spec.clone(), opts.clone());
        tasks.push(tokio::spawn(async move { Node::connect(&spec, &opts).await }));
    }
    let mut nodes = Vec::new();
    let mut failures = Vec::new();
    for (spec, task) in specs.iter().zip(tasks) {
        match task.await {
            Ok(Ok(node)) => nodes.push(node),
            Ok(Err(e)) => failures.push(format!("{e:#}")),
            Err(e) => failures.push(format!("node {}: connect task failed: {e}", spec.name)),
        }
    }
    if !failures.is_empty() {
        bail!("cannot connect to {} of {} nodes:\n  {}", failures.len(), specs.len(), failures.join("\n  "));
    }
    Ok(nodes)
}

/// Run `argv` on every node at once; one result per node, in order.
pub async fn run_all(nodes: &[Node], argv: &[&str], timeout: Duration) -> Vec<(String, Result<CmdOutput>)> {
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let mut tasks = Vec::new();
    for node in nodes {
        let (node, argv) = (node.clone(), argv.clone());
        tasks.push(tokio::spawn(async move {
            let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
            node.run(&refs, timeout).await
        }));
    }
    let mut results = Vec::new();
    for (node, task) in nodes.iter().zip(tasks) {
        let result = task.await.unwrap_or_else(|e| Err(anyhow!("node {}: task failed: {e}", node.name)));
        results.push((node.name.clone(), result));
    }
    results
}

/// A command for messages: arguments quoted when needed, long ones shortened.
pub fn show_argv(argv: &[&str]) -> String {
    let mut s = String::new();
    for (i, a) in argv.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let plain = !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_=/.,:+@%".contains(c));
        if plain {
            s.push_str(a);
        } else {
            s.push_str(&format!("{a:?}"));
        }
    }
    if s.chars().count() > 200 {
        let short: String = s.chars().take(197).collect();
        format!("{short}...")
    } else {
        s
    }
}

/// ": stderr: <last lines>" or nothing when stderr is blank.
fn stderr_tail(stderr: &str) -> String {
    let t = stderr.trim();
    if t.is_empty() {
        return String::new();
    }
    let tail: String = if t.len() > STDERR_TAIL {
        let mut start = t.len() - STDERR_TAIL;
        while !t.is_char_boundary(start) {
            start += 1;
        }
        format!("...{}", &t[start..])
    } else {
        t.to_string()
    };
    format!(" (stderr: {})", tail.replace('\n', " | "))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Generous time for moving `size` bytes: 60 s plus 1 s per MB.
fn transfer_timeout(size: u64) -> Duration {
    Duration::from_secs(60 + size / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_node_entries() {
        assert_eq!(NodeSpec::parse("db1", 22).unwrap(), NodeSpec { name: "db1".into(), host: "db1".into(), port: 22 });
        assert_eq!(NodeSpec::parse("10.0.0.3:2222", 22).unwrap().port, 2222);
        assert_eq!(
            NodeSpec::parse("[::1]:2200", 22).unwrap(),
            NodeSpec { name: "[::1]:2200".into(), host: "::1".into(), port: 2200 }
        );
        assert_eq!(NodeSpec::parse("fe80::1", 22).unwrap().host, "fe80::1");
        assert!(NodeSpec::parse("db1:0", 22).is_err());
        assert!(NodeSpec::parse("db1:x", 22).is_err());
        assert!(NodeSpec::parse("user@db1", 22).is_err());
        assert!(NodeSpec::parse("", 22).is_err());
    }

    #[test]
    fn secrets_stay_hidden() {
        let s: Secret = "hunter2".parse().unwrap();
        let opts = SshOptions { sudo_password: Some(s), ..SshOptions::default() };
        assert!(!format!("{opts:?}").contains("hunter2"));
        assert!(format!("{opts:?}").contains("<redacted>"));
    }

    #[test]
    fn classifies_ssh_failures() {
        assert!(classify_connect_error("ssh: connect to host 10.233.0.99 port 22: Connection refused", false)
            .starts_with("connection refused"));
        assert_eq!(
            classify_connect_error("ssh: connect to host 10.233.0.99 port 22: No route to host", false),
            "unreachable"
        );
        assert_eq!(classify_connect_error("root@x: Permission denied (publickey).", false), "authentication failed");
        assert!(classify_connect_error("@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@", false)
            .starts_with("host key changed"));
        assert_eq!(classify_connect_error("connect to host x port 22: Connection timed out", false), "timed out");
    }

    #[test]
    fn shows_hostile_argv_readably() {
        assert_eq!(show_argv(&["echo", "a b", ""]), "echo \"a b\" \"\"");
        assert!(show_argv(&["x"; 300]).ends_with("..."));
    }
}
