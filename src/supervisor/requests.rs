//! Answering control-socket requests (`aivex status|start|stop|restart|reset|reload`) inside
//! the loop: find the module, feed the matching input to its policy, reply with its new status.
//!
//! The socket, the wire format and the client are `crate::control`; this file must not block
//! (the loop is waiting) and changes modules only through the policy.

use super::policy::{Input, Mono};
use super::{state, Supervisor};
use crate::control::protocol::Request;
use aivex_platform::time::now_rfc3339;
use serde_json::{json, Value};

impl Supervisor {
    pub(super) fn control(&mut self, req: Request, now: Mono) -> Value {
        use crate::control::protocol::{err, ok};
        let by_name = |me: &Self, m: &str| -> Result<usize, Value> {
            me.find(m).ok_or_else(|| {
                let known: Vec<&str> = me.slots.iter().map(|s| s.spec.name.as_str()).collect();
                err(format!(
                    "unknown module {m:?} (modules: {})",
                    known.join(", ")
                ))
            })
        };
        let result = match req {
            Request::Status => return ok(json!({ "state": self.runtime_state(now) })),
            Request::Reload => {
                return match self.reload(now) {
                    Ok(summary) => ok(json!({ "reload": summary })),
                    Err(e) => err(format!(
                        "reload refused, still running on the previous configuration: {e}"
                    )),
                }
            }
            Request::Start { module } => by_name(self, &module).map(|i| {
                self.slots[i].start_at = None;
                self.slots[i].waiting_for = None;
                (i, Input::Start, "start")
            }),
            Request::Stop { module } => by_name(self, &module).map(|i| {
                self.slots[i].start_at = None;
                self.slots[i].waiting_for = None;
                (i, Input::Stop, "stop")
            }),
            Request::Restart { module } => {
                by_name(self, &module).map(|i| (i, Input::Restart, "restart"))
            }
            Request::Reset { module } => by_name(self, &module).map(|i| (i, Input::Reset, "reset")),
        };
        match result {
            Err(e) => e,
            Ok(_) if self.shutting_down => err("supervisor is shutting down"),
            Ok((i, input, verb)) => {
                log::info!("control: {verb} {}", self.slots[i].spec.name);
                self.run.history(
                    json!({"at": now_rfc3339(), "module": self.slots[i].spec.name, "event": verb}),
                );
                self.input(i, input, now);
                let v = self.views();
                ok(json!({ "module": v[i].name, "status": state::module_status(&v[i], now) }))
            }
        }
    }
}
