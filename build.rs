//! Tells the integration tests which of them this host cannot run, so that
//! libtest reports those as "ignored" with the reason (and counts them in its
//! summary) instead of letting them return early and pass unseen.
//!
//! - `copybench_no_netns`: not root, or no iproute2 `ip`: namespaces and veth
//!   pairs cannot be made.
//! - `copybench_no_shellcheck`: `shellcheck` is not on PATH.
//!
//! Read when the crate is built, so it reruns when the user (sudo) or PATH
//! changes. A test that is built to run but finds its host lacking at run time
//! still says so (tests/common/netns.rs), and fails under CI.

use std::path::Path;

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| Path::new(&dir).join(program).is_file())
    })
}

fn main() {
    println!("cargo::rustc-check-cfg=cfg(copybench_no_netns)");
    println!("cargo::rustc-check-cfg=cfg(copybench_no_shellcheck)");
    println!("cargo::rerun-if-changed=build.rs");
    for var in ["PATH", "USER", "SUDO_UID", "HOME"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let has_ip =
        on_path("ip") || Path::new("/usr/sbin/ip").is_file() || Path::new("/sbin/ip").is_file();
    if effective_uid() != Some(0) || !has_ip {
        println!("cargo::rustc-cfg=copybench_no_netns");
    }
    if !on_path("shellcheck") {
        println!("cargo::rustc-cfg=copybench_no_shellcheck");
    }
}
