//! Reading the `run/` records where they are: inside the town pod, through `exec`.
//!
//! The bot shares no file system with a town on Kubernetes, so each read is a short
//! script run by the town's root that prints what the Docker backend reads from the
//! host. What comes back is hostile input (an agent may have written into its log
//! anything at all, and a compromised town anything anywhere): every field is bounded,
//! every record parsed strictly, and anything malformed is skipped, never trusted.

use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::town_fs::RECORD_CAP;
use crate::wrapper::{self, AgentRecord, CHECK_TAIL};
use crate::{AgentId, AgentState, CheckResult};

/// Prints what the bot needs to know of every agent (or only `$2`), in three kinds of
/// line, parsed by [`parse_agents`]:
///
/// - `/proc/<pid>/cmdline:<root>/run/<agent>/wrapper.sh`: a live process running an
///   agent's wrapper, read first, so a wrapper that ends before its `exit` is read is
///   seen as exited, never as lost;
/// - `log <dir> <mtime>`: when each agent's output last grew;
/// - `agent <id> <pid|-> <root-owned 0|1> <exit|-> <spec.json>`: its record.
///
/// A live wrapper is a root process (agents are never root, so none can pose as one)
/// whose command line names the agent's wrapper. Nothing is followed through a link.
/// The script runs at every patrol tick: two processes in all, whatever the number of
/// agents, and shell builtins for each record.
pub(crate) const AGENTS_SCRIPT: &str = r#"root=$1 only=$2
grep -aoE "$root/run/[a-z0-9._-]+/wrapper[.]sh" /proc/[0-9]*/cmdline 2>/dev/null
find "$root/run" -mindepth 2 -maxdepth 2 -name log -type f -printf 'log %h %T@\n' 2>/dev/null
for d in "$root"/run/*; do
  a=${d##*/}
  [ -z "$only" ] || [ "$a" = "$only" ] || continue
  [ -d "$d" ] && [ ! -L "$d" ] && [ -f "$d/spec.json" ] && [ ! -L "$d/spec.json" ] || continue
  pid= exit= spec= own=0
  [ -f "$d/pid" ] && [ ! -L "$d/pid" ] && read -r pid <"$d/pid"
  case $pid in ''|*[!0-9]*) pid=-;; *) [ -O "/proc/$pid" ] && own=1;; esac
  [ -f "$d/exit" ] && [ ! -L "$d/exit" ] && read -r exit <"$d/exit"
  case $exit in ''|*[!0-9-]*) exit=-;; esac
  read -r spec <"$d/spec.json"
  [ "${#spec}" -le @CAP@ ] || continue
  printf 'agent %s %s %s %s %s\n' "$a" "$pid" "$own" "$exit" "$spec"
done
"#;

/// The script with its caps filled in.
pub(crate) fn agents_script() -> String {
    AGENTS_SCRIPT.replace("@CAP@", &RECORD_CAP.to_string())
}

/// Prints the agent's log from byte `$3` on, at most `$4` bytes. Exit 3: no record.
pub(crate) const OUTPUT_SCRIPT: &str = r#"d="$1/run/$2"
[ -d "$d" ] && [ ! -L "$d" ] || exit 3
[ -f "$d/log" ] && [ ! -L "$d/log" ] || exit 0
tail -c "+$(($3 + 1))" "$d/log" | head -c "$4"
"#;

/// Prints the last `$3` bytes of the agent's output: the end of `log.1` when `log` is
/// shorter, then `log`. Exit 3: no record.
pub(crate) const TAIL_SCRIPT: &str = r#"d="$1/run/$2" max=$3
[ -d "$d" ] && [ ! -L "$d" ] || exit 3
n=0
[ -f "$d/log" ] && [ ! -L "$d/log" ] && n=$(stat -c %s "$d/log")
if [ "$n" -lt "$max" ] && [ -f "$d/log.1" ] && [ ! -L "$d/log.1" ]; then
  tail -c "$((max - n))" "$d/log.1"
fi
[ "$n" -gt 0 ] && tail -c "$max" "$d/log"
exit 0
"#;

