//! The agent wrapper and the `run/` directory convention both backends share.
//!
//! An agent must outlive the bot that started it, so nothing about it lives in the bot's
//! memory. Instead each agent gets a directory `<town root>/run/<agent>/`:
//!
//! | file          | meaning |
//! |---------------|---------|
//! | `spec.json`   | argv, env *names* (never values: `GT_TOKEN` is secret), workspace, `started_at_ms` |
//! | `pid`         | the wrapper's pid (`$$`), which is also its session and process-group id |
//! | `uid`         | the session's own uid, where the backend isolates sessions |
//! | `log`, `log.1`| combined stdout+stderr, appended; rotated at [`LOG_CAP`] (the older part kept in `log.1`) |
//! | `checks/<i>/` | each quality gate's `name`, `exit`, `ms` and `log` (its last [`CHECK_TAIL`] bytes) |
//! | `exit`        | the command's exit code, written (atomically, via rename) when everything ended |
//!
//! The wrapper runs as a session leader (`setsid`), so stopping an agent signals its
//! whole process group. It prepares the [`Workspace`], runs the command in the
//! foreground, traps TERM/INT/HUP (so a stopped agent still gets an `exit` record,
//! typically 143), runs the [`Check`]s when the command succeeded, and records the code.
//!
//! Two shapes, one per [`Isolation`]:
//!
//! - **Shared** (the local backend): the wrapper and the agent are the bot's user; the
//!   runner writes `run/<agent>/` itself; one bare clone per rig with a worktree per
//!   agent. Nothing is isolated.
//! - **Per session** (Docker): the wrapper runs as the town's root, which holds only
//!   the capabilities to change uids, chown and signal. It creates `run/<agent>/`
//!   (mode 2750, group = the bot's gid, so agents cannot read or replace it), claims a
//!   free uid for the session (and that uid + 10000 for its gates), keeps the rig's
//!   clone (root-owned, readable by the rig's own group only), gives the session a
//!   `git clone --shared` of it in a 0700 home, and runs the command under the session's
//!   uid with no capabilities. Secret files named by `env_files` are written into that
//!   home (0600) and never reach argv. When the command ends, every process left of its
//!   uid is killed. Gates run on a copy of the checkout under the gate uid, with an empty
//!   environment, their output and exit recorded by the wrapper.
//!
//! Git authenticates with a credential helper that reads `$GT_TOKEN` from the
//! environment when git asks, so the token never reaches a file, a URL or argv.
//!
//! Status is derived from these files: an `exit` file means exited; otherwise a live
//! wrapper process means running; otherwise, once the start grace has passed, the agent
//! is lost (its wrapper died without recording). Every read goes through [`town_fs`]:
//! the files are hostile input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::town_fs::{self, RECORD_CAP};
use crate::{
    AgentId, AgentSpec, AgentState, AgentStatus, Check, CheckResult, RunnerError, TownId, Workspace,
};

/// The most bytes [`Runner::output`](crate::Runner::output) returns per call, so a
/// tailing loop never loads a huge log at once.
pub const OUTPUT_CHUNK: usize = 1 << 20;

/// An agent's `log` is rotated past this size: the agent cannot fill the town's disk
/// through its output, and reading its tail is cheap whatever it printed.
pub const LOG_CAP: u64 = 8 << 20;

/// How much of a rotated log is kept in `log.1`.
const LOG_KEEP: u64 = 1 << 20;

/// How much of a gate's output the wrapper keeps.
pub const CHECK_TAIL: usize = 64 * 1024;

/// More gates than this for one session is not a repository's configuration.
pub(crate) const MAX_CHECKS: usize = 64;

/// How long an agent without a `pid` file still counts as starting rather than lost.
const START_GRACE_MS: i64 = 60_000;

/// The first uid a session gets; its gates get `uid + GATE_UID_OFFSET`.
pub const SESSION_UID_BASE: u32 = 20_000;
/// How many sessions a town can hold at once (uids `20000..30000`).
pub const SESSION_UIDS: u32 = 10_000;
pub const GATE_UID_OFFSET: u32 = 10_000;
/// The first gid a rig's clone is given.
const RIG_GID_BASE: u32 = 50_000;

/// The credential helper git runs through `sh`; `$GT_TOKEN` is expanded only then.
const CREDENTIAL_HELPER: &str = r#"!f() { echo username=agent; echo "password=$GT_TOKEN"; }; f"#;

/// How the wrapper separates sessions from each other and from the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Everything as the bot's user (the local backend).
    Shared,
    /// The wrapper is root in the town and each session gets its own uid. `bot_gid`
    /// owns the `run/` records' group, so a bot that is not root reads them.
    PerSession { bot_gid: u32 },
}

