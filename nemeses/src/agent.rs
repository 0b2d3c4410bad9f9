//! The packet agent as the nemesis drives it: the profile it applies (plain data, written to a
//! file on the node that the agent re-reads), the commands that start and stop it, the iptables
//! rule that feeds it, and the network probes that verify what it does (argv and the parsers of
//! their JSON output). The agent itself (`faultline agent`, NFQUEUE) lives in the binary.
//!
//! Paths are fixed under `/run/faultline/` on each node: one agent per network namespace, and
//! `heal_nodes` finds it there after a crash without any record of the run.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The NFQUEUE number the agent reads ("fa17" is faultline's mark elsewhere; 0xfa17 = 64023).
pub const QUEUE: u16 = 0xfa17;
/// The firewall mark of the agent's own packets (duplicates it sends), which its rule skips.
pub const MARK: u32 = 0xfa17;
/// The agent's files on each node.
pub const DIR: &str = "/run/faultline";
pub const PIDFILE: &str = "/run/faultline/agent.pid";
pub const PROFILE: &str = "/run/faultline/agent-profile.json";
/// The profile text the agent last loaded (the acknowledgement a profile change waits for).
pub const PROFILE_LOADED: &str = "/run/faultline/agent-profile.json.loaded";
pub const READY: &str = "/run/faultline/agent.ready";
pub const STATS: &str = "/run/faultline/agent-stats.json";
pub const LOG: &str = "/run/faultline/agent.log";
/// The UDP port of the packet probe's receiver.
pub const PROBE_UDP_PORT: u16 = 47017;

/// How the jitter of `slow` is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    /// delay + N(0, jitter), clipped at zero (netem's default shape).
    #[default]
    Normal,
    /// delay + U(-jitter, +jitter).
    Uniform,
}

impl Distribution {
    pub fn parse(word: &str) -> Result<Distribution, String> {
        match word.trim() {
            "normal" => Ok(Distribution::Normal),
            "uniform" => Ok(Distribution::Uniform),
            w => Err(format!("--distribution '{w}': valid distributions are normal, uniform")),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Distribution::Normal => "normal",
            Distribution::Uniform => "uniform",
        }
    }
}

/// What the agent does to the packets a node sends to one peer. All zero: pass untouched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinkProfile {
    pub delay_us: u64,
    pub jitter_us: u64,
    pub distribution: Distribution,
    /// Probability a packet is dropped.
    pub loss: f64,
    /// Probability a packet is sent twice.
    pub duplicate: f64,
    /// Probability a packet is held back `reorder_gap_us` longer, so later ones overtake it.
    pub reorder: f64,
    pub reorder_gap_us: u64,
    /// Probability one bit of a packet's transport payload is flipped (checksum recomputed).
    pub corrupt: f64,
    /// Rate limit in bits per second (0: none).
    pub rate_bps: u64,
}

impl LinkProfile {
    pub fn is_empty(&self) -> bool {
        *self == LinkProfile { distribution: self.distribution, ..LinkProfile::default() }
    }

    /// Combine two profiles of the same link (two packet faults active at once): each knob from
    /// whichever sets it.
    pub fn merge(&self, o: &LinkProfile) -> LinkProfile {
        let pick_f = |a: f64, b: f64| if a > 0.0 { a } else { b };
        let pick_u = |a: u64, b: u64| if a > 0 { a } else { b };
        LinkProfile {
            delay_us: pick_u(self.delay_us, o.delay_us),
            jitter_us: pick_u(self.jitter_us, o.jitter_us),
            distribution: if self.delay_us > 0 { self.distribution } else { o.distribution },
            loss: pick_f(self.loss, o.loss),
            duplicate: pick_f(self.duplicate, o.duplicate),
            reorder: pick_f(self.reorder, o.reorder),
            reorder_gap_us: pick_u(self.reorder_gap_us, o.reorder_gap_us),
            corrupt: pick_f(self.corrupt, o.corrupt),
            rate_bps: pick_u(self.rate_bps, o.rate_bps),
        }
    }

    /// The profile in words, for the report's fault windows table and the log.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let ms = |us: u64| format!("{}ms", us as f64 / 1000.0);
        if self.delay_us > 0 || self.jitter_us > 0 {
            parts.push(format!("delay {} ± {} ({})", ms(self.delay_us), ms(self.jitter_us), self.distribution.name()));
        }
        if self.loss > 0.0 {
            parts.push(format!("loss {}%", self.loss * 100.0));
        }
        if self.duplicate > 0.0 {
            parts.push(format!("duplicate {}%", self.duplicate * 100.0));
        }
        if self.reorder > 0.0 {
            parts.push(format!("reorder {}% by {}", self.reorder * 100.0, ms(self.reorder_gap_us)));
        }
        if self.corrupt > 0.0 {
            parts.push(format!("corrupt {}%", self.corrupt * 100.0));
        }
        if self.rate_bps > 0 {
            parts.push(format!("rate {} kbit/s", self.rate_bps / 1000));
        }
        if parts.is_empty() {
            "pass".into()
        } else {
            parts.join(", ")
        }
    }
}

