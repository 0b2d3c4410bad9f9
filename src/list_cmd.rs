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
        let read = |p: PathBuf| -> Value {
            std::fs::read_to_string(p).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null)
        };
        let test = read(run.test_json());
        let results = read(run.results_json());
        let verdict = results["verdict"].as_str().unwrap_or("incomplete");
        if args.json {
            println!(
                "{}",
                serde_json::json!({"path": run.path, "name": test["name"], "db": test["db"], "db_recipe": test["db_recipe"],
                    "client": test["client"], "workload": test["workload"], "nemesis": test["nemesis"],
                    "seed": test["seed"], "verdict": verdict})
            );
        } else {
            println!(
                "{:<9} {:<12} {:<9} {:<28} {}",
                verdict,
                test["db"].as_str().unwrap_or("-"),
                test["workload"].as_str().unwrap_or("-"),
                test["nemesis"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(","))
                    .unwrap_or_default(),
                run.path.display()
            );
            // A database from a recipe, or a client of the user's: say which.
            let recipe = test["db_recipe"].as_str().map(|r| format!("recipe {r}"));
            let client = test["client"].as_str().map(|c| format!("client {c}"));
            let extra: Vec<String> = recipe.into_iter().chain(client).collect();
            if !extra.is_empty() {
                println!("{:<9} {}", "", extra.join("; "));
            }
        }
    }
    Ok(Exit::Valid)
}
