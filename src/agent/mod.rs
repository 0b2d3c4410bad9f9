//! `faultline agent`: the packet agent, one daemon per node. It reads the packets the node sends
//! to the other database nodes from an NFQUEUE (fed by faultline's own iptables chain, with
//! `--queue-bypass` so a dead agent lets traffic through) and applies the profile of each peer:
//! delay with jitter, reordering, duplicates, corruption with checksums recomputed, loss and a rate
//! limit. The profile is a JSON file the agent re-reads when it changes, so faults come and go
//! without a restart; on SIGTERM/SIGINT every held packet is let go before it exits.
//!
//! One thread: packets are received without blocking, held ones sit in a heap ordered by the time
//! they are due, and `ppoll` sleeps on the queue's socket until the next packet or the next due
//! time. Verdicts may be given out of order (the `nfq` crate supports holding messages).

pub mod mangle;

use anyhow::{Context, Result};
use faultline_nemeses::agent::{Distribution, LinkProfile, Profile};
use nfq::{Message, Queue, Verdict};
use rand::{Rng, SeedableRng};
use rand_distr::Distribution as _;
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// The NFQUEUE number to read.
    #[arg(long, default_value_t = faultline_nemeses::agent::QUEUE)]
    pub queue: u16,
    /// The profile file (JSON), re-read whenever it changes.
    #[arg(long, default_value = faultline_nemeses::agent::PROFILE)]
    pub profile: PathBuf,
    /// Created once the queue is bound (how the starter knows the agent is ready).
    #[arg(long)]
    pub ready: Option<PathBuf>,
    /// Counters, rewritten every second.
    #[arg(long, default_value = faultline_nemeses::agent::STATS)]
    pub stats: PathBuf,
}

/// How often the profile file is looked at.
const RELOAD_EVERY: Duration = Duration::from_millis(100);
/// A rate-limited link drops what would wait longer than this (a tail-drop queue, as tbf's limit).
const MAX_BACKLOG: Duration = Duration::from_secs(2);
/// Packets the kernel may hold for the agent before it lets them through (fail-open).
const QUEUE_MAX_LEN: u32 = 16384;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// What the agent did, written to the stats file.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub seen: u64,
    pub passed: u64,
    pub delayed: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub corrupted: u64,
    pub held_now: u64,
}

struct Held {
    due: Instant,
    seq: u64,
    msg: Message,
}

impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        (self.due, self.seq) == (o.due, o.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Held {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(o.due, o.seq))
    }
}

struct Link {
    profile: LinkProfile,
    /// When a rate-limited link is free to send the next packet.
    next_free: Instant,
}

struct Agent {
    queue: Queue,
    fd: libc::c_int,
    raw: Option<socket2::Socket>,
    links: HashMap<IpAddr, Link>,
    held: BinaryHeap<Reverse<Held>>,
    seq: u64,
    rng: rand::rngs::StdRng,
    stats: Stats,
    profile_path: PathBuf,
    profile_stamp: Option<(SystemTime, u64)>,
}

/// The process's open sockets: (descriptor, `socket:[inode]`).
fn open_sockets() -> Vec<(libc::c_int, String)> {
    let fds: Vec<libc::c_int> = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default();
    fds.into_iter()
        .filter_map(|fd| {
            let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?.to_string_lossy().into_owned();
            link.starts_with("socket:").then_some((fd, link))
        })
        .collect()
}

/// Open the queue and find its netlink socket (the `nfq` crate does not expose it; it is the one
/// descriptor `Queue::open` added, as nothing else runs yet), to sleep on it with `ppoll`.
fn open_queue() -> Result<(Queue, libc::c_int)> {
    let before = open_sockets();
    let queue = Queue::open().context("opening a netfilter queue socket (needs root and nfnetlink_queue)")?;
    let fd = open_sockets()
        .into_iter()
        .find(|s| !before.contains(s))
        .map(|(fd, _)| fd)
        .context("cannot find the netfilter queue's socket")?;
    Ok((queue, fd))
}

