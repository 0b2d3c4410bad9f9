//! The recipe file (`--db-recipe FILE.toml`) as data: parsed with serde (unknown fields refused),
//! then checked field by field, templates included, before any node is touched. Every error names
//! the file, the field and what is wrong. `docs/db-recipe.md` documents each field.

use faultline_control::bad_input;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A database recipe, as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeFile {
    /// What runs and reports call the database; also the prefix of its files on each node.
    pub name: String,
    /// TCP ports the database listens on (clients and peers).
    #[serde(default)]
    pub ports: Vec<u16>,
    #[serde(default)]
    pub install: Install,
    /// Configuration files rendered on every node.
    #[serde(default)]
    pub files: Vec<FileSpec>,
    pub daemon: DaemonSpec,
    /// A shell command run on each node after the data directory is removed (set-up, teardown).
    #[serde(default)]
    pub wipe: Option<String>,
    /// More log files to collect (templates), besides the daemon's own output.
    #[serde(default)]
    pub logs: Vec<String>,
    #[serde(default)]
    pub primary: Option<PrimarySpec>,
}

/// How the database gets onto the nodes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Install {
    /// Debian packages, installed with apt-get where `provides` is missing.
    #[serde(default)]
    pub packages: Vec<String>,
    /// A file or command the packages install (an absolute path, or a name on PATH).
    #[serde(default)]
    pub provides: Option<String>,
    /// A binary on the control node to upload to every node (`{{ binary }}`).
    #[serde(default)]
    pub binary: Option<PathBuf>,
    /// A .tar, .tar.gz, .tgz or .tar.xz on the control node, unpacked on every node into
    /// `{{ install_dir }}`.
    #[serde(default)]
    pub archive: Option<PathBuf>,
}

/// One configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Where: absolute, or relative to the node's data directory (`{{ data_dir }}`). A template.
    pub path: String,
    /// The template text inline...
    #[serde(default)]
    pub template: Option<String>,
    /// ...or a template file, relative to the recipe file.
    #[serde(default)]
    pub source: Option<PathBuf>,
    /// Octal permissions, e.g. "0600" (default "0644").
    #[serde(default)]
    pub mode: Option<String>,
}

/// The daemon and how to tell that it serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonSpec {
    /// The argv, each word a template; it must stay in the foreground.
    pub command: Vec<String>,
    /// /proc/PID/comm of the running daemon (default: the file name of `command[0]`).
    #[serde(default)]
    pub process_name: Option<String>,
    /// Environment variables (values are templates).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A shell command run on the node until it exits 0, once every node has started.
    #[serde(default)]
    pub ready: Option<String>,
    /// How long `ready` may keep failing (default 60s).
    #[serde(default)]
    pub ready_timeout: Option<String>,
}

/// Who leads, and promotion on primary/replica databases.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrimarySpec {
    /// A shell command run on each node: exit 0 means this node is a primary (leader) now.
    pub command: String,
    /// Make this node a primary (the `failover` fault).
    #[serde(default)]
    pub promote: Option<String>,
    /// Make this node a replica of `{{ primary.address }}` (after a promotion, and at heal).
    #[serde(default)]
    pub follow: Option<String>,
}

/// The values every template sees. Built per node; `primary` is the node that writes go to
/// (the first node at set-up, the promoted one after a failover).
#[derive(Debug, Clone, Serialize)]
pub struct TemplateVars {
    pub name: String,
    pub address: String,
    /// 1-based position of the node in the node list (ZooKeeper's myid).
    pub index: usize,
    pub nodes: Vec<NodeVars>,
    pub peers: Vec<NodeVars>,
    pub primary: NodeVars,
    pub is_primary: bool,
    pub root: String,
    pub data_dir: String,
    pub log_file: String,
    pub pid_file: String,
    pub install_dir: String,
    pub binary: String,
}

/// A node as templates see it.
#[derive(Debug, Clone, Serialize)]
pub struct NodeVars {
    pub name: String,
    pub address: String,
    pub index: usize,
}

/// Render one template; errors say what tera says (undefined variable, syntax).
pub fn render(text: &str, vars: &TemplateVars) -> anyhow::Result<String> {
    let ctx = tera::Context::from_serialize(vars).map_err(|e| anyhow::anyhow!("template values: {e:?}"))?;
    tera::Tera::one_off(text, &ctx, false).map_err(|e| anyhow::anyhow!("{}", tera_message(&e)))
}

/// tera's error with its causes, on one line.
fn tera_message(e: &tera::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.dedup();
    parts.join(": ").replace('\n', " ")
}

