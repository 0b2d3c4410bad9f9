//! Every command the nemesis runs on a node, rendered as argv by pure functions, and the parsers for
//! the outputs it reads back.
//!
//! iptables rules live only in faultline's own chain `FAULTLINE`, jumped to from INPUT and OUTPUT; a
//! user's own rules are never touched. `tc` changes are made under faultline's own root qdisc handle
//! (`fa17:`), so they can be recognised and removed after a crash. Every iptables call passes `-w` to
//! wait for the xtables lock rather than fail when another rule change is in flight.

use std::net::IpAddr;
use std::time::Duration;

/// faultline's iptables chain.
pub const CHAIN: &str = "FAULTLINE";
/// The root qdisc handle faultline uses for `slow` (hex `fa17`, "faultline").
pub const QDISC_HANDLE: &str = "fa17:";
/// The netem band (class) under the root prio qdisc that peer traffic is steered into.
pub const NETEM_CLASS: &str = "fa17:4";

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// `iptables` or `ip6tables`, by the address family of `addr`.
pub fn iptables_for(addr: &str) -> &'static str {
    if addr.contains(':') {
        "ip6tables"
    } else {
        "iptables"
    }
}

/// Refuse addresses that a DROP rule must never name: unparsable ones, loopback and unspecified
/// addresses (dropping them would cut the node from itself), and the control node's own addresses.
pub fn check_rule_address(addr: &str, control_addresses: &[String]) -> Result<(), String> {
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("'{addr}' is not an IP address; partitions need node addresses, not host names"))?;
    if ip.is_loopback() || ip.is_unspecified() {
        return Err(format!("refusing a rule for {addr}: loopback/unspecified addresses are never partitioned"));
    }
    if control_addresses.iter().any(|c| c.parse::<IpAddr>().ok() == Some(ip)) {
        return Err(format!("refusing a rule for {addr}: it is the control node's address"));
    }
    Ok(())
}

/// Create the chain (fails harmlessly with "Chain already exists" when it does).
pub fn create_chain(bin: &str) -> Vec<String> {
    argv(&[bin, "-w", "-N", CHAIN])
}

/// Check whether `builtin` (INPUT or OUTPUT) already jumps to the chain (exit 0 = yes).
pub fn check_jump(bin: &str, builtin: &str) -> Vec<String> {
    argv(&[bin, "-w", "-C", builtin, "-j", CHAIN])
}

/// Insert the jump at the top of `builtin`; only after `check_jump` said it is absent.
pub fn insert_jump(bin: &str, builtin: &str) -> Vec<String> {
    argv(&[bin, "-w", "-I", builtin, "1", "-j", CHAIN])
}

/// Remove one jump from `builtin` (repeat while `check_jump` succeeds).
pub fn delete_jump(bin: &str, builtin: &str) -> Vec<String> {
    argv(&[bin, "-w", "-D", builtin, "-j", CHAIN])
}

/// Remove every rule in the chain (heal).
pub fn flush_chain(bin: &str) -> Vec<String> {
    argv(&[bin, "-w", "-F", CHAIN])
}

/// Delete the (empty, unreferenced) chain (teardown).
pub fn delete_chain(bin: &str) -> Vec<String> {
    argv(&[bin, "-w", "-X", CHAIN])
}

/// List the chain's rules (`-A FAULTLINE ...` lines); fails when the chain does not exist.
pub fn list_chain(bin: &str) -> Vec<String> {
    argv(&[bin, "-w", "-S", CHAIN])
}

/// Count the rules in `iptables -S FAULTLINE` output.
pub fn count_rules(listing: &str) -> usize {
    listing.lines().filter(|l| l.starts_with(&format!("-A {CHAIN} "))).count()
}

/// The rule specification (after `-A/-D FAULTLINE`) that drops every packet from `source`.
pub fn drop_from_spec(source: &str) -> Vec<String> {
    argv(&["-s", source, "-j", "DROP"])
}

/// The rule specification that drops packets from `source` with probability `p` (flaky links).
pub fn random_drop_from_spec(source: &str, p: f64) -> Vec<String> {
    let p = format!("{:.4}", p.clamp(0.0, 1.0));
    argv(&["-s", source, "-m", "statistic", "--mode", "random", "--probability", &p, "-j", "DROP"])
}

/// Append a rule to the chain.
pub fn append_rule(bin: &str, spec: &[String]) -> Vec<String> {
    let mut v = argv(&[bin, "-w", "-A", CHAIN]);
    v.extend(spec.iter().cloned());
    v
}