/// What one node's agent applies: peer address -> profile of the packets sent to it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default)]
    pub links: BTreeMap<String, LinkProfile>,
}

impl Profile {
    pub fn is_empty(&self) -> bool {
        self.links.values().all(LinkProfile::is_empty)
    }
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// Start the agent on a node unless it already runs there, wait until it has bound its queue, and
/// print `ready` (or the log's tail and exit 1). `bin` is the faultline binary on the node.
pub fn start_argv(bin: &str) -> Vec<String> {
    const SCRIPT: &str = r#"bin=$1 dir=$2 pidfile=$3 ready=$4 log=$5 profile=$6 queue=$7
mkdir -p "$dir" || exit 1
pid=$(cat "$pidfile" 2>/dev/null)
if [ -n "$pid" ] && grep -qs "agent" "/proc/$pid/cmdline" && [ -e "$ready" ]; then echo ready; exit 0; fi
rm -f "$ready"
[ -e "$profile" ] || echo '{}' > "$profile"
setsid "$bin" agent --queue "$queue" --profile "$profile" --ready "$ready" </dev/null >>"$log" 2>&1 &
echo $! > "$pidfile"
i=0
while [ $i -lt 50 ]; do
  [ -e "$ready" ] && { echo ready; exit 0; }
  kill -0 $! 2>/dev/null || break
  sleep 0.1; i=$((i+1))
done
echo "the packet agent did not start:" >&2; tail -n 5 "$log" >&2; exit 1"#;
    let queue = QUEUE.to_string();
    argv(&["sh", "-c", SCRIPT, "sh", bin, DIR, PIDFILE, READY, LOG, PROFILE, &queue])
}

/// Stop the agent (SIGTERM: it lets every held packet go, then exits; SIGKILL after 3 s) and
/// remove its files. Prints `stopped PID` or nothing when no agent ran.
pub fn stop_argv() -> Vec<String> {
    const SCRIPT: &str = r#"pidfile=$1 dir=$2
pid=$(cat "$pidfile" 2>/dev/null)
if [ -n "$pid" ] && grep -qs "agent" "/proc/$pid/cmdline"; then
  kill -TERM "$pid" 2>/dev/null
  i=0; while [ $i -lt 30 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; i=$((i+1)); done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  echo "stopped $pid"
fi
rm -f "$pidfile" "$dir/agent.ready" "$dir/agent-profile.json" "$dir/agent-profile.json.loaded" "$dir/agent-stats.json""#;
    argv(&["sh", "-c", SCRIPT, "sh", PIDFILE, DIR])
}

/// Replace the agent's profile atomically and wait (up to 3 s) until the agent has loaded it: it
/// re-reads the file every 100 ms and then writes the text it applied to [`PROFILE_LOADED`].
/// Without the wait, a verification probe sent at once could cross the link before the profile
/// is in force (found by the soak: `slow` measured 0.3 ms where 100 ms was configured).
pub fn write_profile_argv(profile: &Profile) -> Vec<String> {
    const SCRIPT: &str = r#"json=$1 profile=$2 tmp=$3 loaded=$4 log=$5
mkdir -p "$(dirname "$profile")" && printf '%s' "$json" > "$tmp" && mv -f "$tmp" "$profile" || exit 1
i=0
while [ $i -lt 60 ]; do
  [ "$(cat "$loaded" 2>/dev/null)" = "$json" ] && exit 0
  sleep 0.05; i=$((i+1))
done
echo "the packet agent did not load its new profile within 3 s:" >&2; tail -n 3 "$log" >&2; exit 1"#;
    let json = serde_json::to_string(profile).unwrap_or_else(|_| "{}".into());
    let tmp = format!("{PROFILE}.tmp");
    argv(&["sh", "-c", SCRIPT, "sh", &json, PROFILE, &tmp, PROFILE_LOADED, LOG])
}

/// The rule spec (after `-A FAULTLINE`) that queues every packet for `peer` to the agent, except
/// the agent's own (marked) packets; `--queue-bypass` lets traffic through when no agent listens.
pub fn queue_rule_spec(peer: &str) -> Vec<String> {
    let mark = format!("0x{MARK:x}");
    let queue = QUEUE.to_string();
    argv(&["-d", peer, "-m", "mark", "!", "--mark", &mark, "-j", "NFQUEUE", "--queue-num", &queue, "--queue-bypass"])
}

/// Median TCP connect time from the node to `addr:port` over `count` connects.
pub fn rtt_argv(bin: &str, addr: &str, port: u16, count: u32) -> Vec<String> {
    argv(&[bin, "net-probe", "rtt", "--to", addr, "--port", &port.to_string(), "--count", &count.to_string()])
}

/// Receive the packet probe's datagrams for up to `wait`; prints [`SinkReport`] as JSON.
pub fn sink_argv(bin: &str, count: u32, wait: Duration) -> Vec<String> {
    argv(&[
        bin,
        "net-probe",
        "sink",
        "--port",
        &PROBE_UDP_PORT.to_string(),
        "--count",
        &count.to_string(),
        "--wait-ms",
        &wait.as_millis().to_string(),
    ])
}

/// Send `count` numbered datagrams of `size` bytes to `addr`, after `after` (the sink's start).
pub fn send_argv(bin: &str, addr: &str, count: u32, size: usize, after: Duration) -> Vec<String> {
    argv(&[
        bin,
        "net-probe",
        "send",
        "--to",
        addr,
        "--port",
        &PROBE_UDP_PORT.to_string(),
        "--count",
        &count.to_string(),
        "--size",
        &size.to_string(),
        "--after-ms",
        &after.as_millis().to_string(),
    ])
}

/// What `net-probe rtt` prints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RttReport {
    pub samples_ms: Vec<f64>,
    /// -1 when no connect completed.
    pub median_ms: f64,
    #[serde(default)]
    pub errors: u32,
}

/// What `net-probe sink` prints: how the probe's datagrams arrived.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SinkReport {
    /// Datagrams received (duplicates included).
    pub received: u32,
    /// Distinct sequence numbers received.
    pub unique: u32,
    /// Datagrams whose sequence number had been received before.
    pub duplicates: u32,
    /// Datagrams that arrived after a later-numbered one.
    pub reordered: u32,
    /// Datagrams whose payload is not what the sender wrote.
    pub corrupted: u32,
    /// Payload bytes received.
    pub bytes: u64,
    /// Time from the first to the last datagram.
    pub span_ms: f64,
}

