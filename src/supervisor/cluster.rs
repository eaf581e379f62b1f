//! The supervisor's lease loop (`[cluster] enabled`): one thread with its own store connection
//! that, every `lease_ttl_s / 3`, writes this node's heartbeat row, reads the node and lease
//! rows and carries out what `aivex_cluster::plan` decides (acquire, renew, release), logging
//! every lease it gains or loses. On shutdown it releases its leases so other nodes take over at
//! once instead of after a ttl.
//!
//! Why a thread and not the main loop's timers: every step is a database round trip that can
//! block for the driver's timeouts while the database is down, and the main loop must keep
//! reaping children and pinging the systemd watchdog meanwhile. The thread shares nothing with
//! the loop but a stop channel; the truth is the lease table. It must not decide anything
//! itself (the pure core does) or read the local clock for a lease (the database's clock is
//! the only one: ages and expiries arrive as seconds computed by the database).

use crate::config::ClusterConfig;
use aivex_cluster::{plan, Action, Params};
use aivex_store::Store;
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use std::collections::BTreeMap;
use std::thread::JoinHandle;
use std::time::Duration;

/// The running lease loop; `stop` ends it (releasing this node's leases).
pub struct LeaseLoop {
    stop: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl LeaseLoop {
    pub fn start(cfg: ClusterConfig, url: String) -> std::io::Result<LeaseLoop> {
        let (stop, rx) = bounded(1);
        let thread = std::thread::Builder::new()
            .name("cluster-leases".into())
            .spawn(move || run(&cfg, &url, &rx))?;
        log::info!("cluster: lease loop started");
        Ok(LeaseLoop {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the loop and waits (bounded by the driver's timeouts) for it to release.
    pub fn stop(mut self) {
        let _ = self.stop.try_send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What the loop keeps between ticks.
struct Loop<'a> {
    cfg: &'a ClusterConfig,
    url: &'a str,
    store: Option<Store>,
    /// The first heartbeat of this process also records its start.
    first_beat: bool,
    /// Shards this node holds, with their epochs, as of the last tick.
    held: BTreeMap<u32, i64>,
    /// Whether the last tick failed (an outage is logged when it starts and when it ends).
    failing: bool,
    /// Whether a lease row beyond this node's shard count was reported (once per process).
    mismatch_logged: bool,
}

fn run(cfg: &ClusterConfig, url: &str, stop: &Receiver<()>) {
    let mut l = Loop {
        cfg,
        url,
        store: None,
        first_beat: true,
        held: BTreeMap::new(),
        failing: false,
        mismatch_logged: false,
    };
    let every = Duration::from_secs_f64(cfg.lease_ttl_s / 3.0);
    loop {
        match l.tick() {
            Ok(()) => {
                if l.failing {
                    log::info!("cluster: database reachable again, leases renewed");
                }
                l.failing = false;
            }
            Err(e) => {
                if !l.failing {
                    log::error!(
                        "event=lease_loop_failed node={}: {e}; retrying every {:.1}s \
                         (brain composes nothing it holds no fresh lease for)",
                        cfg.node_id,
                        every.as_secs_f64()
                    );
                }
                l.failing = true;
                // A broken connection is reopened on the next tick.
                l.store = None;
            }
        }
        match stop.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    l.release_all();
}

impl Loop<'_> {
    fn store(&mut self) -> Result<&mut Store, aivex_store::StoreError> {
        if self.store.is_none() {
            let mut s = Store::open(self.url)?;
            s.check_schema()?;
            let created = s.ensure_shards(self.cfg.shards)?;
            if created > 0 {
                log::info!("cluster: created {created} shard lease row(s)");
            }
            self.store = Some(s);
        }
        match self.store.as_mut() {
            Some(s) => Ok(s),
            None => Err(aivex_store::StoreError::Unavailable("no store".into())),
        }
    }

    fn tick(&mut self) -> Result<(), aivex_store::StoreError> {
        let node_id = self.cfg.node_id.clone();
        let (shards, ttl_s) = (self.cfg.shards, self.cfg.lease_ttl_s);
        let first = self.first_beat;
        let store = self.store()?;
        store.node_heartbeat(&node_id, env!("CARGO_PKG_VERSION"), first)?;
        self.first_beat = false;
        let store = self.store()?;
        let nodes = store.cluster_nodes()?;
        let leases = store.shard_leases()?;
        // Another box created rows this one does not know: the boxes disagree on `shards`,
        // so a symbol may be composed under two different shards. Said loudly, once.
        if !self.mismatch_logged && leases.iter().any(|l| l.shard >= shards) {
            log::error!(
                "event=shard_count_mismatch node={node_id}: leases has {} rows, this node \
                 is configured for {shards}: every box of a cluster must use the same [cluster] shards",
                leases.len()
            );
            self.mismatch_logged = true;
        }
        // Leases that moved away without this node letting go (expired while it was paused or
        // cut off, then taken): say so once.
        for (shard, epoch) in std::mem::take(&mut self.held) {
            match leases.iter().find(|l| l.shard == shard) {
                Some(l) if l.held_by(&node_id) && l.epoch == epoch => {
                    self.held.insert(shard, epoch);
                }
                Some(l) => log::warn!(
                    "event=lease_lost node={node_id} shard={shard} epoch={epoch}: now {} at epoch {}",
                    l.holder.as_deref().unwrap_or("unheld"),
                    l.epoch
                ),
                None => {}
            }
        }
        let p = Params {
            node_id: &node_id,
            shards,
            ttl_s,
        };
        let actions = plan(&p, &nodes, &leases);
        // One transaction for the whole tick: a renewal of 16 shards is one commit.
        let done = self.store()?.lease_actions(&node_id, ttl_s, &actions)?;
        for (a, ok) in actions.into_iter().zip(done) {
            self.record(&node_id, a, ok);
        }
        Ok(())
    }

    /// Keeps `held` in step with an action's result and logs what changed.
    fn record(&mut self, node_id: &str, a: Action, ok: bool) {
        match (a, ok) {
            (Action::Acquire { shard, epoch }, true) => {
                log::info!(
                    "event=lease_acquired node={node_id} shard={shard} epoch={}",
                    epoch + 1
                );
                self.held.insert(shard, epoch + 1);
            }
            (Action::Acquire { .. }, false) => {}
            (Action::Renew { shard, epoch }, true) => {
                self.held.insert(shard, epoch);
            }
            (Action::Renew { shard, epoch }, false) => {
                log::warn!(
                    "event=lease_lost node={node_id} shard={shard} epoch={epoch}: could not renew"
                );
                self.held.remove(&shard);
            }
            (Action::Release { shard, epoch }, ok) => {
                if ok {
                    log::info!(
                        "event=lease_released node={node_id} shard={shard} epoch={epoch}: \
                         another node's share"
                    );
                }
                self.held.remove(&shard);
            }
        }
    }

    /// At shutdown: hands back every lease this node holds (best effort: if the database is
    /// down they simply expire).
    fn release_all(&mut self) {
        let node_id = self.cfg.node_id.clone();
        let ttl_s = self.cfg.lease_ttl_s;
        let held = std::mem::take(&mut self.held);
        if held.is_empty() {
            return;
        }
        let Some(store) = self.store.as_mut() else {
            return;
        };
        let mut released = 0;
        for (shard, epoch) in held {
            if let Ok(true) = store.lease_action(&node_id, ttl_s, Action::Release { shard, epoch })
            {
                released += 1;
            }
        }
        log::info!("cluster: released {released} lease(s) at shutdown");
    }
}
