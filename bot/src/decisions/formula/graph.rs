//! The dependency graph of a formula's steps: ids unique, every need a step, no
//! cycle (the one found named step by step, so a person can break it), and the order
//! a plan lists its steps in.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::model::{Formula, Written};

/// One node: a step, a leg, the synthesis, or the template (standing for all of its
/// instances).
struct Node<'a> {
    id: &'a str,
    /// As written; the synthesis writes none (it needs every leg, which cannot be
    /// wrong).
    needs: &'a [String],
    written: &'a Written,
}

fn nodes(f: &Formula) -> Vec<Node<'_>> {
    f.steps
        .iter()
        .chain(&f.legs)
        .chain(&f.synthesis)
        .chain(&f.template)
        .map(|s| Node {
            id: &s.id,
            needs: &s.needs,
            written: &s.written,
        })
        .collect()
}

/// Duplicate ids, needs that name no step, fixed steps named like a template's
/// instances, and a cycle (every step on it named): each as a located message.
pub fn problems(f: &Formula) -> Vec<String> {
    let nodes = nodes(f);
    let mut problems = Vec::new();
    let mut first: HashMap<&str, &Node<'_>> = HashMap::new();
    for node in &nodes {
        match first.get(node.id) {
            Some(earlier) => problems.push(format!(
                "{}: step id `{}` is already used by {}",
                node.written.locate("/id"),
                node.id,
                place(earlier.written, node.written)
            )),
            None => {
                first.insert(node.id, node);
            }
        }
    }
    if let Some(template) = &f.template {
        for s in &f.steps {
            let instance =
                s.id.strip_prefix(&template.id)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
            if instance {
                problems.push(format!(
                    "{}: `{}` is the id an instance of the template `{}` gets",
                    s.written.locate("/id"),
                    s.id,
                    template.id
                ));
            }
        }
    }
    for node in &nodes {
        for (k, need) in node.needs.iter().enumerate() {
            if need == node.id {
                problems.push(format!(
                    "{}: step `{}` needs itself",
                    node.written.locate(&format!("/needs/{k}")),
                    node.id
                ));
            } else if !first.contains_key(need.as_str()) {
                problems.push(format!(
                    "{}: `{need}` is not a step of this formula",
                    node.written.locate(&format!("/needs/{k}"))
                ));
            }
        }
    }
    if problems.is_empty()
        && let Some(cycle) = find_cycle(&nodes)
    {
        let at = first[cycle[0].as_str()].written.locate("/needs");
        problems.push(format!(
            "{at}: the steps need each other in a cycle: {}",
            cycle.join(" → ")
        ));
    }
    problems
}

/// Where `earlier` is, said from `here`: its path when both are in one file, else
/// its file, line and column too.
fn place(earlier: &Written, here: &Written) -> String {
    if earlier.file() == here.file() {
        earlier.path()
    } else {
        earlier.locate("")
    }
}

/// A cycle of needs, as step ids from one step back to itself, if there is one.
fn find_cycle(nodes: &[Node<'_>]) -> Option<Vec<String>> {
    let needs: HashMap<&str, &[String]> = nodes.iter().map(|n| (n.id, n.needs)).collect();
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    let mut mark: HashMap<&str, Mark> = HashMap::new();
    let mut path: Vec<&str> = Vec::new();
    // Depth first, iteratively: a 500-step chain must not exhaust the stack.
    for start in nodes {
        if mark.contains_key(start.id) {
            continue;
        }
        let mut stack: Vec<(&str, usize)> = vec![(start.id, 0)];
        mark.insert(start.id, Mark::OnPath);
        path.push(start.id);
        while let Some((id, next)) = stack.pop() {
            let list = needs.get(id).copied().unwrap_or_default();
            if let Some(need) = list.get(next) {
                stack.push((id, next + 1));
                match mark.get(need.as_str()) {
                    Some(Mark::Done) => {}
                    Some(Mark::OnPath) => {
                        let from = path.iter().position(|p| *p == need).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            path[from..].iter().map(|s| s.to_string()).collect();
                        cycle.push(need.clone());
                        return Some(cycle);
                    }
                    None if needs.contains_key(need.as_str()) => {
                        mark.insert(need, Mark::OnPath);
                        path.push(need);
                        stack.push((need, 0));
                    }
                    None => {}
                }
            } else {
                mark.insert(id, Mark::Done);
                path.pop();
            }
        }
    }
    None
}

/// `items` in an order where each comes after what it needs, keeping the written
/// order wherever the needs allow: of the items whose needs are all placed, the
/// earliest written goes next. Needs that name no item are ignored, and items on a
/// cycle (which the checks refuse first) keep their written order at the end.
pub fn in_order<T>(
    items: Vec<T>,
    id: impl Fn(&T) -> &str,
    needs: impl Fn(&T) -> &[String],
) -> Vec<T> {
    let index: HashMap<&str, usize> = items.iter().enumerate().map(|(i, t)| (id(t), i)).collect();
    let mut waiting = vec![0usize; items.len()];
    let mut needed_by: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
    for (i, t) in items.iter().enumerate() {
        for need in needs(t) {
            if let Some(&j) = index.get(need.as_str())
                && j != i
            {
                waiting[i] += 1;
                needed_by[j].push(i);
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<usize>> = (0..items.len())
        .filter(|&i| waiting[i] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(items.len());
    let mut placed = vec![false; items.len()];
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        placed[i] = true;
        for &k in &needed_by[i] {
            waiting[k] -= 1;
            if waiting[k] == 0 {
                ready.push(Reverse(k));
            }
        }
    }
    order.extend((0..items.len()).filter(|&i| !placed[i]));
    drop(index);
    let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}