pub fn run(args: AgentArgs) -> Result<()> {
    // SAFETY: installing a handler that only stores to an atomic, before any thread starts; no
    // SA_RESTART, so ppoll returns EINTR and the loop sees the request at once.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as *const () as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGTERM, &sa, std::ptr::null_mut());
        libc::sigaction(libc::SIGINT, &sa, std::ptr::null_mut());
    }
    let (mut queue, fd) = open_queue()?;
    queue.bind(args.queue).with_context(|| {
        format!("binding NFQUEUE {} (is another packet agent running in this network namespace?)", args.queue)
    })?;
    queue.set_queue_max_len(args.queue, QUEUE_MAX_LEN).context("setting the queue length")?;
    queue.set_fail_open(args.queue, true).context("setting fail-open")?;
    queue.set_copy_range(args.queue, u16::MAX).context("setting the copy range")?;
    queue.set_nonblocking(true);
    // Duplicates go out through a raw socket, marked so the queue rule lets them pass.
    let raw = match socket2::Socket::new_raw(socket2::Domain::IPV4, socket2::Type::RAW, Some(libc::IPPROTO_RAW.into()))
        .and_then(|s| s.set_mark(faultline_nemeses::agent::MARK).map(|_| s))
    {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("faultline agent: no raw socket for duplicates ({e}); duplicate does nothing");
            None
        }
    };
    let mut agent = Agent {
        queue,
        fd,
        raw,
        links: HashMap::new(),
        held: BinaryHeap::new(),
        seq: 0,
        rng: rand::rngs::StdRng::from_os_rng(),
        stats: Stats::default(),
        profile_path: args.profile.clone(),
        profile_stamp: None,
    };
    agent.reload_profile();
    if let Some(ready) = &args.ready {
        std::fs::write(ready, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing {}", ready.display()))?;
    }
    eprintln!("faultline agent: pid {} reading NFQUEUE {}", std::process::id(), args.queue);
    let (mut last_reload, mut last_stats) = (Instant::now(), Instant::now());
    while !STOP.load(Ordering::SeqCst) {
        agent.drain();
        agent.release_due(Instant::now());
        let now = Instant::now();
        if now >= last_reload + RELOAD_EVERY {
            agent.reload_profile();
            last_reload = now;
        }
        if now >= last_stats + Duration::from_secs(1) {
            agent.write_stats(&args.stats);
            last_stats = now;
        }
        let next_due = agent.held.peek().map(|Reverse(h)| h.due.saturating_duration_since(now));
        let wait = next_due.unwrap_or(RELOAD_EVERY).min(RELOAD_EVERY);
        agent.wait(wait);
    }
    // Let every held packet go (in due order) before leaving: a heal must not lose them.
    while let Some(Reverse(h)) = agent.held.pop() {
        agent.verdict(h.msg, Verdict::Accept);
    }
    let _ = agent.queue.unbind(args.queue);
    agent.write_stats(&args.stats);
    if let Some(ready) = &args.ready {
        let _ = std::fs::remove_file(ready);
    }
    eprintln!("faultline agent: stopped ({:?})", agent.stats);
    Ok(())
}

/// Where the agent acknowledges the profile text it loaded: `<profile>.loaded`.
fn loaded_path(profile: &std::path::Path) -> PathBuf {
    let mut name = profile.as_os_str().to_owned();
    name.push(".loaded");
    PathBuf::from(name)
}

impl Agent {
    fn wait(&self, timeout: Duration) {
        let mut pfd = libc::pollfd { fd: self.fd, events: libc::POLLIN, revents: 0 };
        let ts = libc::timespec { tv_sec: timeout.as_secs() as _, tv_nsec: timeout.subsec_nanos() as _ };
        // SAFETY: one valid pollfd and a valid timespec for the duration of the call.
        unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
    }

    fn verdict(&mut self, mut msg: Message, v: Verdict) {
        msg.set_verdict(v);
        if let Err(e) = self.queue.verdict(msg) {
            eprintln!("faultline agent: verdict failed: {e}");
        }
    }

