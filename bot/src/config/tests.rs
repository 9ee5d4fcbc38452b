use std::collections::HashMap;

use super::*;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let p = dir.path().join("gastown.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn no_file_and_no_environment_gives_the_documented_defaults() {
    let c = Config::load(None, &env_of(&[])).unwrap();
    assert_eq!(c.listen, "127.0.0.1:8080");
    assert_eq!(c.database, PathBuf::from("./gastown.db"));
    assert_eq!(c.labels.sling, "gt:sling");
    assert!(c.rigs.is_none());
    let warnings = c.warnings().join("\n");
    assert!(warnings.contains("GT_GITHUB_WEBHOOK_SECRET"), "{warnings}");
    assert!(warnings.contains("GT_GITLAB_WEBHOOK_TOKEN"), "{warnings}");
}

#[test]
fn environment_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "listen: 127.0.0.1:9000\nworker:\n  max_attempts: 3\n");
    let c = Config::load(
        Some(&path),
        &env_of(&[
            ("GT_LISTEN", "0.0.0.0:7000"),
            ("GT_GITHUB_WEBHOOK_SECRET", "new, old"),
            ("GT_RIGS", "github:o/r, gitlab:gl.example.com/g/s/p"),
        ]),
    )
    .unwrap();
    assert_eq!(c.listen, "0.0.0.0:7000");
    assert_eq!(c.worker.max_attempts, 3);
    assert_eq!(c.secrets.github_webhook, vec!["new", "old"]);
    let rigs = c.rigs.unwrap();
    assert_eq!(rigs[1].host.as_deref(), Some("gl.example.com"));
    assert_eq!(rigs[1].repo, "g/s/p");
    assert!(
        !format!("{:?}", c.secrets).contains("old"),
        "secrets never print"
    );
}

#[test]
fn a_bad_field_is_reported_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "listen: 127.0.0.1:9000\nworker:\n  max_attempts: many\nrigs:\n  - forge: bitbucket\n    repo: o/r\n",
    );
    let e = Config::load(Some(&path), &env_of(&[])).unwrap_err();
    let text = e.to_string();
    let file = path.display().to_string();
    assert!(
        text.contains(&format!("{file}:3: field `worker.max_attempts`")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{file}:5: field `rigs.0.forge`")),
        "{text}"
    );
}

#[test]
fn unknown_keys_and_bad_environment_values_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "listen: 127.0.0.1:9000\nlisten_port: 3\n");
    let e = Config::load(Some(&path), &env_of(&[("GT_WORKER_MAX_ATTEMPTS", "x")]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("environment variable GT_WORKER_MAX_ATTEMPTS"),
        "{e}"
    );
    assert!(e.contains("listen_port"), "{e}");
    let e = Config::load(None, &env_of(&[("GT_WORKER_MAX_ATTEMPTS", "0")]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("environment variable GT_WORKER_MAX_ATTEMPTS: field `worker.max_attempts`"),
        "{e}"
    );
}

#[test]
fn yaml_syntax_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "listen: [\n");
    let e = Config::load(Some(&path), &env_of(&[]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not valid YAML"), "{e}");
    assert!(e.contains(&path.display().to_string()), "{e}");
}

/// "Every setting can also come from the environment": each leaf of the schema has an
/// entry in the override table.
#[test]
fn every_schema_setting_has_an_environment_variable() {
    fn leaves(schema: &Value, prefix: &str, out: &mut Vec<String>) {
        match schema.get("properties").and_then(Value::as_object) {
            Some(props) if schema.get("type") == Some(&json!("object")) => {
                for (k, v) in props {
                    leaves(v, &format!("{prefix}/{k}"), out);
                }
            }
            _ => out.push(prefix.to_string()),
        }
    }
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    let mut all = Vec::new();
    leaves(&schema, "", &mut all);
    for leaf in all {
        assert!(
            ENV_OVERRIDES.iter().any(|(_, p, _)| *p == leaf),
            "no GT_* variable for {leaf}"
        );
    }
}

#[test]
fn an_unknown_polecat_runtime_is_named_with_the_known_ones() {
    let e = Config::load(None, &env_of(&[("GT_POLECATS_RUNTIME", "hal9000")]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("environment variable GT_POLECATS_RUNTIME"),
        "{e}"
    );
    assert!(
        e.contains("polecats.runtime") && e.contains("hal9000"),
        "{e}"
    );
    assert!(e.contains("scripted, claude, opencode, codex, kilo"), "{e}");
    let custom = r#"{"mine":{"command":["my-agent","{{ bead_id }}"]}}"#;
    let c = Config::load(
        None,
        &env_of(&[("GT_RUNTIMES", custom), ("GT_POLECATS_RUNTIME", "mine")]),
    )
    .unwrap();
    assert_eq!(
        c.runtime("mine").unwrap().command,
        vec!["my-agent", "{{ bead_id }}"]
    );
    assert!(c.runtime("claude").is_some(), "built-ins stay available");
}

#[test]
fn direct_landing_is_never_the_towns_default() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "listen: 127.0.0.1:9000\nrefinery:\n  merge_strategy: direct\n",
    );
    let text = Config::load(Some(&path), &env_of(&[]))
        .unwrap_err()
        .to_string();
    let file = path.display().to_string();
    assert!(
        text.contains(&format!("{file}:3: field `refinery.merge_strategy`"))
            && text.contains("`merge_strategy: direct` in its .gastown.yaml"),
        "{text}"
    );
    let text = Config::load(None, &env_of(&[("GT_REFINERY_MERGE_STRATEGY", "direct")]))
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("environment variable GT_REFINERY_MERGE_STRATEGY: field `refinery.merge_strategy`: `direct` cannot be the town's default"),
        "{text}"
    );
    let ok = write(&dir, "refinery:\n  merge_strategy: pr\n");
    assert!(Config::load(Some(&ok), &env_of(&[])).is_ok());
}

