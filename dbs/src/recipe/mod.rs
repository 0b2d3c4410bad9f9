//! A database described by a recipe file (`--db-recipe FILE.toml`) instead of Rust: install
//! (packages, or an uploaded binary or archive), configuration files rendered from templates,
//! a daemon started with a pidfile and a ready-check, kill / pause through the same [`Daemon`]
//! as the built-in adapters, and, when the recipe says how, the primary and promotion.
//!
//! Capabilities follow from the recipe: every recipe has a daemon, so `kill` and `pause` work;
//! `[primary] command` gives `partition-leader` and `--read-from leader`; `[primary] promote`
//! gives `failover`. A recipe has no client of its own: runs pair it with `--client`.

pub mod spec;

pub use spec::{load, Recipe};

use crate::daemon::{ensure_package, tail, upload_binary, Daemon, SHORT};
use crate::{ClientOptions, Db, DbNode, DbOptions, PauseControl, PrimaryControl, PrimaryRoute, ProcessControl};
use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use faultline_workloads::{Client, Workload};
use futures::future::join_all;
use spec::{render, NodeVars, TemplateVars};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// A loaded recipe as a [`Db`]. Made once per process by [`RecipeDb::leak`]: the runner holds
/// databases as `&'static dyn Db`, as it holds the built-in ones.
pub struct RecipeDb {
    pub recipe: Recipe,
    daemon: Daemon,
    ports: &'static [u16],
    host_packages: &'static [(&'static str, &'static str)],
}

/// The recipes loaded by this process, so that resuming paused processes and clearing
/// leftovers know their process names too (see [`crate::lifecycle`]).
fn loaded() -> &'static Mutex<Vec<&'static RecipeDb>> {
    static LOADED: OnceLock<Mutex<Vec<&'static RecipeDb>>> = OnceLock::new();
    LOADED.get_or_init(Default::default)
}

/// Every recipe loaded so far.
pub fn loaded_recipes() -> Vec<&'static dyn Db> {
    loaded().lock().unwrap_or_else(|e| e.into_inner()).iter().map(|r| *r as &'static dyn Db).collect()
}

