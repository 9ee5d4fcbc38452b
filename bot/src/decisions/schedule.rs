//! Who works what next: a pure function from the ready beads and the rigs' polecats
//! to hookings, so the rules (cap per rig, cap per town, one bead per polecat, stable
//! names, order of work) are tested without a database, a runner or a clock.

use std::collections::{BTreeMap, BTreeSet};

/// The fixed pool a rig's polecats are named from, in the order names are given out.
pub const NAMES: [&str; 20] = [
    "nux", "slit", "rictus", "toast", "capable", "dag", "cheedo", "ace", "keeper", "valkyrie",
    "morsov", "corpus", "glory", "furiosa", "angharad", "scabrous", "vuvalini", "warboy", "dogman",
    "max",
];

/// A bead that is ready to be worked, in the order the store ranks them (priority,
/// then age).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyBead {
    pub id: String,
    pub rig_id: String,
    /// The town it runs in: the town's cap counts every rig's agents together.
    pub town_id: String,
}

/// A polecat name that is taken in a rig right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    pub rig_id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub bead_id: String,
    pub rig_id: String,
    pub name: &'static str,
}

/// Hook ready beads to free polecats, at most `cap` working per rig and at most
/// `room` more per town (what the town's cap leaves beside the agents already
/// working there, of every rig and role), names taken from [`NAMES`] in order (the
/// lowest free name first, so names come back after a polecat finishes). Beads beyond
/// a cap wait for the next round.
pub fn schedule(
    ready: &[ReadyBead],
    busy: &[Busy],
    cap: impl Fn(&str) -> usize,
    room: impl Fn(&str) -> usize,
) -> Vec<Assignment> {
    let mut taken: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for b in busy {
        taken.entry(&b.rig_id).or_default().insert(&b.name);
    }
    let mut started: BTreeMap<&str, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for bead in ready {
        let in_town = started.entry(&bead.town_id).or_default();
        if *in_town >= room(&bead.town_id) {
            continue;
        }
        let cap = cap(&bead.rig_id).min(NAMES.len());
        let names = taken.entry(&bead.rig_id).or_default();
        if names.len() >= cap {
            continue;
        }
        let Some(name) = NAMES.iter().find(|n| !names.contains(*n)) else {
            continue;
        };
        names.insert(name);
        *in_town += 1;
        out.push(Assignment {
            bead_id: bead.id.clone(),
            rig_id: bead.rig_id.clone(),
            name,
        });
    }
    out
}

/// `gt/<bead id>-<slug of the title>`: readable on the forge, unique by the id, and
/// safe as a ref name whatever the title holds.
pub fn branch_name(bead_id: &str, title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        format!("gt/{bead_id}")
    } else {
        format!("gt/{bead_id}-{slug}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(ids: &[(&str, &str)]) -> Vec<ReadyBead> {
        ids.iter()
            .map(|(id, rig)| ReadyBead {
                id: id.to_string(),
                rig_id: rig.to_string(),
                town_id: "t".into(),
            })
            .collect()
    }

    const NO_TOWN_CAP: fn(&str) -> usize = |_| usize::MAX;

    #[test]
    fn the_cap_holds_per_rig_and_names_are_distinct() {
        let r = ready(&[
            ("gt-a", "r1"),
            ("gt-b", "r1"),
            ("gt-c", "r1"),
            ("gt-d", "r2"),
        ]);
        let got = schedule(&r, &[], |_| 2, NO_TOWN_CAP);
        let pairs: Vec<_> = got.iter().map(|a| (a.bead_id.as_str(), a.name)).collect();
        assert_eq!(
            pairs,
            vec![("gt-a", "nux"), ("gt-b", "slit"), ("gt-d", "nux")]
        );
    }

    #[test]
    fn busy_polecats_count_against_the_cap_and_keep_their_names() {
        let r = ready(&[("gt-c", "r1"), ("gt-e", "r1")]);
        let busy = vec![Busy {
            rig_id: "r1".into(),
            name: "nux".into(),
        }];
        let got = schedule(&r, &busy, |_| 2, NO_TOWN_CAP);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].bead_id.as_str(), got[0].name), ("gt-c", "slit"));
        assert!(schedule(&r, &busy, |_| 1, NO_TOWN_CAP).is_empty());
    }

    #[test]
    fn at_most_twenty_polecats_whatever_the_cap() {
        let many: Vec<_> = (0..30).map(|i| (format!("gt-{i:04}"), "r")).collect();
        let r: Vec<ReadyBead> = many
            .iter()
            .map(|(id, rig)| ReadyBead {
                id: id.clone(),
                rig_id: rig.to_string(),
                town_id: "t".into(),
            })
            .collect();
        assert_eq!(schedule(&r, &[], |_| 50, NO_TOWN_CAP).len(), 20);
    }

    #[test]
    fn the_town_cap_holds_across_rigs_whatever_their_caps() {
        // Two rigs of cap 3 each (6) in a town with room for 4: four start, in the
        // order of work, and the other town is not held back by this one.
        let mut r = ready(&[
            ("gt-a", "r1"),
            ("gt-b", "r2"),
            ("gt-c", "r1"),
            ("gt-d", "r2"),
            ("gt-e", "r1"),
            ("gt-f", "r2"),
        ]);
        r.push(ReadyBead {
            id: "gt-g".into(),
            rig_id: "r3".into(),
            town_id: "other".into(),
        });
        let room = |town: &str| if town == "t" { 4 } else { 1 };
        let got: Vec<_> = schedule(&r, &[], |_| 3, room)
            .into_iter()
            .map(|a| a.bead_id)
            .collect();
        assert_eq!(got, ["gt-a", "gt-b", "gt-c", "gt-d", "gt-g"]);
        // A full town starts nothing.
        assert!(schedule(&r[..6], &[], |_| 3, |_| 0).is_empty());
    }

    #[test]
    fn branch_names_are_slugs_of_the_title() {
        assert_eq!(
            branch_name("gt-k3x9", "Fix: the README's typo!"),
            "gt/gt-k3x9-fix-the-readme-s-typo"
        );
        assert_eq!(branch_name("gt-k3x9", "!!!"), "gt/gt-k3x9");
        assert_eq!(branch_name("gt-k3x9", "Ünïcode ok"), "gt/gt-k3x9-n-code-ok");
        assert!(branch_name("gt-k3x9", &"long ".repeat(40)).len() <= 3 + 7 + 1 + 41);
    }
}
