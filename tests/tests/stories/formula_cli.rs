//! A maintainer writing a formula checks it and sees what it expands into, with the
//! `gt` CLI and no server: the library's layers (built-in, the server's
//! `formulas_dir`, a repository's `--dir`), one formula shown resolved, files
//! validated, a formula expanded by file or by name.

use std::path::Path;
use std::process::Command;

use gastown_tests::process::gt_binary;

fn gt_with(args: &[&str], env: &[(&str, &Path)]) -> (bool, String) {
    let mut cmd = Command::new(gt_binary());
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("GT_CONFIG")
        .env_remove("GT_FORMULAS_DIR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run gt");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn gt(args: &[&str]) -> (bool, String) {
    gt_with(args, &[])
}

#[test]
fn a_maintainer_validates_a_formula_and_sees_its_steps() {
    let builtin = "../formulas/polecat-work.yaml";
    let (ok, said) = gt(&["formula", "validate", builtin]);
    assert!(ok, "{said}");
    assert!(said.contains("ok (polecat-work@1, 5 steps)"), "{said}");

    let (ok, said) = gt(&["formula", "expand", builtin, "--var", "issue=Fix the flux"]);
    assert!(ok, "{said}");
    assert!(
        said.contains("- implement: Implement: Fix the flux  (after understand)"),
        "{said}"
    );

    let (ok, said) = gt(&["formula", "expand", builtin]);
    assert!(!ok && said.contains("var `issue` is required"), "{said}");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "formula: w\nversion: 1\ntype: workflow\nsteps:\n  - id: a\n    title: A\n    needs: [b]\n",
    )
    .unwrap();
    let (ok, said) = gt(&["formula", "validate", bad.to_str().unwrap()]);
    assert!(!ok, "{said}");
    assert!(
        said.contains("bad.yaml:7:13: steps[0].needs[0]: `b` is not a step of this formula"),
        "{said}"
    );
}

#[test]
fn list_shows_every_layer_first_match_first() {
    let server = tempfile::tempdir().unwrap();
    std::fs::write(
        server.path().join("bugfix.yaml"),
        "formula: bugfix\nversion: 2\ntype: workflow\nextends: bugfix\ndrop: [diagnose]\nsteps:\n  - {id: fix, title: Fix it, needs: [reproduce]}\n",
    )
    .unwrap();
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(
        repo.path().join("ours.yaml"),
        "formula: ours\nversion: 3\ntype: workflow\nextends: bugfix\n",
    )
    .unwrap();
    let dir = repo.path().to_str().unwrap();
    let env = [("GT_FORMULAS_DIR", server.path())];

    let (ok, said) = gt_with(&["formula", "list", "--dir", dir], &env);
    assert!(ok, "{said}");
    let rows: Vec<Vec<&str>> = said
        .lines()
        .map(|l| l.split_whitespace().take(3).collect())
        .collect();
    let bugfix: Vec<_> = rows.iter().filter(|r| r[0] == "bugfix").collect();
    assert_eq!(bugfix[0], &["bugfix", "2", "server"], "{said}");
    assert_eq!(bugfix[1], &["bugfix", "1", "built-in"], "{said}");
    assert!(
        said.lines()
            .any(|l| l.starts_with("bugfix") && l.ends_with("(shadowed)")),
        "{said}"
    );
    assert!(rows.contains(&vec!["ours", "3", "repo"]), "{said}");
    assert!(
        rows.contains(&vec!["code-review", "1", "built-in"]),
        "{said}"
    );

    // The repository's formula, resolved through the server's onto the built-in.
    let (ok, said) = gt_with(&["formula", "show", "ours", "--dir", dir], &env);
    assert!(ok, "{said}");
    assert!(said.starts_with("ours@3 (workflow, 4 steps)"), "{said}");
    assert!(said.contains("  - fix ← reproduce: Fix it"), "{said}");
    assert!(!said.contains("diagnose"), "{said}");

    // A version pins one layer's formula.
    let (ok, said) = gt_with(&["formula", "show", "bugfix@1"], &env);
    assert!(ok && said.contains("diagnose"), "{said}");
    let (ok, said) = gt(&["formula", "show", "nothing"]);
    assert!(
        !ok && said.contains("no formula called `nothing`"),
        "{said}"
    );
}

#[test]
fn expand_takes_a_name_and_prints_a_tree_or_json() {
    let (ok, said) = gt(&["formula", "expand", "code-review", "--var", "target=PR #7"]);
    assert!(ok, "{said}");
    assert!(
        said.contains("- security [leg]: Security review: PR #7"),
        "{said}"
    );
    assert!(
        said.contains(
            "- synthesis: Review verdict: PR #7  (after correctness, security, performance, tests)"
        ),
        "{said}"
    );

    let (ok, said) = gt(&[
        "formula",
        "expand",
        "rule-of-five",
        "--var",
        "issue=Parser",
        "--var",
        r#"passes:=["speed","naming"]"#,
        "--json",
    ]);
    assert!(ok, "{said}");
    let plan: serde_json::Value = serde_json::from_str(&said).expect("JSON");
    assert_eq!(plan["kind"], "expansion");
    let ids: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["implement", "review-1", "review-2", "done"]);
    assert_eq!(plan["steps"][2]["title"], "Pass 2: naming");
    assert_eq!(plan["steps"][2]["needs"], serde_json::json!(["review-1"]));
}

#[test]
fn validate_resolves_files_together_and_names_each_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let base = write(
        "base.yaml",
        "formula: base\nversion: 1\ntype: workflow\nsteps:\n  - {id: a, title: A}\n  - {id: b, title: B, needs: [a]}\n",
    );
    let child = write(
        "child.yaml",
        "formula: child\nversion: 1\ntype: workflow\nextends: base\ndrop: [a]\n",
    );
    let gated = write(
        "gated.yaml",
        "formula: gated\nversion: 1\ntype: workflow\nvars:\n  branch: {}\nsteps:\n  - id: a\n    title: A\n    gate: ['git diff {{ branch }}']\n",
    );
    let (ok, said) = gt(&["formula", "validate", &base, &child, &gated]);
    assert!(!ok, "{said}");
    assert!(said.contains("base.yaml: ok (base@1, 2 steps)"), "{said}");
    assert!(
        said.contains("base.yaml:6:31: steps[1].needs[0]: `a` is dropped by `child`"),
        "{said}"
    );
    assert!(
        said.contains("gated.yaml:9:12: steps[0].gate[0]: a gate runs as written: vars are never rendered into gate commands"),
        "{said}"
    );
    assert!(
        said.contains("2 of 3 formula files have mistakes"),
        "{said}"
    );
}
