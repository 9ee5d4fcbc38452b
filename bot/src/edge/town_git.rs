//! The git gateway bound to this town: agent tokens are checked against the
//! database's live sessions, URLs resolve to the rigs the store knows with the forge
//! clients the bot holds, and every branch that reached the forge is recorded on its
//! bead (what `gt_done` checks before a bead can go to review).

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use crate::clock::SharedClock;
use crate::edge::agent_api::token_digest;
use crate::forge::RepoPath;
use crate::forge::registry::Forges;
use crate::gitgate::{AgentGrant, GitAuth, PushSink, PushedBranch, RigResolver, RigTarget};
use crate::store::{self, Store};

pub struct StoreAuth {
    pub store: Store,
}

#[async_trait]
impl GitAuth for StoreAuth {
    async fn agent_for_token(&self, token: &str) -> Option<AgentGrant> {
        let digest = token_digest(token);
        let (grant, owner) = self
            .store
            .read(move |c| {
                let Some(grant) = store::grant_for_token(c, &digest)? else {
                    return Ok(None);
                };
                let bead = store::get_bead(c, &grant.bead_id)?;
                Ok(Some((grant, store::branch_owner(&bead).to_owned())))
            })
            .await
            .ok()??;
        Some(AgentGrant {
            agent_id: grant.agent_id,
            rig_id: grant.rig_id,
            bead_id: Some(grant.bead_id),
            branch_bead: Some(owner),
        })
    }
}

pub struct StoreRigs {
    pub store: Store,
    pub forges: Forges,
}

#[async_trait]
impl RigResolver for StoreRigs {
    async fn rig(&self, forge: &str, host: &str, path: &str) -> Option<RigTarget> {
        // The forge is a segment of the URL the agent fetched: one no rig has is no rig.
        let f: webhooks::ForgeKind = forge.parse().ok()?;
        let (h, p) = (host.to_string(), path.to_string());
        let rig = self
            .store
            .read(move |c| store::rig_at(c, f, &h, &p))
            .await
            .ok()??;
        let client = self.forges.for_rig(&rig)?;
        Some(RigTarget {
            rig_id: rig.id,
            forge: client,
            repo: RepoPath::new(rig.path),
        })
    }
}

/// Records each pushed branch on its bead before the agent's push is answered.
pub struct RecordPushes {
    pub store: Store,
    pub clock: SharedClock,
}

#[async_trait]
impl PushSink for RecordPushes {
    async fn pushed(&self, p: PushedBranch) {
        let now = self.clock.now_ms();
        let (bead, agent) = (p.bead_id.clone(), p.agent_id.clone());
        let payload = json!({ "branch": p.branch, "sha": p.sha, "rig": p.rig_id });
        let result = self
            .store
            .write(move |c| {
                // A push is progress: the witness's stuck ladder starts again.
                store::touch(c, &agent, true, now)?;
                store::note(c, &bead, "pushed", &agent, &payload, now)
            })
            .await;
        match result {
            Ok(()) => tracing::info!(bead = %p.bead_id, agent = %p.agent_id,
                branch = %p.branch, sha = %p.sha, "branch is on the forge"),
            Err(e) => tracing::error!(bead = %p.bead_id, error = %e,
                "could not record a pushed branch"),
        }
    }
}

/// The gateway with its store-backed auth and rigs, and the task recording pushes.
pub fn gateway(
    config: &crate::config::Config,
    store: &Store,
    forges: &Forges,
    clock: &SharedClock,
) -> Arc<crate::gitgate::GitGateway> {
    let mut gateway = crate::gitgate::GatewayConfig::new(config.data_dir.clone());
    gateway.base_branch = config.polecats.base_branch.clone();
    gateway.max_push_bytes = config.git.max_push_bytes;
    Arc::new(crate::gitgate::GitGateway::new(
        gateway,
        Arc::new(StoreAuth {
            store: store.clone(),
        }),
        Arc::new(StoreRigs {
            store: store.clone(),
            forges: forges.clone(),
        }),
        RecordPushes {
            store: store.clone(),
            clock: clock.clone(),
        },
    ))
}