/// A recipe read and checked: the file's fields with paths resolved, templates loaded, durations
/// parsed.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// The file it came from, as given.
    pub file: PathBuf,
    pub spec: RecipeFile,
    /// The templates of `files`, loaded (inline or from `source`), with their rendered paths'
    /// templates.
    pub files: Vec<(String, String, u32)>,
    pub process_name: String,
    pub ready_timeout: Duration,
}

/// Read and check a recipe file; every error is bad input naming the file and the field.
pub fn load(file: &Path) -> anyhow::Result<Recipe> {
    let shown = file.display().to_string();
    let text =
        std::fs::read_to_string(file).map_err(|e| bad_input(format!("--db-recipe {shown}: cannot read: {e}")))?;
    let spec: RecipeFile = toml::from_str(&text).map_err(|e| bad_input(toml_error(&shown, &text, &e)))?;
    check(file, spec).map_err(|(field, what)| bad_input(format!("{shown}: {field}: {what}")))
}

/// `file: line L, column C: message` from a toml error.
fn toml_error(file: &str, text: &str, e: &toml::de::Error) -> String {
    let at = e.span().map(|s| {
        let before = &text[..s.start.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("line {line}, column {col}: ")
    });
    format!("{file}: {}{}", at.unwrap_or_default(), e.message().trim())
}

type FieldError = (String, String);

fn field_err(field: &str, what: impl Into<String>) -> FieldError {
    (field.to_string(), what.into())
}

/// The semantic checks serde cannot do.
fn check(file: &Path, spec: RecipeFile) -> Result<Recipe, FieldError> {
    let base = file.parent().unwrap_or(Path::new("."));
    let name = &spec.name;
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_') {
        return Err(field_err(
            "name",
            format!("{name:?} must be lowercase letters, digits, '-' or '_' (it names files on the nodes)"),
        ));
    }
    if crate::registry().iter().any(|d| d.name() == name) {
        return Err(field_err(
            "name",
            format!("{name:?} is a built-in database; name the recipe differently (e.g. {name}-recipe)"),
        ));
    }
    if let Some(i) = spec.ports.iter().position(|p| *p == 0) {
        return Err(field_err(&format!("ports[{i}]"), "0 is not a port"));
    }
    let install = &spec.install;
    if !install.packages.is_empty() && install.provides.is_none() {
        return Err(field_err("install.provides", "required with install.packages: a file or command the packages install, so that faultline knows when they are there"));
    }
    if install.provides.is_some() && install.packages.is_empty() {
        return Err(field_err("install.provides", "says what install.packages provide, but there are no packages"));
    }
    if let Some(i) = install
        .packages
        .iter()
        .position(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_alphanumeric() || "+-.:".contains(c)))
    {
        return Err(field_err(
            &format!("install.packages[{i}]"),
            format!("{:?} is not a Debian package name", install.packages[i]),
        ));
    }
    let mut spec = spec;
    if let Some(b) = &spec.install.binary {
        let resolved = base.join(b);
        if !resolved.is_file() {
            return Err(field_err("install.binary", format!("{} is not a file", resolved.display())));
        }
        spec.install.binary = Some(resolved);
    }
    if let Some(a) = &spec.install.archive {
        let resolved = base.join(a);
        if !resolved.is_file() {
            return Err(field_err("install.archive", format!("{} is not a file", resolved.display())));
        }
        if archive_flag(&resolved).is_none() {
            return Err(field_err(
                "install.archive",
                format!("{}: expected .tar, .tar.gz, .tgz or .tar.xz", resolved.display()),
            ));
        }
        spec.install.archive = Some(resolved);
    }
    let daemon = &spec.daemon;
    if daemon.command.is_empty() || daemon.command[0].trim().is_empty() {
        return Err(field_err("daemon.command", "needs at least the program to run"));
    }
    let process_name = match &daemon.process_name {
        Some(p) if p.is_empty() || p.contains('/') => {
            return Err(field_err("daemon.process_name", format!("{p:?} must be a process name as in /proc/PID/comm")))
        }
        Some(p) => p.clone(),
        None => daemon.command[0].rsplit('/').next().unwrap_or_default().to_string(),
    };
    if process_name.contains("{{") || process_name.contains("{%") {
        return Err(field_err(
            "daemon.process_name",
            "command[0] is a template; say the process name in daemon.process_name",
        ));
    }
    for k in daemon.env.keys() {
        if k.is_empty() || k.contains('=') || k.contains('\0') {
            return Err(field_err("daemon.env", format!("{k:?} is not an environment variable name")));
        }
    }
    let ready_timeout = match &daemon.ready_timeout {
        None => Duration::from_secs(60),
        Some(t) => humantime::parse_duration(t)
            .map_err(|e| field_err("daemon.ready_timeout", format!("{t:?} is not a duration like 60s ({e})")))?,
    };
    if daemon.ready_timeout.is_some() && daemon.ready.is_none() {
        return Err(field_err("daemon.ready_timeout", "there is no daemon.ready command to time"));
    }
    if let Some(p) = &spec.primary {
        if p.follow.is_some() && p.promote.is_none() {
            return Err(field_err(
                "primary.follow",
                "needs primary.promote (replicas are re-pointed only after a promotion)",
            ));
        }
    }
    let mut files = Vec::new();
    for (i, f) in spec.files.iter().enumerate() {
        let field = format!("files[{i}]");
        let text = match (&f.template, &f.source) {
            (Some(t), None) => t.clone(),
            (None, Some(src)) => {
                let resolved = base.join(src);
                std::fs::read_to_string(&resolved).map_err(|e| {
                    field_err(&format!("{field}.source"), format!("cannot read {}: {e}", resolved.display()))
                })?
            }
            _ => return Err(field_err(&field, "needs exactly one of template (inline) or source (a file)")),
        };
        if f.path.trim().is_empty() || f.path.split('/').any(|part| part == "..") {
            return Err(field_err(&format!("{field}.path"), format!("{:?} must name a file, without '..'", f.path)));
        }
        let mode = match &f.mode {
            None => 0o644,
            Some(m) => {
                u32::from_str_radix(m.trim_start_matches("0o"), 8).ok().filter(|m| *m <= 0o7777).ok_or_else(|| {
                    field_err(&format!("{field}.mode"), format!("{m:?} is not octal permissions like \"0644\""))
                })?
            }
        };
        files.push((f.path.clone(), text, mode));
    }
    let recipe = Recipe { file: file.to_path_buf(), spec, files, process_name, ready_timeout };
    recipe.check_templates()?;
    Ok(recipe)
}

