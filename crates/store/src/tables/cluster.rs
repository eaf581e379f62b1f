//! The cluster tables: `nodes` (each supervisor's heartbeat) and `leases` (one row per
//! symbol shard: holder, epoch, expiry), plus the fence a brain write checks.
//!
//! Every time here is the database's (`UTC_TIMESTAMP(6)`: the server's clock, in UTC whatever a
//! session's `time_zone` says), and every time handed back is an age or a remaining time in
//! seconds computed by the database, so no box's clock takes part in a lease. Each lease change
//! is one conditional UPDATE that checks the row is still what the caller read (its epoch), so
//! two nodes can never both take a shard. The fence (`check_fence`) locks the lease row
//! (`FOR UPDATE`) inside the caller's write transaction, so a take-over waits for a write in
//! progress and a write after a take-over is refused. It owns these statements and the
//! `Store` methods around them; the decisions are `aivex-cluster`'s. A cluster needs
//! MySQL/MariaDB: on SQLite (one box's file) these methods answer `Unsupported`.

use crate::db::{Db, Dialect, Param};
use crate::error::{Result, StoreError};
use crate::Store;
use aivex_cluster::{Action, Lease, Node};

/// Which node decided a signal under which lease: stored with the signal (`node_id`, `shard`,
/// `epoch`) and checked in its write transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseStamp {
    pub shard: u32,
    pub epoch: i64,
    pub node_id: String,
}

const NEEDS_MYSQL: &str = "the cluster tables (nodes, leases) need MySQL/MariaDB";

fn mysql_only<D: Db>() -> Result<()> {
    match D::DIALECT {
        Dialect::Mysql => Ok(()),
        Dialect::Sqlite => Err(StoreError::Unsupported(NEEDS_MYSQL.into())),
    }
}

fn micros(ttl_s: f64) -> i64 {
    // Bounded by config (1-3600 s); the cast saturates anyway.
    (ttl_s * 1e6).round() as i64
}

fn secs(us: i64) -> f64 {
    us as f64 / 1e6
}

fn heartbeat<D: Db>(db: &mut D, node_id: &str, version: &str, first: bool) -> Result<()> {
    mysql_only::<D>()?;
    // The first beat of a supervisor also says when it started.
    let started = if first {
        ", started_at = UTC_TIMESTAMP(6)"
    } else {
        ""
    };
    db.exec(
        &format!(
            "INSERT INTO nodes (node_id, version, started_at, last_seen) \
             VALUES (?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)) \
             ON DUPLICATE KEY UPDATE version = VALUES(version), last_seen = UTC_TIMESTAMP(6){started}"
        ),
        &[Param::Text(node_id), Param::Text(version)],
    )?;
    Ok(())
}

fn nodes<D: Db>(db: &mut D) -> Result<Vec<Node>> {
    mysql_only::<D>()?;
    let rows: Vec<(String, String, i64)> = db.rows(
        "SELECT node_id, version, TIMESTAMPDIFF(MICROSECOND, last_seen, UTC_TIMESTAMP(6)) \
         FROM nodes ORDER BY node_id",
        &[],
    )?;
    Ok(rows
        .into_iter()
        .map(|(node_id, version, age)| Node {
            node_id,
            age_s: secs(age),
            version,
        })
        .collect())
}

fn ensure_shards<D: Db>(db: &mut D, shards: u32) -> Result<u64> {
    mysql_only::<D>()?;
    let mut created = 0;
    for shard in 0..shards {
        // A new row is free since now: "unheld for" counts from its creation.
        created += db.exec(
            "INSERT INTO leases (shard, holder, epoch, expires_at) \
             VALUES (?, NULL, 0, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE shard = shard",
            &[Param::from(shard)],
        )?;
    }
    Ok(created)
}

fn leases<D: Db>(db: &mut D) -> Result<Vec<Lease>> {
    mysql_only::<D>()?;
    let rows: Vec<(u32, Option<String>, i64, i64)> = db.rows(
        "SELECT shard, holder, epoch, TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at) \
         FROM leases ORDER BY shard",
        &[],
    )?;
    Ok(rows
        .into_iter()
        .map(|(shard, holder, epoch, left)| Lease {
            shard,
            holder,
            epoch,
            expires_in_s: secs(left),
        })
        .collect())
}

