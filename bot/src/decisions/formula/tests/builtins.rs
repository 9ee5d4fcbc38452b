//! Every built-in formula parses, resolves and expands; the snapshots are what a
//! slung issue's molecule would hold.

use serde_json::json;

use super::{tree, vars};
use crate::decisions::formula::library::BUILT_IN;
use crate::decisions::formula::*;

fn expanded(name: &str, given: &[(&str, serde_json::Value)]) -> String {
    let library = Library::builtin();
    let f = library.resolve(name).unwrap();
    let plan = expand(&f, &vars(given)).unwrap();
    assert_eq!(
        plan,
        expand(&f, &vars(given)).unwrap(),
        "expansion is deterministic"
    );
    tree(&plan)
}

#[test]
fn every_built_in_parses_resolves_and_is_listed() {
    let library = Library::builtin();
    let listed = library.list();
    assert_eq!(listed.len(), BUILT_IN.len(), "a built-in failed to parse");
    for (file, text) in BUILT_IN {
        let f = parse(text, file).unwrap();
        assert_eq!(
            format!("formulas/{}.yaml", f.formula),
            *file,
            "a built-in's file is named after it"
        );
        library.resolve(&f.formula).unwrap();
        let entry = listed.iter().find(|l| l.name == f.formula).unwrap();
        assert_eq!(entry.source, Source::BuiltIn);
        assert!(!entry.description.is_empty(), "{file} says what it is for");
    }
    let names: Vec<&str> = listed.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "bugfix",
            "code-review",
            "docs",
            "feature",
            "polecat-work",
            "refactor",
            "release",
            "rule-of-five"
        ]
    );
}

#[test]
fn bugfix_reproduces_with_a_failing_test_first() {
    insta::assert_snapshot!(expanded("bugfix", &[("issue", json!("Crash on empty input"))]), @r"
        bugfix@1 workflow (24)
        - reproduce: Reproduce: Crash on empty input
        - diagnose ← reproduce: Find the cause
        - fix ← diagnose: Fix: Crash on empty input
        - verify ← fix: Verify the fix
        - done ← verify: Hand the fix to the refinery
        ");
}

#[test]
fn feature_designs_then_builds_tests_and_documents() {
    insta::assert_snapshot!(expanded("feature", &[("issue", json!("Dark mode"))]), @r"
        feature@1 workflow (24)
        - design: Design: Dark mode
        - implement ← design: Implement: Dark mode
        - test ← implement: Test the feature
        - document ← implement: Document the feature
        - self-review ← test, document: Review your own diff
        - done ← self-review: Hand the feature to the refinery
        ");
}

#[test]
fn docs_checks_every_example() {
    insta::assert_snapshot!(expanded("docs", &[("issue", json!("Install guide"))]), @r"
        docs@1 workflow (24)
        - audit: Find what is missing or wrong: Install guide
        - write ← audit: Write the documentation
        - check ← write: Check every example
        - done ← check: Hand the docs to the refinery
        ");
}

#[test]
fn refactor_pins_behaviour_first() {
    insta::assert_snapshot!(expanded("refactor", &[("issue", json!("Split the store"))]), @r"
        refactor@1 workflow (24)
        - pin: Pin the current behaviour: Split the store
        - restructure ← pin: Refactor: Split the store
        - verify ← restructure: Verify nothing changed
        - done ← verify: Hand the refactor to the refinery
        ");
}

#[test]
fn release_waits_for_a_person_before_the_tag() {
    insta::assert_snapshot!(expanded("release", &[("version", json!("1.4.0"))]), @r"
        release@1 workflow (24)
        - changelog: Write the changelog for 1.4.0
        - bump ← changelog: Bump the version to 1.4.0
        - verify ← bump: Run the release checks
        - approve [human] ← verify: Approve release 1.4.0
        - done ← approve: Hand the release to the refinery
        ");
    let f = Library::builtin().resolve("release").unwrap();
    let e = expand(&f, &vars(&[("version", json!("v1"))])).unwrap_err();
    insta::assert_snapshot!(e, @r#"formulas/release.yaml:9:5: vars.version: var `version`: "v1" does not match `[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?`"#);
}

#[test]
fn code_review_is_a_convoy_of_four_legs_and_a_synthesis() {
    insta::assert_snapshot!(expanded("code-review", &[("target", json!("PR #12"))]), @r"
        code-review@1 convoy (24)
        - correctness [leg]: Correctness review: PR #12
        - security [leg]: Security review: PR #12
        - performance [leg]: Performance review: PR #12
        - tests [leg]: Test review: PR #12
        - synthesis ← correctness, security, performance, tests: Review verdict: PR #12
        ");
}

#[test]
fn rule_of_five_reviews_five_times_in_order() {
    insta::assert_snapshot!(expanded("rule-of-five", &[("issue", json!("Parser"))]), @r"
        rule-of-five@1 expansion (24)
        - implement: Implement: Parser
        - review-1 ← implement: Pass 1: draft
        - review-2 ← review-1: Pass 2: correctness
        - review-3 ← review-2: Pass 3: clarity
        - review-4 ← review-3: Pass 4: edge cases
        - review-5 ← review-4: Pass 5: excellence
        - done ← review-1, review-2, review-3, review-4, review-5: Hand the work to the refinery
        ");
    insta::assert_snapshot!(
        expanded("rule-of-five", &[("issue", json!("Parser")), ("passes", json!(["speed", "naming"]))]),
        @r"
        rule-of-five@1 expansion (24)
        - implement: Implement: Parser
        - review-1 ← implement: Pass 1: speed
        - review-2 ← review-1: Pass 2: naming
        - done ← review-1, review-2: Hand the work to the refinery
        "
    );
}

#[test]
fn polecat_work_is_the_default_five_steps() {
    insta::assert_snapshot!(expanded("polecat-work", &[("issue", json!("Fix the flux"))]), @r"
        polecat-work@1 workflow (24)
        - understand: Understand: Fix the flux
        - implement ← understand: Implement: Fix the flux
        - test ← implement: Test the change
        - self-review ← test: Review your own diff
        - done ← self-review: Hand the work to the refinery
        ");
}
