//! Support shared by the integration tests (`mod common;` in each test file).
#![allow(dead_code)]

pub mod netns;

/// Every strategy this host can run, by name (the io_uring ones need a ring;
/// in the remote tests this host is both client and server).
pub fn strategy_names() -> Vec<&'static str> {
    copybench::StrategyKind::host_default()
        .into_iter()
        .map(|s| s.name())
        .collect()
}
