//! netns-setup.sh: idempotent up/down, status, rollback of a failed up, the
//! address guard, and shellcheck. Each test owns its namespaces (see
//! `common::netns`), so they run in parallel; the ones that need root skip
//! without it, and fail instead when CI is set.

mod common;

use std::path::PathBuf;

use std::process::{Command, Output};

use common::netns::{in_ci, script_path, NetnsPair};

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn namespaces() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

fn root_links() -> String {
    let out = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Nothing of `pair` is left: no namespace, and no veth end leaked into the root namespace.
fn assert_nothing_left(pair: &NetnsPair) {
    let ns = namespaces();
    assert!(
        !ns.contains(&pair.server_ns),
        "{} left behind",
        pair.server_ns
    );
    assert!(
        !ns.contains(&pair.client_ns),
        "{} left behind",
        pair.client_ns
    );
    let links = root_links();
    assert!(
        !links.contains(&pair.server_veth),
        "{} left behind",
        pair.server_veth
    );
    assert!(
        !links.contains(&pair.client_veth),
        "{} left behind",
        pair.client_veth
    );
}

#[test]
#[cfg_attr(
    copybench_no_netns,
    ignore = "needs root and iproute2 to make network namespaces: run the tests as root"
)]
fn up_status_down_are_idempotent() {
    let Some(pair) = NetnsPair::up("cycle") else {
        return;
    };

    let again = pair.run("up");
    assert!(again.status.success(), "second up: {}", text(&again));

    let status = pair.run("status");
    assert_eq!(
        status.status.code(),
        Some(0),
        "status after up: {}",
        text(&status)
    );
    let said = String::from_utf8_lossy(&status.stdout);
    // Tested with bash and iproute2 alone: the closed port answers with a reset.
    assert!(
        said.contains("traffic: ok") && said.contains("answered with a reset"),
        "link does not pass traffic: {}",
        text(&status)
    );
    assert!(
        said.contains(&format!("{}/30: yes", pair.server_addr)),
        "{said}"
    );

    for n in 1..=2 {
        let down = pair.run("down");
        assert!(down.status.success(), "down #{n}: {}", text(&down));
    }
    let status = pair.run("status");
    assert_eq!(
        status.status.code(),
        Some(3),
        "status after down: {}",
        text(&status)
    );
    assert_nothing_left(&pair);
}

#[test]
#[cfg_attr(
    copybench_no_netns,
    ignore = "needs root and iproute2 to make network namespaces: run the tests as root"
)]
fn status_says_not_up_when_the_link_drops_every_packet() {
    let Some(pair) = NetnsPair::up("drops") else {
        return;
    };
    // Both ends stay up with their addresses; only the traffic vanishes: the
    // client sends to a MAC address nobody has, so the server's end drops it.
    let neigh = Command::new("ip")
        .args(["-n", &pair.client_ns, "neigh", "replace"])
        .arg(pair.server_addr.to_string())
        .args(["lladdr", "02:00:00:00:00:01", "dev", &pair.client_veth])
        .args(["nud", "permanent"])
        .status()
        .unwrap();
    assert!(neigh.success());

    let status = pair.run("status");
    let said = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(3), "{}", text(&status));
    assert!(said.contains("traffic: FAILED"), "{said}");
    assert!(said.contains("no answer within"), "{said}");
    assert!(!said.contains("status: up"), "{said}");
}

#[test]
#[cfg_attr(
    copybench_no_netns,
    ignore = "needs root and iproute2 to make network namespaces: run the tests as root"
)]
fn up_repairs_a_downed_link() {
    let Some(pair) = NetnsPair::up("repair") else {
        return;
    };
    let set_down = Command::new("ip")
        .args([
            "-n",
            &pair.server_ns,
            "link",
            "set",
            "dev",
            &pair.server_veth,
            "down",
        ])
        .status()
        .unwrap();
    assert!(set_down.success());
    assert_eq!(pair.run("status").status.code(), Some(3));

    let up = pair.run("up");
    assert!(up.status.success(), "repairing up: {}", text(&up));
    let status = pair.run("status");
    assert_eq!(
        status.status.code(),
        Some(0),
        "status after repair: {}",
        text(&status)
    );
}

