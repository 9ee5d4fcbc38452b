//! `gt formula validate` and `gt formula expand`: a formula file checked, or expanded
//! with vars, as the town would (no server or database needed).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum FormulaCommand {
    /// Check formula files: each mistake with its file, line, column and path.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Expand a formula file with vars into its steps, after rendering.
    Expand {
        file: PathBuf,
        /// A var, as `name=value` (repeatable); `name:=json` passes a JSON value
        /// (a number, a list).
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// Every step's id, title, description and needs as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: FormulaCommand) -> anyhow::Result<()> {
    match cmd {
        FormulaCommand::Validate { files } => {
            let mut bad = 0;
            for file in &files {
                match read(file) {
                    Ok(f) => println!(
                        "{}: ok ({}@{}, {} steps)",
                        file.display(),
                        f.formula,
                        f.version,
                        f.steps.len()
                    ),
                    Err(e) => {
                        bad += 1;
                        eprintln!("{e}");
                    }
                }
            }
            if bad > 0 {
                bail!("{bad} of {} formula files have mistakes", files.len());
            }
            Ok(())
        }
        FormulaCommand::Expand { file, vars, json } => {
            let formula = read(&file)?;
            let plan = super::expand(&formula, &parse_vars(&vars)?)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&plan)?);
                return Ok(());
            }
            println!("{}@{} (plan {})", plan.formula, plan.version, plan.hash);
            for s in &plan.steps {
                let needs = if s.needs.is_empty() {
                    String::new()
                } else {
                    format!("  (after {})", s.needs.join(", "))
                };
                println!("- {}: {}{needs}", s.id, s.title);
            }
            Ok(())
        }
    }
}

fn read(file: &PathBuf) -> anyhow::Result<super::Formula> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(super::parse(&text, &file.display().to_string())?)
}

fn parse_vars(pairs: &[String]) -> anyhow::Result<BTreeMap<String, serde_json::Value>> {
    let mut vars = BTreeMap::new();
    for pair in pairs {
        if let Some((name, json)) = pair.split_once(":=") {
            let value = serde_json::from_str(json)
                .with_context(|| format!("--var {pair}: the value after := is not JSON"))?;
            vars.insert(name.to_string(), value);
        } else if let Some((name, value)) = pair.split_once('=') {
            vars.insert(
                name.to_string(),
                serde_json::Value::String(value.to_string()),
            );
        } else {
            bail!("--var {pair}: expected NAME=VALUE");
        }
    }
    Ok(vars)
}
