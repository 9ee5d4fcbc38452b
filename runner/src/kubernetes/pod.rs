//! The town's pod, as a pure function of the town and the options: what the API
//! server is asked to run, and the names and labels a restarted bot finds it by.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, Pod, PodSecurityContext, PodSpec,
    ResourceRequirements, SeccompProfile, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::ObjectMeta;
use sha2::{Digest, Sha256};

use super::KubernetesOptions;
use crate::TownSpec;
use crate::town_scripts::TOWN_CAPS;

/// Label holding the town's key ([`pod_name`]): how a restarted bot finds its pod.
pub const TOWN_LABEL: &str = "gastown.dev/town";
/// Annotation holding the town id exactly as the bot spells it.
pub const TOWN_ANNOTATION: &str = "gastown.dev/town-id";
/// The standard label marking what this bot manages, for `kubectl get pods -l`.
pub const MANAGED_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "gastown";
/// The town's one container.
pub const CONTAINER: &str = "town";
pub(crate) use crate::town_scripts::{CONTAINER_PATH, TOWN_MOUNT};

/// The pod's name, which is also its label value: `gastown-town-<id>` when the id is a
/// valid DNS label, else a readable prefix and a hash (ids may hold `_`, and names and
/// label values stop at 63 characters).
pub fn pod_name(town: &crate::TownId) -> String {
    let plain = format!("gastown-town-{}", town.0);
    let dns_label = plain.len() <= 63
        && town
            .0
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !plain.ends_with('-');
    if dns_label {
        return plain;
    }
    let hash = hex::encode(Sha256::digest(town.0.as_bytes()));
    let readable: String = town
        .0
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(30)
        .collect();
    format!("gastown-town-{}-{}", readable.trim_matches('-'), &hash[..8])
}

/// `cpus` as a Kubernetes quantity in millicores.
fn cpu_quantity(nano_cpus: i64) -> Quantity {
    Quantity(format!("{}m", (nano_cpus / 1_000_000).max(1)))
}

