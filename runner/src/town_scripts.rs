//! What every isolating town is, whatever carries it (a Docker container or a
//! Kubernetes pod): where its files are, what its root may do, and the supervisor's
//! scripts that root runs.

/// Where the town root appears inside the town.
pub const TOWN_MOUNT: &str = "/town";

/// The `PATH` of the town and of its agents.
pub(crate) const CONTAINER_PATH: &str =
    "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

/// All the town's root keeps: switch to a session's uid, give files to it, signal it.
pub const TOWN_CAPS: &[&str] = &["CAP_SETUID", "CAP_SETGID", "CAP_CHOWN", "CAP_KILL"];

/// Gives the town root to the town's root (so its supervisor can create `run/`,
/// `homes/` and `rigs/` whoever owns the host directory), readable by the bot's group,
/// only traversable by agents.
pub(crate) const ROOT_SCRIPT: &str = r#"chown 0:"$2" "$1" && chmod 0751 "$1""#;

/// Stops a session inside the container: TERM to the wrapper's process group (after
/// checking that `pid` still runs the agent's wrapper: pids are reused), KILL after the
/// grace, then KILL whatever is left of the session's and its gates' uids (a process
/// that left the group with `setsid` included), and records the exit when the wrapper
/// could not. Args: pid, wrapper path, grace in tenths, run dir.
/// No `--` before the negative pid: dash's `kill` takes `-TERM -<pgid>` but not `--`.
pub(crate) const STOP_SCRIPT: &str = r#"pid=$1 w=$2 tenths=$3 run=$4
code=143
if grep -qaF "$w" "/proc/$pid/cmdline" 2>/dev/null && kill -TERM "-$pid" 2>/dev/null; then
  i=0
  while kill -0 "-$pid" 2>/dev/null && [ "$i" -lt "$tenths" ]; do
    sleep 0.1; i=$((i+1))
    # a process forked in the instant of the first TERM misses it: repeat it
    [ $((i % 10)) -eq 0 ] && kill -TERM "-$pid" 2>/dev/null
  done
  if kill -0 "-$pid" 2>/dev/null; then
    echo "agent ignored TERM for $((tenths/10)) s; sent KILL"
    kill -KILL "-$pid" 2>/dev/null
    code=137
    sleep 0.2
  fi
fi
uid=$(cat "$run/uid" 2>/dev/null)
if [ -n "$uid" ]; then
  for u in "$uid" $((uid+10000)); do
    setpriv --reuid="$u" --regid="$u" --clear-groups --inh-caps=-all sh -c 'kill -KILL -1' 2>/dev/null
  done
fi
grep -qaF "$w" "/proc/$pid/cmdline" 2>/dev/null || [ -e "$run/exit" ] || echo "$code" >"$run/exit"
exit 0
"#;

/// Forgets a session: kills what is left of its uids, removes its home (as its own
/// uid: the town's root cannot read a 0700 home, and the session cannot make it remove
/// anything else), its gates' directory, its record and its uid claim.
/// Args: town root, agent.
pub(crate) const FORGET_SCRIPT: &str = r#"root=$1 agent=$2
run="$root/run/$agent"
uid=$(cat "$run/uid" 2>/dev/null)
if [ -n "$uid" ]; then
  for u in "$uid" $((uid+10000)); do
    setpriv --reuid="$u" --regid="$u" --clear-groups --inh-caps=-all sh -c 'kill -KILL -1' 2>/dev/null
  done
  setpriv --reuid="$uid" --regid="$uid" --clear-groups --inh-caps=-all rm -rf "$root/homes/$agent" 2>/dev/null
  g=$((uid+10000))
  setpriv --reuid="$g" --regid="$g" --clear-groups --inh-caps=-all rm -rf "$root/homes/$agent.gate" 2>/dev/null
fi
rm -rf "$root/homes/$agent" "$root/homes/$agent.gate" 2>/dev/null
rm -rf "$run" || exit 1
[ -z "$uid" ] || rm -rf "$root/run/.uids/$uid"
exit 0
"#;