/// Prints one line per recorded gate, in order: `check <exit|-> <ms|-> <base64 name>
/// <base64 end of its log>`. Exit 3: no record.
pub(crate) const CHECKS_SCRIPT: &str = r#"d="$1/run/$2"
[ -d "$d" ] && [ ! -L "$d" ] || exit 3
i=0
while [ "$i" -lt @MAX@ ] && [ -f "$d/checks/$i/name" ] && [ ! -L "$d/checks/$i/name" ]; do
  c="$d/checks/$i"
  exit=$(head -c 32 "$c/exit" 2>/dev/null | tr -cd 0-9-)
  ms=$(head -c 32 "$c/ms" 2>/dev/null | tr -cd 0-9)
  printf 'check %s %s ' "${exit:--}" "${ms:--}"
  head -c 200 "$c/name" | base64 -w0
  printf ' '
  if [ -f "$c/log" ] && [ ! -L "$c/log" ]; then tail -c @TAIL@ "$c/log" | base64 -w0; fi
  echo
  i=$((i + 1))
done
"#;

pub(crate) fn checks_script() -> String {
    CHECKS_SCRIPT
        .replace("@MAX@", &wrapper::MAX_CHECKS.to_string())
        .replace("@TAIL@", &CHECK_TAIL.to_string())
}

/// Exit code of the read scripts when the agent has no record.
pub(crate) const NO_RECORD: i32 = 3;

fn field<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s == "-" { None } else { s.parse().ok() }
}

/// The agents [`AGENTS_SCRIPT`] printed, oldest first. A line that does not parse, or
/// whose record names another agent than its directory, is skipped.
pub(crate) fn parse_agents(out: &[u8]) -> Vec<AgentState> {
    let text = String::from_utf8_lossy(out);
    let mut live: HashSet<(i64, &str)> = HashSet::new();
    let mut output_at: HashMap<&str, i64> = HashMap::new();
    let mut records = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("/proc/") {
            // <pid>/cmdline:<root>/run/<agent>/wrapper.sh
            let Some((pid, path)) = rest.split_once("/cmdline:") else {
                continue;
            };
            let agent = path
                .strip_suffix("/wrapper.sh")
                .and_then(|p| p.rsplit('/').next());
            if let (Ok(pid), Some(agent)) = (pid.parse(), agent) {
                live.insert((pid, agent));
            }
        } else if let Some(rest) = line.strip_prefix("log ") {
            let Some((dir, mtime)) = rest.rsplit_once(' ') else {
                continue;
            };
            let agent = dir.rsplit('/').next().unwrap_or_default();
            if let Ok(secs) = mtime.parse::<f64>() {
                output_at.insert(agent, (secs * 1000.0) as i64);
            }
        } else if let Some(rest) = line.strip_prefix("agent ") {
            let mut parts = rest.splitn(5, ' ');
            let parsed = (|| {
                let agent = AgentId::new(parts.next()?).ok()?;
                let pid: Option<i64> = field(parts.next()?);
                let root_owned = parts.next()? == "1";
                let exit: Option<i32> = field(parts.next()?);
                let record: AgentRecord = serde_json::from_str(parts.next()?).ok()?;
                (record.agent == agent).then_some((agent, pid, root_owned, exit, record))
            })();
            records.extend(parsed);
        }
    }
    let mut found: Vec<AgentState> = records
        .into_iter()
        .map(|(agent, pid, root_owned, exit, record)| {
            let alive = root_owned && pid.is_some_and(|p| live.contains(&(p, agent.0.as_str())));
            let at = output_at.get(agent.0.as_str()).copied();
            wrapper::derive(&record, pid, exit, alive, at)
        })
        .collect();
    found.sort_by(|a, b| (a.started_at_ms, &a.agent).cmp(&(b.started_at_ms, &b.agent)));
    found
}

