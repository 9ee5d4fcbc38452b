//! A molecule poured into a fresh database and walked as a polecat would.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::store::test_support::fresh_store;

const NOW: Millis = 1_795_622_257_000;

const FORMULA: &str = r#"formula: walk
version: 1
type: workflow
steps:
  - id: a
    title: A
  - id: b
    title: B
    needs: [a]
    gate: ["true"]
  - id: c
    title: C
    role: human
    needs: [b]
  - id: d
    title: D
    needs: [c]
"#;

fn plan() -> MoleculePlan {
    let f = crate::decisions::formula::parse(FORMULA, "walk.yaml").unwrap();
    crate::decisions::formula::expand(&f, &BTreeMap::new()).unwrap()
}

fn task(tx: &Tx<'_>) -> Bead {
    lifecycle::create(tx, &NewBead::task("Walk", "test"), NOW).unwrap()
}

fn names(view: &MoleculeView, walk: &Walk) -> String {
    match walk {
        Walk::Step(id) => format!("step {}", view.get(id).unwrap().meta.step),
        Walk::Gate(id) => format!("gate {}", view.get(id).unwrap().meta.step),
        Walk::Approval(id) => format!("approval {}", view.get(id).unwrap().meta.step),
        Walk::Legs(l) => format!("legs {}", l.len()),
        Walk::Finished => "finished".into(),
    }
}

#[tokio::test]
async fn a_plan_is_poured_once_with_its_needs_as_blocking_dependencies() {
    let (store, _dir) = fresh_store();
    store
        .write(|c| {
            let t = task(c);
            let first = pour(c, &t, &plan(), "built-in", NOW)?;
            let t = store::get_bead(c, &t.id)?;
            let again = pour(c, &t, &plan(), "built-in", NOW)?;
            assert_eq!(first.id, again.id, "a redelivery pours nothing new");
            let view = load(c, &first.id)?;
            let ids: Vec<&str> = view.steps.iter().map(|s| s.meta.step.as_str()).collect();
            assert_eq!(ids, ["a", "b", "c", "d"]);
            assert_eq!(view.steps[1].needs, [view.steps[0].bead.id.clone()]);
            assert_eq!(view.meta.hash, plan().hash);
            assert_eq!(view.meta.task, t.id);
            Ok(())
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_walk_goes_step_by_step_waits_for_its_gate_and_for_a_person() {
    let (store, _dir) = fresh_store();
    store
        .write(|c| {
            let t = task(c);
            pour(c, &t, &plan(), "built-in", NOW)?;
            let t = store::get_bead(c, &t.id)?;
            let (v, w) = current(c, &t, "polecat", NOW)?.unwrap();
            assert_eq!(names(&v, &w), "step a");
            let (v, w) = advance(c, &t, "polecat", "did a", NOW)?.unwrap();
            assert_eq!(names(&v, &w), "step b");
            // b has a gate: advancing asks for it, and the walk waits on it.
            let (v, w) = advance(c, &t, "polecat", "did b", NOW)?.unwrap();
            assert_eq!(names(&v, &w), "gate b");
            assert!(matches!(
                advance(c, &t, "polecat", "again", NOW)?,
                Err(Refused::NoStep(Walk::Gate(_)))
            ));
            assert!(
                finish(c, &t, "polecat", "all", NOW)?.is_err(),
                "gt_done cannot skip a gate"
            );
            // The gate passed (as the refinery's settling does it).
            let b = v.steps[1].bead.id.clone();
            lifecycle::move_to(
                c,
                &b,
                BeadStatus::Closed,
                Some(CloseReason::Done),
                Cause::new("gastown", &json!({})),
                NOW,
            )?;
            let (v, w) = current(c, &t, "polecat", NOW)?.unwrap();
            assert_eq!(names(&v, &w), "approval c");
            assert_eq!(
                finish(c, &t, "polecat", "all", NOW)?.unwrap_err(),
                "step `c` waits for a person's approval; it cannot be done with gt_done"
            );
            // Approved: c closes, d is next, and gt_done may close the rest.
            assert_eq!(approve(c, &t, "mara", NOW)?.as_deref(), Some("c"));
            assert_eq!(approve(c, &t, "mara", NOW)?, None, "nothing else waits");
            let (v, w) = current(c, &t, "polecat", NOW)?.unwrap();
            assert_eq!(names(&v, &w), "step d");
            assert_eq!(finish(c, &t, "polecat", "all", NOW)?, Ok(()));
            let v = of_task(c, &t)?.unwrap();
            assert_eq!(v.walk(), Walk::Finished);
            assert_eq!(
                v.steps[3].meta.summary.as_deref(),
                Some("closed with gt_done: all")
            );
            assert_eq!(v.steps[2].meta.closed_by.as_deref(), Some("mara"));
            Ok(())
        })
        .await
        .unwrap();
}
