//! The per-thread meter: CPU time and perf counters around one thread's part
//! of a batch, and their sums over a role's threads.

use serde::{Deserialize, Serialize};

use crate::counters::{CounterPlan, CounterSample, ThreadCounters};
use crate::sys;

/// CPU time, nanoseconds: `total_ns` exact (`CLOCK_THREAD_CPUTIME_ID`), its
/// split into user and system time as the kernel samples it (`getrusage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuTime {
    pub user_ns: u64,
    pub sys_ns: u64,
    pub total_ns: u64,
}

impl CpuTime {
    fn add(&mut self, o: &CpuTime) {
        self.user_ns += o.user_ns;
        self.sys_ns += o.sys_ns;
        self.total_ns += o.total_ns;
    }
}

/// What one role's threads spent on a batch, summed over the threads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoleStats {
    pub cpu: CpuTime,
    pub counters: CounterSample,
}

impl RoleStats {
    pub(crate) fn add(&mut self, o: &RoleStats) {
        self.cpu.add(&o.cpu);
        self.counters.add(&o.counters);
    }
}

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