#[test]
fn an_app_or_a_group_webhook_needs_the_rigs_listed() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "listen: 127.0.0.1:9000\ngithub:\n  app_id: 42\n");
    let text = Config::load(Some(&path), &env_of(&[]))
        .unwrap_err()
        .to_string();
    let file = path.display().to_string();
    assert!(
        text.contains(&format!(
            "{file}:3: field `github.app_id`: a GitHub App needs `rigs`"
        )),
        "{text}"
    );
    let text = Config::load(None, &env_of(&[("GT_GITLAB_GROUP_WEBHOOK", "true")]))
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("environment variable GT_GITLAB_GROUP_WEBHOOK: field `gitlab.group_webhook`: a group webhook needs `rigs`"),
        "{text}"
    );
    // Listed, both are fine.
    let listed = Config::load(
        Some(&path),
        &env_of(&[
            ("GT_GITLAB_GROUP_WEBHOOK", "yes"),
            ("GT_RIGS", "github:octo/hello,gitlab:grp/app"),
        ]),
    )
    .unwrap();
    assert!(listed.gitlab.group_webhook);
    assert_eq!(listed.rigs.unwrap().len(), 2);
}

#[test]
fn the_limits_default_and_come_from_the_environment() {
    let c = Config::load(None, &env_of(&[])).unwrap();
    assert_eq!(c.git.max_push_bytes, 512 * 1024 * 1024);
    assert_eq!(c.agent_api.max_body_bytes, 1024 * 1024);
    assert_eq!(
        (c.agent_api.mcp_sessions_per_token, c.agent_api.mcp_sessions),
        (4, 256)
    );
    assert_eq!(c.polecats.town_cap, 16);
    let c = Config::load(
        None,
        &env_of(&[
            ("GT_GIT_MAX_PUSH_BYTES", "2097152"),
            ("GT_AGENT_API_MAX_BODY_BYTES", "4096"),
            ("GT_AGENT_API_MCP_SESSIONS_PER_TOKEN", "2"),
            ("GT_AGENT_API_MCP_SESSIONS", "8"),
            ("GT_POLECATS_TOWN_CAP", "3"),
        ]),
    )
    .unwrap();
    assert_eq!(c.git.max_push_bytes, 2097152);
    assert_eq!(c.agent_api.max_body_bytes, 4096);
    assert_eq!(
        (c.agent_api.mcp_sessions_per_token, c.agent_api.mcp_sessions),
        (2, 8)
    );
    assert_eq!(c.polecats.town_cap, 3);
    let e = Config::load(None, &env_of(&[("GT_POLECATS_TOWN_CAP", "0")])).unwrap_err();
    assert!(e.to_string().contains("polecats.town_cap"), "{e}");
}

#[test]
fn the_kubernetes_runner_is_configured_from_the_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "runner:\n  kind: kubernetes\n  kubernetes:\n    namespace: team-a\n    node_selector: {pool: agents}\n",
    );
    let c = Config::load(
        Some(&path),
        &env_of(&[
            ("GT_RUNNER_K8S_PULL_POLICY", "Never"),
            ("GT_RUNNER_K8S_HOST_NETWORK", "true"),
        ]),
    )
    .unwrap();
    assert_eq!(c.runner.kind, RunnerKind::Kubernetes);
    // A pod cannot mount the bot's gt: its image must hold it.
    assert_eq!(c.runner.image(), "gastown:latest");
    let k = &c.runner.kubernetes;
    assert_eq!(
        (
            k.namespace.as_str(),
            k.image_pull_policy.as_str(),
            k.host_network
        ),
        ("team-a", "Never", true)
    );
    assert_eq!(
        k.node_selector.get("pool").map(String::as_str),
        Some("agents")
    );
    assert_eq!(k.start_timeout_secs, 180);

    let bad = write(
        &dir,
        "runner:\n  kubernetes:\n    image_pull_policy: Sometimes\n",
    );
    let err = Config::load(Some(&bad), &env_of(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("image_pull_policy"), "{err}");
}