/// What `spec.json` holds: enough to explain an agent after a restart, never a secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentRecord {
    pub town: TownId,
    pub agent: AgentId,
    pub backend: String,
    pub command: Vec<String>,
    pub env_keys: Vec<String>,
    pub workspace: Option<Workspace>,
    pub started_at_ms: i64,
    #[serde(default)]
    pub checks: Vec<String>,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Quotes a string for POSIX `sh` so the script can never be broken out of.
pub(crate) fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

pub(crate) fn run_dir(host_root: &Path, agent: &AgentId) -> PathBuf {
    host_root.join("run").join(&agent.0)
}

/// The wrapper's path as the agent process sees it (`/town/...` inside Docker). It is
/// the wrapper's `$0`, so a process list tells which agent a wrapper belongs to.
pub(crate) fn wrapper_path(proc_root: &str, agent: &AgentId) -> String {
    format!(
        "{}/run/{}/wrapper.sh",
        proc_root.trim_end_matches('/'),
        agent.0
    )
}

/// A session's home inside the town, where sessions are isolated.
pub fn session_home(proc_root: &str, agent: &AgentId) -> String {
    format!("{}/homes/{}", proc_root.trim_end_matches('/'), agent.0)
}

fn record(spec: &AgentSpec, backend: &str) -> AgentRecord {
    AgentRecord {
        town: spec.town.clone(),
        agent: spec.agent.clone(),
        backend: backend.to_owned(),
        command: spec.command.clone(),
        env_keys: spec.env.keys().cloned().collect(),
        workspace: spec.workspace.clone(),
        started_at_ms: now_ms(),
        checks: spec.checks.iter().map(|c| c.name.clone()).collect(),
    }
}

/// Refuses a spec the wrapper cannot run safely.
pub(crate) fn validate(spec: &AgentSpec) -> Result<(), RunnerError> {
    spec.agent.validate()?;
    if spec.command.is_empty() {
        return Err(RunnerError::EmptyCommand {
            town: spec.town.0.clone(),
            agent: spec.agent.0.clone(),
        });
    }
    for name in &spec.env_files {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(RunnerError::InvalidEnvName(name.clone()));
        }
    }
    if spec.checks.len() > MAX_CHECKS {
        return Err(RunnerError::InvalidCheck {
            name: format!("{} gates", spec.checks.len()),
            why: format!("at most {MAX_CHECKS}"),
        });
    }
    for c in &spec.checks {
        if c.name.is_empty() || c.name.len() > 100 || c.run.trim().is_empty() {
            return Err(RunnerError::InvalidCheck {
                name: c.name.clone(),
                why: "a gate needs a name (1-100 bytes) and a command".to_owned(),
            });
        }
    }
    Ok(())
}

/// The agent's complete environment: the given env over minimal defaults, plus the
/// town variables the `gt` tool relies on.
pub(crate) fn agent_env(
    spec: &AgentSpec,
    proc_root: &str,
    default_path: &str,
    isolation: Isolation,
) -> BTreeMap<String, String> {
    let root = proc_root.trim_end_matches('/');
    let home = match isolation {
        Isolation::Shared => format!("{root}/run/{}", spec.agent.0),
        Isolation::PerSession { .. } => session_home(root, &spec.agent),
    };
    let mut env = BTreeMap::new();
    env.insert("PATH".to_owned(), default_path.to_owned());
    env.insert("HOME".to_owned(), home.clone());
    env.extend(spec.env.clone());
    env.insert("GT_TOWN_ROOT".to_owned(), root.to_owned());
    if let Some(ws) = &spec.workspace {
        let wt = match isolation {
            Isolation::Shared => format!("{root}/{}", ws.worktree_dir.trim_matches('/')),
            Isolation::PerSession { .. } => format!("{home}/work"),
        };
        env.insert("GT_WORKTREE".to_owned(), wt);
    }
    env
}