/// Delete one instance of a rule from the chain (iptables deletes the first match, so two faults
/// that added the same rule each remove their own copy).
pub fn delete_rule(bin: &str, spec: &[String]) -> Vec<String> {
    let mut v = argv(&[bin, "-w", "-D", CHAIN]);
    v.extend(spec.iter().cloned());
    v
}

/// Ask the kernel which interface reaches `addr`.
pub fn route_get(addr: &str) -> Vec<String> {
    argv(&["ip", "-o", "route", "get", addr])
}

/// The `dev` of `ip -o route get` output.
pub fn parse_route_dev(output: &str) -> Option<String> {
    let mut words = output.split_whitespace();
    while let Some(w) = words.next() {
        if w == "dev" {
            return words.next().map(str::to_string);
        }
    }
    None
}

/// Milliseconds with a unit, as tc wants them.
fn tc_ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// The commands that delay traffic from this node to `peers` on `dev` by `delay` ± `jitter`:
/// a 4-band prio root qdisc (the default priomap only uses bands 1-3, so band 4 gets nothing but
/// what the filters steer there), netem on band 4, and one u32 filter per peer address. Traffic
/// to anything else (the control node included) is not delayed.
pub fn netem_commands(dev: &str, peers: &[String], delay: Duration, jitter: Duration) -> Vec<Vec<String>> {
    let mut cmds = vec![
        argv(&[
            "tc",
            "qdisc",
            "add",
            "dev",
            dev,
            "root",
            "handle",
            QDISC_HANDLE,
            "prio",
            "bands",
            "4",
            "priomap",
            "1",
            "2",
            "2",
            "2",
            "1",
            "2",
            "0",
            "0",
            "1",
            "1",
            "1",
            "1",
            "1",
            "1",
            "1",
            "1",
        ]),
        argv(&[
            "tc",
            "qdisc",
            "add",
            "dev",
            dev,
            "parent",
            NETEM_CLASS,
            "handle",
            "fa18:",
            "netem",
            "delay",
            &tc_ms(delay),
            &tc_ms(jitter),
        ]),
    ];
    for peer in peers {
        let (proto, matcher, prefix) = if peer.contains(':') { ("ipv6", "ip6", "128") } else { ("ip", "ip", "32") };
        cmds.push(argv(&[
            "tc",
            "filter",
            "add",
            "dev",
            dev,
            "parent",
            QDISC_HANDLE,
            "protocol",
            proto,
            "prio",
            "1",
            "u32",
            "match",
            matcher,
            "dst",
            &format!("{peer}/{prefix}"),
            "flowid",
            NETEM_CLASS,
        ]));
    }
    cmds
}

/// Remove faultline's root qdisc (and with it the netem child and the filters) from `dev`.
pub fn netem_delete(dev: &str) -> Vec<String> {
    argv(&["tc", "qdisc", "del", "dev", dev, "root", "handle", QDISC_HANDLE])
}

/// List qdiscs on every interface.
pub fn qdisc_show() -> Vec<String> {
    argv(&["tc", "qdisc", "show"])
}

/// The interfaces whose root qdisc is faultline's (from `tc qdisc show`).
pub fn parse_faultline_qdisc_devs(output: &str) -> Vec<String> {
    let mut devs = Vec::new();
    for line in output.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        // "qdisc prio fa17: dev eth0 root refcnt 2 bands 4 ..."
        if words.len() >= 6
            && words[0] == "qdisc"
            && words[2] == QDISC_HANDLE
            && words[3] == "dev"
            && words[5] == "root"
        {
            let dev = words[4].to_string();
            if !devs.contains(&dev) {
                devs.push(dev);
            }
        }
    }
    devs
}

/// A TCP connect from the node this runs on to `addr:port`, giving up after `timeout_s` seconds.
/// Exit 0 means connected; see `probe_connected` for reading the result.
pub fn probe(addr: &str, port: u16, timeout_s: u32) -> Vec<String> {
    // bash's /dev/tcp needs no extra package; the address is not user text (it is a checked IP).
    argv(&["timeout", &timeout_s.to_string(), "bash", "-c", &format!("exec 3<>/dev/tcp/{addr}/{port}")])
}

/// Whether a probe's result shows the packets got through: connected, or refused (a RST came back,
/// so the link carries packets both ways even if nothing listens).
pub fn probe_connected(status: i32, stderr: &str) -> bool {
    status == 0 || stderr.contains("Connection refused")
}

