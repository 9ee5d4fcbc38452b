//! Starting an agent's wrapper in a pod: the exec cannot be detached, so it launches
//! the wrapper in a session of its own and returns once the wrapper recorded itself.

use std::collections::BTreeMap;

use super::pod::TOWN_MOUNT;
use crate::{AgentSpec, wrapper};

/// How long the launch waits in the pod for the wrapper to record itself, looking every
/// [`START_POLL_MS`] (in the pod: each exec would cost a round trip).
pub(super) const START_WAIT_SECS: u64 = 15;
const START_POLL_MS: u64 = 20;

/// The launch that replaces [`wrapper::BOOTSTRAP`]'s `exec`: an exec cannot be
/// detached, so the wrapper goes to the background in a session of its own, and the
/// exec returns once it has recorded itself (exit 98: it did not in time).
fn launch_script() -> String {
    format!(
        r#"setsid sh "$1/run/$3/wrapper.sh" </dev/null >/dev/null 2>&1 &
i=0
while [ ! -e "$1/run/$3/pid" ] && [ ! -e "$1/run/$3/exit" ]; do
  i=$((i + 1)); [ "$i" -lt {polls} ] || exit 98
  sleep {poll}
done
exit 0
"#,
        polls = START_WAIT_SECS * 1000 / START_POLL_MS,
        poll = START_POLL_MS as f64 / 1000.0,
    )
}

/// What the start exec reads from its stdin and evaluates: the arguments, the agent's
/// environment and its wrapper as shell assignments, then the bootstrap. Secrets
/// travel only in this input, never in an argv another process could read.
pub(super) fn start_payload(
    spec: &AgentSpec,
    env: &BTreeMap<String, String>,
    wrapper: &str,
) -> String {
    let bootstrap = wrapper::BOOTSTRAP
        .strip_suffix(wrapper::BOOTSTRAP_LAUNCH)
        .expect("BOOTSTRAP ends with its launch");
    let mut s = format!(
        "set -- {} 0 {}\n",
        wrapper::sh_quote(TOWN_MOUNT),
        wrapper::sh_quote(&spec.agent.0)
    );
    for (k, v) in env {
        s.push_str(&format!("export {k}={}\n", wrapper::sh_quote(v)));
    }
    s.push_str(&format!("GT_WRAPPER={}\n", wrapper::sh_quote(wrapper)));
    s.push_str(bootstrap);
    s.push_str(&launch_script());
    s
}

/// Evaluates exactly `$1` bytes of stdin: `head -c` stops there, without waiting for
/// an end of input the exec protocol may never send.
pub(super) const START_SCRIPT: &str = r#"eval "$(head -c "$1")""#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubernetes::pod::CONTAINER_PATH;
    use crate::wrapper::Isolation;
    use crate::{AgentId, TownId};

    #[test]
    fn secrets_travel_in_the_payload_never_in_argv() {
        let spec = AgentSpec {
            town: TownId::new("t").unwrap(),
            agent: AgentId::new("a").unwrap(),
            command: vec!["true".to_owned()],
            env: BTreeMap::from([("GT_TOKEN".to_owned(), "s3cr3t'; rm -rf /".to_owned())]),
            env_files: Vec::new(),
            workspace: None,
            checks: Vec::new(),
        };
        let env = wrapper::agent_env(
            &spec,
            TOWN_MOUNT,
            CONTAINER_PATH,
            Isolation::PerSession { bot_gid: 0 },
        );
        let payload = start_payload(&spec, &env, "echo hi");
        assert!(payload.contains(r"export GT_TOKEN='s3cr3t'\''; rm -rf /'"));
        assert!(!START_SCRIPT.contains("s3cr3t"));
        assert!(payload.starts_with("set -- '/town' 0 'a'\n"));
        assert!(!payload.contains("exec setsid"));
    }
}