/// Generates the wrapper script; `proc_root` is the town root as the process sees it.
pub(crate) fn script(spec: &AgentSpec, proc_root: &str, isolation: Isolation) -> String {
    let root = proc_root.trim_end_matches('/');
    let run = format!("{root}/run/{}", spec.agent.0);
    let mut s = format!(
        "#!/bin/sh\n# Generated by gastown-runner for agent {agent} of town {town}.\n\
         # Convention: runner/src/wrapper.rs.\n\
         run={run}\nroot={root}\nagent={agent_q}\n\
         stopped=\ntrap 'stopped=TERM' TERM\ntrap 'stopped=INT' INT\ntrap 'stopped=HUP' HUP\n",
        agent = spec.agent.0,
        town = spec.town.0,
        run = sh_quote(&run),
        root = sh_quote(root),
        agent_q = sh_quote(&spec.agent.0),
    );
    if let Isolation::PerSession { bot_gid } = isolation {
        s.push_str(&create_record_script(spec, bot_gid));
    }
    s.push_str(&format!(
        r#"echo $$ >"$run/pid.tmp" && mv -f "$run/pid.tmp" "$run/pid"
exec >>"$run/log" 2>&1 </dev/null
( while [ ! -e "$run/exit" ]; do
    sleep 2
    size=$(stat -c %s "$run/log" 2>/dev/null || echo 0)
    if [ "$size" -gt {LOG_CAP} ]; then
      tail -c {LOG_KEEP} "$run/log" >"$run/log.1"; : >"$run/log"
      echo "gastown-runner: log rotated at $size bytes (the last {LOG_KEEP} are in log.1)"
    fi
  done ) &
watcher=$!
finish() {{
  kill "$watcher" 2>/dev/null
  echo "$1" >"$run/exit.tmp" && mv -f "$run/exit.tmp" "$run/exit"
  exit "$1"
}}
fail() {{
  code=$?
  [ "$code" -eq 0 ] && code=1
  echo "gastown-runner: $1 (exit $code)"
  finish "$code"
}}
cd "$root" || fail "cannot enter the town root $root"
"#
    ));
    match isolation {
        Isolation::Shared => s.push_str("as_session() { \"$@\"; }\nend_session() { :; }\n"),
        Isolation::PerSession { .. } => s.push_str(&session_script()),
    }
    s.push_str(&env_files_script(&spec.env_files));
    if let Some(ws) = &spec.workspace {
        match isolation {
            Isolation::Shared => s.push_str(&shared_workspace_script(ws)),
            Isolation::PerSession { .. } => s.push_str(&isolated_workspace_script(ws)),
        }
    } else {
        s.push_str("wt=\"${home:-$root}\"\n");
    }
    s.push_str("set --");
    for arg in &spec.command {
        s.push(' ');
        s.push_str(&sh_quote(arg));
    }
    s.push_str(
        r#"
as_session env -C "$wt" "$@"
code=$?
[ -n "$stopped" ] && echo "gastown-runner: agent stopped by SIG$stopped"
end_session
"#,
    );
    if !spec.checks.is_empty() {
        s.push_str(&checks_script(&spec.checks, isolation));
    }
    s.push_str("finish \"$code\"\n");
    s
}

/// Root creates the record, so an agent can neither read nor replace it.
fn create_record_script(spec: &AgentSpec, bot_gid: u32) -> String {
    let json =
        serde_json::to_string(&record(spec, "docker")).expect("an AgentRecord always serialises");
    let _ = bot_gid;
    format!(
        r#"umask 027
cat >"$run/spec.json" <<'GT_SPEC_EOF'
{json}
GT_SPEC_EOF
"#
    )
}

/// The fixed command line that starts an isolated wrapper: root creates the record's
/// directory (group = the bot's gid, so a bot that is not root reads it, and no agent
/// can), writes the script from `$GT_WRAPPER` (never argv) and runs it in a new session.
/// Args: town root, bot gid, agent. Exit 97: the record already exists.
pub const BOOTSTRAP: &str = r#"umask 027
mkdir -p "$1/run" && chgrp "$2" "$1/run" && chmod 0750 "$1/run" || exit 96
mkdir "$1/run/$3" || exit 97
chgrp "$2" "$1/run/$3" && chmod 2750 "$1/run/$3" || exit 96
printf '%s' "$GT_WRAPPER" >"$1/run/$3/wrapper.sh" || exit 96
unset GT_WRAPPER
exec setsid sh "$1/run/$3/wrapper.sh"
"#;

/// [`BOOTSTRAP`]'s last line, which a backend that cannot detach its exec replaces
/// with a launch of its own.
pub(crate) const BOOTSTRAP_LAUNCH: &str = "exec setsid sh \"$1/run/$3/wrapper.sh\"\n";

