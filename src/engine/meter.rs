//! The per-thread meter: CPU time and perf counters around one thread's part
//! of a batch (their sums over a role's threads are [`RoleStats`]).

use crate::engine::counters::{CounterPlan, ThreadCounters};
use crate::model::measured::{CpuTime, RoleStats};
use crate::sys;

/// Per-thread measurement: CPU time and perf counters around a batch.
pub(crate) struct Meter {
    usage: sys::ThreadUsage,
    counters: Option<ThreadCounters>,
}

impl Meter {
    pub(crate) fn new(plan: Option<&'static CounterPlan>) -> Meter {
        Meter {
            usage: sys::ThreadUsage::default(),
            counters: plan.map(ThreadCounters::open),
        }
    }

    pub(crate) fn start(&mut self) {
        self.usage = sys::thread_usage().unwrap_or_default();
        if let Some(c) = &mut self.counters {
            c.start();
        }
    }

    pub(crate) fn stop(&mut self) -> RoleStats {
        let counters = self.counters.as_mut().map(|c| c.stop()).unwrap_or_default();
        let now = sys::thread_usage().unwrap_or_default();
        RoleStats {
            cpu: CpuTime {
                user_ns: now.user_ns.saturating_sub(self.usage.user_ns),
                sys_ns: now.sys_ns.saturating_sub(self.usage.sys_ns),
                total_ns: now.cpu_ns.saturating_sub(self.usage.cpu_ns),
            },
            counters,
        }
    }
}
