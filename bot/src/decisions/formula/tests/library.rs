//! Where formulas come from, and what `extends` and `compose` make of them.

use serde_json::json;

use super::errors::repo;
use super::{tree, vars};
use crate::decisions::formula::*;

fn plan(library: &Library, name: &str, given: &[(&str, serde_json::Value)]) -> String {
    tree(&expand(&library.resolve(name).unwrap(), &vars(given)).unwrap())
}

#[test]
fn the_first_layer_wins_and_a_version_pins_one() {
    let mut library = Library::builtin();
    let mine = |v: u32, title: &str| {
        format!(
            "formula: bugfix\nversion: {v}\ntype: workflow\nsteps:\n  - {{id: a, title: {title}}}\n"
        )
    };
    library
        .add(Source::Server, "srv/bugfix.yaml", &mine(2, "Server"))
        .unwrap();
    library
        .add(Source::Repo, "repo/bugfix-1.yaml", &mine(1, "Repo one"))
        .unwrap();
    library
        .add(Source::Repo, "repo/bugfix-3.yaml", &mine(3, "Repo three"))
        .unwrap();
    let title = |r: &str| library.resolve(r).unwrap().steps[0].title.clone();
    assert_eq!(
        title("bugfix"),
        "Repo three",
        "the repository's highest version"
    );
    assert_eq!(title("bugfix@1"), "Repo one");
    assert_eq!(title("bugfix@2"), "Server");
    assert_eq!(library.resolve("bugfix@1").unwrap().version, 1);
    let listed: Vec<String> = library
        .list()
        .into_iter()
        .filter(|l| l.name == "bugfix")
        .map(|l| {
            format!(
                "{}@{} {} {} {}",
                l.name, l.version, l.source, l.file, l.shadowed
            )
        })
        .collect();
    insta::assert_snapshot!(listed.join("\n"), @r"
        bugfix@3 repo repo/bugfix-3.yaml false
        bugfix@1 repo repo/bugfix-1.yaml true
        bugfix@2 server srv/bugfix.yaml true
        bugfix@1 built-in formulas/bugfix.yaml true
        ");
    // The same name and version twice in one layer is a mistake.
    let e = library
        .add(Source::Repo, "repo/again.yaml", &mine(3, "Again"))
        .unwrap_err();
    insta::assert_snapshot!(e, @"repo/again.yaml:1:10: formula: `bugfix@3` is already defined by repo/bugfix-3.yaml (repo)");
    assert_eq!(Source::BuiltIn.to_string(), "built-in");
    assert_eq!(
        library.resolve("nothing"),
        Err(ResolveError::Missing {
            name: "nothing".into()
        })
    );
}

#[test]
fn a_repository_formula_may_extend_the_built_in_of_its_own_name() {
    let library = repo(&[(
        ".gastown/formulas/polecat-work.yaml",
        "formula: polecat-work\nversion: 2\ntype: workflow\nextends: polecat-work\nsteps:\n  - id: test\n    title: Test with the house rules\n    needs: [implement]\n    gate: [make check]\n",
    )]);
    insta::assert_snapshot!(plan(&library, "polecat-work", &[("issue", json!("X"))]), @r"
        polecat-work@2 workflow (24)
        - understand: Understand: X
        - implement ← understand: Implement: X
        - test [gate: make check] ← implement: Test with the house rules
        - self-review ← test: Review your own diff
        - done ← self-review: Hand the work to the refinery
        ");
}

#[test]
fn extends_overrides_in_place_drops_and_appends() {
    let child = "formula: careful\nversion: 1\ntype: workflow\nextends: polecat-work\ndescription: Polecat work, with a person signing off.\ndrop: [self-review]\nvars:\n  team: {default: core}\nsteps:\n  - {id: done, title: 'Hand it to {{ team }}', needs: [test, approve]}\n  - {id: approve, title: Sign off, needs: [test], role: human}\n";
    let library = repo(&[("careful.yaml", child)]);
    let f = library.resolve("careful").unwrap();
    assert_eq!(
        f.references(),
        Vec::<String>::new(),
        "resolved: nothing left to follow"
    );
    assert_eq!(f.description, "Polecat work, with a person signing off.");
    insta::assert_snapshot!(plan(&library, "careful", &[("issue", json!("X"))]), @r"
        careful@1 workflow (24)
        - understand: Understand: X
        - implement ← understand: Implement: X
        - test ← implement: Test the change
        - approve [human] ← test: Sign off
        - done ← test, approve: Hand it to core
        ");
    assert_eq!(
        parse(child, "careful.yaml").unwrap().references(),
        vec!["polecat-work".to_string()]
    );
}

#[test]
fn compose_replaces_a_step_under_a_prefix_and_rewires_needs() {
    let outer = "formula: ship\nversion: 1\ntype: workflow\nvars:\n  issue: {type: string, required: true}\nsteps:\n  - {id: plan, title: Plan}\n  - {id: build, title: Build, needs: [plan]}\n  - {id: announce, title: Announce, needs: [build]}\n  - {id: close, title: Close, needs: [build, announce]}\ncompose:\n  - expand: {target: build, with: feature@1}\n";
    let library = repo(&[("ship.yaml", outer)]);
    insta::assert_snapshot!(plan(&library, "ship", &[("issue", json!("Dark mode"))]), @r"
        ship@1 workflow (24)
        - plan: Plan
        - build.design ← plan: Design: Dark mode
        - build.implement ← build.design: Implement: Dark mode
        - build.test ← build.implement: Test the feature
        - build.document ← build.implement: Document the feature
        - build.self-review ← build.test, build.document: Review your own diff
        - build.done ← build.self-review: Hand the feature to the refinery
        - announce ← build.done: Announce
        - close ← build.done, announce: Close
        ");
    assert_eq!(
        parse(outer, "ship.yaml").unwrap().references(),
        vec!["feature".to_string()]
    );
}

#[test]
fn a_convoy_plans_its_legs_in_parallel_and_the_synthesis_after_them() {
    let library = repo(&[(
        "audit.yaml",
        "formula: audit\nversion: 1\ntype: convoy\nextends: code-review\ndrop: [performance]\nlegs:\n  - {id: licences, title: 'Licences: {{ target }}', gate: [cargo deny check]}\n",
    )]);
    let f = library.resolve("audit").unwrap();
    let p = expand(&f, &vars(&[("target", json!("main"))])).unwrap();
    assert_eq!(p.kind, FormulaKind::Convoy);
    assert!(
        p.steps
            .iter()
            .filter(|s| s.id != "synthesis")
            .all(|s| s.leg && s.needs.is_empty())
    );
    insta::assert_snapshot!(tree(&p), @r"
        audit@1 convoy (24)
        - correctness [leg]: Correctness review: main
        - security [leg]: Security review: main
        - tests [leg]: Test review: main
        - licences [leg] [gate: cargo deny check]: Licences: main
        - synthesis ← correctness, security, tests, licences: Review verdict: main
        ");
}

#[test]
fn an_expansion_without_sequential_makes_parallel_instances_of_any_items() {
    let library = repo(&[(
        "port.yaml",
        "formula: port\nversion: 1\ntype: expansion\nvars:\n  crates: {type: list, required: true}\nforeach: crates\ntemplate:\n  id: port\n  title: 'Port {{ item.name }} ({{ index }})'\n  gate: [cargo test]\nsteps:\n  - {id: release, title: Release, needs: [port]}\n",
    )]);
    insta::assert_snapshot!(
        plan(&library, "port", &[("crates", json!([{"name": "core"}, {"name": "cli"}]))]),
        @r"
        port@1 expansion (24)
        - port-1 [gate: cargo test]: Port core (1)
        - port-2 [gate: cargo test]: Port cli (2)
        - release ← port-1, port-2: Release
        "
    );
    // An item's missing field is a rendering mistake, located at the template.
    let f = library.resolve("port").unwrap();
    let e = expand(&f, &vars(&[("crates", json!(["core"]))])).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "port.yaml:9:10: template.title: uses a variable the formula does not declare"
        ),
        "{e}"
    );
}

#[test]
fn load_dir_reads_the_yaml_files_and_reports_every_mistake() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        "formula: a\nversion: 1\ntype: workflow\nsteps:\n  - {id: x, title: X}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a formula").unwrap();
    let library = Library::builtin().load_dir(dir.path()).unwrap();
    let a = library.list().into_iter().find(|l| l.name == "a").unwrap();
    assert_eq!(a.source, Source::Server);
    std::fs::write(
        dir.path().join("b.yaml"),
        "formula: b\nversion: 1\ntype: workflow\nsteps:\n  - {id: x, title: X, needs: [q]}\n",
    )
    .unwrap();
    let e = Library::builtin()
        .load_dir(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("b.yaml:5:31: steps[0].needs[0]: `q` is not a step of this formula"),
        "{e}"
    );
}

#[test]
fn composition_that_doubles_at_every_level_stops_at_the_cap() {
    // f0 composes f1 twice, f1 composes f2 twice…: 2^30 paths through 30 files; each
    // file is resolved once, and the plan's cap stops the doubling at 512 steps.
    let mut files = Vec::new();
    for i in 0..30 {
        let text = format!(
            "formula: f{i}\nversion: 1\ntype: workflow\nsteps:\n  - {{id: a, title: A}}\n  - {{id: b, title: B, needs: [a]}}\ncompose:\n  - expand: {{target: a, with: f{n}}}\n  - expand: {{target: b, with: f{n}}}\n",
            n = i + 1
        );
        files.push((format!("f{i}.yaml"), text));
    }
    files.push((
        "f30.yaml".into(),
        "formula: f30\nversion: 1\ntype: workflow\nsteps:\n  - {id: x, title: X}\n".into(),
    ));
    let mut library = Library::default();
    for (file, text) in &files {
        library.add(Source::Repo, file, text).unwrap();
    }
    let start = std::time::Instant::now();
    let e = library.resolve("f0").unwrap_err().to_string();
    assert!(
        e.contains("`f21` has 512 steps: a formula makes at most 500"),
        "{e}"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}