/// Runs one lease action; true when the row was still as read and changed.
fn act<D: Db>(db: &mut D, node_id: &str, ttl_s: f64, action: Action) -> Result<bool> {
    mysql_only::<D>()?;
    let ttl = Param::Int(micros(ttl_s));
    let node = Param::Text(node_id);
    let n = match action {
        Action::Acquire { shard, epoch } => db.exec(
            "UPDATE leases SET holder = ?, epoch = epoch + 1, \
             expires_at = DATE_ADD(UTC_TIMESTAMP(6), INTERVAL ? MICROSECOND), \
             acquired_at = UTC_TIMESTAMP(6) \
             WHERE shard = ? AND epoch = ? AND (holder IS NULL OR expires_at <= UTC_TIMESTAMP(6))",
            &[node, ttl, Param::from(shard), Param::Int(epoch)],
        )?,
        Action::Renew { shard, epoch } => db.exec(
            "UPDATE leases SET expires_at = DATE_ADD(UTC_TIMESTAMP(6), INTERVAL ? MICROSECOND) \
             WHERE shard = ? AND holder = ? AND epoch = ? AND expires_at > UTC_TIMESTAMP(6)",
            &[ttl, Param::from(shard), node, Param::Int(epoch)],
        )?,
        Action::Release { shard, epoch } => db.exec(
            "UPDATE leases SET holder = NULL, expires_at = UTC_TIMESTAMP(6) \
             WHERE shard = ? AND holder = ? AND epoch = ?",
            &[Param::from(shard), node, Param::Int(epoch)],
        )?,
    };
    Ok(n == 1)
}

/// Inside a write transaction: locks each stamp's lease row (in shard order, so two fenced
/// transactions never deadlock on each other) and checks this node still holds it at that
/// epoch and it has not expired. The first failure is `LostLease`; the caller's transaction
/// then rolls back, so nothing of it is written.
pub(crate) fn check_fence<D: Db>(db: &mut D, stamps: &[&LeaseStamp]) -> Result<()> {
    if stamps.is_empty() {
        return Ok(());
    }
    mysql_only::<D>()?;
    let mut sorted: Vec<&LeaseStamp> = stamps.to_vec();
    sorted.sort();
    sorted.dedup();
    for st in sorted {
        let rows: Vec<(Option<String>, i64, i64)> = db.rows(
            "SELECT holder, epoch, CAST(expires_at > UTC_TIMESTAMP(6) AS SIGNED) \
             FROM leases WHERE shard = ? FOR UPDATE",
            &[Param::from(st.shard)],
        )?;
        let ok = matches!(
            rows.first(),
            Some((Some(h), e, 1)) if *h == st.node_id && *e == st.epoch
        );
        if !ok {
            let live = matches!(rows.first(), Some((_, _, 1)));
            let now = match rows.first() {
                Some((Some(h), e, _)) => format!("held by {h} at epoch {e}"),
                Some((None, e, _)) => format!("unheld at epoch {e}"),
                None => "no lease row".into(),
            };
            return Err(StoreError::LostLease {
                shard: st.shard,
                detail: format!(
                    "{} composed under epoch {}, the lease is {now}{}",
                    st.node_id,
                    st.epoch,
                    if live { "" } else { " (expired)" }
                ),
            });
        }
    }
    Ok(())
}

impl Store {
    /// Writes this node's heartbeat (`first`: also its start time) on the database's clock.
    pub fn node_heartbeat(&mut self, node_id: &str, version: &str, first: bool) -> Result<()> {
        db_write!(self, |db| heartbeat(db, node_id, version, first))
    }

    /// Every node, by id, with its heartbeat age on the database's clock.
    pub fn cluster_nodes(&self) -> Result<Vec<Node>> {
        db_read!(self, |db| nodes(db))
    }

    /// Creates the lease rows of shards `0..shards` that do not exist yet (free); returns how
    /// many were created.
    pub fn ensure_shards(&mut self, shards: u32) -> Result<u64> {
        db_write!(self, |db| ensure_shards(db, shards))
    }

    /// Every lease row, by shard, with its remaining time on the database's clock.
    pub fn shard_leases(&self) -> Result<Vec<Lease>> {
        db_read!(self, |db| leases(db))
    }

    /// Carries out one lease action as a conditional update; true when it took effect (the
    /// row still had the epoch it was read at and the condition held).
    pub fn lease_action(&mut self, node_id: &str, ttl_s: f64, action: Action) -> Result<bool> {
        db_write!(self, |db| act(db, node_id, ttl_s, action))
    }

    /// A tick's actions in one transaction (one commit instead of one per shard; rows are
    /// locked in the order given, shard order from the planner, as fenced writes lock them).
    /// One result per action, as `lease_action`.
    pub fn lease_actions(
        &mut self,
        node_id: &str,
        ttl_s: f64,
        actions: &[Action],
    ) -> Result<Vec<bool>> {
        if actions.is_empty() {
            return Ok(Vec::new());
        }
        db_write!(self, |db| actions
            .iter()
            .map(|a| act(db, node_id, ttl_s, *a))
            .collect::<Result<Vec<bool>>>())
    }
}