#[test]
#[cfg_attr(
    copybench_no_netns,
    ignore = "needs root and iproute2 to make network namespaces: run the tests as root"
)]
fn failed_up_with_invalid_mtu_leaves_nothing() {
    let Some(pair) = NetnsPair::plan("mtu") else {
        return;
    };
    let out = pair
        .script()
        .env("MTU", "70000")
        .arg("up")
        .output()
        .unwrap();
    // Bad input, checked before anything is made: exit 2.
    assert_eq!(
        out.status.code(),
        Some(2),
        "MTU=70000 was accepted: {}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("MTU"),
        "{}",
        text(&out)
    );
    assert_nothing_left(&pair);
}

#[test]
#[cfg_attr(
    copybench_no_netns,
    ignore = "needs root and iproute2 to make network namespaces: run the tests as root"
)]
fn failed_up_removes_only_what_it_created() {
    let Some(pair) = NetnsPair::plan("clash") else {
        return;
    };
    // A client namespace that was there before: the rollback must keep it.
    let pre = Command::new("ip")
        .args(["netns", "add", &pair.client_ns])
        .status()
        .unwrap();
    assert!(pre.success());
    // `lo` exists in every namespace, so the veth's client end collides with it.
    let out = pair
        .script()
        .env("COPYBENCH_VETH_CLI", "lo")
        .arg("up")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "collision was accepted: {}",
        text(&out)
    );
    let ns = namespaces();
    assert!(
        !ns.contains(&pair.server_ns),
        "rollback left {}",
        pair.server_ns
    );
    assert!(
        ns.contains(&pair.client_ns),
        "rollback removed the pre-existing {}",
        pair.client_ns
    );
    assert!(!root_links().contains(&pair.server_veth));
    // The guard's drop removes the client namespace.
}

#[test]
#[cfg_attr(
    copybench_no_netns,
    ignore = "needs root and iproute2 to make network namespaces: run the tests as root"
)]
fn addresses_outside_the_benchmarking_range_are_refused() {
    let Some(pair) = NetnsPair::plan("range") else {
        return;
    };
    for (var, value) in [
        ("COPYBENCH_ADDR_SRV", "10.0.0.1"),
        ("COPYBENCH_ADDR_CLI", "192.168.1.2"),
        ("COPYBENCH_ADDR_SRV", "198.20.0.1"),
        ("COPYBENCH_ADDR_CLI", "not-an-address"),
        // On-link routes wider than /15 would cover addresses outside the range.
        ("COPYBENCH_PREFIX", "8"),
    ] {
        let out = pair.script().env(var, value).arg("up").output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{var}={value} accepted: {}",
            text(&out)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{var}={value}: not one line: {err}");
        assert!(
            err.contains(value),
            "{var}={value}: message does not name it: {err}"
        );
        assert_nothing_left(&pair);
    }
}

#[test]
fn no_or_unknown_argument_prints_usage_and_exits_2() {
    for args in [&[][..], &["sideways"][..], &["up", "extra"][..]] {
        let out = Command::new(script_path()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("usage:"));
    }
}

#[test]
#[cfg_attr(
    copybench_no_shellcheck,
    ignore = "shellcheck was not on PATH when the tests were built: apt-get install shellcheck"
)]
fn every_shell_script_is_shellcheck_clean() {
    // netns-setup.sh and every script under scripts/ (fleet, soak, the
    // overhead check, the peer and receive comparisons): one check for all,
    // so a new script cannot be left out.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut scripts = vec![script_path()];
    let mut found: Vec<PathBuf> = std::fs::read_dir(root.join("scripts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .collect();
    found.sort();
    assert!(found.len() >= 5, "scripts/: {found:?}");
    scripts.extend(found);
    for script in &scripts {
        let out = match Command::new("shellcheck").arg(script).output() {
            Ok(out) => out,
            Err(_) if !in_ci() => {
                eprintln!("skipping: shellcheck not found (apt-get install shellcheck)");
                return;
            }
            Err(e) => {
                panic!("shellcheck not found ({e}), but CI is set: apt-get install shellcheck")
            }
        };
        assert!(
            out.status.success(),
            "shellcheck {}: {}",
            script.display(),
            text(&out)
        );
    }
}

/// CI runs as root with iproute2 and shellcheck, so there nothing above may be
/// ignored: a CI set-up that lost either would otherwise pass by skipping.
#[test]
fn ci_runs_every_root_only_test() {
    if !in_ci() {
        return;
    }
    if cfg!(copybench_no_netns) {
        panic!("CI is set but the tests were built without root or iproute2: the namespace tests are ignored");
    }
    if cfg!(copybench_no_shellcheck) {
        panic!("CI is set but shellcheck was not on PATH when the tests were built");
    }
}