/// The file of the recipe loaded under `name`, if one is.
pub fn loaded_recipe_file(name: &str) -> Option<std::path::PathBuf> {
    let loaded = loaded().lock().unwrap_or_else(|e| e.into_inner());
    loaded.iter().find(|r| r.name() == name).map(|r| r.recipe.file.clone())
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

impl RecipeDb {
    /// Load, check and keep a recipe for the rest of the process.
    pub fn leak(file: &std::path::Path) -> Result<&'static RecipeDb> {
        let recipe = spec::load(file)?;
        let s = &recipe.spec;
        let daemon = Daemon {
            prefix: leak(&s.name),
            comm: leak(&recipe.process_name),
            binary: leak(&s.daemon.command[0]),
            package: leak(&s.install.packages.join(" ")),
        };
        let host_packages: Vec<(&'static str, &'static str)> = match &s.install.provides {
            Some(p) => s.install.packages.iter().map(|pkg| (leak(p), leak(pkg))).collect(),
            None => Vec::new(),
        };
        let db: &'static RecipeDb = Box::leak(Box::new(RecipeDb {
            ports: Box::leak(s.ports.clone().into_boxed_slice()),
            host_packages: Box::leak(host_packages.into_boxed_slice()),
            daemon,
            recipe,
        }));
        loaded().lock().unwrap_or_else(|e| e.into_inner()).push(db);
        Ok(db)
    }

    /// The template values of `node` among `nodes`, with `primary` the node writes go to.
    fn vars(&self, node: &DbNode, nodes: &[DbNode], primary: &str) -> Result<TemplateVars> {
        let all: Vec<NodeVars> = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| NodeVars { name: n.name.clone(), address: n.host.clone(), index: i + 1 })
            .collect();
        let index = nodes.iter().position(|n| n.name == node.name).map(|i| i + 1);
        // A node outside the list (never in a run) still gets values: it is its own cluster.
        let (all, index) = match index {
            Some(i) => (all, i),
            None => (vec![NodeVars { name: node.name.clone(), address: node.host.clone(), index: 1 }], 1),
        };
        let primary = all.iter().find(|n| n.name == primary).unwrap_or(&all[0]).clone();
        Ok(self.recipe.vars_for(&all, index, &primary, &node.root))
    }

    /// Render the template of `field` for a node, naming the recipe and field when it fails.
    fn render(&self, field: &str, text: &str, vars: &TemplateVars) -> Result<String> {
        render(text, vars).with_context(|| format!("{}: {field} on {}", self.recipe.file.display(), vars.name))
    }

    /// Run a recipe shell command (a template) on a node as root, in the node's root directory.
    async fn shell(&self, field: &str, text: &str, vars: &TemplateVars, n: &DbNode, t: Duration) -> Result<Output> {
        let script = self.render(field, text, vars)?;
        let out = n.ssh.run_root(&["sh", "-c", "cd \"$1\" && shift && eval \"$1\"", "sh", &n.root, &script], t).await?;
        Ok(Output { ok: out.success(), status: out.status, text: format!("{}{}", out.stdout, out.stderr) })
    }

    /// Run a recipe shell command that must succeed; the error names the field, the node, the
    /// status and the output's last lines.
    async fn step(&self, field: &str, text: &str, vars: &TemplateVars, n: &DbNode, t: Duration) -> Result<()> {
        let out = self.shell(field, text, vars, n, t).await?;
        if !out.ok {
            bail!(
                "{}: {field} failed on {} (status {}): {}",
                self.recipe.file.display(),
                n.name,
                out.status,
                tail(&out.text)
            );
        }
        Ok(())
    }

    /// Start the daemon on `n` with its existing data and configuration.
    async fn start_daemon(&self, n: &DbNode, vars: &TemplateVars) -> Result<()> {
        let d = &self.recipe.spec.daemon;
        let mut argv = Vec::with_capacity(d.command.len());
        for (i, w) in d.command.iter().enumerate() {
            argv.push(self.render(&format!("daemon.command[{i}]"), w, vars)?);
        }
        let mut env = Vec::new();
        for (k, v) in &d.env {
            env.push((k.clone(), self.render(&format!("daemon.env.{k}"), v, vars)?));
        }
        self.daemon.start(n, &argv, &env).await
    }

    /// Stop, wipe, render the files and start on one node.
    async fn fresh_start(&self, n: &DbNode, nodes: &[DbNode], primary: &str) -> Result<()> {
        let vars = self.vars(n, nodes, primary)?;
        self.daemon.stop(n).await?;
        self.wipe(n, &vars).await?;
        n.ssh.run_root(&["rm", "-f", &self.daemon.logfile(n)], SHORT).await?.check(&n.name, &["rm"])?;
        for (i, (path, text, mode)) in self.recipe.files.iter().enumerate() {
            let path = self.render(&format!("files[{i}].path"), path, &vars)?;
            let path = if path.starts_with('/') { path } else { format!("{}/{path}", vars.data_dir) };
            let which = if self.recipe.spec.files[i].source.is_some() { "source" } else { "template" };
            let body = self.render(&format!("files[{i}].{which}"), text, &vars)?;
            let mode = format!("{mode:o}");
            let script = "mkdir -p \"$(dirname \"$1\")\" && printf %s \"$2\" > \"$1\" && chmod \"$3\" \"$1\"";
            n.ssh
                .run_root(&["sh", "-c", script, "sh", &path, &body, &mode], SHORT)
                .await?
                .check(&n.name, &["sh", "-c", "(write a configuration file)", &path])?;
        }
        self.start_daemon(n, &vars).await
    }

    /// Remove the data directory, then run the recipe's `wipe` command.
    async fn wipe(&self, n: &DbNode, vars: &TemplateVars) -> Result<()> {
        n.ssh.run_root(&["rm", "-rf", &vars.data_dir], SHORT).await?.check(&n.name, &["rm", "-rf", &vars.data_dir])?;
        n.ssh.run_root(&["mkdir", "-p", &vars.data_dir], SHORT).await?.check(&n.name, &["mkdir"])?;
        if let Some(w) = &self.recipe.spec.wipe {
            self.step("wipe", w, vars, n, Duration::from_secs(60)).await?;
        }
        Ok(())
    }

    /// Run `ready` on `n` until it exits 0 or the recipe's ready timeout passes.
    async fn wait_ready(&self, n: &DbNode, nodes: &[DbNode], primary: &str) -> Result<()> {
        let Some(ready) = &self.recipe.spec.daemon.ready else { return Ok(()) };
        let vars = self.vars(n, nodes, primary)?;
        let limit = self.recipe.ready_timeout;
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let out = self.shell("daemon.ready", ready, &vars, n, SHORT).await?;
            if out.ok {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                let log = n.ssh.run_root(&["tail", "-n", "5", &self.daemon.logfile(n)], SHORT).await;
                let log = log.map(|o| tail(&o.stdout)).unwrap_or_default();
                bail!(
                    "{}: daemon.ready still failing on {} after {} (status {}: {}); last log lines: {log}",
                    self.recipe.file.display(),
                    n.name,
                    humantime::format_duration(limit),
                    out.status,
                    tail(&out.text)
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// What a recipe command did.
struct Output {
    ok: bool,
    status: i32,
    text: String,
}

#[async_trait]
impl Db for RecipeDb {
    fn name(&self) -> &'static str {
        self.daemon.prefix
    }
    fn daemon(&self) -> &Daemon {
        &self.daemon
    }
    fn ports(&self) -> &'static [u16] {
        self.ports
    }
    fn host_packages(&self) -> &'static [(&'static str, &'static str)] {
        self.host_packages
    }

    /// Packages where `provides` is missing, then the binary (or `--db-binary`) and the archive.
    /// One node at a time: the local cluster's nodes share one dpkg database.
    async fn install(&self, nodes: &[DbNode], opts: &DbOptions) -> Result<()> {
        let install = &self.recipe.spec.install;
        let binary = opts.binary.as_ref().or(install.binary.as_ref());
        for n in nodes {
            if let Some(provides) = &install.provides {
                ensure_package(n, provides, self.daemon.package).await?;
            }
            if let Some(local) = binary {
                upload_binary(n, local, &self.recipe.binary_name()).await?;
            }
            if let Some(archive) = &install.archive {
                let dir = n.path(&format!("{}.install", self.recipe.spec.name));
                let remote = n.path(&format!("{}.archive", self.recipe.spec.name));
                n.ssh.run_root(&["mkdir", "-p", &n.root], SHORT).await?.check(&n.name, &["mkdir"])?;
                n.ssh
                    .upload(archive, &remote)
                    .await
                    .with_context(|| format!("uploading install.archive {} to {}", archive.display(), n.name))?;
                let flag = spec::archive_flag(archive).unwrap_or("");
                let script =
                    format!("rm -rf \"$1\" && mkdir -p \"$1\" && tar -x {flag} -f \"$2\" -C \"$1\" && rm -f \"$2\"");
                n.ssh
                    .run_root(&["sh", "-c", &script, "sh", &dir, &remote], Duration::from_secs(300))
                    .await?
                    .check(&n.name, &["tar", "-x", "-f", &remote])?;
            }
        }
        Ok(())
    }

    /// Wipe, render and start every node, then run the ready-check on each.
    async fn setup(&self, nodes: &[DbNode], _opts: &DbOptions) -> Result<()> {
        let primary = nodes[0].name.clone();
        for r in join_all(nodes.iter().map(|n| self.fresh_start(n, nodes, &primary))).await {
            r?;
        }
        for r in join_all(nodes.iter().map(|n| self.wait_ready(n, nodes, &primary))).await {
            r?;
        }
        Ok(())
    }

    async fn teardown(&self, nodes: &[DbNode]) -> Result<()> {
        let results = join_all(nodes.iter().map(|n| async move {
            self.daemon.stop(n).await?;
            let vars = self.vars(n, nodes, &nodes[0].name)?;
            self.wipe(n, &vars).await?;
            n.ssh.run_root(&["rm", "-rf", &vars.data_dir], SHORT).await?;
            anyhow::Ok(())
        }))
        .await;
        results.into_iter().collect()
    }

    fn log_files(&self, node: &DbNode) -> Vec<String> {
        let mut files = vec![self.daemon.logfile(node)];
        let vars = self.vars(node, std::slice::from_ref(node), &node.name);
        for (i, l) in self.recipe.spec.logs.iter().enumerate() {
            match vars
                .as_ref()
                .map_err(|e| anyhow::anyhow!("{e:#}"))
                .and_then(|v| self.render(&format!("logs[{i}]"), l, v))
            {
                Ok(f) => files.push(f),
                Err(e) => tracing::warn!("{e:#}"),
            }
        }
        files
    }

    fn required_tools(&self) -> &'static [&'static str] {
        &["sh", "kill", "cat", "rm", "mkdir", "pgrep", "awk", "tar"]
    }

    /// A recipe has no client of its own: `--client` supplies one.
    fn client(
        &self,
        workload: &dyn Workload,
        _: &DbNode,
        _: &ClientOptions,
        _: &PrimaryRoute,
    ) -> Result<Box<dyn Client>> {
        bail!(
            "{} is a recipe ({}) and has no built-in client for {}: pass --client 'COMMAND ARGS' (docs/client-protocol.md)",
            self.name(),
            self.recipe.file.display(),
            workload.name()
        )
    }
    fn process(&self) -> Option<&dyn ProcessControl> {
        Some(self)
    }
    fn pause(&self) -> Option<&dyn PauseControl> {
        Some(self)
    }
    fn primary(&self) -> Option<&dyn PrimaryControl> {
        self.recipe.spec.primary.as_ref().map(|_| self as &dyn PrimaryControl)
    }
}