/// The town's pod: the image kept alive by `sleep`, orphans reaped by the pod's pause
/// process (a shared process namespace), no service account token, the town's root
/// holding only the capabilities to change uids, chown and signal (agents run under
/// uids of their own with none), no privilege escalation, a read-only root filesystem,
/// the default seccomp profile, and the town's files on a volume of their own.
pub fn town_pod(spec: &TownSpec, opts: &KubernetesOptions) -> Pod {
    let name = pod_name(&spec.id);
    let labels = BTreeMap::from([
        (TOWN_LABEL.to_owned(), name.clone()),
        (MANAGED_LABEL.to_owned(), MANAGED_BY.to_owned()),
    ]);
    let mut limits = BTreeMap::new();
    if let Some(bytes) = spec.limits.memory_bytes {
        limits.insert("memory".to_owned(), Quantity(bytes.to_string()));
    }
    if let Some(nano) = spec.limits.nano_cpus {
        limits.insert("cpu".to_owned(), cpu_quantity(nano));
    }
    let mut requests = BTreeMap::new();
    if let Some(cpu) = &opts.cpu_request {
        requests.insert("cpu".to_owned(), Quantity(cpu.clone()));
    }
    if let Some(memory) = &opts.memory_request {
        requests.insert("memory".to_owned(), Quantity(memory.clone()));
    }
    let container = Container {
        name: CONTAINER.to_owned(),
        image: Some(spec.image.clone()),
        image_pull_policy: Some(opts.image_pull_policy.clone()),
        command: Some(vec!["sleep".to_owned(), "infinity".to_owned()]),
        working_dir: Some(TOWN_MOUNT.to_owned()),
        env: Some(vec![EnvVar {
            name: "PATH".to_owned(),
            value: Some(CONTAINER_PATH.to_owned()),
            ..Default::default()
        }]),
        security_context: Some(SecurityContext {
            run_as_user: Some(0),
            run_as_group: Some(0),
            privileged: Some(false),
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                add: Some(
                    TOWN_CAPS
                        .iter()
                        .map(|c| c.trim_start_matches("CAP_").to_owned())
                        .collect(),
                ),
            }),
            ..Default::default()
        }),
        resources: Some(ResourceRequirements {
            limits: non_empty(limits),
            requests: non_empty(requests),
            ..Default::default()
        }),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "town".to_owned(),
                mount_path: TOWN_MOUNT.to_owned(),
                ..Default::default()
            },
            VolumeMount {
                name: "tmp".to_owned(),
                mount_path: "/tmp".to_owned(),
                ..Default::default()
            },
        ]),
        ..Default::default()
    };
    let empty_dir = |limit: &Option<String>| EmptyDirVolumeSource {
        size_limit: limit.clone().map(Quantity),
        ..Default::default()
    };
    Pod {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(opts.namespace.clone()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                TOWN_ANNOTATION.to_owned(),
                spec.id.0.clone(),
            )])),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![container],
            // Agents never hold Kubernetes credentials.
            automount_service_account_token: Some(false),
            // Nor learn the cluster's other services from their environment.
            enable_service_links: Some(false),
            // The pause process is PID 1 and reaps the agents' orphans (what Docker's
            // init does for the Docker backend).
            share_process_namespace: Some(true),
            host_network: Some(opts.host_network).filter(|h| *h),
            restart_policy: Some("Always".to_owned()),
            termination_grace_period_seconds: Some(10),
            security_context: Some(PodSecurityContext {
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".to_owned(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            node_selector: non_empty(opts.node_selector.clone()),
            volumes: Some(vec![
                Volume {
                    name: "town".to_owned(),
                    empty_dir: Some(empty_dir(&opts.town_volume_size)),
                    ..Default::default()
                },
                Volume {
                    name: "tmp".to_owned(),
                    empty_dir: Some(empty_dir(&Some("1Gi".to_owned()))),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Kubernetes leaves out an empty map: so does the manifest.
fn non_empty<T>(m: BTreeMap<String, T>) -> Option<BTreeMap<String, T>> {
    (!m.is_empty()).then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Limits, TownId};

    fn spec(id: &str) -> TownSpec {
        TownSpec {
            id: TownId::new(id).unwrap(),
            root: "/unused".into(),
            image: "gastown:latest".to_owned(),
            gt_binary: "/unused/gt".into(),
            limits: Limits {
                memory_bytes: Some(2 << 30),
                nano_cpus: Some(1_500_000_000),
                pids: None,
            },
        }
    }

    #[test]
    fn pod_names_are_dns_labels_whatever_the_town_id() {
        assert_eq!(pod_name(&TownId::new("main").unwrap()), "gastown-town-main");
        for id in ["my_town", "a.b", &"x".repeat(100), "ends-"] {
            let name = pod_name(&TownId::new(id).unwrap());
            assert!(name.len() <= 63, "{name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name}"
            );
            assert!(!name.ends_with('-'), "{name}");
        }
        assert_ne!(
            pod_name(&TownId::new("a_b").unwrap()),
            pod_name(&TownId::new("a.b").unwrap())
        );
    }

    #[test]
    fn the_town_pod_has_no_credentials_and_no_privilege() {
        let pod = town_pod(&spec("main"), &KubernetesOptions::default());
        let spec = pod.spec.unwrap();
        assert_eq!(spec.automount_service_account_token, Some(false));
        assert_eq!(spec.share_process_namespace, Some(true));
        let c = &spec.containers[0];
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        let caps = sc.capabilities.as_ref().unwrap();
        assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_owned()][..]));
        assert_eq!(
            caps.add.as_deref().unwrap(),
            ["SETUID", "SETGID", "CHOWN", "KILL"]
        );
        let limits = c.resources.as_ref().unwrap().limits.as_ref().unwrap();
        assert_eq!(limits["cpu"].0, "1500m");
        assert_eq!(limits["memory"].0, (2i64 << 30).to_string());
        assert!(c.env.as_ref().unwrap().iter().all(|e| e.name == "PATH"));
    }
}
