//! Each mistake the formulas issue lists, with the message a person gets: the file,
//! line and column, the path, and what is wrong.

use serde_json::json;

use super::{problems, vars};
use crate::decisions::formula::*;

/// A library of the built-ins plus `files` as a repository's.
pub(super) fn repo(files: &[(&str, &str)]) -> Library {
    let mut library = Library::builtin();
    for (file, text) in files {
        library.add(Source::Repo, file, text).unwrap();
    }
    library
}

fn unresolved(files: &[(&str, &str)], name: &str) -> String {
    repo(files).resolve(name).unwrap_err().to_string()
}

const HEAD: &str = "formula: w\nversion: 1\ntype: workflow\n";

#[test]
fn unknown_keys() {
    insta::assert_snapshot!(problems(&format!("{HEAD}stesp: []\nsteps:\n  - {{id: a, title: A, gates: [x]}}\n")), @r"
        f.yaml:1:1: (top level): Additional properties are not allowed ('stesp' was unexpected)
        f.yaml:6:5: steps[0]: Additional properties are not allowed ('gates' was unexpected)
        ");
    insta::assert_snapshot!(problems(&format!("{HEAD}legs:\n  - {{id: a, title: A}}\nsteps:\n  - {{id: b, title: B}}\n")), @"f.yaml:5:3: legs: `legs` is not part of a workflow formula (a workflow has `steps`)");
}

#[test]
fn duplicate_ids_unknown_needs_and_cycles() {
    insta::assert_snapshot!(problems(&format!("{HEAD}steps:\n  - {{id: a, title: A}}\n  - {{id: a, title: B}}\n")), @"f.yaml:6:10: steps[1].id: step id `a` is already used by steps[0]");
    insta::assert_snapshot!(problems(&format!("{HEAD}steps:\n  - id: a\n    title: A\n    needs: [b]\n")), @"f.yaml:7:13: steps[0].needs[0]: `b` is not a step of this formula");
    insta::assert_snapshot!(problems(&format!("{HEAD}steps:\n  - {{id: a, title: A, needs: [a]}}\n")), @"f.yaml:5:31: steps[0].needs[0]: step `a` needs itself");
    insta::assert_snapshot!(problems(&format!("{HEAD}steps:\n  - {{id: a, title: A, needs: [c]}}\n  - {{id: b, title: B, needs: [a]}}\n  - {{id: c, title: C, needs: [b]}}\n")), @"f.yaml:5:30: steps[0].needs: the steps need each other in a cycle: a → c → b → a");
}

#[test]
fn missing_required_vars_and_values_that_break_enum_pattern_or_type() {
    let f = parse(
        &format!("{HEAD}vars:\n  issue: {{required: true}}\n  size: {{enum: [s, l]}}\n  ticket: {{pattern: 'T-[0-9]+'}}\n  count: {{type: int}}\nsteps:\n  - {{id: a, title: A}}\n"),
        "w.yaml",
    )
    .unwrap();
    let err = |v: &[(&str, serde_json::Value)]| expand(&f, &vars(v)).unwrap_err().to_string();
    insta::assert_snapshot!(err(&[]), @"w.yaml:5:10: vars.issue: var `issue` is required, and no value was given");
    insta::assert_snapshot!(err(&[("issue", json!("x")), ("size", json!("m")), ("ticket", json!("T-x")), ("count", json!("3"))]), @r#"
        w.yaml:8:10: vars.count: var `count`: "3" is not an int
        w.yaml:6:9: vars.size: var `size`: "m" is not one of "s", "l"
        w.yaml:7:11: vars.ticket: var `ticket`: "T-x" does not match `T-[0-9]+`
        "#);
    // A default must fit its own declaration.
    insta::assert_snapshot!(problems(&format!("{HEAD}vars:\n  size: {{enum: [s, l], default: m}}\nsteps:\n  - {{id: a, title: A}}\n")), @r#"f.yaml:5:33: vars.size.default: the default of `size`: "m" is not one of "s", "l""#);
}

#[test]
fn unknown_template_variables_are_found_before_any_vars_are_given() {
    insta::assert_snapshot!(problems(&format!("{HEAD}vars:\n  issue: {{}}\nsteps:\n  - id: a\n    title: '{{{{ issue }}}}'\n    description: 'see {{{{ secret }}}}'\n")), @"f.yaml:9:18: steps[0].description: uses `secret`, a variable the formula does not declare (vars: issue)");
    insta::assert_snapshot!(problems(&format!("{HEAD}steps:\n  - {{id: a, title: '{{{{ oops'}}\n")), @"f.yaml:5:20: steps[0].title: not a valid template: syntax error: unexpected end of input, expected end of variable block (in <string>:1)");
}

#[test]
fn gates_are_never_templated() {
    insta::assert_snapshot!(problems(&format!("{HEAD}vars:\n  branch: {{}}\nsteps:\n  - id: a\n    title: A\n    gate: [cargo test, 'git diff {{{{ branch }}}}']\n")), @"f.yaml:9:24: steps[0].gate[1]: a gate runs as written: vars are never rendered into gate commands, so `{{`, `{%` and `{#` are refused (read the value from the repository or the environment instead)");
}

#[test]
fn extends_loops_name_the_chain() {
    let a = "formula: a\nversion: 1\ntype: workflow\nextends: b\n";
    let b = "formula: b\nversion: 1\ntype: workflow\nextends: c\n";
    let c = "formula: c\nversion: 1\ntype: workflow\ncompose:\n  - expand: {target: x, with: a}\nsteps:\n  - {id: x, title: X}\n";
    insta::assert_snapshot!(unresolved(&[("a.yaml", a), ("b.yaml", b), ("c.yaml", c)], "a"), @"c.yaml:5:31: compose[0].expand.with: the formulas extend or compose each other in a loop: a → b → c → a");
    let me = "formula: me\nversion: 1\ntype: workflow\nextends: me\n";
    insta::assert_snapshot!(unresolved(&[("me.yaml", me)], "me"), @"me.yaml:4:10: extends: no `me` after the repo layer: there are me@1 (repo)");
}

#[test]
fn extends_and_compose_mistakes() {
    let child = |rest: &str| {
        format!("formula: child\nversion: 1\ntype: workflow\nextends: polecat-work\n{rest}")
    };
    // Dropping a step another still needs.
    insta::assert_snapshot!(unresolved(&[("child.yaml", &child("drop: [test]\n"))], "child"), @"formulas/polecat-work.yaml:32:13: steps[3].needs[0]: `test` is dropped by `child` (child.yaml:5:8: drop[0]), and `self-review` still needs it: drop or override `self-review` too");
    insta::assert_snapshot!(unresolved(&[("child.yaml", &child("drop: [deploy]\n"))], "child"), @"child.yaml:5:8: drop[0]: `deploy` is not a step of `polecat-work` (it has: understand, implement, test, self-review, done)");
    // Another type.
    insta::assert_snapshot!(unresolved(&[("r.yaml", "formula: r\nversion: 1\ntype: convoy\nextends: polecat-work\n")], "r"), @"r.yaml:4:10: extends: `r` is a convoy and cannot extend `polecat-work`, a workflow");
    // A compose target that is not a step.
    insta::assert_snapshot!(unresolved(&[("child.yaml", &child("compose:\n  - expand: {target: tset, with: bugfix}\n"))], "child"), @"child.yaml:6:22: compose[0].expand.target: `tset` is not a step of `child` (its steps: understand, implement, test, self-review, done)");
    // Composing something that is not a workflow.
    insta::assert_snapshot!(unresolved(&[("child.yaml", &child("compose:\n  - expand: {target: test, with: code-review}\n"))], "child"), @"child.yaml:6:34: compose[0].expand.with: `code-review` is a convoy: only a workflow's steps can replace a step");
    // A var both declare, differently.
    let inner = "formula: inner\nversion: 1\ntype: workflow\nvars:\n  issue: {type: int}\nsteps:\n  - {id: a, title: A}\n";
    insta::assert_snapshot!(unresolved(&[("inner.yaml", inner), ("child.yaml", &child("compose:\n  - expand: {target: test, with: inner}\n"))], "child"), @"child.yaml:6:34: compose[0].expand.with: var `issue` is declared by `child` (formulas/polecat-work.yaml:9:5: vars.issue) and by `inner` (inner.yaml:5:10: vars.issue), differently");
    // A name nobody has, and a version nobody has.
    assert_eq!(
        repo(&[(
            "child.yaml",
            &child("compose:\n  - expand: {target: test, with: nope}\n")
        )])
        .resolve("child"),
        Err(ResolveError::Missing {
            name: "nope".into()
        })
    );
    insta::assert_snapshot!(unresolved(&[], "bugfix@7"), @"no `bugfix@7`: there are bugfix@1 (built-in)");
}

#[test]
fn expansions_are_capped() {
    let f = Library::builtin().resolve("rule-of-five").unwrap();
    let many: Vec<String> = (0..51).map(|i| format!("p{i}")).collect();
    let e = expand(&f, &vars(&[("issue", json!("x")), ("passes", json!(many))])).unwrap_err();
    insta::assert_snapshot!(e, @"formulas/rule-of-five.yaml:24:10: foreach: var `passes` has 51 items: an expansion makes at most 50 steps");
    let e = expand(&f, &vars(&[("issue", json!("x")), ("passes", json!([]))])).unwrap_err();
    insta::assert_snapshot!(e, @"formulas/rule-of-five.yaml:24:10: foreach: var `passes` has no items: an expansion makes a step per item");
    // Composition past the plan's cap: 11 steps composed 50 times.
    let wide = "formula: wide\nversion: 1\ntype: workflow\nsteps:\n".to_string()
        + &(0..11)
            .map(|i| format!("  - {{id: s{i}, title: S}}\n"))
            .collect::<String>();
    let mut big = "formula: big\nversion: 1\ntype: workflow\nsteps:\n".to_string();
    big += &(0..50)
        .map(|i| format!("  - {{id: t{i}, title: T}}\n"))
        .collect::<String>();
    big += "compose:\n";
    big += &(0..50)
        .map(|i| format!("  - expand: {{target: t{i}, with: wide}}\n"))
        .collect::<String>();
    insta::assert_snapshot!(unresolved(&[("wide.yaml", &wide), ("big.yaml", &big)], "big"), @"big.yaml:1:1: (top level): `big` has 550 steps: a formula makes at most 500");
}

#[test]
fn each_type_keeps_to_its_own_keys() {
    insta::assert_snapshot!(problems("formula: c\nversion: 1\ntype: convoy\nlegs:\n  - {id: a, title: A, needs: [b]}\n"), @"f.yaml:5:5: legs[0]: Additional properties are not allowed ('needs' was unexpected)");
    insta::assert_snapshot!(problems("formula: c\nversion: 1\ntype: convoy\n"), @r#"f.yaml:1:1: (top level): "legs" is a required property"#);
    insta::assert_snapshot!(problems("formula: e\nversion: 1\ntype: expansion\nvars:\n  items: {type: string}\n  index: {}\nforeach: items\ntemplate: {id: t, title: 'T {{ item }}'}\nsteps:\n  - {id: t-1, title: X}\n"), @r"
        f.yaml:10:10: steps[0].id: `t-1` is the id an instance of the template `t` gets
        f.yaml:7:10: foreach: `items` is a string, and an expansion needs a list
        f.yaml:6:10: vars.index: `index` is what the template calls each item and its position; name the var otherwise
        ");
    insta::assert_snapshot!(problems(&format!("{HEAD}drop: [a]\nsteps:\n  - {{id: a, title: A}}\n")), @"f.yaml:4:7: drop: only a formula that `extends` another can drop its steps");
}

#[test]
fn a_template_that_would_run_for_ever_runs_out_of_fuel() {
    let spin = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
    let text = format!("{HEAD}steps:\n  - id: a\n    title: A\n    description: \"{spin}\"\n");
    let said = match parse(&text, "w.yaml") {
        Err(e) => e.to_string(),
        Ok(f) => expand(&f, &vars(&[])).unwrap_err().to_string(),
    };
    assert!(said.contains("fuel"), "{said}");
}
