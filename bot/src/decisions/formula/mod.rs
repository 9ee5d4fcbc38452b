//! Formulas: YAML workflows that expand into molecules (a bead per step, with a
//! dependency graph). Pure: text in, a [`MoleculePlan`] out, every mistake named with
//! its file, line, column and path (`steps[3].needs[0]`).
//!
//! The modules in the order a formula goes through them:
//!
//! - [`model`]: a formula as written (`workflow`, `convoy`, `expansion`), and
//!   [`Written`], where each part of it was written, so that a mistake found after
//!   `extends` and `compose` have mixed several files still names the right one.
//! - [`parse`](mod@parse): YAML, the schema, then what one file can say about itself.
//! - [`graph`]: duplicate ids, unknown needs, cycles; the order steps are worked in.
//! - [`library`]: where formulas come from (repository, server, built-in; first match
//!   wins, `name@version` pins one).
//! - [`resolve`]: `extends` and `compose` flattened into one formula, then checked whole.
//! - [`expand`](mod@expand): vars checked, expansion templates instantiated, titles and
//!   descriptions rendered with minijinja → a [`MoleculePlan`] with a hash that says
//!   whether it was expanded before.
//!
//! Nothing here does IO except [`Library::load_dir`] and the CLI.

pub mod cli;
pub mod expand;
pub mod graph;
pub mod library;
pub mod model;
pub mod parse;
pub mod resolve;
#[cfg(test)]
mod tests;

pub use expand::{MoleculePlan, PlannedStep, expand};
pub use library::{Library, Listed, ResolveError, Source};
pub use model::{Compose, Formula, FormulaKind, Splice, Step, StepRole, VarKind, VarSpec, Written};
pub use parse::parse;

/// The most steps one `expansion` template makes: a list var comes from an issue, and
/// an issue must not be able to order a thousand beads.
pub const MAX_INSTANCES: usize = 50;
/// The most steps a plan may have, after `extends`, `compose` and expansion.
pub const MAX_STEPS: usize = 500;

/// What can go wrong with a formula or its vars: every problem, one per line, each
/// naming where it is (`file:line:col: path: what`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.join("\n"))]
pub struct FormulaError {
    pub problems: Vec<String>,
}

impl FormulaError {
    pub(crate) fn one(problem: String) -> Self {
        Self {
            problems: vec![problem],
        }
    }

    /// `Ok` when there is nothing to say.
    pub(crate) fn check(problems: Vec<String>) -> Result<(), FormulaError> {
        if problems.is_empty() {
            Ok(())
        } else {
            Err(FormulaError { problems })
        }
    }
}
