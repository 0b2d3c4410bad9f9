//! `faultline list`: the runs in the store, oldest first, with their verdicts.

use crate::exit::Exit;
use crate::store::Store;
use anyhow::Result;
use serde_json::Value;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Where runs are stored.
    #[arg(long, default_value = "store", env = "FAULTLINE_STORE")]
    pub store: PathBuf,
    /// One JSON object per run.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ListArgs) -> Result<Exit> {
    let store = Store::new(&args.store);
    let runs = store.runs()?;
    if runs.is_empty() && !args.json {
        println!("no runs in {}", args.store.display());
    }
    for run in runs {
        // test.json is read typed, as everything after a run reads it: a run whose record is
        // missing or wrong is listed with the reason instead of dashes.
        let test = match crate::plan::TestRecord::read(&run.test_json()) {
            Ok(record) => Ok(record),
            Err(e) if !run.test_json().exists() => Err(format!("no test.json ({e:#})")),
            Err(e) => Err(format!("{e:#}")),
        };
        let results: Value = std::fs::read_to_string(run.results_json())
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        let verdict = results["verdict"].as_str().unwrap_or("incomplete");
        match (&test, args.json) {
            (Ok(t), true) => println!(
                "{}",
                serde_json::json!({"path": run.path, "name": t.name, "db": t.db, "db_recipe": t.db_recipe,
                    "client": t.client, "workload": t.workload.kind.name(), "nemesis": t.nemesis,
                    "seed": t.seed, "verdict": verdict})
            ),
            (Err(e), true) => println!("{}", serde_json::json!({"path": run.path, "verdict": verdict, "error": e})),
            (Ok(t), false) => {
                println!(
                    "{:<9} {:<12} {:<9} {:<28} {}",
                    verdict,
                    t.db,
                    t.workload.kind.name(),
                    t.nemesis.join(","),
                    run.path.display()
                );
                // A database from a recipe, or a client of the user's: say which.
                let recipe = t.db_recipe.as_ref().map(|r| format!("recipe {r}"));
                let client = t.client.as_ref().map(|c| format!("client {c}"));
                let extra: Vec<String> = recipe.into_iter().chain(client).collect();
                if !extra.is_empty() {
                    println!("{:<9} {}", "", extra.join("; "));
                }
            }
            (Err(e), false) => {
                println!("{verdict:<9} {:<12} {:<9} {:<28} {}", "-", "-", "-", run.path.display());
                println!("{:<9} {}", "", crate::term::text(e));
            }
        }
    }
    Ok(Exit::Valid)
}
