//! How the lease table reads as health (Eye's `cluster` check): this node's heartbeat is fresh
//! (younger than the ttl) and no shard has been unheld for longer than two ttls. Pure: ages and
//! expiries come in as seconds on the database's clock. It must not read a clock or do I/O.

use crate::lease::Lease;

/// The verdict and, when not ok, why (one line per problem).
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    pub ok: bool,
    pub problems: Vec<String>,
}

/// `my_age_s`: seconds since this node's heartbeat (`None`: it has no row).
pub fn judge(ttl_s: f64, shards: u32, my_age_s: Option<f64>, leases: &[Lease]) -> Health {
    let mut problems = Vec::new();
    match my_age_s {
        None => problems.push("this node has no heartbeat row".to_string()),
        Some(age) if age >= ttl_s => problems.push(format!(
            "this node's heartbeat is {age:.1}s old (ttl {ttl_s}s)"
        )),
        Some(_) => {}
    }
    let mut unheld = Vec::new();
    for s in 0..shards {
        match leases.iter().find(|l| l.shard == s) {
            None => unheld.push(format!("{s} (no lease row)")),
            // An unheld lease's expiry is when it stopped being held.
            Some(l) if !l.is_held() && -l.expires_in_s > 2.0 * ttl_s => {
                unheld.push(format!("{s} ({:.0}s)", -l.expires_in_s))
            }
            Some(_) => {}
        }
    }
    if !unheld.is_empty() {
        problems.push(format!(
            "shard(s) unheld for longer than 2 x ttl: {}",
            unheld.join(", ")
        ));
    }
    Health {
        ok: problems.is_empty(),
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(shard: u32, holder: Option<&str>, expires_in_s: f64) -> Lease {
        Lease {
            shard,
            holder: holder.map(String::from),
            epoch: 1,
            expires_in_s,
        }
    }

    #[test]
    fn health_table() {
        let held = [lease(0, Some("a"), 10.0), lease(1, Some("b"), 3.0)];
        let table: [(Option<f64>, &[Lease], bool, &str); 6] = [
            (Some(1.0), &held, true, ""),
            (None, &held, false, "no heartbeat row"),
            (Some(15.0), &held, false, "heartbeat is 15.0s old"),
            (
                Some(1.0),
                &[lease(0, None, -29.0), lease(1, Some("b"), -29.0)],
                true,
                "",
            ),
            (
                Some(1.0),
                &[lease(0, None, -31.0), held[1].clone()],
                false,
                "0 (31s)",
            ),
            (Some(1.0), &held[..1], false, "1 (no lease row)"),
        ];
        for (age, leases, ok, text) in table {
            let h = judge(15.0, 2, age, leases);
            assert_eq!(h.ok, ok, "{age:?} {leases:?}: {h:?}");
            assert!(h.problems.join("\n").contains(text), "{h:?}");
        }
    }
}
