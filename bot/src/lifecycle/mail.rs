//! Mail between agents, the refinery and (later) the Mayor: typed messages kept as
//! `message` beads under the bead they are about. A message to `bead` is for whoever
//! works that bead next (a HANDOFF carries an agent's context to its successor); one to
//! `refinery` is for the rig's refinery. Open is unread; reading closes it. What a
//! message says is an agent's text: capped and redacted when sent, data when read.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::clock::Millis;
use crate::lifecycle::{self, Cause};
use crate::store::{self, Bead, BeadStatus, BeadType, CloseReason, NewBead, StoreError, Tx};

/// The kinds of message, as agents and the refinery use them.
pub const KINDS: [&str; 7] = [
    "POLECAT_DONE",
    "MERGE_READY",
    "MERGED",
    "REWORK",
    "HELP",
    "HANDOFF",
    "NOTE",
];

/// Who a message is for.
pub const RECIPIENTS: [&str; 3] = ["bead", "refinery", "mayor"];

/// One message as its reader sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Mail {
    pub id: String,
    pub kind: String,
    pub from: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub sent_at: Millis,
}

/// What a message says, before it is sent.
#[derive(Debug, Clone, Copy)]
pub struct Letter<'a> {
    pub kind: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
}

/// Send a message about `about` from `from` (a session); returns its bead.
pub fn send(
    tx: &Tx<'_>,
    about: &Bead,
    from: &str,
    letter: &Letter<'_>,
    now: Millis,
) -> Result<Bead, StoreError> {
    let Letter {
        kind,
        to,
        subject,
        body,
    } = *letter;
    lifecycle::create(
        tx,
        &NewBead {
            bead_type: BeadType::Message,
            title: subject.to_string(),
            body: body.to_string(),
            priority: about.priority,
            town_id: about.town_id.clone(),
            rig_id: about.rig_id.clone(),
            parent_id: Some(about.id.clone()),
            forge_ref: None,
            created_by: from.to_string(),
            metadata: json!({ "kind": kind, "to": to }),
        },
        now,
    )
}

/// Unread messages to `to` about `about`, oldest first, not sent by `reader`.
pub fn unread(
    conn: &rusqlite::Connection,
    about: &str,
    to: &str,
    reader: &str,
) -> Result<Vec<Mail>, StoreError> {
    let mut out = Vec::new();
    for b in store::children(conn, about)? {
        if b.bead_type != BeadType::Message || b.status != BeadStatus::Open {
            continue;
        }
        let recipient = b.metadata["to"].as_str().unwrap_or("bead");
        if recipient != to || b.created_by == reader {
            continue;
        }
        out.push(Mail {
            id: b.id.clone(),
            kind: b.metadata["kind"].as_str().unwrap_or("NOTE").to_string(),
            from: b.created_by.clone(),
            to: recipient.to_string(),
            subject: b.title.clone(),
            body: b.body.clone(),
            sent_at: b.created_at,
        });
    }
    out.sort_by_key(|m| (m.sent_at, m.id.clone()));
    Ok(out)
}

/// `reader` read these: they close (done), each recorded.
pub fn mark_read(tx: &Tx<'_>, mail: &[Mail], reader: &str, now: Millis) -> Result<(), StoreError> {
    for m in mail {
        let payload = json!({ "read_by": reader });
        lifecycle::move_to(
            tx,
            &m.id,
            BeadStatus::Closed,
            Some(CloseReason::Done),
            Cause::new(reader, &payload),
            now,
        )?;
    }
    Ok(())
}
