//! Capability probe for `slow`: does the node's kernel have the traffic-control modules it needs
//! (sch_netem for the delay, sch_prio and cls_u32 to delay only traffic to the other nodes)?
//!
//! The probe is a read-only shell script (nothing is loaded or changed); `interpret_probe` is a pure
//! function over its output so the message for a kernel without netem is unit-tested here.

/// Kernel modules `slow` needs, with their config symbols.
pub const REQUIRED: [(&str, &str); 3] =
    [("sch_netem", "CONFIG_NET_SCH_NETEM"), ("sch_prio", "CONFIG_NET_SCH_PRIO"), ("cls_u32", "CONFIG_NET_CLS_U32")];

/// The probe: prints `kernel=`, `tc=yes|no`, one `MODULE=loaded|builtin|module|missing` line per
/// module, and the kernel config lines for the modules when the config is readable.
pub fn probe_script() -> String {
    let mut s = String::from(
        "k=$(uname -r); echo kernel=$k; if command -v tc >/dev/null 2>&1; then echo tc=yes; else echo tc=no; fi; ",
    );
    for (module, _) in REQUIRED {
        s.push_str(&format!(
            "if [ -d /sys/module/{module} ]; then echo {module}=loaded; \
             elif grep -qs '/{module}.ko' /lib/modules/$k/modules.builtin; then echo {module}=builtin; \
             elif find /lib/modules/$k -name '{module}.ko*' 2>/dev/null | grep -q .; then echo {module}=module; \
             else echo {module}=missing; fi; "
        ));
    }
    let symbols: Vec<&str> = REQUIRED.iter().map(|(_, c)| *c).collect();
    s.push_str(&format!(
        "{{ zcat /proc/config.gz 2>/dev/null || cat /boot/config-$k 2>/dev/null; }} | grep -E '({})[= ]' || true",
        symbols.join("|")
    ));
    s
}

/// argv for the probe.
pub fn probe_argv() -> Vec<String> {
    vec!["sh".into(), "-c".into(), probe_script()]
}

/// How one module stands according to the probe.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Presence {
    Available(&'static str),
    Missing(String),
}

fn module_presence(output: &str, module: &str, symbol: &str) -> Presence {
    let field = output.lines().find_map(|l| l.trim().strip_prefix(&format!("{module}="))).map(str::trim).unwrap_or("");
    let config = output.lines().map(str::trim).find_map(|l| {
        if l == format!("# {symbol} is not set") {
            Some("n")
        } else {
            l.strip_prefix(&format!("{symbol}="))
        }
    });
    match (field, config) {
        ("loaded", _) => Presence::Available("loaded"),
        ("builtin", _) | (_, Some("y")) => Presence::Available("built in"),
        // The kernel loads a qdisc module on first use (or `modprobe` does).
        ("module", _) => Presence::Available("available as a module"),
        (_, Some("n")) => Presence::Missing(format!("{symbol} is not set")),
        (_, Some("m")) => Presence::Missing(format!("{symbol}=m but no {module}.ko is installed")),
        _ => Presence::Missing(format!("no {module} module is loaded or installed")),
    }
}

