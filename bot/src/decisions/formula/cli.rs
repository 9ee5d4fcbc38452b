//! `gt formula list|show|validate|expand`: the formula library as the town sees it,
//! and formula files checked or expanded with vars, with no server or database.
//!
//! The library is the built-ins, the server's `formulas_dir` when a configuration
//! names one (`--config`, `GT_CONFIG` or `GT_FORMULAS_DIR`), and `--dir` (a checkout's
//! `.gastown/formulas`) as the repository's layer; the files given to `validate` or
//! `expand` are the repository's layer too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;

use super::model::{Formula, FormulaKind, Step};
use super::{Library, Source, expand};
use crate::cli::{GlobalArgs, load_config};

#[derive(Debug, Subcommand)]
pub enum FormulaCommand {
    /// Every formula the town can use: name, version and where it comes from.
    List {
        /// A repository's formulas (its `.gastown/formulas`), searched first.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// One formula, resolved (`extends` and `compose` applied): its description, vars
    /// and steps.
    Show {
        /// `name`, `name@version`, or a formula file.
        formula: String,
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The resolved formula as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check formula files: each mistake with its file, line, column and path.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Expand a formula (a file, or `name[@version]` from the library) with vars into
    /// its steps, after rendering.
    Expand {
        formula: String,
        /// A var, as `name=value` (repeatable); `name:=json` passes a JSON value
        /// (a number, a list).
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
        /// Every step's id, title, description and needs as JSON.
        #[arg(long)]
        json: bool,
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

pub fn run(cmd: FormulaCommand, global: &GlobalArgs) -> anyhow::Result<()> {
    match cmd {
        FormulaCommand::List { dir } => {
            let library = library(global, dir.as_deref())?;
            let listed = library.list();
            let width = listed.iter().map(|l| l.name.len()).max().unwrap_or(0);
            for l in listed {
                let shadowed = if l.shadowed { "  (shadowed)" } else { "" };
                println!(
                    "{:width$}  {:>3}  {:8}  {}{shadowed}",
                    l.name,
                    l.version,
                    l.source.to_string(),
                    l.file
                );
            }
            Ok(())
        }
        FormulaCommand::Show { formula, dir, json } => {
            let mut library = library(global, dir.as_deref())?;
            let reference = reference(&mut library, &formula)?;
            let f = library.resolve(&reference)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&f)?);
            } else {
                print!("{}", show(&f));
            }
            Ok(())
        }
        FormulaCommand::Validate { files, dir } => {
            let mut library = library(global, dir.as_deref())?;
            let mut read = Vec::new();
            let mut bad = 0;
            for file in &files {
                let name = file.display().to_string();
                let added = std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read {name}"))
                    .and_then(|text| Ok(super::parse(&text, &name)?))
                    .and_then(|f| {
                        let reference = format!("{}@{}", f.formula, f.version);
                        library.insert(Source::Repo, &name, f)?;
                        Ok(reference)
                    });
                match added {
                    Ok(reference) => read.push((name, reference)),
                    Err(e) => {
                        bad += 1;
                        eprintln!("{e:#}");
                    }
                }
            }
            for (name, reference) in read {
                match library.resolve(&reference) {
                    Ok(f) => println!("{name}: ok ({reference}, {})", size(&f)),
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
        FormulaCommand::Expand {
            formula,
            vars,
            json,
            dir,
        } => {
            let mut library = library(global, dir.as_deref())?;
            let reference = reference(&mut library, &formula)?;
            let f = library.resolve(&reference)?;
            let plan = expand(&f, &parse_vars(&vars)?)?;
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
                let leg = if s.leg { " [leg]" } else { "" };
                println!("- {}{leg}: {}{needs}", s.id, s.title);
            }
            Ok(())
        }
    }
}

/// The built-ins, the server's `formulas_dir` if a configuration names one, and
/// `dir` as the repository's layer.
fn library(global: &GlobalArgs, dir: Option<&Path>) -> anyhow::Result<Library> {
    let mut library = Library::builtin();
    if global.config.is_some() || std::env::var_os("GT_FORMULAS_DIR").is_some() {
        let config = load_config(global)?;
        if let Some(server) = &config.formulas_dir {
            library = library.load_dir(server)?;
        }
    }
    if let Some(dir) = dir {
        library = library.load_dir_as(Source::Repo, dir)?;
    }
    Ok(library)
}

/// A file (added to the repository's layer) or a `name[@version]`, as a reference.
fn reference(library: &mut Library, formula: &str) -> anyhow::Result<String> {
    let path = Path::new(formula);
    let is_file = path.is_file() || formula.ends_with(".yaml") || formula.ends_with(".yml");
    if !is_file {
        return Ok(formula.to_string());
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {formula}"))?;
    let f = super::parse(&text, formula)?;
    let reference = format!("{}@{}", f.formula, f.version);
    library.insert(Source::Repo, formula, f)?;
    Ok(reference)
}

fn size(f: &Formula) -> String {
    match f.kind {
        FormulaKind::Workflow => format!("{} steps", f.steps.len()),
        FormulaKind::Convoy => format!(
            "{} legs{}",
            f.legs.len(),
            if f.synthesis.is_some() {
                " and a synthesis"
            } else {
                ""
            }
        ),
        FormulaKind::Expansion => format!(
            "{} fixed steps and a step per item of `{}`",
            f.steps.len(),
            f.foreach.as_deref().unwrap_or("?")
        ),
    }
}

/// A resolved formula as a person reads it: what it is for, its vars, its steps with
/// what each needs.
pub fn show(f: &Formula) -> String {
    let mut out = format!("{}@{} ({}, {})\n", f.formula, f.version, f.kind, size(f));
    for line in textwrap(&f.description, 80) {
        out.push_str(&format!("  {line}\n"));
    }
    if !f.vars.is_empty() {
        out.push_str("vars:\n");
        for (name, v) in &f.vars {
            let mut facts = vec![v.kind.to_string()];
            if v.required {
                facts.push("required".into());
            }
            if let Some(d) = &v.default {
                facts.push(format!("default {d}"));
            }
            if let Some(allowed) = &v.allowed {
                let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
                facts.push(format!("one of {}", list.join(", ")));
            }
            if let Some(p) = &v.pattern {
                facts.push(format!("matching `{p}`"));
            }
            let description = if v.description.is_empty() {
                String::new()
            } else {
                format!(": {}", v.description)
            };
            out.push_str(&format!("  {name} ({}){description}\n", facts.join(", ")));
        }
    }
    out.push_str("steps:\n");
    let line = |s: &Step, label: &str, needs: &[String]| {
        let needs = if needs.is_empty() {
            String::new()
        } else {
            format!(" ← {}", needs.join(", "))
        };
        let mut extra = Vec::new();
        if s.role == super::StepRole::Human {
            extra.push("human".to_string());
        }
        if !s.gate.is_empty() {
            extra.push(format!("gate: {}", s.gate.join(" && ")));
        }
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!("  [{}]", extra.join("; "))
        };
        format!("  - {label}{needs}: {}{extra}\n", s.title)
    };
    for s in &f.legs {
        out.push_str(&line(s, &format!("{} (leg)", s.id), &[]));
    }
    if let Some(s) = &f.synthesis {
        let legs: Vec<String> = f.legs.iter().map(|l| l.id.clone()).collect();
        out.push_str(&line(s, &s.id, &legs));
    }
    // The template where its instances will be: before the first step needing them.
    let mut template = f.template.as_ref().map(|t| {
        let label = format!(
            "{}-1…{}-n (one per item of `{}`{})",
            t.id,
            t.id,
            f.foreach.as_deref().unwrap_or("?"),
            if f.sequential { ", in order" } else { "" }
        );
        line(t, &label, &t.needs)
    });
    for s in &f.steps {
        if f.template.as_ref().is_some_and(|t| s.needs.contains(&t.id))
            && let Some(t) = template.take()
        {
            out.push_str(&t);
        }
        out.push_str(&line(s, &s.id, &s.needs));
    }
    out.extend(template);
    out
}

/// Words of `text` in lines of at most `width` characters.
fn textwrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        if !current.is_empty() && current.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
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