/// Claims a uid, makes the session's home, and defines how to drop to the session's
/// (`as_session`) and the gates' (`as_gate`) uid.
fn session_script() -> String {
    format!(
        r#"mkdir -p "$root/run/.uids" || fail "cannot create $root/run/.uids"
uid={SESSION_UID_BASE}
until mkdir "$root/run/.uids/$uid" 2>/dev/null; do
  uid=$((uid+1))
  [ "$uid" -lt {end} ] || fail "no free session uid in the town"
done
echo "$agent" >"$root/run/.uids/$uid/agent"
echo "$uid" >"$run/uid"
gate=$((uid+{GATE_UID_OFFSET}))
groups=$uid
as_session() {{ setpriv --reuid="$uid" --regid="$uid" --groups="$groups" --inh-caps=-all "$@"; }}
# Gates read the rig's objects (their checkout's alternates) through its group, once known.
as_gate() {{ setpriv --reuid="$gate" --regid="$gate" --groups="${{riggid:-$gate}}" --inh-caps=-all "$@"; }}
kill_uid() {{ setpriv --reuid="$1" --regid="$1" --clear-groups --inh-caps=-all sh -c 'kill -KILL -1' 2>/dev/null; }}
# An earlier holder of these uids is gone; anything it left behind goes too.
kill_uid "$uid"; kill_uid "$gate"
end_session() {{ kill_uid "$uid"; }}
mkdir -p "$root/homes" && chmod 0711 "$root/homes" || fail "cannot create $root/homes"
home="$root/homes/$agent"
rm -rf "$home" 2>/dev/null
mkdir -m 0700 "$home" && mkdir -m 0700 "$home/.gastown" || fail "cannot create the home $home"
export HOME="$home"
"#,
        end = SESSION_UID_BASE + SESSION_UIDS,
    )
}

/// Moves each named variable's value into a 0600 file in the home and points the
/// variable at it. `printf` is a shell builtin: the value never reaches an argv.
fn env_files_script(names: &[String]) -> String {
    let mut s = String::from("mkdir -p \"$HOME/.gastown\" && chmod 0700 \"$HOME/.gastown\"\n");
    for name in names {
        s.push_str(&format!(
            "if [ -n \"${{{name}+x}}\" ]; then\n  \
             (umask 077; printf '%s' \"${name}\" >\"$HOME/.gastown/{name}\") || fail \"cannot write $HOME/.gastown/{name}\"\n  \
             {name}=\"$HOME/.gastown/{name}\"; export {name}\nfi\n"
        ));
    }
    s.push_str("[ -n \"${uid:-}\" ] && { chown -R \"$uid:$uid\" \"$HOME\" || fail \"cannot give $HOME to uid $uid\"; }\n");
    s
}

fn workspace_vars(ws: &Workspace) -> String {
    format!(
        "rig=\"$root\"/{rig}\nurl={url}\nbase={base}\nbranch={branch}\nhelper={helper}\n\
         g() {{ GIT_TERMINAL_PROMPT=0 git -c credential.helper= -c \"credential.helper=$helper\" \"$@\"; }}\n\
         echo \"gastown-runner: preparing a checkout of $branch (base $base) from $url\"\n",
        rig = sh_quote(ws.rig_dir.trim_matches('/')),
        url = sh_quote(&ws.remote_url),
        base = sh_quote(&ws.base_branch),
        branch = sh_quote(&ws.branch),
        helper = sh_quote(CREDENTIAL_HELPER),
    )
}

/// The local backend's checkout: a bare clone per rig and a worktree per agent.
fn shared_workspace_script(ws: &Workspace) -> String {
    let mut s = workspace_vars(ws);
    s.push_str(&format!(
        "wt=\"$root\"/{wt}\n",
        wt = sh_quote(ws.worktree_dir.trim_matches('/'))
    ));
    s.push_str(
        r#"mkdir -p "$(dirname "$rig")" "$(dirname "$wt")" || fail "cannot create the directories of $rig and $wt"
if command -v flock >/dev/null 2>&1; then exec 9>"$rig.lock"; flock 9; fi
if [ ! -f "$rig/HEAD" ]; then
  git init --quiet --bare "$rig" || fail "git init of the rig clone $rig failed"
fi
git -C "$rig" remote get-url origin >/dev/null 2>&1 || git -C "$rig" remote add origin "$url"
git -C "$rig" remote set-url origin "$url" || fail "cannot set the remote of $rig"
git -C "$rig" config remote.origin.fetch '+refs/heads/*:refs/remotes/origin/*'
git -C "$rig" config credential.helper "$helper"
git -C "$rig" config push.default current
git -C "$rig" config push.autoSetupRemote true
git -C "$rig" config user.name >/dev/null || git -C "$rig" config user.name 'gastown polecat'
git -C "$rig" config user.email >/dev/null || git -C "$rig" config user.email 'polecat@gastown.invalid'
g -C "$rig" fetch --prune --quiet origin || fail "cloning $url into $rig failed"
if [ -e "$wt/.git" ]; then
  echo "gastown-runner: reusing the existing worktree $wt"
else
  git -C "$rig" worktree prune
  # One agent works a branch at a time, but an earlier agent's worktree (a finished
  # polecat, the refinery's last run) may still hold it: detach that one, keeping its
  # files and commits, so this agent can check the branch out.
  other=$(git -C "$rig" worktree list --porcelain | awk -v b="branch refs/heads/$branch" '/^worktree /{w=substr($0,10)} $0==b{print w}')
  if [ -n "$other" ]; then
    echo "gastown-runner: detaching the earlier worktree $other from $branch"
    git -C "$other" checkout --quiet --detach || fail "cannot detach $other from $branch"
  fi
  if git -C "$rig" rev-parse --verify --quiet "refs/remotes/origin/$branch" >/dev/null; then
    git -C "$rig" worktree add --quiet -B "$branch" "$wt" "origin/$branch" || fail "cannot check out origin/$branch into $wt"
  elif git -C "$rig" rev-parse --verify --quiet "refs/heads/$branch" >/dev/null; then
    git -C "$rig" worktree add --quiet "$wt" "$branch" || fail "cannot check out $branch into $wt"
  else
    git -C "$rig" worktree add --quiet --no-track -b "$branch" "$wt" "origin/$base" || fail "cannot create $branch from origin/$base (does the base branch exist?)"
  fi
fi
exec 9>&-
export GT_WORKTREE="$wt"
"#,
    );
    s
}

