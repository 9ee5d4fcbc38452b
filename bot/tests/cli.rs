//! The `gt` command line as a person uses it. (Also makes `cargo test` build the `gt`
//! binary that the end-to-end tests run.)

use std::process::Command;

fn gt() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gt"));
    c.env_remove("GT_CONFIG").env_remove("RUST_LOG");
    c
}

#[test]
fn a_bad_config_file_is_named_with_its_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gastown.yaml");
    std::fs::write(&path, "listen: 127.0.0.1:1\nworker:\n  max_attempts: -2\n").unwrap();
    let out = gt()
        .args(["--config"])
        .arg(&path)
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:3: field `worker.max_attempts`",
            path.display()
        )),
        "{err}"
    );
}

#[test]
fn inbox_and_beads_commands_explain_a_missing_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("none.db");
    let out = gt()
        .args(["beads", "list"])
        .env("GT_DATABASE", &db)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no database at") && err.contains("GT_DATABASE"),
        "{err}"
    );
}
