//! The forges the bot can act on, keyed by forge kind and web host, and a short-lived
//! cache of people's permissions so a burst of label events costs one API call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use webhooks::ForgeKind;

use crate::clock::{Millis, SharedClock};
use crate::forge::{Forge, ForgeResult, Permission, RepoPath};

/// Forge clients by (kind, web host). A rig whose forge has no client here is served
/// without forge calls: no permission checks, no comments (logged at start).
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
    /// `redactor` first ([`crate::redact::forge`]).
    pub fn redacting(mut self, redactor: Arc<crate::redact::Redactor>) -> Self {
        for client in self.clients.values_mut() {
            *client = crate::redact::forge::RedactingForge::wrap(client.clone(), redactor.clone());
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
        self.get(rig.forge_kind(), &rig.host)
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// A user's permission on a repository, from the cache while it is fresh.
    pub async fn permission(
        &self,
        forge: &dyn Forge,
        repo: &RepoPath,
        user: &str,
        clock: &SharedClock,
        ttl_ms: Millis,
    ) -> ForgeResult<Permission> {
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