/// The isolated checkout: root keeps the rig's clone (a mirror of the git endpoint,
/// readable by the rig's group only, so no session reads another rig's sources and none
/// can write hooks or config into it); the session clones it `--shared` into its home.
fn isolated_workspace_script(ws: &Workspace) -> String {
    let mut s = workspace_vars(ws);
    s.push_str(&format!(
        r#"mkdir -p "$root/rigs/.gids" && chmod 0711 "$root/rigs" || fail "cannot create $root/rigs"
exec 9>"$rig.lock"; flock 9
if [ ! -f "$rig.gid" ]; then
  gid={RIG_GID_BASE}
  until mkdir "$root/rigs/.gids/$gid" 2>/dev/null; do gid=$((gid+1)); done
  echo "$gid" >"$rig.gid"
fi
riggid=$(cat "$rig.gid")
groups="$uid,$riggid"
# Sessions clone the rig while the next one fetches into it: only the first one writes
# its config, and files inherit the rig's group through the setgid directory (set while
# the group is still root's: without CAP_FSETID root cannot set it afterwards).
if [ ! -f "$rig/HEAD" ]; then
  git init --quiet --bare --shared=0640 "$rig" || fail "git init of the rig clone $rig failed"
  chmod 2750 "$rig" || fail "cannot set the rig clone's mode"
  git -C "$rig" config gc.auto 0
  git -C "$rig" remote add origin "$url"
  git -C "$rig" config remote.origin.fetch '+refs/heads/*:refs/heads/*'
  chgrp -R "$riggid" "$rig" || fail "cannot give $rig to its rig's group"
fi
[ "$(git -C "$rig" config remote.origin.url)" = "$url" ] || git -C "$rig" remote set-url origin "$url" || fail "cannot set the remote of $rig"
g -C "$rig" fetch --prune --quiet origin || fail "fetching $url into $rig failed"
chgrp -R "$riggid" "$rig" || fail "cannot give $rig to its rig's group"
exec 9>&-
wt="$home/work"
# The rig's clone belongs to the town's root: the session trusts it by name.
as_session git config --global --add safe.directory "$rig" || fail "cannot write $HOME/.gitconfig"
as_session git clone --quiet --shared --no-checkout "$rig" "$wt" || fail "cannot clone $rig into $wt"
sg() {{ as_session git -C "$wt" "$@"; }}
sg remote set-url origin "$url" || fail "cannot set the remote of $wt"
sg config credential.helper "$helper"
sg config push.default current
sg config push.autoSetupRemote true
sg config user.name 'gastown polecat'
sg config user.email 'polecat@gastown.invalid'
if sg rev-parse --verify --quiet "refs/remotes/origin/$branch" >/dev/null; then
  sg checkout --quiet -B "$branch" "origin/$branch" || fail "cannot check out origin/$branch into $wt"
else
  sg checkout --quiet --no-track -b "$branch" "origin/$base" || fail "cannot create $branch from origin/$base (does the base branch exist?)"
fi
export GT_WORKTREE="$wt"
"#
    ));
    s
}