/// The gates [`CHECKS_SCRIPT`] printed; stops at the first line that does not parse.
pub(crate) fn parse_checks(out: &[u8]) -> Vec<CheckResult> {
    let text = String::from_utf8_lossy(out);
    let mut results = Vec::new();
    for line in text.lines() {
        let parsed = (|| {
            let mut parts = line.split(' ');
            if parts.next()? != "check" {
                return None;
            }
            let exit_code: Option<i32> = field(parts.next()?);
            let ms: Option<i64> = field(parts.next()?);
            let name = STANDARD.decode(parts.next()?).ok()?;
            let mut output_tail = STANDARD.decode(parts.next().unwrap_or("")).ok()?;
            if output_tail.len() > CHECK_TAIL {
                output_tail.drain(..output_tail.len() - CHECK_TAIL);
            }
            Some(CheckResult {
                name: String::from_utf8_lossy(&name).into_owned(),
                timed_out: exit_code == Some(124),
                exit_code,
                duration_ms: ms.unwrap_or(0).max(0) as u64,
                output_tail,
            })
        })();
        match parsed {
            Some(result) if results.len() < wrapper::MAX_CHECKS => results.push(result),
            _ => break,
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AgentStatus, TownId};

    fn record(agent: &str) -> String {
        let record = AgentRecord {
            town: TownId::new("t").unwrap(),
            agent: AgentId::new(agent).unwrap(),
            backend: "kubernetes".to_owned(),
            command: vec!["sh".to_owned(), "-c".to_owned(), "echo a b".to_owned()],
            env_keys: Vec::new(),
            workspace: None,
            started_at_ms: 1,
            checks: Vec::new(),
        };
        serde_json::to_string(&record).unwrap()
    }

    #[test]
    fn agents_are_read_strictly_and_a_forged_record_is_skipped() {
        let out = [
            "/proc/10/cmdline:/town/run/a/wrapper.sh".to_owned(),
            // d's pid runs e's wrapper: d is not alive for it
            "/proc/13/cmdline:/town/run/e/wrapper.sh".to_owned(),
            "/proc/14/cmdline:/town/run/f/wrapper.sh".to_owned(),
            "log /town/run/a 1700.5".to_owned(),
            format!("agent a 10 1 - {}", record("a")),
            format!("agent b 11 0 7 {}", record("b")),
            format!("agent c - 0 - {}", record("c")),
            format!("agent d 13 1 - {}", record("d")),
            // f's process is alive but not root's: an agent posing as a wrapper
            format!("agent f 14 0 - {}", record("f")),
            format!("agent g 1 1 - {}", record("someone-else")),
            "garbage".to_owned(),
            "agent h 1 1 - {not json".to_owned(),
        ]
        .join("\n");
        let found = parse_agents(out.as_bytes());
        let statuses: Vec<(String, AgentStatus)> = found
            .iter()
            .map(|s| (s.agent.0.clone(), s.status))
            .collect();
        assert_eq!(
            statuses,
            [
                ("a".to_owned(), AgentStatus::Running),
                ("b".to_owned(), AgentStatus::Exited { code: 7 }),
                // no pid, long past the start grace, no exit: its wrapper died
                ("c".to_owned(), AgentStatus::Lost),
                ("d".to_owned(), AgentStatus::Lost),
                ("f".to_owned(), AgentStatus::Lost),
            ]
        );
        assert_eq!(found[0].output_at_ms, Some(1_700_500));
        assert_eq!(found[1].output_at_ms, None);
    }

    #[test]
    fn checks_keep_their_order_and_bounds() {
        let line = |exit: &str, name: &str, log: &[u8]| {
            format!(
                "check {exit} 12 {} {}\n",
                STANDARD.encode(name),
                STANDARD.encode(log)
            )
        };
        let big = vec![b'x'; CHECK_TAIL + 10];
        let out = line("0", "fmt", b"ok") + &line("124", "test", &big) + &line("-", "lint", b"");
        let checks = parse_checks(out.as_bytes());
        assert_eq!(checks.len(), 3);
        assert_eq!(checks[0].name, "fmt");
        assert_eq!(checks[0].output_tail, b"ok");
        assert!(checks[1].timed_out);
        assert_eq!(checks[1].output_tail.len(), CHECK_TAIL);
        assert_eq!(checks[2].exit_code, None);
    }
}
