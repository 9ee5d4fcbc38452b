//! Who works what next: a pure function from the ready beads and the rigs' polecats
//! to hookings, so the rules (cap per rig, one bead per polecat, stable names, order
//! of work) are tested without a database, a runner or a clock.

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

/// Hook ready beads to free polecats, at most `cap` working per rig, names taken
/// from [`NAMES`] in order (the lowest free name first, so names come back after a
/// polecat finishes). Beads beyond the cap wait for the next round.
pub fn schedule(
    ready: &[ReadyBead],
    busy: &[Busy],
    cap: impl Fn(&str) -> usize,
) -> Vec<Assignment> {
    let mut taken: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for b in busy {
        taken.entry(&b.rig_id).or_default().insert(&b.name);
    }
    let mut out = Vec::new();
    for bead in ready {
        let cap = cap(&bead.rig_id).min(NAMES.len());
        let names = taken.entry(&bead.rig_id).or_default();
        if names.len() >= cap {
            continue;
        }
        let Some(name) = NAMES.iter().find(|n| !names.contains(*n)) else {
            continue;
        };
        names.insert(name);
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
            })
            .collect()
    }

    #[test]
    fn the_cap_holds_per_rig_and_names_are_distinct() {
        let r = ready(&[
            ("gt-a", "r1"),
            ("gt-b", "r1"),
            ("gt-c", "r1"),
            ("gt-d", "r2"),
        ]);
        let got = schedule(&r, &[], |_| 2);
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
        let got = schedule(&r, &busy, |_| 2);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].bead_id.as_str(), got[0].name), ("gt-c", "slit"));
        assert!(schedule(&r, &busy, |_| 1).is_empty());
    }

    #[test]
    fn at_most_twenty_polecats_whatever_the_cap() {
        let many: Vec<_> = (0..30).map(|i| (format!("gt-{i:04}"), "r")).collect();
        let r: Vec<ReadyBead> = many
            .iter()
            .map(|(id, rig)| ReadyBead {
                id: id.clone(),
                rig_id: rig.to_string(),
            })
            .collect();
        assert_eq!(schedule(&r, &[], |_| 50).len(), 20);
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
