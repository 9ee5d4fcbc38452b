//! A maintainer writing a formula checks it and sees what it expands into, with the
//! `gt` CLI and no server.

use std::process::Command;

use gastown_tests::process::gt_binary;

fn gt(args: &[&str]) -> (bool, String) {
    let out = Command::new(gt_binary())
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run gt");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
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