impl SinkReport {
    /// The receive rate in bits per second (0 when fewer than two datagrams arrived).
    pub fn rate_bps(&self) -> f64 {
        if self.span_ms <= 0.0 {
            0.0
        } else {
            self.bytes as f64 * 8.0 / (self.span_ms / 1000.0)
        }
    }
}

/// Parse the JSON one of the probes printed, naming the probe on error.
pub fn parse_report<T: for<'de> Deserialize<'de>>(what: &str, stdout: &str) -> Result<T, String> {
    let line = stdout.lines().rev().find(|l| l.trim_start().starts_with('{')).unwrap_or("");
    serde_json::from_str(line).map_err(|e| format!("{what} printed no report ({e}): {}", stdout.trim()))
}

/// The payload byte at `i` of probe datagram `seq` (after its 4-byte sequence number), so the sink
/// can tell corrupted payloads from intact ones. Every bit of `seq` changes the pattern, so a flip
/// in the sequence number shows as corruption too.
pub fn probe_byte(seq: u32, i: usize) -> u8 {
    let folded = seq.to_be_bytes().iter().fold(0u8, |a, b| a ^ b);
    folded.wrapping_mul(31).wrapping_add((i as u8).wrapping_mul(7))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_round_trips_and_merges() {
        let slow = LinkProfile { delay_us: 50_000, jitter_us: 10_000, ..Default::default() };
        let dup = LinkProfile { duplicate: 0.2, ..Default::default() };
        let both = slow.merge(&dup);
        assert_eq!(both.delay_us, 50_000);
        assert_eq!(both.duplicate, 0.2);
        assert!(LinkProfile::default().is_empty() && !both.is_empty());
        assert_eq!(both.describe(), "delay 50ms ± 10ms (normal), duplicate 20%");
        let mut p = Profile::default();
        p.links.insert("10.0.0.2".into(), both);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Profile>(&json).unwrap(), p);
        assert_eq!(serde_json::from_str::<Profile>("{}").unwrap(), Profile::default());
    }

    #[test]
    fn rule_queues_with_bypass_and_skips_own_packets() {
        let spec = queue_rule_spec("10.233.0.12").join(" ");
        assert_eq!(spec, "-d 10.233.0.12 -m mark ! --mark 0xfa17 -j NFQUEUE --queue-num 64023 --queue-bypass");
    }

    #[test]
    fn probe_reports_parse() {
        let r: SinkReport = parse_report(
            "sink",
            "noise\n{\"received\":3,\"unique\":2,\"duplicates\":1,\"reordered\":0,\"corrupted\":0,\"bytes\":300,\"span_ms\":1.0}\n",
        )
        .unwrap();
        assert_eq!(r.duplicates, 1);
        assert!((r.rate_bps() - 2_400_000.0).abs() < 1.0);
        assert!(parse_report::<RttReport>("rtt", "oops").unwrap_err().contains("rtt printed no report"));
    }
}
