//! Entering a named network namespace from the calling thread.
//!
//! # Contract
//!
//! - The namespaces are the named ones that `ip netns add` (and so
//!   `netns-setup.sh up`) bind-mounts at `/var/run/netns/NAME`. This module
//!   never creates or removes them.
//! - [`enter`] moves **only the calling thread** (`setns(2)` with
//!   `CLONE_NEWNET`). Sockets that thread creates afterwards live in the
//!   namespace; sockets it created before, and every other thread, stay where
//!   they were. So a worker thread calls [`enter`] first, before it opens any
//!   socket, and one process can hold a server thread in one namespace and a
//!   client thread in another.
//! - There is no way back other than entering another namespace: give a thread
//!   that entered a namespace to that namespace for the rest of its life.
//! - Entering needs `CAP_SYS_ADMIN` (in practice: root). [`check`] finds out
//!   up front, without moving the thread, so a run can fail before it starts
//!   any worker.
//! - Every error names the namespace and says what to do next.

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sched::{setns, CloneFlags};

/// Default namespace names and addresses (the same as `netns-setup.sh`'s).
pub(crate) const DEFAULT_SERVER_NS: &str = "copybench-srv";
/// See [`DEFAULT_SERVER_NS`].
pub(crate) const DEFAULT_CLIENT_NS: &str = "copybench-cli";
/// The server end of the veth pair, inside the benchmarking range 198.18.0.0/15.
pub(crate) const DEFAULT_SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The client end of the veth pair: only netns-setup.sh assigns it (the
/// client's socket takes it from the route); the test keeps the two in step.
#[cfg(test)]
pub(crate) const DEFAULT_CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// Where `ip netns add` puts named namespaces (`/var/run` links to `/run`).
const NETNS_DIR: &str = "/var/run/netns";

/// Capability number of `CAP_SYS_ADMIN` (linux/capability.h).
const CAP_SYS_ADMIN: u32 = 21;

/// Why a namespace could not be checked or entered.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// No namespace of that name (`ip netns add` was never run, or it was removed).
    #[error(
        "network namespace '{name}' does not exist: run 'sudo ./netns-setup.sh up' first{}",
        setup_hint(name)
    )]
    Missing { name: String },
    /// The namespace exists but this process may not enter it.
    #[error(
        "entering network namespace '{name}' needs root (CAP_SYS_ADMIN): run as root, e.g. 'sudo copybench ...'"
    )]
    NotPermitted { name: String },
    /// Anything else: an invalid name, a stale mount, an unexpected errno.
    #[error(
        "entering network namespace '{name}' failed: {source}; check it with 'sudo ./netns-setup.sh status'{}",
        setup_hint(name)
    )]
    Other { name: String, source: io::Error },
}

impl NetnsError {
    /// The namespace the error is about.
    pub fn name(&self) -> &str {
        match self {
            NetnsError::Missing { name }
            | NetnsError::NotPermitted { name }
            | NetnsError::Other { name, .. } => name,
        }
    }
}

/// The script only knows non-default names through its environment.
fn setup_hint(name: &str) -> &'static str {
    if name == DEFAULT_SERVER_NS || name == DEFAULT_CLIENT_NS {
        ""
    } else {
        " (with COPYBENCH_NS_SRV/COPYBENCH_NS_CLI set to your namespace names)"
    }
}

/// The file `ip netns add NAME` bind-mounts the namespace on: `/var/run/netns/NAME`.
pub fn netns_path(name: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(name)
}

/// Checks that namespace `name` exists and that this process may enter it,
/// without moving any thread.
pub(crate) fn check(name: &str) -> Result<(), NetnsError> {
    open(name)?;
    match has_cap_sys_admin() {
        // Unknown (no /proc): let setns be the judge.
        Some(true) | None => Ok(()),
        Some(false) => Err(NetnsError::NotPermitted { name: name.into() }),
    }
}

/// Moves the calling thread (only) into network namespace `name`.
///
/// Call it first thing in a worker thread, before the thread opens a socket.
pub(crate) fn enter(name: &str) -> Result<(), NetnsError> {
    let file = open(name)?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|errno| classify(name, errno))
}

fn open(name: &str) -> Result<File, NetnsError> {
    validate(name)?;
    File::open(netns_path(name)).map_err(|e| match e.raw_os_error() {
        Some(raw) => classify(name, Errno::from_raw(raw)),
        None => NetnsError::Other {
            name: name.into(),
            source: e,
        },
    })
}

/// A name is one path component, so that it cannot point outside NETNS_DIR.
fn validate(name: &str) -> Result<(), NetnsError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(NetnsError::Other {
            name: name.into(),
            source: io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a namespace name (use a plain name such as 'copybench-srv')",
            ),
        });
    }
    Ok(())
}

/// Maps an errno from open(2) or setns(2) to the error that says what to do.
fn classify(name: &str, errno: Errno) -> NetnsError {
    let name = name.to_owned();
    match errno {
        Errno::ENOENT => NetnsError::Missing { name },
        Errno::EPERM | Errno::EACCES => NetnsError::NotPermitted { name },
        other => NetnsError::Other {
            name,
            source: io::Error::from(other),
        },
    }
}

/// Whether the calling thread holds CAP_SYS_ADMIN; None when /proc cannot say.
/// Checking the capability rather than uid 0 keeps `setcap`-style setups working.
fn has_cap_sys_admin() -> Option<bool> {
    let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
    cap_eff_has(&status, CAP_SYS_ADMIN)
}

