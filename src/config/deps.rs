//! The dependency graph of the enabled modules (`depends_on` in each module.toml): unknown
//! dependencies and cycles are configuration errors, and `start_order` is the order once mode
//! runs the modules in. Pure functions of the names and their `depends_on` lists; the loader
//! (`load.rs`) hands `problems` the parsed manifests to turn the findings into `file:line`
//! problems; the supervisor decides readiness at run time (`supervisor/order.rs`).

use super::{ModuleSpec, Problem, Ready, WatchdogConfig};
use std::collections::HashMap;

/// What is wrong with a graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    /// `module` depends on `dep`, which is not an enabled module.
    Unknown { module: String, dep: String },
    /// A cycle, as the path `a -> b -> ... -> a` (the first module repeated at the end).
    Cycle(Vec<String>),
}

/// Every problem of the graph: each unknown dependency, then each cycle once (named from the
/// module that comes first in `modules`' order). `modules` is `(name, depends_on)` in
/// `enabled` order.
pub fn check(modules: &[(&str, &[String])]) -> Vec<GraphError> {
    let mut out = Vec::new();
    for (name, deps) in modules {
        for d in deps.iter() {
            if !modules.iter().any(|(n, _)| n == d) {
                out.push(GraphError::Unknown {
                    module: name.to_string(),
                    dep: d.clone(),
                });
            }
        }
    }
    // Depth-first search with three colours; a grey node met again closes a cycle.
    let n = modules.len();
    let positions: HashMap<&str, usize> = modules
        .iter()
        .enumerate()
        .map(|(i, (m, _))| (*m, i))
        .collect();
    let index = |name: &str| positions.get(name).copied();
    let mut colour = vec![0u8; n]; // 0 white, 1 grey (on the path), 2 black (done)
    let mut seen_cycles: Vec<Vec<String>> = Vec::new();
    for start in 0..n {
        if colour[start] != 0 {
            continue;
        }
        // Explicit stack of (node, next dependency to visit) so depth is not bounded by the
        // thread's stack.
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        colour[start] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let deps = modules[node].1;
            if *next < deps.len() {
                let dep = &deps[*next];
                *next += 1;
                let Some(d) = index(dep) else { continue };
                match colour[d] {
                    0 => {
                        colour[d] = 1;
                        stack.push((d, 0));
                    }
                    1 => {
                        let from = stack.iter().position(|&(x, _)| x == d).unwrap_or(0);
                        let mut cycle: Vec<String> = stack[from..]
                            .iter()
                            .map(|&(x, _)| modules[x].0.to_string())
                            .collect();
                        // Name it from the member that comes first in enabled order.
                        let first = cycle
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, m)| index(m).unwrap_or(usize::MAX))
                            .map_or(0, |(i, _)| i);
                        cycle.rotate_left(first);
                        if !seen_cycles.contains(&cycle) {
                            seen_cycles.push(cycle.clone());
                            let mut path = cycle;
                            path.push(path[0].clone());
                            out.push(GraphError::Cycle(path));
                        }
                    }
                    _ => {}
                }
            } else {
                colour[node] = 2;
                stack.pop();
            }
        }
    }
    out
}

/// The order once mode runs modules in: every module after its dependencies, otherwise in
/// `enabled` order (a stable topological sort). Expects a checked graph; members of a cycle or
/// modules with unknown dependencies keep their place after what they can follow.
pub fn start_order(modules: &[(&str, &[String])]) -> Vec<usize> {
    let n = modules.len();
    let positions: HashMap<&str, usize> = modules
        .iter()
        .enumerate()
        .map(|(i, (m, _))| (*m, i))
        .collect();
    let mut placed = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let before = order.len();
        for i in 0..n {
            if placed[i] {
                continue;
            }
            let ready = modules[i]
                .1
                .iter()
                .all(|d| positions.get(d.as_str()).is_none_or(|&j| placed[j]));
            if ready {
                placed[i] = true;
                order.push(i);
                // Restart from the top so an earlier module freed by this one comes next.
                break;
            }
        }
        if order.len() == before {
            // A cycle: place the rest in enabled order rather than loop forever.
            order.extend((0..n).filter(|&i| !placed[i]));
        }
    }
    order
}

