//! Commands in a town's pod over the API's `exec`: run to completion, output bounded,
//! the exit code read from the final status.

use std::time::Duration;

use kube::api::AttachParams;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::KubernetesRunner;
use super::pod::CONTAINER;
use crate::{RunnerError, TownId, wrapper};

/// A read or a supervisor step; the stop script adds its grace.
pub(super) const EXEC_TIMEOUT: Duration = Duration::from_secs(30);
/// The most an exec may print before it is cut: an output chunk and some framing.
pub(super) const EXEC_OUTPUT_CAP: usize = wrapper::OUTPUT_CHUNK + 64 * 1024;

/// What an exec printed and how it ended.
pub(super) struct Exec {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Exec {
    /// What it printed, both streams, for an error message.
    pub(super) fn said(&self) -> String {
        let mut all = String::from_utf8_lossy(&self.stdout).into_owned();
        all.push_str(&String::from_utf8_lossy(&self.stderr));
        all.trim().to_owned()
    }
}

impl KubernetesRunner {
    /// Runs `argv` in the town container to completion: its exit code and output
    /// (bounded), `stdin` written first. The command must not wait for the end of its
    /// input: clusters before 1.29 cannot close an exec's stdin.
    pub(super) async fn exec(
        &self,
        town: &TownId,
        pod: &str,
        argv: Vec<String>,
        stdin: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Exec, RunnerError> {
        let fail = |detail: String| RunnerError::Exec {
            town: town.0.clone(),
            pod: pod.to_owned(),
            detail,
        };
        let params = AttachParams::default()
            .container(CONTAINER)
            .stdin(stdin.is_some())
            .stdout(true)
            .stderr(true);
        let run = async {
            let mut process =
                self.pods
                    .exec(pod, argv, &params)
                    .await
                    .map_err(RunnerError::kube(format!(
                        "exec in the pod {pod} of town {town}"
                    )))?;
            if let (Some(bytes), Some(mut input)) = (stdin, process.stdin()) {
                input
                    .write_all(&bytes)
                    .await
                    .map_err(|e| fail(format!("writing its input: {e}")))?;
                input
                    .flush()
                    .await
                    .map_err(|e| fail(format!("writing its input: {e}")))?;
            }
            let status = process.take_status();
            let (stdout, stderr) = tokio::join!(
                read_capped(process.stdout(), EXEC_OUTPUT_CAP),
                read_capped(process.stderr(), 64 * 1024)
            );
            let status = match status {
                Some(status) => status.await,
                None => None,
            };
            let _ = process.join().await;
            let code = exit_code(status.as_ref()).ok_or_else(|| {
                fail(format!(
                    "it ended without an exit status ({})",
                    status
                        .and_then(|s| s.message)
                        .unwrap_or_else(|| "the connection closed".to_owned())
                ))
            })?;
            Ok(Exec {
                code,
                stdout: stdout.map_err(|e| fail(format!("reading its output: {e}")))?,
                stderr: stderr.map_err(|e| fail(format!("reading its errors: {e}")))?,
            })
        };
        tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| fail(format!("it did not finish within {} s", timeout.as_secs())))?
    }

    /// A fixed script with arguments, run by `sh -c` as the town's root.
    pub(super) async fn script(
        &self,
        town: &TownId,
        pod: &str,
        script: &str,
        args: &[&str],
    ) -> Result<Exec, RunnerError> {
        let mut argv = vec!["sh".to_owned(), "-c".to_owned(), script.to_owned()];
        argv.push("gastown".to_owned());
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        self.exec(town, pod, argv, None, EXEC_TIMEOUT).await
    }
}

/// Reads a stream to its end, keeping at most `cap` bytes (the rest is drained, so the
/// remote side never blocks on a full buffer).
async fn read_capped(
    reader: Option<impl AsyncRead + Unpin>,
    cap: usize,
) -> std::io::Result<Vec<u8>> {
    let Some(mut reader) = reader else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        let room = cap.saturating_sub(out.len());
        out.extend_from_slice(&buf[..n.min(room)]);
    }
}

/// The exit code an exec's final status carries: `Success` is 0; a failure names its
/// code in a cause of reason `ExitCode`.
fn exit_code(
    status: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>,
) -> Option<i32> {
    let status = status?;
    if status.status.as_deref() == Some("Success") {
        return Some(0);
    }
    status
        .details
        .as_ref()?
        .causes
        .as_ref()?
        .iter()
        .find(|c| c.reason.as_deref() == Some("ExitCode"))?
        .message
        .as_deref()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};

    #[test]
    fn exit_codes_come_from_the_final_status() {
        let ok = Status {
            status: Some("Success".to_owned()),
            ..Default::default()
        };
        let failed = Status {
            status: Some("Failure".to_owned()),
            reason: Some("NonZeroExitCode".to_owned()),
            details: Some(StatusDetails {
                causes: Some(vec![StatusCause {
                    reason: Some("ExitCode".to_owned()),
                    message: Some("97".to_owned()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(exit_code(Some(&ok)), Some(0));
        assert_eq!(exit_code(Some(&failed)), Some(97));
        assert_eq!(exit_code(None), None);
    }
}
