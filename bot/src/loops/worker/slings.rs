//! Slings a person asks for outside a delivery (the Mayor's `gt_sling` and
//! `gt_sling_batch`): the same decisions as the sling label's, with the same look-ups
//! done first (IO), then applied together in one write, so a batch slings all of its
//! issues or none.

use std::collections::HashMap;

use webhooks::{Actor, RepoRef};

use super::{Lookups, Worker, apply_issue, issue_key, permission_key, repo_key};
use crate::clock::Millis;
use crate::config::Config;
use crate::decisions::command::SlingArgs;
use crate::forge::{Forge, ForgeError, Issue, Permission, RepoPath};
use crate::store::{self, Bead, BeadStatus, Rig, StoreError, Tx};

/// Issues ready to sling: their events and plans, looked up.
pub struct Slings {
    lookups: Lookups,
    events: Vec<(webhooks::IssueEvent, Option<u8>)>,
}

impl Worker {
    /// Look up what slinging `issues` in `repo` as `by` (whose `permission` the caller
    /// checked) needs: the rig's sling label and each issue's molecule plan.
    pub async fn prepare_slings(
        &self,
        forge: &dyn Forge,
        repo: &RepoRef,
        by: &Actor,
        permission: Permission,
        issues: &[(Issue, SlingArgs)],
    ) -> Result<Slings, ForgeError> {
        let rig = store::rig_id(repo.forge, &repo.host, &repo.path);
        let path = RepoPath::new(repo.path.clone());
        let label = self
            .settings
            .sling_label(&self.config, &rig, Some(forge), &path)
            .await;
        let mut lookups = Lookups::default();
        lookups.sling_labels.insert(repo_key(repo), label.clone());
        lookups
            .reachable
            .insert((repo.forge, repo.host.to_ascii_lowercase()));
        lookups
            .permissions
            .insert(permission_key(repo, &by.login), permission);
        let mut events = Vec::new();
        for (issue, args) in issues {
            let comment = webhooks::CommentEvent {
                repo: repo.clone(),
                actor: by.clone(),
                target: webhooks::CommentTarget::Issue {
                    number: issue.number,
                },
                comment_id: 0,
                body: String::new(),
                url: None,
                action: webhooks::CommentAction::Created,
            };
            let event =
                super::commands::sling_event(&comment, issue, &label, args.formula.as_deref());
            let plan = self.plan(forge, &event, Some(&args.vars)).await?;
            lookups.plans.insert(issue_key(&event), plan);
            events.push((event, args.priority));
        }
        Ok(Slings { lookups, events })
    }
}

/// Sling what [`Worker::prepare_slings`] prepared, in order, inside `tx`: each issue's
/// task, or why it was not slung (already slung, its formula does not expand).
pub fn apply_slings(
    tx: &Tx<'_>,
    config: &Config,
    rig: &Rig,
    slings: &Slings,
    via: &str,
    now: Millis,
) -> Result<Vec<Result<Bead, String>>, StoreError> {
    let mut out = Vec::new();
    let mut seen: HashMap<u64, ()> = HashMap::new();
    for (event, priority) in &slings.events {
        let forge_ref = store::ForgeRef::issue(&rig.id, event.number).to_string();
        let before = store::find_task_for_forge_ref(tx, &forge_ref)?;
        if seen.insert(event.number, ()).is_some() {
            out.push(Err(format!("#{} is named twice", event.number)));
            continue;
        }
        if let Some(b) = &before
            && !matches!(b.status, BeadStatus::Failed | BeadStatus::Closed)
        {
            out.push(Err(format!(
                "#{} is already slung: {} is {}",
                event.number, b.id, b.status
            )));
            continue;
        }
        apply_issue(tx, config, rig, event, &slings.lookups, now, *priority)?;
        match store::find_task_for_forge_ref(tx, &forge_ref)? {
            Some(t) if t.status != BeadStatus::Closed => {
                crate::decisions::meta::update_task(tx, &t.id, now, |m| {
                    m.slung_via = Some(via.to_string());
                })?;
                out.push(Ok(store::get_bead(tx, &t.id)?));
            }
            Some(t) => out.push(Err(format!(
                "#{}'s work already landed ({} is {})",
                event.number, t.id, t.status
            ))),
            None => out.push(Err(format!(
                "#{}'s formula does not expand (the issue says why)",
                event.number
            ))),
        }
    }
    Ok(out)
}