/// `depends_on` across the enabled modules: an unknown dependency or a cycle is a problem at the
/// `depends_on` line of the manifest that names it (a cycle: of its first module); waiting for
/// the first heartbeat of a module whose heartbeats are not checked is a warning.
pub(super) fn problems(
    modules: &[ModuleSpec],
    depends_lines: &[Option<usize>],
    w: &WatchdogConfig,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) {
    let graph: Vec<(&str, &[String])> = modules
        .iter()
        .map(|m| (m.name.as_str(), m.supervision.depends_on.as_slice()))
        .collect();
    let at = |name: &str| {
        let i = modules.iter().position(|m| m.name == name)?;
        Some((
            modules[i].manifest.clone(),
            depends_lines.get(i).copied().flatten(),
        ))
    };
    for e in check(&graph) {
        let (module, message) = match &e {
            GraphError::Unknown { module, dep } => (
                module.clone(),
                format!(
                    "depends_on: `{dep}` is not an enabled module (enabled: {})",
                    graph.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                ),
            ),
            GraphError::Cycle(path) => (
                path[0].clone(),
                format!("depends_on: dependency cycle {}", path.join(" -> ")),
            ),
        };
        let (file, line) = at(&module).unwrap_or_default();
        problems.push(Problem {
            file,
            line,
            message,
        });
    }
    for m in modules {
        for d in &m.supervision.depends_on {
            let Some(dep) = modules.iter().find(|x| &x.name == d) else {
                continue;
            };
            let ttl = dep.heartbeat_ttl_s.unwrap_or(w.heartbeat_ttl_s);
            if dep.supervision.ready == Ready::Heartbeat && ttl <= 0.0 {
                let (file, line) = at(&m.name).unwrap_or_default();
                warnings.push(Problem {
                    file,
                    line,
                    message: format!(
                        "depends_on `{d}`: it is ready after its first heartbeat, but its heartbeats are off \
                         (heartbeat_ttl_s = 0); it must still write AIVEX_HEARTBEAT_FILE once, or set \
                         ready = \"exit0\" or \"file:PATH\" in its module.toml"
                    ),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(spec: &[(&'static str, &[&str])]) -> Vec<(String, Vec<String>)> {
        spec.iter()
            .map(|(n, d)| (n.to_string(), d.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    fn view(g: &[(String, Vec<String>)]) -> Vec<(&str, &[String])> {
        g.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect()
    }

    #[test]
    fn check_table() {
        let cycle = |v: &[&str]| GraphError::Cycle(v.iter().map(|s| s.to_string()).collect());
        let unknown = |m: &str, d: &str| GraphError::Unknown {
            module: m.into(),
            dep: d.into(),
        };
        type Row = (
            &'static [(&'static str, &'static [&'static str])],
            Vec<GraphError>,
        );
        let rows: Vec<Row> = vec![
            (&[("a", &[]), ("b", &["a"])], vec![]),
            (&[("a", &["ghost"])], vec![unknown("a", "ghost")]),
            (&[("a", &["a"])], vec![cycle(&["a", "a"])]),
            (
                &[("a", &["b"]), ("b", &["a"])],
                vec![cycle(&["a", "b", "a"])],
            ),
            (
                &[("x", &[]), ("b", &["c"]), ("c", &["d"]), ("d", &["b"])],
                vec![cycle(&["b", "c", "d", "b"])],
            ),
            // Found from a module outside the cycle, still named from its first member.
            (
                &[("z", &["c"]), ("b", &["c"]), ("c", &["b"])],
                vec![cycle(&["b", "c", "b"])],
            ),
            (
                &[("a", &["b", "ghost"]), ("b", &["a"]), ("c", &["c"])],
                vec![
                    unknown("a", "ghost"),
                    cycle(&["a", "b", "a"]),
                    cycle(&["c", "c"]),
                ],
            ),
            // A diamond is no cycle.
            (
                &[("d", &["b", "c"]), ("b", &["a"]), ("c", &["a"]), ("a", &[])],
                vec![],
            ),
        ];
        for (spec, want) in rows {
            let g = graph(spec);
            assert_eq!(check(&view(&g)), want, "{spec:?}");
        }
    }

    #[test]
    fn start_order_table() {
        type Row = (
            &'static [(&'static str, &'static [&'static str])],
            &'static [usize],
        );
        let rows: &[Row] = &[
            (&[], &[]),
            (&[("a", &[]), ("b", &[])], &[0, 1]),
            // The shipped config: brain after chart, news, metrics; eye independent.
            (
                &[
                    ("brain", &["chart", "news", "metrics"]),
                    ("chart", &[]),
                    ("news", &[]),
                    ("metrics", &[]),
                    ("eye", &[]),
                ],
                &[1, 2, 3, 0, 4],
            ),
            (&[("a", &["b"]), ("b", &["c"]), ("c", &[])], &[2, 1, 0]),
            (&[("a", &["ghost"]), ("b", &[])], &[0, 1]),
            // A cycle (refused by check) still yields every module once.
            (&[("a", &["b"]), ("b", &["a"]), ("c", &[])], &[2, 0, 1]),
        ];
        for (spec, want) in rows {
            let g = graph(spec);
            assert_eq!(start_order(&view(&g)), *want, "{spec:?}");
        }
        // Deep chains are handled without recursion.
        let names: Vec<String> = (0..5000).map(|i| format!("m{i}")).collect();
        let g: Vec<(String, Vec<String>)> = (0..5000)
            .map(|i| {
                let deps = if i + 1 < 5000 {
                    vec![names[i + 1].clone()]
                } else {
                    vec![names[0].clone()]
                };
                (names[i].clone(), deps)
            })
            .collect();
        let errs = check(&view(&g));
        assert!(matches!(&errs[..], [GraphError::Cycle(c)] if c.len() == 5001));
    }
}
