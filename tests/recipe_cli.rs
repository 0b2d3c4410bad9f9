//! `--db-recipe` and `--client` at the command line: a bad recipe is refused before any node is
//! touched, with the file, the field and what is wrong (exit 254); flags that need each other;
//! faults a recipe cannot support refused at preflight with the reason, before set-up.

mod common;

use common::faultline;
use std::path::Path;

fn test_with(recipe: &Path, extra: &[&str]) -> (i32, String) {
    let out = faultline()
        .args(["test", "--local", "--node-count", "3", "--db-recipe"])
        .arg(recipe)
        .args(["--client", "true", "--time-limit", "5s"])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn a_bad_recipe_names_file_field_and_problem_before_touching_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let cases = [
        ("name = \"x\"\n[daemon]\ncommand = []\n", "daemon.command: needs at least the program to run"),
        ("name = \"x\"\nports = [2181]\n[daemon]\ncommand = [\"x\"]\nready_timeout = \"1 minute-ish\"\nready = \"true\"\n", "daemon.ready_timeout: \"1 minute-ish\" is not a duration"),
        ("name = \"x\"\n[daemon]\ncommand = [\"x\", \"{{ adress }}\"]\n", "daemon.command[1]: template:"),
        ("name = \"x\"\n[daemon]\ncommand = [\"x\"]\n[[files]]\npath = \"a\"\nsource = \"missing.tera\"\n", "files[0].source: cannot read"),
        ("name = \"x\"\n[daemon]\ncommand = [\"x\"]\nrestart = true\n", "line 4, column 1: unknown field `restart`"),
        ("name = \"X Y\"\n[daemon]\ncommand = [\"x\"]\n", "name: \"X Y\" must be lowercase"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&file, text).unwrap();
        let (code, out) = test_with(&file, &["--store", store.to_str().unwrap()]);
        assert_eq!(code, 254, "{text}\n{out}");
        assert!(out.contains(&format!("{}: {want}", file.display())), "wanted {want:?}:\n{out}");
        assert!(!store.exists(), "a run directory was made for a bad recipe");
    }
    // --db-recipe needs --client, and excludes --db.
    let out =
        faultline().args(["test", "--local", "--db-recipe", "examples/zookeeper/zookeeper.toml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(254));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--client"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = faultline()
        .args(["test", "--local", "--db", "etcd", "--db-recipe", "examples/etcd/etcd.toml", "--client", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(254));
}

#[test]
fn faults_a_recipe_cannot_support_are_refused_at_preflight() {
    if !common::have_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("bare.toml");
    std::fs::write(&bare, "name = \"bare\"\n[daemon]\ncommand = [\"sleep\", \"1000\"]\n").unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    let _lock = common::cluster_lock();
    common::ensure_cluster();
    let (code, out) = test_with(&bare, &["--nemesis", "partition-leader", "--store", s]);
    assert_eq!(code, 254, "{out}");
    assert!(
        out.contains(&format!(
            "partition-leader: bare cannot name its primaries ({} has no [primary] command)",
            bare.display()
        )),
        "{out}"
    );
    let (code, out) =
        test_with(Path::new("examples/zookeeper/zookeeper.toml"), &["--nemesis", "failover", "--store", s]);
    assert_eq!(code, 254, "{out}");
    assert!(
        out.contains(
            "failover: zookeeper cannot promote a node (examples/zookeeper/zookeeper.toml has no primary.promote)"
        ),
        "{out}"
    );
    // Refused before set-up: nothing was started.
    assert!(!out.contains("setting up"), "{out}");
    let (code, out) = test_with(&bare, &["--read-from", "leader", "--store", s]);
    assert_eq!(code, 254, "{out}");
    assert!(out.contains("has no [primary] command, so it cannot say which node leads"), "{out}");
}