#[async_trait]
impl ProcessControl for RecipeDb {
    async fn kill(&self, n: &DbNode) -> Result<bool> {
        self.daemon.kill(n).await
    }
    /// Start again with the existing data and configuration (after a kill).
    async fn start(&self, n: &DbNode, nodes: &[DbNode]) -> Result<()> {
        if self.daemon.is_running(n).await? {
            return Ok(());
        }
        let vars = self.vars(n, nodes, &nodes[0].name)?;
        self.start_daemon(n, &vars).await
    }
}

#[async_trait]
impl PauseControl for RecipeDb {
    async fn pause(&self, n: &DbNode) -> Result<bool> {
        self.daemon.pause(n).await
    }
}

#[async_trait]
impl PrimaryControl for RecipeDb {
    /// The nodes whose `primary.command` exits 0.
    async fn primaries(&self, nodes: &[DbNode]) -> Result<Vec<String>> {
        let Some(p) = &self.recipe.spec.primary else { return Ok(Vec::new()) };
        let asks = nodes.iter().map(|n| async move {
            let vars = self.vars(n, nodes, &nodes[0].name)?;
            anyhow::Ok(self.shell("primary.command", &p.command, &vars, n, Duration::from_secs(5)).await?.ok)
        });
        let answers = join_all(asks).await;
        Ok(nodes.iter().zip(answers).filter(|(_, a)| matches!(a, Ok(true))).map(|(n, _)| n.name.clone()).collect())
    }
    fn can_promote(&self) -> bool {
        self.recipe.spec.primary.as_ref().is_some_and(|p| p.promote.is_some())
    }
    async fn promote(&self, n: &DbNode) -> Result<()> {
        let Some(cmd) = self.recipe.spec.primary.as_ref().and_then(|p| p.promote.as_ref()) else {
            bail!("{}: the recipe has no primary.promote", self.recipe.file.display());
        };
        let vars = self.vars(n, std::slice::from_ref(n), &n.name)?;
        self.step("primary.promote", cmd, &vars, n, SHORT).await
    }
    async fn follow(&self, nodes: &[DbNode], primary: &DbNode) -> Result<()> {
        let Some(cmd) = self.recipe.spec.primary.as_ref().and_then(|p| p.follow.as_ref()) else {
            // Databases that elect their own leader need no re-pointing.
            return Ok(());
        };
        let mut all = nodes.to_vec();
        if !all.iter().any(|n| n.name == primary.name) {
            all.push(primary.clone());
        }
        for n in nodes.iter().filter(|n| n.name != primary.name) {
            let vars = self.vars(n, &all, &primary.name)?;
            self.step("primary.follow", cmd, &vars, n, SHORT).await?;
        }
        Ok(())
    }
}