/// Runs each gate after a successful command; the wrapper, not the gate, records what
/// happened. Isolated: on a copy of the checkout owned by the gate uid.
fn checks_script(checks: &[Check], isolation: Isolation) -> String {
    let mut s = String::from(
        r#"if [ "$code" -eq 0 ] && [ -z "$stopped" ]; then
mkdir -p "$run/checks" || fail "cannot create $run/checks"
"#,
    );
    match isolation {
        Isolation::Shared => s.push_str(
            "gdir=\"$wt\"\nghome=\"$HOME\"\nin_gate() { env -i -C \"$gdir\" \"$@\"; }\n",
        ),
        Isolation::PerSession { .. } => s.push_str(
            r#"gdir="$root/homes/$agent.gate"
rm -rf "$gdir" 2>/dev/null
mkdir -m 0700 "$gdir" && chown "$gate:$gate" "$gdir" || fail "cannot create the gates' directory $gdir"
as_session tar -C "$wt" -cf - . | as_gate tar -C "$gdir" -xf - || fail "cannot copy the checkout for the gates"
ghome="$gdir"
in_gate() { as_gate env -i -C "$gdir" "$@"; }
"#,
        ),
    }
    s.push_str(&format!(
        r#"check() {{
  d="$run/checks/$1"; mkdir -p "$d"; printf '%s' "$2" >"$d/name"
  echo "gastown-runner: gate $2"
  t0=$(date +%s%3N)
  {{ in_gate PATH="$PATH" HOME="$ghome" LANG=C.UTF-8 timeout -k 5 "$3" sh -c "$4" </dev/null 2>&1; echo $? >"$d/exit.tmp"; }} | tail -c {CHECK_TAIL} >"$d/log"
  t1=$(date +%s%3N)
  echo $((t1-t0)) >"$d/ms"
  [ -n "$stopped" ] || mv -f "$d/exit.tmp" "$d/exit"
  echo "gastown-runner: gate $2 exited $(cat "$d/exit" 2>/dev/null || echo '(stopped)') after $((t1-t0)) ms"
}}
"#
    ));
    for (i, c) in checks.iter().enumerate() {
        s.push_str(&format!(
            "[ -n \"$stopped\" ] || check {i} {} {} {}\n",
            sh_quote(&c.name),
            c.timeout_secs.max(1),
            sh_quote(&c.run)
        ));
    }
    if let Isolation::PerSession { .. } = isolation {
        s.push_str("kill_uid \"$gate\"\nas_gate rm -rf \"$gdir\" 2>/dev/null; rm -rf \"$gdir\" 2>/dev/null\n");
    }
    s.push_str("fi\n");
    s
}

/// Host side of the shared shape: writes `run/<agent>/` with `spec.json` and the
/// script, refusing to overwrite an existing record (it may hold an exit the bot has not
/// handled yet).
pub(crate) fn prepare_shared(
    host_root: &Path,
    proc_root: &str,
    spec: &AgentSpec,
    backend: &str,
) -> Result<PathBuf, RunnerError> {
    validate(spec)?;
    let run_root = host_root.join("run");
    std::fs::create_dir_all(&run_root).map_err(RunnerError::io("cannot create", &run_root))?;
    let dir = run_dir(host_root, &spec.agent);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(RunnerError::AgentExists {
                town: spec.town.0.clone(),
                agent: spec.agent.0.clone(),
                dir,
            });
        }
        Err(e) => return Err(RunnerError::io("cannot create", &dir)(e)),
    }
    let json = serde_json::to_vec_pretty(&record(spec, backend))
        .expect("an AgentRecord always serialises");
    let spec_path = dir.join("spec.json");
    std::fs::write(&spec_path, json).map_err(RunnerError::io("cannot write", &spec_path))?;
    let wrapper = dir.join("wrapper.sh");
    std::fs::write(&wrapper, script(spec, proc_root, Isolation::Shared))
        .map_err(RunnerError::io("cannot write", &wrapper))?;
    Ok(dir)
}

/// One agent's files as found on disk.
#[derive(Debug, Clone)]
pub(crate) struct OnDisk {
    pub host_root: PathBuf,
    pub record: AgentRecord,
    pub pid: Option<i64>,
    pub exit: Option<i32>,
}

fn read_number<T: std::str::FromStr>(host_root: &Path, agent: &AgentId, file: &str) -> Option<T> {
    let bytes = town_fs::read_small(host_root, &["run", &agent.0, file], 64).ok()??;
    std::str::from_utf8(&bytes).ok()?.trim().parse().ok()
}

/// The record of one agent; `None` when there is none or it is not a record we wrote.
pub(crate) fn read_one(host_root: &Path, agent: &AgentId) -> Option<OnDisk> {
    let bytes = match town_fs::read_small(host_root, &["run", &agent.0, "spec.json"], RECORD_CAP) {
        Ok(Some(b)) => b,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(%agent, error = %e, "ignoring an agent record that is not a regular file we wrote");
            return None;
        }
    };
    let record: AgentRecord = serde_json::from_slice(&bytes).ok()?;
    if record.agent != *agent {
        return None;
    }
    Some(OnDisk {
        host_root: host_root.to_path_buf(),
        record,
        pid: read_number(host_root, agent, "pid"),
        exit: read_number(host_root, agent, "exit"),
    })
}