/// Shell script that bumps the wall clock by `offset_ms` (may be negative), keeping sub-second
/// precision, then strobes it `flips` times between +`strobe_ms` and back with `period_ms` pauses,
/// ending at the bumped time. Runs as `sh -c SCRIPT`; numbers only, no user text.
pub fn clock_bump_script(offset_ms: i64, strobe_ms: i64, flips: u32, period_ms: u64) -> String {
    let bump = |ms: i64| {
        format!("date -s \"@$(date +%s.%N | awk -v d={ms} '{{printf \"%.6f\", $1 + d / 1000}}')\" >/dev/null")
    };
    let mut script = format!("set -e; {}", bump(offset_ms));
    if flips > 0 && strobe_ms != 0 {
        let pause = format!("{}.{:03}", period_ms / 1000, period_ms % 1000);
        script.push_str(&format!(
            "; i=0; while [ $i -lt {flips} ]; do {}; sleep {pause}; {}; sleep {pause}; i=$((i+1)); done",
            bump(strobe_ms),
            bump(-strobe_ms)
        ));
    }
    script
}

/// argv for `clock_bump_script`.
pub fn clock_bump(offset_ms: i64, strobe_ms: i64, flips: u32, period_ms: u64) -> Vec<String> {
    vec!["sh".into(), "-c".into(), clock_bump_script(offset_ms, strobe_ms, flips, period_ms)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[String]) -> String {
        v.join(" ")
    }

    #[test]
    fn chain_commands() {
        assert_eq!(s(&create_chain("iptables")), "iptables -w -N FAULTLINE");
        assert_eq!(s(&check_jump("iptables", "INPUT")), "iptables -w -C INPUT -j FAULTLINE");
        assert_eq!(s(&insert_jump("iptables", "OUTPUT")), "iptables -w -I OUTPUT 1 -j FAULTLINE");
        assert_eq!(s(&delete_jump("ip6tables", "INPUT")), "ip6tables -w -D INPUT -j FAULTLINE");
        assert_eq!(s(&flush_chain("iptables")), "iptables -w -F FAULTLINE");
        assert_eq!(s(&delete_chain("iptables")), "iptables -w -X FAULTLINE");
        assert_eq!(s(&list_chain("iptables")), "iptables -w -S FAULTLINE");
    }

    #[test]
    fn rules_only_touch_the_faultline_chain() {
        let spec = drop_from_spec("10.233.0.12");
        assert_eq!(s(&append_rule("iptables", &spec)), "iptables -w -A FAULTLINE -s 10.233.0.12 -j DROP");
        assert_eq!(s(&delete_rule("iptables", &spec)), "iptables -w -D FAULTLINE -s 10.233.0.12 -j DROP");
        let flaky = random_drop_from_spec("10.233.0.13", 0.2);
        assert_eq!(
            s(&append_rule("iptables", &flaky)),
            "iptables -w -A FAULTLINE -s 10.233.0.13 -m statistic --mode random --probability 0.2000 -j DROP"
        );
        assert_eq!(iptables_for("fd00::2"), "ip6tables");
        assert_eq!(iptables_for("10.0.0.2"), "iptables");
    }

    #[test]
    fn rule_addresses_are_checked() {
        let control = vec!["10.233.0.1".to_string()];
        assert!(check_rule_address("10.233.0.12", &control).is_ok());
        assert!(check_rule_address("10.233.0.1", &control).unwrap_err().contains("control node"));
        assert!(check_rule_address("127.0.0.1", &control).unwrap_err().contains("loopback"));
        assert!(check_rule_address("::1", &control).is_err());
        assert!(check_rule_address("db-1.example", &control).unwrap_err().contains("not an IP"));
    }

    #[test]
    fn counts_rules_in_listing() {
        let listing = "-N FAULTLINE\n-A FAULTLINE -s 10.0.0.2/32 -j DROP\n-A FAULTLINE -s 10.0.0.3/32 -j DROP\n";
        assert_eq!(count_rules(listing), 2);
        assert_eq!(count_rules("-N FAULTLINE\n"), 0);
    }

    #[test]
    fn route_and_qdisc_parsing() {
        let out = "10.233.0.12 dev veth-n1 src 10.233.0.11 uid 0 \\    cache ";
        assert_eq!(parse_route_dev(out).as_deref(), Some("veth-n1"));
        assert_eq!(parse_route_dev("RTNETLINK answers: Network is unreachable"), None);
        let show = "qdisc noqueue 0: dev lo root refcnt 2\n\
                    qdisc prio fa17: dev eth0 root refcnt 2 bands 4 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1\n\
                    qdisc netem fa18: dev eth0 parent fa17:4 limit 1000 delay 50ms  10ms\n\
                    qdisc prio 1: dev eth1 root refcnt 2 bands 3\n";
        assert_eq!(parse_faultline_qdisc_devs(show), vec!["eth0".to_string()]);
    }

    #[test]
    fn netem_rendering_steers_only_peers() {
        let cmds = netem_commands(
            "eth0",
            &["10.0.0.2".into(), "fd00::3".into()],
            Duration::from_millis(50),
            Duration::from_millis(10),
        );
        assert_eq!(cmds.len(), 4);
        assert!(s(&cmds[0]).starts_with("tc qdisc add dev eth0 root handle fa17: prio bands 4 priomap 1 2 2 2"));
        assert_eq!(s(&cmds[1]), "tc qdisc add dev eth0 parent fa17:4 handle fa18: netem delay 50ms 10ms");
        assert_eq!(
            s(&cmds[2]),
            "tc filter add dev eth0 parent fa17: protocol ip prio 1 u32 match ip dst 10.0.0.2/32 flowid fa17:4"
        );
        assert!(s(&cmds[3]).contains("protocol ipv6") && s(&cmds[3]).contains("ip6 dst fd00::3/128"));
        assert_eq!(s(&netem_delete("eth0")), "tc qdisc del dev eth0 root handle fa17:");
        // The default priomap never names band 4 (index 3), so unfiltered traffic is not delayed.
        assert!(!cmds[0][11..].iter().any(|w| w == "3"));
    }

    #[test]
    fn probe_rendering_and_reading() {
        assert_eq!(s(&probe("10.0.0.2", 22, 1)), "timeout 1 bash -c exec 3<>/dev/tcp/10.0.0.2/22");
        assert!(probe_connected(0, ""));
        assert!(probe_connected(1, "bash: connect: Connection refused"));
        assert!(!probe_connected(124, ""));
        assert!(!probe_connected(1, "bash: connect: No route to host"));
    }

    #[test]
    fn clock_script_is_numbers_only() {
        let v = clock_bump(-1500, 200, 3, 50);
        assert_eq!(&v[..2], &["sh".to_string(), "-c".to_string()]);
        assert!(v[2].contains("-v d=-1500"), "{}", v[2]);
        assert!(v[2].contains("-v d=200") && v[2].contains("-v d=-200") && v[2].contains("-lt 3"));
        assert!(v[2].contains("sleep 0.050"));
        let plain = clock_bump_script(700, 0, 0, 0);
        assert!(!plain.contains("while"));
    }
}

