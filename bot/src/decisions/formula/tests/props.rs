//! Properties over random formulas shaped like DAGs, alone, extended and composed:
//! expansion is deterministic, the plan lists each step after what it needs, every
//! need names a step of the plan, and `extends`/`compose` never leave a dangling need.

use std::collections::{BTreeMap, HashMap, HashSet};

use proptest::prelude::*;

use crate::decisions::formula::*;

/// A DAG of `n` steps: step `i` needs some of the steps before it (`bits[i]` says
/// which); written in `order`.
#[derive(Debug, Clone)]
struct Dag {
    needs: Vec<Vec<usize>>,
    order: Vec<usize>,
}

fn dag(max: usize) -> impl Strategy<Value = Dag> {
    (1..=max)
        .prop_flat_map(|n| {
            let bits = proptest::collection::vec(any::<u64>(), n);
            let order = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
            (bits, order)
        })
        .prop_map(|(bits, order)| Dag {
            needs: bits
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    (0..i)
                        .filter(|j| b & (1 << (j % 64)) != 0 && b % 3 != 0)
                        .collect()
                })
                .collect(),
            order,
        })
}

/// The YAML of `dag` as formula `name`, steps called `s<i>`, plus `extra` lines.
fn yaml(name: &str, dag: &Dag, extra: &str) -> String {
    let mut out = format!(
        "formula: {name}\nversion: 1\ntype: workflow\nvars:\n  issue: {{default: x}}\nsteps:\n"
    );
    for &i in &dag.order {
        let needs: Vec<String> = dag.needs[i].iter().map(|j| format!("s{j}")).collect();
        out.push_str(&format!(
            "  - {{id: s{i}, title: 'Step {i} of {{{{ issue }}}}', needs: [{}]}}\n",
            needs.join(", ")
        ));
    }
    out + extra
}

/// Every need names a step of the plan, and comes before the step that needs it.
fn well_ordered(plan: &MoleculePlan) -> Result<(), TestCaseError> {
    let at: HashMap<&str, usize> = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    prop_assert_eq!(at.len(), plan.steps.len(), "ids are unique");
    for (i, s) in plan.steps.iter().enumerate() {
        for n in &s.needs {
            let j = at.get(n.as_str());
            prop_assert!(
                j.is_some(),
                "`{}` needs `{}`, which is not in the plan",
                s.id,
                n
            );
            prop_assert!(
                j < Some(&i),
                "`{}` comes before `{}`, which it needs",
                s.id,
                n
            );
        }
    }
    Ok(())
}

