//! Formulas as a sling finds them: the repository's `.gastown/formulas/<name>.yaml` on
//! its target branch first, then the server's library (its `formulas_dir`, then the
//! built-ins). A repository's files are fetched by name as the formula asks for them
//! (the one slung, then whatever it extends or composes), so a sling costs one read
//! per formula involved, and nothing when the repository has none.
//!
//! The repository's files are written by people with write access (agents cannot push
//! `.gastown/`, see the protected files), but the vars come from the issue: they are
//! checked by the formula's declarations and rendered as data.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::decisions::formula::{
    self, Library, MoleculePlan, ResolveError, Source, model::split_reference,
};
use crate::decisions::pick::Pick;
use crate::forge::{Forge, ForgeError, RepoPath};

/// Where a repository keeps its own formulas.
pub const REPO_DIR: &str = ".gastown/formulas";

/// The largest formula file read from a repository.
const MAX_FILE: usize = 256 * 1024;

/// How many formulas one sling may involve (the one slung and what it builds on).
const MAX_FILES: usize = 16;

/// A plan for a sling, and where its formula came from.
#[derive(Debug, Clone)]
pub struct Planned {
    pub plan: MoleculePlan,
    pub source: Source,
}

#[derive(Clone)]
pub struct Formulas {
    server: Arc<Library>,
}

impl Formulas {
    /// The server's library: the built-ins, and `formulas_dir` when configured (a
    /// mistake there stops the bot at start, naming the file).
    pub fn new(formulas_dir: Option<&std::path::Path>) -> Result<Self, formula::FormulaError> {
        let mut library = Library::builtin();
        if let Some(dir) = formulas_dir {
            library = library.load_dir(dir)?;
        }
        Ok(Self {
            server: Arc::new(library),
        })
    }

    pub fn library(&self) -> &Library {
        &self.server
    }

    /// Expand what `pick` names for an issue titled `title`. The outer `Err` is the
    /// forge failing (the delivery is tried again); the inner one what is wrong with
    /// the formula or the vars, in words for the issue.
    pub async fn plan(
        &self,
        forge: &dyn Forge,
        repo: &RepoPath,
        branch: &str,
        pick: &Pick,
        title: &str,
    ) -> Result<Result<Planned, String>, ForgeError> {
        let mut library = (*self.server).clone();
        let (top, _) = split_reference(&pick.reference);
        let mut asked: BTreeSet<String> = BTreeSet::new();
        let mut from_repo: BTreeSet<String> = BTreeSet::new();
        let mut want = vec![top.to_string()];
        let formula = loop {
            for name in std::mem::take(&mut want) {
                if asked.len() >= MAX_FILES || !asked.insert(name.clone()) || !is_name(&name) {
                    continue;
                }
                let path = format!("{REPO_DIR}/{name}.yaml");
                let Some(bytes) = forge.file(repo, &path, branch).await? else {
                    continue;
                };
                let at = format!("{path}@{branch}");
                if bytes.len() > MAX_FILE {
                    return Ok(Err(format!(
                        "{at}: {} bytes; a formula file may have at most {MAX_FILE}",
                        bytes.len()
                    )));
                }
                let text = String::from_utf8_lossy(&bytes);
                let written = match formula::parse(&text, &at) {
                    Ok(f) => f,
                    Err(e) => return Ok(Err(e.to_string())),
                };
                want.extend(written.references());
                if let Err(e) = library.add(Source::Repo, &at, &text) {
                    return Ok(Err(e.to_string()));
                }
                from_repo.insert(name);
            }
            match library.resolve(&pick.reference) {
                Ok(f) => break f,
                Err(ResolveError::Missing { name }) if !asked.contains(&name) => want.push(name),
                Err(e) => return Ok(Err(e.to_string())),
            }
            if want.is_empty() {
                // Every name was asked for: resolving again cannot change the answer.
                return Ok(Err(match library.resolve(&pick.reference) {
                    Err(e) => e.to_string(),
                    Ok(_) => "the formula did not resolve".into(),
                }));
            }
        };
        let source = if from_repo.contains(top) {
            Source::Repo
        } else {
            library
                .list()
                .into_iter()
                .find(|l| l.name == top && !l.shadowed)
                .map_or(Source::BuiltIn, |l| l.source)
        };
        let vars = vars_for(&formula, &pick.vars, title);
        Ok(formula::expand(&formula, &vars)
            .map(|plan| Planned { plan, source })
            .map_err(|e| e.to_string()))
    }
}

/// The vars a sling gives: the issue's own, and its title as `issue` when the formula
/// declares that var and the issue did not set it.
fn vars_for(
    formula: &formula::Formula,
    given: &BTreeMap<String, serde_json::Value>,
    title: &str,
) -> BTreeMap<String, serde_json::Value> {
    let mut vars = given.clone();
    if formula.vars.contains_key("issue") && !vars.contains_key("issue") {
        vars.insert("issue".into(), serde_json::Value::String(title.to_string()));
    }
    vars
}

/// A name that is safe as a file name under [`REPO_DIR`].
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
}