/// Read the probe output of `node`: `Ok(())` when `slow` can run there, otherwise a message that
/// names the node, the kernel, each missing module and what to do.
pub fn interpret_probe(node: &str, output: &str) -> Result<(), String> {
    let kernel = output
        .lines()
        .find_map(|l| l.trim().strip_prefix("kernel="))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .unwrap_or("(unknown)");
    let mut problems = Vec::new();
    if output.lines().any(|l| l.trim() == "tc=no") {
        problems.push("the `tc` command is missing (install iproute2)".to_string());
    }
    let mut missing = Vec::new();
    for (module, symbol) in REQUIRED {
        if let Presence::Missing(why) = module_presence(output, module, symbol) {
            problems.push(format!("{module} is missing ({why})"));
            missing.push((module, symbol));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let mut msg = format!("the `slow` fault cannot run on {node}: kernel {kernel}: {}", problems.join("; "));
    if !missing.is_empty() {
        let modules: Vec<&str> = missing.iter().map(|(m, _)| *m).collect();
        let symbols: Vec<&str> = missing.iter().map(|(_, s)| *s).collect();
        msg.push_str(&format!(
            ". `slow` delays packets with `tc qdisc ... netem delay`; load the module(s) with `modprobe {}` as root, \
             or run the nodes on a kernel built with {} (e.g. a distribution kernel rather than a minimal VM kernel); \
             or leave `slow` out of --nemesis",
            modules.join(" "),
            symbols.join(", ")
        ));
    }
    Err(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the probe prints on this development machine (a Firecracker kernel without netem).
    const NO_NETEM: &str = "kernel=6.18.44-fc-v657\ntc=yes\nsch_netem=missing\nsch_prio=missing\ncls_u32=loaded\n\
        # CONFIG_NET_SCH_PRIO is not set\n# CONFIG_NET_SCH_NETEM is not set\nCONFIG_NET_CLS_U32=y\n";

    #[test]
    fn missing_netem_is_named_with_the_fix() {
        let e = interpret_probe("n1", NO_NETEM).unwrap_err();
        assert!(e.contains("n1") && e.contains("6.18.44-fc-v657"), "{e}");
        assert!(e.contains("sch_netem is missing (CONFIG_NET_SCH_NETEM is not set)"), "{e}");
        assert!(e.contains("modprobe sch_netem sch_prio"), "{e}");
        assert!(e.contains("CONFIG_NET_SCH_NETEM"), "{e}");
        assert!(!e.contains("cls_u32 is missing"), "{e}");
    }

    #[test]
    fn available_kernels_pass() {
        let loaded = "kernel=6.1.0-18-amd64\ntc=yes\nsch_netem=loaded\nsch_prio=module\ncls_u32=module\n";
        assert_eq!(interpret_probe("n1", loaded), Ok(()));
        let builtin = "kernel=6.1.0\ntc=yes\nsch_netem=missing\nsch_prio=missing\ncls_u32=missing\n\
            CONFIG_NET_SCH_NETEM=y\nCONFIG_NET_SCH_PRIO=y\nCONFIG_NET_CLS_U32=y\n";
        assert_eq!(interpret_probe("n1", builtin), Ok(()));
    }

    #[test]
    fn missing_tc_and_unknown_state_are_reported() {
        let e = interpret_probe("n3", "kernel=5.10\ntc=no\nsch_netem=loaded\nsch_prio=loaded\ncls_u32=loaded\n")
            .unwrap_err();
        assert!(e.contains("tc") && e.contains("iproute2"), "{e}");
        let e = interpret_probe("n2", "").unwrap_err();
        assert!(e.contains("(unknown)") && e.contains("no sch_netem module"), "{e}");
        let e = interpret_probe(
            "n2",
            "kernel=x\ntc=yes\nsch_netem=missing\nsch_prio=loaded\ncls_u32=loaded\nCONFIG_NET_SCH_NETEM=m\n",
        )
        .unwrap_err();
        assert!(e.contains("CONFIG_NET_SCH_NETEM=m but no sch_netem.ko"), "{e}");
    }

    #[test]
    fn probe_is_read_only() {
        let s = probe_script();
        for word in ["modprobe", "insmod", "tc qdisc add", "rmmod"] {
            assert!(!s.contains(word), "probe runs {word}");
        }
        assert_eq!(probe_argv()[..2], ["sh".to_string(), "-c".to_string()]);
    }
}

/// The probe script really runs here (it is read-only) and its output is understood.
#[cfg(test)]
mod local_run_tests {
    use super::*;

    #[test]
    fn probe_runs_and_is_understood() {
        let o = std::process::Command::new("sh").arg("-c").arg(probe_script()).output().expect("sh");
        assert!(o.status.success());
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("kernel=") && out.contains("tc="), "{out}");
        for (module, _) in REQUIRED {
            assert!(out.contains(&format!("{module}=")), "{out}");
        }
        match interpret_probe("local", &out) {
            Ok(()) => {}
            Err(e) => assert!(e.contains("is missing") && e.contains("local"), "{e}"),
        }
    }
}