/// tar's decompression flag for an archive's name.
pub fn archive_flag(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_str()?;
    [(".tar.gz", "-z"), (".tgz", "-z"), (".tar.xz", "-J"), (".tar", "")]
        .into_iter()
        .find(|(ext, _)| name.ends_with(ext))
        .map(|(_, flag)| flag)
}

impl Recipe {
    /// Every template of the recipe with its field name.
    pub fn templates(&self) -> Vec<(String, &str)> {
        let s = &self.spec;
        let mut out: Vec<(String, &str)> = Vec::new();
        for (i, w) in s.daemon.command.iter().enumerate() {
            out.push((format!("daemon.command[{i}]"), w));
        }
        for (k, v) in &s.daemon.env {
            out.push((format!("daemon.env.{k}"), v));
        }
        if let Some(r) = &s.daemon.ready {
            out.push(("daemon.ready".into(), r));
        }
        for (i, (path, text, _)) in self.files.iter().enumerate() {
            out.push((format!("files[{i}].path"), path));
            let which = if s.files[i].source.is_some() { "source" } else { "template" };
            out.push((format!("files[{i}].{which}"), text));
        }
        if let Some(w) = &s.wipe {
            out.push(("wipe".into(), w));
        }
        for (i, l) in s.logs.iter().enumerate() {
            out.push((format!("logs[{i}]"), l));
        }
        if let Some(p) = &s.primary {
            out.push(("primary.command".into(), &p.command));
            if let Some(c) = &p.promote {
                out.push(("primary.promote".into(), c));
            }
            if let Some(c) = &p.follow {
                out.push(("primary.follow".into(), c));
            }
        }
        out
    }

    /// Render every template against three example nodes, so that a syntax error or an unknown
    /// variable is found now and not on the nodes.
    fn check_templates(&self) -> Result<(), FieldError> {
        let nodes: Vec<NodeVars> =
            (1..=3).map(|i| NodeVars { name: format!("n{i}"), address: format!("10.0.0.{i}"), index: i }).collect();
        let vars = self.vars_for(&nodes, 1, &nodes[0], "/var/lib/faultline");
        for (field, text) in self.templates() {
            render(text, &vars).map_err(|e| field_err(&field, format!("template: {e:#}")))?;
        }
        Ok(())
    }

