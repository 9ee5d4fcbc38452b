//! The commands that only read: `/gt status` and `/gt convoy status`, seen from the
//! thread's repository (a commenter may see only the repository they write to).

use super::Here;
use crate::decisions::comments::{self, Refusal};
use crate::store::{self, Bead, BeadStatus, BeadType, Rig, StoreError, Tx};

/// `/gt status`: this thread's work, or on a convoy's tracking issue the convoy and
/// the town.
pub(super) fn status(here: &Here<'_>) -> Result<Result<String, Refusal>, StoreError> {
    if let Some(convoy) = here.convoy()? {
        let town = rig_lines(here.tx, here.rig)?;
        let convoy = crate::lifecycle::convoy::status_comment(here.tx, &convoy)?;
        return Ok(Ok(comments::town_status(&town, Some(&convoy))));
    }
    let task = match here.task_or_refuse()? {
        Ok(t) => t,
        Err(r) => return Ok(Err(r)),
    };
    let steps = match crate::decisions::meta::task(&task).molecule {
        Some(m) => {
            let steps = store::children(here.tx, &m)?;
            let done = steps
                .iter()
                .filter(|s| s.status == BeadStatus::Closed)
                .count();
            Some((done, steps.len()))
        }
        None => None,
    };
    let pr = store::children(here.tx, &task.id)?
        .into_iter()
        .filter(|b| b.bead_type == BeadType::MergeRequest)
        .filter_map(|b| store::ForgeRef::merge_request_number(b.forge_ref.as_deref()?))
        .next_back();
    let max = here.config.patrol.max_attempts;
    Ok(Ok(comments::task_status(&task, max, steps, pr)))
}

/// The town as seen from one repository (a commenter may see only the repository
/// they write to): its tasks by status, its pause, its escalations waiting.
fn rig_lines(tx: &Tx<'_>, rig: &Rig) -> Result<Vec<String>, StoreError> {
    let beads: Vec<Bead> = store::list_beads(tx, None)?
        .into_iter()
        .filter(|b| b.rig_id.as_deref() == Some(rig.id.as_str()))
        .collect();
    let mut by_status: std::collections::BTreeMap<String, usize> = Default::default();
    for b in beads.iter().filter(|b| b.bead_type == BeadType::Task) {
        *by_status.entry(b.status.to_string()).or_default() += 1;
    }
    let tasks: Vec<String> = by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let mut out = vec![format!("tasks       {}", tasks.join(", "))];
    if let Some(p) = store::rig_pauses(tx)?
        .into_iter()
        .find(|p| p.rig_id == rig.id)
    {
        out.push(format!("paused      {}", p.reason));
    }
    let waiting = store::list_escalations(tx, false)?
        .iter()
        .filter(|e| beads.iter().any(|b| b.id == e.bead_id))
        .count();
    out.push(format!("escalations {waiting} waiting"));
    Ok(out)
}

/// `/gt convoy status`: the convoy this thread tracks, or the ones its work is in.
pub(super) fn convoy_status(here: &Here<'_>) -> Result<Result<String, Refusal>, StoreError> {
    if let Some(convoy) = here.convoy()? {
        let said = crate::lifecycle::convoy::status_comment(here.tx, &convoy)?;
        return Ok(Ok(comments::without_markers(&said)));
    }
    let task = match here.task_or_refuse()? {
        Ok(t) => t,
        Err(r) => return Ok(Err(r)),
    };
    let convoys = store::dependents_of(here.tx, &task.id, store::DepType::Tracks)?;
    if convoys.is_empty() {
        return Ok(Err(Refusal::new(
            "this work is in no convoy (`/gt convoy create` makes one)",
        )));
    }
    let mut out = Vec::new();
    for id in convoys {
        let convoy = store::get_bead(here.tx, &id)?;
        let said = crate::lifecycle::convoy::status_comment(here.tx, &convoy)?;
        out.push(comments::without_markers(&said));
    }
    Ok(Ok(out.join("\n\n")))
}