/// The rendered shell commands really run (on this machine, harmlessly): probes against a local
/// listener, and the clock script with `date -s` swapped for `echo` so it checks syntax and arithmetic
/// without touching the clock.
#[cfg(test)]
mod local_run_tests {
    use super::*;
    use std::process::Command;

    fn run(argv: &[String]) -> (i32, String, String) {
        let o = Command::new(&argv[0]).args(&argv[1..]).output().expect("spawn");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into(),
            String::from_utf8_lossy(&o.stderr).into(),
        )
    }

    #[test]
    fn probe_connects_to_a_listener_and_reads_refused_as_reachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (status, _, stderr) = run(&probe("127.0.0.1", port, 2));
        assert!(probe_connected(status, &stderr), "status {status} {stderr}");
        drop(listener);
        let (status, _, stderr) = run(&probe("127.0.0.1", port, 2));
        assert_ne!(status, 0);
        assert!(probe_connected(status, &stderr), "a refused connect still shows the link carries packets: {stderr}");
    }

    #[test]
    fn clock_script_runs_with_echo_instead_of_date_s() {
        let script = clock_bump_script(-1500, 120, 2, 10).replace("date -s ", "echo ").replace(">/dev/null", "");
        assert!(!script.contains("date -s"), "would touch the clock: {script}");
        let (status, stdout, stderr) = run(&["sh".into(), "-c".into(), script]);
        assert_eq!(status, 0, "{stderr}");
        let stamps: Vec<f64> = stdout.lines().map(|l| l.trim_start_matches('@').parse().unwrap()).collect();
        assert_eq!(stamps.len(), 5, "{stdout}");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!((stamps[0] - (now - 1.5)).abs() < 1.0, "bump lands 1.5 s back: {stamps:?} now {now}");
    }
}