fn cap_eff_has(status: &str, cap: u32) -> Option<bool> {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))?
        .trim();
    let mask = u64::from_str_radix(hex, 16).ok()?;
    Some(mask & (1 << cap) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn path_is_under_var_run_netns() {
        assert_eq!(
            netns_path("copybench-srv"),
            PathBuf::from("/var/run/netns/copybench-srv")
        );
    }

    #[test]
    fn defaults_match_the_script() {
        let script = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/netns-setup.sh"));
        for needle in [
            format!("COPYBENCH_NS_SRV:-{DEFAULT_SERVER_NS}}}"),
            format!("COPYBENCH_NS_CLI:-{DEFAULT_CLIENT_NS}}}"),
            format!("COPYBENCH_ADDR_SRV:-{DEFAULT_SERVER_ADDR}}}"),
            format!("COPYBENCH_ADDR_CLI:-{DEFAULT_CLIENT_ADDR}}}"),
        ] {
            assert!(script.contains(&needle), "netns-setup.sh lacks {needle}");
        }
    }

    #[test]
    fn errno_maps_to_the_error_that_says_what_to_do() {
        assert!(matches!(
            classify("x", Errno::ENOENT),
            NetnsError::Missing { .. }
        ));
        assert!(matches!(
            classify("x", Errno::EPERM),
            NetnsError::NotPermitted { .. }
        ));
        assert!(matches!(
            classify("x", Errno::EACCES),
            NetnsError::NotPermitted { .. }
        ));
        match classify("x", Errno::EINVAL) {
            NetnsError::Other { source, .. } => {
                assert_eq!(source.raw_os_error(), Some(Errno::EINVAL as i32))
            }
            e => panic!("EINVAL mapped to {e:?}"),
        }
    }

    #[test]
    fn messages_say_what_to_do_next() {
        assert_eq!(
            classify(DEFAULT_SERVER_NS, Errno::ENOENT).to_string(),
            "network namespace 'copybench-srv' does not exist: run 'sudo ./netns-setup.sh up' first"
        );
        assert_eq!(
            classify("X", Errno::EPERM).to_string(),
            "entering network namespace 'X' needs root (CAP_SYS_ADMIN): run as root, e.g. 'sudo copybench ...'"
        );
        let custom = classify("mine", Errno::ENOENT).to_string();
        assert!(custom.contains("COPYBENCH_NS_SRV"), "{custom}");
        assert_eq!(classify("mine", Errno::EPERM).name(), "mine");
    }

    #[test]
    fn names_that_leave_the_netns_dir_are_refused() {
        for bad in ["", ".", "..", "../etc", "a/b", "a\0b"] {
            match check(bad) {
                Err(NetnsError::Other { source, .. }) => {
                    assert_eq!(source.kind(), io::ErrorKind::InvalidInput, "{bad:?}")
                }
                r => panic!("{bad:?} gave {r:?}"),
            }
            assert!(enter(bad).is_err());
        }
    }

    #[test]
    fn a_missing_namespace_is_reported_as_missing() {
        let name = format!("cbu-missing-{}", std::process::id());
        assert!(matches!(check(&name), Err(NetnsError::Missing { .. })));
        assert!(matches!(enter(&name), Err(NetnsError::Missing { .. })));
    }

    #[test]
    fn the_crate_error_keeps_the_netns_error_as_its_typed_source() {
        let name = format!("cbu-typed-{}", std::process::id());
        let mut transport = crate::Transport::new(crate::TransportKind::Veth);
        transport.veth.server_ns = name.clone();
        let err = transport.check().unwrap_err();
        // The same text as the NetnsError, exit 2 (the host's state).
        assert_eq!(
            err.to_string(),
            NetnsError::Missing { name: name.clone() }.to_string()
        );
        assert_eq!(err.exit_code(), 2);
        let source = std::error::Error::source(&err).expect("a source");
        match source.downcast_ref::<NetnsError>() {
            Some(NetnsError::Missing { name: missing }) => assert_eq!(*missing, name),
            other => panic!("source is {other:?}"),
        }
    }

    #[test]
    fn cap_eff_parsing() {
        let status = "Name:\tx\nCapEff:\t0000000000200000\n";
        assert_eq!(cap_eff_has(status, CAP_SYS_ADMIN), Some(true));
        assert_eq!(cap_eff_has("CapEff:\t0\n", CAP_SYS_ADMIN), Some(false));
        assert_eq!(cap_eff_has("Name:\tx\n", CAP_SYS_ADMIN), None);
    }

    /// Removes the namespace even when an assertion fails.
    struct TempNs(String);
    impl Drop for TempNs {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }

    fn net_ns_of_this_thread() -> PathBuf {
        std::fs::read_link("/proc/thread-self/ns/net").unwrap()
    }

    #[test]
    #[cfg_attr(
        copybench_no_netns,
        ignore = "needs root and iproute2 to make network namespaces: run the tests as root"
    )]
    fn enter_moves_only_the_calling_thread() {
        let name = format!("cbu-enter-{}", std::process::id());
        let created = Command::new("ip")
            .args(["netns", "add", &name])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !created {
            // CI runs as root, so there this test must really run.
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but 'ip netns add' failed: run the tests as root with iproute2 installed"
            );
            // Uncaptured, so the skip is seen (build.rs normally marks this test ignored instead).
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED enter_moves_only_the_calling_thread: needs root and iproute2 'ip' to create a network namespace"
            );
            return;
        }
        let _guard = TempNs(name.clone());
        check(&name).unwrap();

        let before = net_ns_of_this_thread();
        let inside = std::thread::spawn(move || {
            enter(&name).unwrap();
            net_ns_of_this_thread()
        })
        .join()
        .unwrap();
        assert_ne!(inside, before, "the worker thread did not move");
        assert_eq!(net_ns_of_this_thread(), before, "the test thread moved too");
    }
}