/// Every record under `run/`, oldest first; directories without a readable
/// `spec.json` (half-created, foreign, hostile) are skipped.
pub(crate) fn read_all(host_root: &Path) -> Result<Vec<OnDisk>, RunnerError> {
    let run_root = host_root.join("run");
    let entries = match std::fs::read_dir(&run_root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RunnerError::io("cannot list", &run_root)(e)),
    };
    let mut all = Vec::new();
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Ok(agent) = AgentId::new(name) else {
            continue;
        };
        if let Some(found) = read_one(host_root, &agent) {
            all.push(found);
        }
    }
    all.sort_by(|a, b| {
        (a.record.started_at_ms, &a.record.agent).cmp(&(b.record.started_at_ms, &b.record.agent))
    });
    Ok(all)
}

/// Derives the status from the files and the backend's liveness check of `pid`.
///
/// The files were read before the liveness check, and the wrapper writes `exit` just
/// before it ends: a wrapper that ended in between is gone yet its `exit` was not seen.
/// So `exit` is read once more when the process is gone, or such an agent would look
/// lost.
pub(crate) fn state(found: &OnDisk, alive: bool) -> AgentState {
    let exit = match found.exit {
        None if !alive => read_number(&found.host_root, &found.record.agent, "exit"),
        seen => seen,
    };
    derive(
        &found.record,
        found.pid,
        exit,
        alive,
        output_at(&found.host_root, &found.record.agent),
    )
}

/// The status an agent's record says, once read: `exit` must have been read after the
/// liveness check (see [`state`]). Shared by the backends that read the files in the
/// town itself (Kubernetes).
pub(crate) fn derive(
    record: &AgentRecord,
    pid: Option<i64>,
    exit: Option<i32>,
    alive: bool,
    output_at_ms: Option<i64>,
) -> AgentState {
    let status = match (exit, alive, pid) {
        (Some(code), _, _) => AgentStatus::Exited { code },
        (None, true, _) => AgentStatus::Running,
        (None, false, None) if now_ms() - record.started_at_ms < START_GRACE_MS => {
            AgentStatus::Running
        }
        _ => AgentStatus::Lost,
    };
    AgentState {
        agent: record.agent.clone(),
        status,
        started_at_ms: record.started_at_ms,
        output_at_ms,
    }
}

/// The log's modification time, without following a link (the log is the agent's to
/// write: hostile). `None` when there is no regular file there.
fn output_at(host_root: &Path, agent: &AgentId) -> Option<i64> {
    let meta = std::fs::symlink_metadata(host_root.join("run").join(&agent.0).join("log")).ok()?;
    if !meta.file_type().is_file() {
        return None;
    }
    let at = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    i64::try_from(at.as_millis()).ok()
}

fn hostile(agent: &AgentId, file: &str) -> impl FnOnce(std::io::Error) -> RunnerError {
    let (agent, path) = (agent.0.clone(), format!("run/{}/{file}", agent.0));
    move |e| RunnerError::Hostile {
        agent,
        path,
        why: e.to_string(),
    }
}

fn known(host_root: &Path, town: &TownId, agent: &AgentId) -> Result<(), RunnerError> {
    let dir = run_dir(host_root, agent);
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => Ok(()),
        _ => Err(RunnerError::UnknownAgent {
            town: town.0.clone(),
            agent: agent.0.clone(),
            dir,
        }),
    }
}

pub(crate) fn read_output(
    host_root: &Path,
    town: &TownId,
    agent: &AgentId,
    from: u64,
) -> Result<(Vec<u8>, u64), RunnerError> {
    known(host_root, town, agent)?;
    let buf = town_fs::read_range(host_root, &["run", &agent.0, "log"], from, OUTPUT_CHUNK)
        .map_err(hostile(agent, "log"))?
        .unwrap_or_default();
    let next = from + buf.len() as u64;
    Ok((buf, next))
}

/// The end of the output: `log`, preceded by the end of `log.1` when `log` is short.
pub(crate) fn read_output_tail(
    host_root: &Path,
    town: &TownId,
    agent: &AgentId,
    max: usize,
) -> Result<Vec<u8>, RunnerError> {
    known(host_root, town, agent)?;
    let mut tail = town_fs::read_tail(host_root, &["run", &agent.0, "log"], max)
        .map_err(hostile(agent, "log"))?;
    if tail.len() < max {
        let mut older =
            town_fs::read_tail(host_root, &["run", &agent.0, "log.1"], max - tail.len())
                .map_err(hostile(agent, "log.1"))?;
        older.extend_from_slice(&tail);
        tail = older;
    }
    Ok(tail)
}

