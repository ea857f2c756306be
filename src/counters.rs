//! TEMPORARY shim until the perf-event module lands.
use std::collections::BTreeMap;
pub struct CounterPlan;
static PLAN: CounterPlan = CounterPlan;
impl CounterPlan {
    pub fn probe() -> &'static CounterPlan {
        &PLAN
    }
    pub fn unavailable(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
}
pub struct ThreadCounters;
impl ThreadCounters {
    pub fn open(_: &CounterPlan) -> ThreadCounters {
        ThreadCounters
    }
    pub fn start(&mut self) {}
    pub fn stop(&mut self) -> CounterSample {
        CounterSample::default()
    }
}
#[derive(Debug, Clone, Default)]
pub struct CounterSample;
impl CounterSample {
    pub fn add(&mut self, _: &CounterSample) {}
    pub fn get(&self, _: &str) -> Option<f64> {
        None
    }
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}