fn expanded_twice(f: &Formula) -> Result<MoleculePlan, TestCaseError> {
    let plan = expand(f, &BTreeMap::new()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let again = expand(f, &BTreeMap::new()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&plan, &again, "expansion is deterministic");
    well_ordered(&plan)?;
    Ok(plan)
}

fn library(files: &[(&str, String)]) -> Library {
    let mut library = Library::default();
    for (file, text) in files {
        library
            .add(Source::Repo, file, text)
            .expect("a generated formula parses");
    }
    library
}

/// The ids `id` needs, directly or not.
fn ancestors<'a>(plan: &'a MoleculePlan, id: &str) -> HashSet<&'a str> {
    let needs: HashMap<&str, &[String]> = plan
        .steps
        .iter()
        .map(|s| (s.id.as_str(), s.needs.as_slice()))
        .collect();
    let mut seen = HashSet::new();
    let mut todo: Vec<&str> = needs
        .get(id)
        .map(|n| n.iter().map(String::as_str).collect())
        .unwrap_or_default();
    while let Some(n) = todo.pop() {
        if seen.insert(n)
            && let Some(more) = needs.get(n)
        {
            todo.extend(more.iter().map(String::as_str));
        }
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_random_workflow_expands_the_same_way_in_order(d in dag(24)) {
        let f = library(&[("w.yaml", yaml("w", &d, ""))]).resolve("w").unwrap();
        let plan = expanded_twice(&f)?;
        prop_assert_eq!(plan.steps.len(), d.needs.len());
        // Reading the same text again gives the same plan and hash.
        let g = library(&[("other.yaml", yaml("w", &d, ""))]).resolve("w").unwrap();
        prop_assert_eq!(expand(&g, &BTreeMap::new()).unwrap().hash, plan.hash);
    }

    #[test]
    fn extends_with_drops_resolves_only_without_a_dangling_need(
        d in dag(16), drop_bits in any::<u32>(), override_bits in any::<u32>(),
    ) {
        let n = d.needs.len();
        let dropped: HashSet<usize> = (0..n).filter(|i| drop_bits & (1 << i) != 0).collect();
        // Overridden steps keep their needs minus the dropped ones.
        let overridden: Vec<usize> = (0..n)
            .filter(|i| override_bits & (1 << i) != 0 && !dropped.contains(i))
            .collect();
        let mut child = "formula: child\nversion: 1\ntype: workflow\nextends: base\n".to_string();
        if !dropped.is_empty() {
            let ids: Vec<String> = dropped.iter().map(|i| format!("s{i}")).collect();
            child += &format!("drop: [{}]\n", ids.join(", "));
        }
        if !overridden.is_empty() {
            child += "steps:\n";
            for &i in &overridden {
                let needs: Vec<String> = d.needs[i]
                    .iter()
                    .filter(|j| !dropped.contains(j))
                    .map(|j| format!("s{j}"))
                    .collect();
                child += &format!("  - {{id: s{i}, title: 'Mine {i}', needs: [{}]}}\n", needs.join(", "));
            }
        }
        let dangling = (0..n).any(|i| {
            !dropped.contains(&i)
                && !overridden.contains(&i)
                && d.needs[i].iter().any(|j| dropped.contains(j))
        });
        let lib = library(&[("base.yaml", yaml("base", &d, "")), ("child.yaml", child)]);
        match lib.resolve("child") {
            Ok(f) => {
                prop_assert!(!dangling, "a dropped step is still needed, yet it resolved");
                let plan = expanded_twice(&f)?;
                prop_assert_eq!(plan.steps.len(), n - dropped.len());
            }
            Err(ResolveError::Invalid(e)) if dropped.len() == n => {
                prop_assert!(e.to_string().contains("needs at least one step"), "{}", e);
            }
            Err(e) => {
                prop_assert!(dangling, "{}", e);
                prop_assert!(e.to_string().contains("is dropped by `child`"), "{}", e);
            }
        }
    }

    #[test]
    fn compose_rewires_every_need_into_the_composed_steps(
        outer in dag(12), inner in dag(8), pick in any::<usize>(),
    ) {
        let target = pick % outer.needs.len();
        let extra = format!("compose:\n  - expand: {{target: s{target}, with: inner}}\n");
        let lib = library(&[
            ("outer.yaml", yaml("outer", &outer, &extra)),
            ("inner.yaml", yaml("inner", &inner, "")),
        ]);
        let f = lib.resolve("outer").unwrap();
        let plan = expanded_twice(&f)?;
        prop_assert_eq!(plan.steps.len(), outer.needs.len() - 1 + inner.needs.len());
        let composed: Vec<String> = (0..inner.needs.len()).map(|i| format!("s{target}.s{i}")).collect();
        // What needed the target now needs every composed step; every composed step
        // needs what the target needed.
        for (i, needs) in outer.needs.iter().enumerate() {
            let before = ancestors(&plan, &format!("s{i}"));
            if needs.contains(&target) {
                for c in &composed {
                    prop_assert!(before.contains(c.as_str()), "s{} lost its need on {}", i, c);
                }
            }
        }
        for c in &composed {
            let before = ancestors(&plan, c);
            for j in &outer.needs[target] {
                let need = format!("s{j}");
                prop_assert!(before.contains(need.as_str()), "{} lost the target's need {}", c, need);
            }
        }
    }

    #[test]
    fn an_expansion_makes_one_step_per_item_in_order(count in 1usize..=MAX_INSTANCES, sequential in any::<bool>()) {
        let text = format!(
            "formula: e\nversion: 1\ntype: expansion\nvars:\n  items: {{type: list}}\nforeach: items\nsequential: {sequential}\ntemplate: {{id: t, title: '{{{{ index }}}}: {{{{ item }}}}', needs: [a]}}\nsteps:\n  - {{id: a, title: A}}\n  - {{id: z, title: Z, needs: [t]}}\n"
        );
        let f = library(&[("e.yaml", text)]).resolve("e").unwrap();
        let items: Vec<String> = (0..count).map(|i| format!("i{i}")).collect();
        let given = BTreeMap::from([("items".to_string(), serde_json::json!(items))]);
        let plan = expand(&f, &given).unwrap();
        prop_assert_eq!(&plan, &expand(&f, &given).unwrap());
        well_ordered(&plan)?;
        prop_assert_eq!(plan.steps.len(), count + 2);
        prop_assert_eq!(&plan.steps[count + 1].needs.len(), &count, "`z` needs every instance");
    }
}