/// Runs `read` over one agent's files off the async runtime (both backends read the
/// same files the same way; only where the town root is differs).
pub(crate) async fn read_agent<T: Send + 'static>(
    host_root: PathBuf,
    town: &TownId,
    agent: &AgentId,
    read: impl FnOnce(&Path, &TownId, &AgentId) -> Result<T, RunnerError> + Send + 'static,
) -> Result<T, RunnerError> {
    agent.validate()?;
    let (town, agent) = (town.clone(), agent.clone());
    town_fs::blocking(move || read(&host_root, &town, &agent)).await
}

/// The gates' outcomes as the wrapper recorded them, in the order they ran.
pub(crate) fn read_checks(
    host_root: &Path,
    town: &TownId,
    agent: &AgentId,
) -> Result<Vec<CheckResult>, RunnerError> {
    known(host_root, town, agent)?;
    let mut results = Vec::new();
    for i in 0..MAX_CHECKS {
        let idx = i.to_string();
        let rel = |file: &'static str| ["run", agent.0.as_str(), "checks", idx.as_str(), file];
        let name = match town_fs::read_small(host_root, &rel("name"), 200) {
            Ok(Some(n)) => String::from_utf8_lossy(&n).into_owned(),
            Ok(None) => break,
            Err(e) => return Err(hostile(agent, "checks")(e)),
        };
        let number = |file: &'static str| -> Option<i64> {
            let b = town_fs::read_small(host_root, &rel(file), 64).ok()??;
            std::str::from_utf8(&b).ok()?.trim().parse().ok()
        };
        let exit_code = number("exit").map(|c| c as i32);
        let duration_ms = number("ms").unwrap_or(0).max(0) as u64;
        let output_tail = town_fs::read_tail(host_root, &rel("log"), CHECK_TAIL)
            .map_err(hostile(agent, "checks"))?;
        results.push(CheckResult {
            timed_out: exit_code == Some(124),
            name,
            exit_code,
            duration_ms,
            output_tail,
        });
    }
    Ok(results)
}

/// Records the exit of an agent `stop_agent` ended, when the wrapper could not (it was
/// signalled before its traps were set, or needed a KILL): the runner knows the cause,
/// so the bot should see an exit, not a lost agent. Keeps an exit the wrapper wrote.
pub(crate) fn record_stop(host_root: &Path, agent: &AgentId, code: i32) {
    let path = run_dir(host_root, agent).join("exit");
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        use std::io::Write;
        let _ = writeln!(file, "{code}");
    }
}

/// Removes the record; the caller has checked the agent is not running. Does not follow
/// links (`remove_dir_all` removes a link, never its target).
pub(crate) fn forget(host_root: &Path, agent: &AgentId) -> Result<(), RunnerError> {
    let dir = run_dir(host_root, agent);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RunnerError::io("cannot remove", &dir)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_hostile_arguments() {
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote("$HOME `x`"), "'$HOME `x`'");
    }

    #[test]
    fn a_wrapper_that_ends_between_reading_and_the_liveness_check_has_exited() {
        let root = tempfile::tempdir().unwrap();
        let agent = AgentId::new("polecat-nux-gt-k3x9").unwrap();
        let dir = run_dir(root.path(), &agent);
        std::fs::create_dir_all(&dir).unwrap();
        let record = AgentRecord {
            town: TownId::new("t").unwrap(),
            agent: agent.clone(),
            backend: "local".to_owned(),
            command: vec!["true".to_owned()],
            env_keys: Vec::new(),
            workspace: None,
            started_at_ms: now_ms(),
            checks: Vec::new(),
        };
        std::fs::write(dir.join("spec.json"), serde_json::to_vec(&record).unwrap()).unwrap();
        std::fs::write(dir.join("pid"), "4242").unwrap();
        let found = read_one(root.path(), &agent).unwrap();
        assert_eq!(found.exit, None);

        std::fs::write(dir.join("exit"), "7").unwrap();
        assert_eq!(state(&found, false).status, AgentStatus::Exited { code: 7 });

        std::fs::remove_file(dir.join("exit")).unwrap();
        assert_eq!(state(&found, false).status, AgentStatus::Lost);
    }

    #[test]
    fn ids_refuse_path_and_shell_characters() {
        assert!(AgentId::new("polecat-nux-gt-k3x9").is_ok());
        for bad in ["", "../x", "a/b", "A", "a b", "a'b", ".hidden", "-x"] {
            assert!(AgentId::new(bad).is_err(), "{bad:?} accepted");
        }
    }
}
