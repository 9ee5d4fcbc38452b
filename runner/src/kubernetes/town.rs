//! The town's pod through its life: found by label, created, waited for, deleted.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams};
use tracing::{Instrument, info, info_span};

use super::KubernetesRunner;
use super::pod::{CONTAINER, TOWN_LABEL, pod_name};
use crate::{RunnerError, TownId};

impl KubernetesRunner {
    pub(super) async fn town_pods(&self, town: &TownId) -> Result<Vec<Pod>, RunnerError> {
        let selector = format!("{TOWN_LABEL}={}", pod_name(town));
        let list = self
            .pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(RunnerError::kube(format!(
                "list the pods of town {town} in namespace {}",
                self.opts.namespace
            )))?;
        Ok(list.items)
    }

    /// Deletes the town's pod (and with it every agent and the town's files). Idempotent.
    pub async fn remove_town(&self, town: &TownId) -> Result<(), RunnerError> {
        let span = info_span!("remove_town", town = %town, runner = "kubernetes");
        async {
            for p in self.town_pods(town).await? {
                let name = p.metadata.name.unwrap_or_default();
                self.delete_pod(town, &name).await?;
            }
            self.towns
                .write()
                .expect("town registry lock poisoned")
                .remove(town);
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Deletes a pod and waits until it is gone, so a new one can take its name. Never
    /// a forced deletion (a grace of 0): that removes the object while the node still
    /// runs its containers, and an exec by the pod's name could land in the old town.
    pub(super) async fn delete_pod(&self, town: &TownId, name: &str) -> Result<(), RunnerError> {
        let params = DeleteParams {
            grace_period_seconds: Some(1),
            ..Default::default()
        };
        match self.pods.delete(name, &params).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
            Err(e) => {
                return Err(RunnerError::kube(format!(
                    "delete the pod {name} of town {town}"
                ))(e));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match self.pods.get_opt(name).await {
                Ok(None) => {
                    info!(pod = name, "town pod deleted");
                    return Ok(());
                }
                Ok(Some(_)) | Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
        Err(RunnerError::TownPodFailed {
            town: town.0.clone(),
            pod: name.to_owned(),
            reason: "it was still terminating a minute after it was deleted".to_owned(),
        })
    }

    /// Waits until the pod's town container runs, or says why it cannot.
    pub(super) async fn wait_running(&self, town: &TownId, name: &str) -> Result<(), RunnerError> {
        let deadline = Instant::now() + Duration::from_secs(self.opts.start_timeout_secs);
        let mut last = "it was not scheduled yet".to_owned();
        loop {
            let pod = self
                .pods
                .get_opt(name)
                .await
                .map_err(RunnerError::kube(format!(
                    "read the pod {name} of town {town}"
                )))?;
            let Some(pod) = pod else {
                return Err(RunnerError::TownPodFailed {
                    town: town.0.clone(),
                    pod: name.to_owned(),
                    reason: "it was deleted while starting".to_owned(),
                });
            };
            let status = pod.status.unwrap_or_default();
            let container = status
                .container_statuses
                .unwrap_or_default()
                .into_iter()
                .find(|c| c.name == CONTAINER);
            if let Some(c) = &container {
                let state = c.state.clone().unwrap_or_default();
                if state.running.is_some() {
                    return Ok(());
                }
                if let Some(waiting) = state.waiting {
                    let reason = waiting.reason.unwrap_or_default();
                    last = format!(
                        "its container is waiting: {reason} {}",
                        waiting.message.unwrap_or_default()
                    );
                    // These never resolve by themselves: say so now, not at the deadline.
                    if matches!(
                        reason.as_str(),
                        "ErrImageNeverPull" | "InvalidImageName" | "CreateContainerConfigError"
                    ) {
                        return Err(RunnerError::TownPodFailed {
                            town: town.0.clone(),
                            pod: name.to_owned(),
                            reason: format!(
                                "{last} (build the image with `gt town-image build --with-gt` and push it to a registry the cluster pulls from, or import it into the node)"
                            ),
                        });
                    }
                }
            } else if let Some(c) = status
                .conditions
                .unwrap_or_default()
                .iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            {
                last = format!(
                    "it cannot be scheduled: {}",
                    c.message.clone().unwrap_or_default()
                );
            }
            if matches!(status.phase.as_deref(), Some("Failed" | "Succeeded")) {
                return Err(RunnerError::TownPodFailed {
                    town: town.0.clone(),
                    pod: name.to_owned(),
                    reason: format!("it ended ({})", status.phase.unwrap_or_default()),
                });
            }
            if Instant::now() > deadline {
                return Err(RunnerError::TownPodFailed {
                    town: town.0.clone(),
                    pod: name.to_owned(),
                    reason: format!(
                        "it did not run within {} s: {last}",
                        self.opts.start_timeout_secs
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub(super) async fn pod_is_gone(&self, pod: &str) -> bool {
        match self.pods.get_opt(pod).await {
            Ok(None) => true,
            Ok(Some(p)) => {
                p.metadata.deletion_timestamp.is_some()
                    || matches!(
                        p.status.and_then(|s| s.phase).as_deref(),
                        Some("Failed" | "Succeeded")
                    )
            }
            Err(_) => false,
        }
    }
}
