//! The order a batch's tasks are opened in: blockers first, so each dependent's body
//! can name its blockers' issue numbers. Pure; a batch that names an unknown task,
//! names one twice or loops is refused before anything is opened.

/// Indices of `tasks` (key, the keys it depends on), blockers before dependents, in
/// the order given where nothing says otherwise.
pub fn order(tasks: &[(String, Vec<String>)]) -> Result<Vec<usize>, String> {
    let index = |key: &str| tasks.iter().position(|(k, _)| k == key);
    for (i, (key, deps)) in tasks.iter().enumerate() {
        if key.trim().is_empty() {
            return Err("every task needs a `key`".into());
        }
        if index(key) != Some(i) {
            return Err(format!("two tasks have the key `{key}`"));
        }
        if let Some(d) = deps.iter().find(|d| index(d).is_none()) {
            return Err(format!(
                "task `{key}` depends on `{d}`, which is not in the batch"
            ));
        }
    }
    let mut placed = vec![false; tasks.len()];
    let mut out = Vec::with_capacity(tasks.len());
    while out.len() < tasks.len() {
        let next = (0..tasks.len()).find(|&i| {
            !placed[i]
                && tasks[i]
                    .1
                    .iter()
                    .all(|d| index(d).is_some_and(|j| placed[j]))
        });
        match next {
            Some(i) => {
                placed[i] = true;
                out.push(i);
            }
            None => {
                let stuck: Vec<&str> = (0..tasks.len())
                    .filter(|&i| !placed[i])
                    .map(|i| tasks[i].0.as_str())
                    .collect();
                return Err(format!(
                    "the tasks {} depend on each other in a cycle",
                    stuck.join(", ")
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::order;

    fn t(key: &str, deps: &[&str]) -> (String, Vec<String>) {
        (key.into(), deps.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn blockers_come_first_and_the_rest_keep_their_order() {
        let tasks = [t("ui", &["api"]), t("api", &[]), t("docs", &[])];
        assert_eq!(order(&tasks), Ok(vec![1, 0, 2]));
    }

    #[test]
    fn unknown_duplicate_and_cyclic_batches_are_refused() {
        assert_eq!(
            order(&[t("ui", &["db"])]),
            Err("task `ui` depends on `db`, which is not in the batch".into())
        );
        assert_eq!(
            order(&[t("a", &[]), t("a", &[])]),
            Err("two tasks have the key `a`".into())
        );
        assert_eq!(
            order(&[t("a", &["b"]), t("b", &["a"]), t("c", &[])]),
            Err("the tasks a, b depend on each other in a cycle".into())
        );
    }
}
