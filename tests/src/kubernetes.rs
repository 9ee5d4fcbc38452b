//! The test cluster (`.ci/k8s/cluster.sh up`) the Kubernetes stories run against.

/// Its kubeconfig and the bot's image imported into it (`GT_K8S_KUBECONFIG`,
/// `GT_K8S_IMAGE`, which `.ci/run` sets); `None`, after a skip line, where there is no
/// cluster, except under CI, where that fails.
pub fn cluster() -> Option<(String, String)> {
    match (
        std::env::var("GT_K8S_KUBECONFIG"),
        std::env::var("GT_K8S_IMAGE"),
    ) {
        (Ok(k), Ok(i)) => Some((k, i)),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but GT_K8S_KUBECONFIG and GT_K8S_IMAGE are not (.ci/run sets them)")
        }
        _ => {
            eprintln!("SKIP: the Kubernetes stories need GT_K8S_KUBECONFIG and GT_K8S_IMAGE");
            None
        }
    }
}