    /// Take every packet the kernel has queued.
    fn drain(&mut self) {
        loop {
            match self.queue.recv() {
                Ok(msg) => self.on_packet(msg),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) || e.kind() == std::io::ErrorKind::Interrupted => {
                    continue
                }
                Err(e) => {
                    eprintln!("faultline agent: receiving from the queue: {e}");
                    return;
                }
            }
        }
    }

    fn release_due(&mut self, now: Instant) {
        while self.held.peek().is_some_and(|Reverse(h)| h.due <= now) {
            let Reverse(h) = self.held.pop().expect("peeked");
            self.verdict(h.msg, Verdict::Accept);
        }
        self.stats.held_now = self.held.len() as u64;
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.random::<f64>() < p
    }

    fn on_packet(&mut self, mut msg: Message) {
        self.stats.seen += 1;
        let now = Instant::now();
        let dst = mangle::destination(msg.get_payload());
        let Some(p) = dst.and_then(|d| self.links.get(&d)).map(|l| l.profile) else {
            self.stats.passed += 1;
            return self.verdict(msg, Verdict::Accept);
        };
        if self.chance(p.loss) {
            self.stats.dropped += 1;
            return self.verdict(msg, Verdict::Drop);
        }
        if self.chance(p.corrupt) {
            let mut bytes = msg.get_payload().to_vec();
            if mangle::corrupt(&mut bytes, self.rng.random::<u32>() as usize) {
                msg.set_payload(bytes);
                self.stats.corrupted += 1;
            }
        }
        if self.chance(p.duplicate) {
            if let (Some(raw), Some(IpAddr::V4(d))) = (&self.raw, dst) {
                let mut copy = msg.get_payload().to_vec();
                // Locally sent packets carry only a partial checksum (offload): complete it.
                mangle::fix_checksum(&mut copy);
                let to = socket2::SockAddr::from(std::net::SocketAddrV4::new(d, 0));
                if raw.send_to(&copy, &to).is_ok() {
                    self.stats.duplicated += 1;
                }
            }
        }
        let mut delay_us = p.delay_us as f64;
        if p.jitter_us > 0 {
            let j = p.jitter_us as f64;
            delay_us += match p.distribution {
                Distribution::Normal => rand_distr::Normal::new(0.0, j).map(|n| n.sample(&mut self.rng)).unwrap_or(0.0),
                Distribution::Uniform => self.rng.random_range(-j..=j),
            };
        }
        if self.chance(p.reorder) {
            delay_us += p.reorder_gap_us as f64;
            self.stats.reordered += 1;
        }
        let mut due = now + Duration::from_micros(delay_us.max(0.0) as u64);
        let bits = msg.get_payload().len() as u64 * 8;
        // Time on the wire at the link's rate (None: no rate limit).
        if let Some(ns) = (bits * 1_000_000_000).checked_div(p.rate_bps) {
            let link = self.links.get_mut(&dst.expect("a link has an address")).expect("looked up above");
            let start = due.max(link.next_free);
            if start.saturating_duration_since(now) > MAX_BACKLOG {
                self.stats.dropped += 1;
                return self.verdict(msg, Verdict::Drop);
            }
            due = start + Duration::from_nanos(ns);
            link.next_free = due;
        }
        if due <= now {
            self.stats.passed += 1;
            return self.verdict(msg, Verdict::Accept);
        }
        self.stats.delayed += 1;
        self.seq += 1;
        self.held.push(Reverse(Held { due, seq: self.seq, msg }));
    }

    /// Re-read the profile when the file changed; keep the current one if the new one is bad.
    fn reload_profile(&mut self) {
        let meta = match std::fs::metadata(&self.profile_path) {
            Ok(m) => m,
            Err(_) => {
                // No file: nothing to do to any packet.
                self.links.clear();
                self.profile_stamp = None;
                return;
            }
        };
        let stamp = (meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), meta.len());
        if self.profile_stamp == Some(stamp) {
            return;
        }
        let text = std::fs::read_to_string(&self.profile_path).map_err(|e| e.to_string());
        let parsed = text.clone().and_then(|t| serde_json::from_str::<Profile>(&t).map_err(|e| e.to_string()));
        match parsed {
            Ok(profile) => {
                let mut links = HashMap::new();
                for (addr, p) in &profile.links {
                    match addr.parse::<IpAddr>() {
                        Ok(ip) if !p.is_empty() => {
                            let next_free = self.links.get(&ip).map(|l| l.next_free).unwrap_or_else(Instant::now);
                            links.insert(ip, Link { profile: *p, next_free });
                        }
                        Ok(_) => {}
                        Err(_) => eprintln!("faultline agent: profile names '{addr}', not an IP address; ignored"),
                    }
                }
                eprintln!(
                    "faultline agent: profile {}",
                    if links.is_empty() {
                        "empty (every packet passes)".to_string()
                    } else {
                        profile
                            .links
                            .iter()
                            .map(|(a, p)| format!("{a}: {}", p.describe()))
                            .collect::<Vec<_>>()
                            .join("; ")
                    }
                );
                self.links = links;
                self.profile_stamp = Some(stamp);
                // Acknowledge: the writer waits until this file holds the text it wrote.
                let loaded = loaded_path(&self.profile_path);
                let tmp = loaded.with_extension("loaded.tmp");
                if std::fs::write(&tmp, text.unwrap_or_default()).is_ok() {
                    let _ = std::fs::rename(&tmp, &loaded);
                }
            }
            Err(e) => {
                eprintln!("faultline agent: {}: {e}; keeping the previous profile", self.profile_path.display());
                self.profile_stamp = Some(stamp);
            }
        }
    }

    fn write_stats(&self, path: &std::path::Path) {
        if let Ok(json) = serde_json::to_string(&self.stats) {
            let tmp = path.with_extension("tmp");
            if std::fs::write(&tmp, json).is_ok() {
                let _ = std::fs::rename(&tmp, path);
            }
        }
    }
}