    /// The template values for node number `index` (1-based) of `nodes`.
    pub fn vars_for(&self, nodes: &[NodeVars], index: usize, primary: &NodeVars, root: &str) -> TemplateVars {
        let me = &nodes[index - 1];
        let root = root.trim_end_matches('/').to_string();
        let prefix = format!("{root}/{}", self.spec.name);
        TemplateVars {
            name: me.name.clone(),
            address: me.address.clone(),
            index,
            nodes: nodes.to_vec(),
            peers: nodes.iter().filter(|n| n.index != index).cloned().collect(),
            primary: primary.clone(),
            is_primary: primary.name == me.name,
            data_dir: format!("{prefix}.data"),
            log_file: format!("{prefix}.log"),
            pid_file: format!("{prefix}.pid"),
            install_dir: format!("{prefix}.install"),
            binary: format!("{root}/bin/{}", self.binary_name()),
            root,
        }
    }

    /// The file name an uploaded binary gets on the nodes.
    pub fn binary_name(&self) -> String {
        match &self.spec.install.binary {
            Some(b) => {
                b.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| self.spec.name.clone())
            }
            None => self.spec.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("r.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn err(text: &str) -> String {
        let dir = std::env::temp_dir().join(format!("recipe-spec-{}-{}", std::process::id(), rand_suffix(text)));
        std::fs::create_dir_all(&dir).unwrap();
        let e = load(&write(&dir, text)).unwrap_err();
        assert!(faultline_control::error::is_bad_input(&e), "{e:#}");
        format!("{e:#}")
    }

    fn rand_suffix(text: &str) -> u64 {
        text.bytes().fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
    }

    const GOOD: &str = r#"
name = "toy"
ports = [7000]
[install]
packages = ["toy-server"]
provides = "toy"
[[files]]
path = "conf/toy.cfg"
template = "id={{ index }}\n{% for n in nodes %}peer={{ n.address }}\n{% endfor %}"
[daemon]
command = ["toy", "--config", "{{ data_dir }}/conf/toy.cfg"]
ready = "toyctl ping {{ address }}"
ready_timeout = "30s"
[primary]
command = "toyctl leader {{ address }}"
"#;

    #[test]
    fn a_good_recipe_loads_and_renders() {
        let dir = std::env::temp_dir().join(format!("recipe-good-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let r = load(&write(&dir, GOOD)).unwrap();
        assert_eq!(r.process_name, "toy");
        assert_eq!(r.ready_timeout, Duration::from_secs(30));
        let nodes: Vec<NodeVars> =
            (1..=2).map(|i| NodeVars { name: format!("n{i}"), address: format!("a{i}"), index: i }).collect();
        let v = r.vars_for(&nodes, 2, &nodes[0], "/x/");
        assert_eq!(render(&r.files[0].1, &v).unwrap(), "id=2\npeer=a1\npeer=a2\n");
        assert_eq!(v.data_dir, "/x/toy.data");
        assert!(!v.is_primary);
        assert_eq!(v.peers.len(), 1);
    }

    #[test]
    fn errors_name_the_file_the_field_and_what_is_wrong() {
        let e = err(&GOOD.replace("ready_timeout = \"30s\"", "ready_timeout = \"soon\""));
        assert!(e.contains("r.toml: daemon.ready_timeout: \"soon\" is not a duration"), "{e}");
        let e = err(&GOOD.replace("[daemon]", "[daemon]\ncolour = 1"));
        assert!(e.contains("r.toml: line ") && e.contains("unknown field `colour`"), "{e}");
        let e = err(&GOOD.replace("{{ index }}", "{{ myid }}"));
        assert!(e.contains("r.toml: files[0].template: template:") && e.contains("myid"), "{e}");
        let e = err(&GOOD.replace("provides = \"toy\"", ""));
        assert!(e.contains("install.provides: required with install.packages"), "{e}");
        let e = err(&GOOD.replace("name = \"toy\"", "name = \"etcd\""));
        assert!(e.contains("name: \"etcd\" is a built-in database"), "{e}");
        let e = err(&GOOD.replace(
            "[primary]\ncommand = \"toyctl leader {{ address }}\"",
            "[primary]\ncommand = \"x\"\nfollow = \"y\"",
        ));
        assert!(e.contains("primary.follow: needs primary.promote"), "{e}");
        let e = err(&GOOD.replace("template = \"id=", "source = \"nope.tera\"\ntemplate = \"id="));
        assert!(e.contains("files[0]: needs exactly one of template"), "{e}");
        let e = err(&GOOD.replace("command = [\"toy\",", "command = [\"{{ binary }}\","));
        assert!(e.contains("daemon.process_name"), "{e}");
        let e = err("name = \"x\"\n");
        assert!(e.contains("missing field `daemon`"), "{e}");
    }
}
