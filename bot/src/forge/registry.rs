//! The forges the bot can act on, keyed by forge kind and web host, and the one
//! short-lived cache of people's permissions, so a burst of events costs one API call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use webhooks::ForgeKind;

use crate::clock::{Millis, SharedClock};
use crate::config::{Config, PermissionsConfig};
use crate::forge::{Forge, ForgeResult, Permission, RepoPath};

/// Forge clients by (kind, web host). A rig whose forge has no client here gets no
/// work: nobody can check that whoever labels its issues may write there, so nothing
/// slings (see [`no_client_reason`]; said at start, in the log and by `gt status`).
#[derive(Clone, Default)]
pub struct Forges {
    clients: HashMap<(ForgeKind, String), Arc<dyn Forge>>,
    permissions: Arc<Mutex<HashMap<PermissionKey, (Permission, Millis)>>>,
}

type PermissionKey = (ForgeKind, String, String, String);

impl Forges {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, forge: Arc<dyn Forge>) -> Self {
        self.clients
            .insert((forge.kind(), forge.host().to_ascii_lowercase()), forge);
        self
    }

    /// Every client wrapped so that what it writes on its forge goes through
    /// `redactor` first ([`crate::forge::redacting`]).
    pub fn redacting(mut self, redactor: Arc<crate::redact::Redactor>) -> Self {
        for client in self.clients.values_mut() {
            *client =
                crate::forge::redacting::RedactingForge::wrap(client.clone(), redactor.clone());
        }
        self
    }

    pub fn get(&self, kind: ForgeKind, host: &str) -> Option<Arc<dyn Forge>> {
        self.clients
            .get(&(kind, host.to_ascii_lowercase()))
            .cloned()
    }

    /// The client for a rig's forge and host.
    pub fn for_rig(&self, rig: &crate::store::Rig) -> Option<Arc<dyn Forge>> {
        self.get(rig.forge, &rig.host)
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// A user's permission on a repository: what decides whether they may change the
    /// town (a sling by the worker, a review the refinery counts). Asked of the forge
    /// at most once per `permissions.cache_secs` for each user and repository; every
    /// clone of these forges shares the answers.
    pub async fn permission(
        &self,
        forge: &dyn Forge,
        repo: &RepoPath,
        user: &str,
        clock: &SharedClock,
        settings: &PermissionsConfig,
    ) -> ForgeResult<Permission> {
        let ttl_ms = settings.cache_secs as Millis * 1000;
        let key = (
            forge.kind(),
            forge.host().to_string(),
            repo.0.to_ascii_lowercase(),
            user.to_ascii_lowercase(),
        );
        let now = clock.now_ms();
        if let Some((p, at)) = self.permissions.lock().expect("cache").get(&key)
            && now - at < ttl_ms
        {
            return Ok(*p);
        }
        let p = forge.permission(repo, user).await?;
        self.permissions
            .lock()
            .expect("cache")
            .insert(key, (p, now));
        Ok(p)
    }
}

/// Whether `config` and the environment `env` give the bot credentials for `kind`
/// (a token, or for GitHub an App): `gt serve` then builds a client for the configured
/// host, and `gt status` says so.
pub fn has_credentials(
    config: &Config,
    kind: ForgeKind,
    env: &dyn Fn(&str) -> Option<String>,
) -> bool {
    let set = |var: &str| env(var).is_some_and(|v| !v.trim().is_empty());
    match kind {
        ForgeKind::GitHub => config.github.app_id.is_some() || set(&config.github.token_env),
        ForgeKind::GitLab => set(&config.gitlab.token_env),
    }
}

/// Why a rig on `kind` at `host` has no forge client under `config` and `env`, or
/// `None` when it has one.
pub fn missing_client(
    config: &Config,
    kind: ForgeKind,
    host: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    (!host.eq_ignore_ascii_case(config.forge_host(kind)) || !has_credentials(config, kind, env))
        .then(|| no_client_reason(config, kind, host))
}

/// Why the bot has no client for the forge `kind` at `host` under `config`: no
/// credentials, or a host other than the one configured (a GitLab delivery whose
/// `web_url` names another host, say). For the log, the inbox and `gt status`.
pub fn no_client_reason(config: &Config, kind: ForgeKind, host: &str) -> String {
    let configured = config.forge_host(kind);
    let (name, credentials) = match kind {
        ForgeKind::GitHub => (
            "GitHub",
            format!("{} (or github.app_id)", config.github.token_env),
        ),
        ForgeKind::GitLab => ("GitLab", config.gitlab.token_env.clone()),
    };
    let host_key = format!("{kind}.host");
    if host.eq_ignore_ascii_case(configured) {
        format!("no {name} client for {host}: {credentials} is not set")
    } else {
        format!("no {name} client for {host}: the bot's {name} is {configured} ({host_key})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn why_a_host_has_no_client() {
        let config = Config::load(None, &|_| None).unwrap();
        assert_eq!(
            no_client_reason(&config, ForgeKind::GitHub, "github.com"),
            "no GitHub client for github.com: GT_GITHUB_TOKEN (or github.app_id) is not set"
        );
        assert_eq!(
            no_client_reason(&config, ForgeKind::GitLab, "evil.example"),
            "no GitLab client for evil.example: the bot's GitLab is gitlab.com (gitlab.host)"
        );
    }
}
