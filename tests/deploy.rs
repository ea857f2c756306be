//! deploy/kubernetes, the Dockerfile and scripts/fleet.sh, without a cluster.
//!
//! For everyone:
//! - every manifest parses (serde_json: they are JSON, which is YAML too) and
//!   keeps the promises of docs/kubernetes.md: the client's required
//!   anti-affinity selects its server, the token comes from the Secret, host
//!   networking, a readiness probe that only connects, a non-root
//!   unprivileged security context, resources that cover the memory formula;
//! - the containers' args parse with copybench's own CLI parser: the built
//!   binary runs with those args and `--help` appended. clap parses and
//!   checks every flag and value it meets before `--help`, then prints the
//!   help and exits 0 without running anything (a bad value before it exits
//!   2, which the test also shows). Rules between flags come after `--help`:
//!   the simulated fleet runs the same args for real;
//! - fleet.sh renders each pair as the base plus only the documented edits,
//!   and `--pod-network` as the overlay's own patches do; it is shellcheck-clean.
//!
//! As root, a simulated fleet: see [`a_simulated_fleet_runs_the_manifests_over_two_node_pairs`]
//! and `deploy/sim.rs`.

mod common;
#[path = "deploy/sim.rs"]
mod sim;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use serde_json::{Map, Value};

use copybench::model::size::parse_size;
use copybench::{Config, Layout, Role, Shape, StrategyKind, TransportKind, WorkloadKind};

const BIN: &str = env!("CARGO_BIN_EXE_copybench");
/// The namespace the manifests use.
const NS: &str = "copybench";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn kube() -> PathBuf {
    repo().join("deploy/kubernetes")
}

fn fleet_script() -> PathBuf {
    repo().join("scripts/fleet.sh")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

fn base(file: &str) -> Value {
    read_json(&kube().join("base").join(file))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

fn pod_spec(obj: &Value) -> &Value {
    &obj["spec"]["template"]["spec"]
}

fn pod_labels(obj: &Value) -> &Map<String, Value> {
    obj["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .expect("pod template labels")
}

/// Every container of a workload, init containers first.
fn containers(obj: &Value) -> Vec<&Value> {
    let spec = pod_spec(obj);
    ["initContainers", "containers"]
        .iter()
        .flat_map(|k| spec[*k].as_array().into_iter().flatten())
        .collect()
}

fn container<'a>(obj: &'a Value, name: &str) -> &'a Value {
    containers(obj)
        .into_iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// The copybench containers: those whose command is `copybench`.
fn copybench_containers(obj: &Value) -> Vec<&Value> {
    containers(obj)
        .into_iter()
        .filter(|c| c["command"][0] == "copybench")
        .collect()
}

/// `labels` holds every pair of `selector`.
fn selects(selector: &Value, labels: &Map<String, Value>) -> bool {
    selector
        .as_object()
        .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// The value after `flag` in `args`.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .map(|i| args[i + 1].as_str())
}

/// "64Mi" and friends, in bytes.
fn quantity(q: &Value) -> u64 {
    let q = q
        .as_str()
        .unwrap_or_else(|| panic!("a quantity string: {q}"));
    for (suffix, mul) in [("Ki", 1u64 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30)] {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().unwrap() * mul;
        }
    }
    q.parse()
        .unwrap_or_else(|_| panic!("quantity {q}: use Ki, Mi or Gi"))
}

#[test]
fn every_manifest_parses_and_every_kustomization_lists_its_files() {
    let mut seen = Vec::new();
    fn walk(dir: &Path, seen: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, seen);
            } else {
                seen.push(p);
            }
        }
    }
    walk(&kube(), &mut seen);
    for p in &seen {
        let name = p.file_name().unwrap().to_str().unwrap();
        assert!(
            name.ends_with(".json") || name == "kustomization.yaml",
            "{}: manifests are JSON (kustomization.yaml too), so that they parse without a YAML crate",
            p.display()
        );
        read_json(p);
    }
    let listed = |dir: &Path| -> Vec<String> {
        let k = read_json(&dir.join("kustomization.yaml"));
        assert_eq!(k["kind"], "Kustomization", "{}", dir.display());
        strs(&k["resources"])
    };
    // The base lists exactly its files; the default is the base; the overlay patches the base.
    let files: BTreeSet<String> = fs::read_dir(kube().join("base"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".json"))
        .collect();
    let resources: BTreeSet<String> = listed(&kube().join("base")).into_iter().collect();
    assert_eq!(resources, files);
    assert_eq!(listed(&kube()), ["base"]);
    let overlay = kube().join("overlays/pod-network");
    assert_eq!(listed(&overlay), ["../../base"]);

    let mut kinds = BTreeMap::new();
    for f in &files {
        let obj = base(f);
        let kind = obj["kind"].as_str().unwrap().to_string();
        assert_ne!(
            kind, "Secret",
            "{f}: the token Secret is the user's to make, never committed"
        );
        if kind == "Namespace" {
            assert_eq!(obj["metadata"]["name"], NS, "{f}");
        } else {
            assert_eq!(obj["metadata"]["namespace"], NS, "{f}");
        }
        kinds.insert(kind, obj["metadata"]["name"].as_str().unwrap().to_string());
    }
    assert_eq!(
        kinds.keys().map(String::as_str).collect::<Vec<_>>(),
        ["Deployment", "Job", "Namespace", "Service"]
    );
    for p in read_json(&overlay.join("kustomization.yaml"))["patches"]
        .as_array()
        .unwrap()
    {
        let t = &p["target"];
        assert_eq!(
            kinds.get(t["kind"].as_str().unwrap()).map(String::as_str),
            t["name"].as_str(),
            "the overlay patches {t}, which the base does not have"
        );
    }
}

#[test]
fn the_client_never_shares_a_node_with_its_server_and_both_prove_the_token() {
    let server = base("server.json");
    let job = base("client-job.json");
    let svc = base("server-service.json");
    assert_eq!(server["kind"], "Deployment");
    assert_eq!(job["kind"], "Job");
    assert_eq!(svc["kind"], "Service");

    // Host networking by default, with DNS that still sees the cluster's names.
    for w in [&server, &job] {
        assert_eq!(pod_spec(w)["hostNetwork"], true, "{}", w["kind"]);
        assert_eq!(
            pod_spec(w)["dnsPolicy"],
            "ClusterFirstWithHostNet",
            "{}",
            w["kind"]
        );
    }
    // Placed by node label.
    assert_eq!(
        pod_spec(&server)["nodeSelector"],
        serde_json::json!({"copybench.io/role": "server"})
    );
    assert_eq!(
        pod_spec(&job)["nodeSelector"],
        serde_json::json!({"copybench.io/role": "client"})
    );

    // Required anti-affinity on the hostname, selecting the server and not the client itself.
    let terms = pod_spec(&job)["affinity"]["podAntiAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"]
        .as_array()
        .expect("required anti-affinity terms");
    assert!(
        terms.iter().any(|t| t["topologyKey"] == "kubernetes.io/hostname"
            && selects(&t["labelSelector"]["matchLabels"], pod_labels(&server))
            && !selects(&t["labelSelector"]["matchLabels"], pod_labels(&job))),
        "no required anti-affinity on kubernetes.io/hostname against the server's labels: {terms:?}"
    );
    assert!(
        terms
            .iter()
            .all(|t| t["labelSelector"]["matchExpressions"].is_null()),
        "matchLabels only (fleet.sh and the simulation read those)"
    );

    // The token: from the Secret, in every copybench container, never a literal.
    let docs = fs::read_to_string(repo().join("docs/kubernetes.md")).unwrap();
    for w in [&server, &job] {
        let cs = copybench_containers(w);
        assert!(!cs.is_empty());
        for c in cs {
            let env = c["env"].as_array().expect("env");
            let token: Vec<&Value> = env
                .iter()
                .filter(|e| e["name"] == "COPYBENCH_TOKEN")
                .collect();
            assert_eq!(token.len(), 1, "{}: COPYBENCH_TOKEN", c["name"]);
            assert!(
                token[0]["value"].is_null(),
                "{}: a literal token",
                c["name"]
            );
            let r = &token[0]["valueFrom"]["secretKeyRef"];
            assert_eq!(r["name"], "copybench-token", "{}", c["name"]);
            assert_eq!(r["key"], "token", "{}", c["name"]);
            assert_ne!(
                r["optional"], true,
                "{}: the token must not be optional",
                c["name"]
            );
            let made = format!(
                "create secret generic {} --from-literal={}=",
                r["name"].as_str().unwrap(),
                r["key"].as_str().unwrap()
            );
            assert!(
                docs.contains(&made),
                "docs/kubernetes.md does not say how to make it: {made}"
            );
        }
    }

    // One port: serve's --listen, the container port, the probe, the Service, the client's --connect.
    let serve = container(&server, "serve");
    let serve_args = strs(&serve["args"]);
    assert_eq!(serve_args[0], "serve");
    let listen: std::net::SocketAddr = flag(&serve_args, "--listen").unwrap().parse().unwrap();
    let port = u64::from(listen.port());
    assert_eq!(serve["ports"][0]["containerPort"], port);
    assert!(
        serve["ports"][0]["hostPort"].is_null(),
        "hostPort: forbidden by Pod Security baseline; host networking implies it"
    );
    let probe = &serve["readinessProbe"];
    assert_eq!(probe["tcpSocket"]["port"], port, "{probe}");
    for other in ["exec", "httpGet", "grpc"] {
        assert!(
            probe[other].is_null(),
            "a readiness probe that takes a session or speaks another protocol: {probe}"
        );
    }
    assert!(serve["livenessProbe"].is_null() && serve["startupProbe"].is_null());
    assert_eq!(
        svc["spec"]["clusterIP"], "None",
        "headless: the name resolves to the server node itself"
    );
    assert_eq!(svc["spec"]["ports"][0]["port"], port);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], port);
    assert!(selects(&svc["spec"]["selector"], pod_labels(&server)));
    assert!(!selects(&svc["spec"]["selector"], pod_labels(&job)));
    assert!(selects(
        &server["spec"]["selector"]["matchLabels"],
        pod_labels(&server)
    ));

    let sweep = container(&job, "sweep");
    let args = strs(&sweep["args"]);
    assert_eq!(args[0], "sweep");
    assert_eq!(
        flag(&args, "--connect").unwrap(),
        format!(
            "{}.{}.svc:{port}",
            svc["metadata"]["name"].as_str().unwrap(),
            NS
        )
    );
    // Results leave through the log: the sweep writes into the emptyDir, the collector prints it.
    assert!(pod_spec(&job)["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "sweep"));
    assert_eq!(pod_spec(&job)["restartPolicy"], "OnFailure");
    assert!(
        args.contains(&"--resume".to_string()),
        "a restarted sweep continues"
    );
    let out = flag(&args, "--out").unwrap();
    assert!(
        !out.starts_with('/'),
        "--out {out}: under the working directory, the volume"
    );
    let collect = container(&job, "collect");
    for c in [sweep, collect] {
        let dir = c["workingDir"].as_str().expect("workingDir");
        assert!(
            c["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["mountPath"] == dir),
            "{}: workingDir {dir} is not the volume",
            c["name"]
        );
    }
    let script = strs(&collect["args"]).join(" ");
    let fleet = fs::read_to_string(fleet_script()).unwrap();
    for marker in ["==== copybench results begin", "==== copybench results end"] {
        assert!(script.contains(marker), "the collector prints {marker:?}");
        assert!(fleet.contains(marker), "fleet.sh looks for {marker:?}");
    }
    assert!(
        script.contains(&format!("tar -czf sweep.tar.gz {out}")),
        "{script}"
    );
}

#[test]
fn the_pods_are_non_root_and_unprivileged_and_the_image_holds_only_the_binary() {
    let mut uids = BTreeSet::new();
    for f in ["server.json", "client-job.json"] {
        let w = base(f);
        let spec = pod_spec(&w);
        let sc = &spec["securityContext"];
        assert_eq!(sc["runAsNonRoot"], true, "{f}");
        let uid = sc["runAsUser"].as_u64().expect("runAsUser");
        assert!(uid > 0, "{f}");
        assert!(sc["runAsGroup"].as_u64().is_some_and(|g| g > 0), "{f}");
        uids.insert(uid);
        assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{f}");
        for k in ["hostPID", "hostIPC"] {
            assert!(spec[k].is_null() || spec[k] == false, "{f}: {k}");
        }
        assert_eq!(spec["automountServiceAccountToken"], false, "{f}");
        for v in spec["volumes"].as_array().into_iter().flatten() {
            assert!(v["emptyDir"].is_object(), "{f}: only emptyDir volumes: {v}");
        }
        for c in containers(&w) {
            let name = &c["name"];
            let csc = &c["securityContext"];
            assert_eq!(csc["allowPrivilegeEscalation"], false, "{f} {name}");
            assert!(
                csc["privileged"].is_null() || csc["privileged"] == false,
                "{f} {name}"
            );
            assert_eq!(csc["readOnlyRootFilesystem"], true, "{f} {name}");
            assert_eq!(
                csc["capabilities"]["drop"],
                serde_json::json!(["ALL"]),
                "{f} {name}"
            );
            assert!(csc["capabilities"]["add"].is_null(), "{f} {name}");
            assert!(
                csc["runAsUser"].is_null() || csc["runAsUser"] != 0,
                "{f} {name}"
            );
            assert!(
                c["resources"]["limits"]["cpu"].is_null(),
                "{f} {name}: a CPU limit throttles the benchmark"
            );
            assert!(
                c["resources"]["requests"]["memory"].is_string(),
                "{f} {name}"
            );
        }
    }
    assert_eq!(uids.len(), 1);
    let uid = *uids.iter().next().unwrap();

    // The Dockerfile: built with the Rust image, run on a slim base as that user, with only the binary.
    let docker = fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let lines: Vec<&str> = docker
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "two stages: {froms:?}");
    assert!(lines[froms[0]].starts_with("FROM rust:") && lines[froms[0]].ends_with(" AS build"));
    let last = &lines[froms[1]..];
    assert!(last[0].contains("slim"), "{}", last[0]);
    let copies: Vec<&&str> = last
        .iter()
        .filter(|l| l.starts_with("COPY") || l.starts_with("ADD"))
        .collect();
    assert_eq!(
        copies,
        [&"COPY --from=build /copybench /usr/local/bin/copybench"],
        "the run stage takes the binary alone"
    );
    assert!(
        !last.iter().any(|l| l.starts_with("RUN")),
        "nothing installed in the run stage"
    );
    assert!(
        last.contains(&format!("USER {uid}:{uid}").as_str()),
        "USER {uid}:{uid}"
    );
    assert!(last.contains(&r#"ENTRYPOINT ["copybench"]"#));
    assert!(lines
        .iter()
        .any(|l| l.contains("cargo build --release --locked")));
    let ignore = fs::read_to_string(repo().join(".dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l.trim() == "target/"));
}

#[test]
fn the_containers_args_parse_with_copybenchs_own_parser() {
    let work = Scratch::new("args");
    for f in ["server.json", "client-job.json"] {
        let w = base(f);
        for c in copybench_containers(&w) {
            let args = strs(&c["args"]);
            let sub = args[0].clone();
            let run = |extra: &[&str]| {
                Command::new(BIN)
                    .args(&args)
                    .args(extra)
                    .env_remove("COPYBENCH_TOKEN")
                    .current_dir(&work.0)
                    .output()
                    .unwrap()
            };
            let out = run(&["--help"]);
            assert!(
                out.status.success()
                    && String::from_utf8_lossy(&out.stdout)
                        .contains(&format!("Usage: copybench {sub}")),
                "{f} {}: {args:?} do not parse: {}",
                c["name"],
                text(&out)
            );
            // The same check fails on a bad value: it does parse what comes before --help.
            let bad = match sub.as_str() {
                "serve" => ["--listen", "nowhere"],
                _ => ["--threads", "0"],
            };
            let out = run(&[bad[0], bad[1], "--help"]);
            assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        }
    }
    // The collector's script is shell.
    let job = base("client-job.json");
    let collect = container(&job, "collect");
    assert_eq!(strs(&collect["command"]), ["sh", "-c"]);
    let script = &strs(&collect["args"])[0];
    let out = Command::new("sh")
        .args(["-n", "-c", script])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        fs::read_dir(&work.0).unwrap().next().is_none(),
        "parsing wrote files"
    );
}

/// Resource requests from the memory formula (docs/method.md "Memory",
/// `limits::buffer_bytes`), over every cell the Job's sweep can run: the
/// largest of its thread counts and sizes, every strategy, workload and
/// layout (an upper bound when the args leave those to the defaults).
#[test]
fn resources_are_sized_from_the_memory_formula() {
    const BASE: u64 = 5 << 20;
    // What the kernel may charge the pod for one connection's socket buffers
    // at worst: tcp_wmem's and tcp_rmem's maxima on current kernels.
    const SOCKET: u64 = (4 << 20) + (32 << 20);
    let job = base("client-job.json");
    let args = strs(&container(&job, "sweep")["args"]);
    let list = |name: &str| -> Vec<String> {
        flag(&args, name)
            .unwrap_or_else(|| panic!("the Job's sweep spells out {name}, which sizes its memory"))
            .split(',')
            .map(str::to_string)
            .collect()
    };
    let threads: Vec<usize> = list("--threads")
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    let sizes: Vec<usize> = list("--sizes")
        .iter()
        .map(|s| parse_size(s).unwrap())
        .collect();
    let fields: usize = flag(&args, "--fields").expect("--fields").parse().unwrap();
    let max_threads = *threads.iter().max().unwrap() as u64;
    let need = |role: Role| -> u64 {
        let mut most = 0;
        for &strategy in &StrategyKind::ALL {
            for &workload in &WorkloadKind::ALL {
                for &layout in &Layout::ALL {
                    for &t in &threads {
                        for &field_size in &sizes {
                            let shape = Shape { fields, field_size };
                            let mut cfg =
                                Config::new(strategy, TransportKind::Tcp, workload, shape);
                            cfg.threads = t;
                            cfg.layout = layout;
                            most = most.max(copybench::limits::buffer_bytes(&cfg, &[role]));
                        }
                    }
                }
            }
        }
        BASE + most
    };
    let server = base("server.json");
    for (role, c) in [
        (Role::Client, container(&job, "sweep")),
        (Role::Server, container(&server, "serve")),
    ] {
        let need = need(role);
        let request = quantity(&c["resources"]["requests"]["memory"]);
        let limit = quantity(&c["resources"]["limits"]["memory"]);
        eprintln!(
            "{:?}: formula {:.1} MiB, request {} MiB, limit {} MiB",
            role,
            need as f64 / 1048576.0,
            request >> 20,
            limit >> 20
        );
        assert!(
            request >= need,
            "{role:?}: requests {request} B, the formula says {need} B"
        );
        assert!(
            request <= 2 * need.next_power_of_two(),
            "{role:?}: requests {request} B, far over the formula's {need} B"
        );
        assert!(
            limit >= need + max_threads * SOCKET,
            "{role:?}: the limit {limit} B leaves no room for {max_threads} connections' socket buffers"
        );
    }
}

/// A directory of this test's own, removed when dropped (unless `keep`).
struct Scratch(PathBuf, bool);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("copybench-deploy-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir, false)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.1 {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// Replaces every string in `v` by `f` of it.
fn map_strings(v: &mut Value, f: &dyn Fn(&str) -> String) {
    match v {
        Value::String(s) => *s = f(s),
        Value::Array(a) => a.iter_mut().for_each(|x| map_strings(x, f)),
        Value::Object(m) => m.values_mut().for_each(|x| map_strings(x, f)),
        _ => {}
    }
}

/// Applies the pod-network overlay's JSON patches (all `replace`) to `obj`.
fn pod_network(mut obj: Value) -> Value {
    let k = read_json(&kube().join("overlays/pod-network/kustomization.yaml"));
    for p in k["patches"].as_array().unwrap() {
        let t = &p["target"];
        if obj["kind"] != t["kind"] || obj["metadata"]["name"] != t["name"] {
            continue;
        }
        let ops: Value = serde_json::from_str(p["patch"].as_str().unwrap()).unwrap();
        for op in ops.as_array().unwrap() {
            assert_eq!(op["op"], "replace", "{op}");
            let at = obj
                .pointer_mut(op["path"].as_str().unwrap())
                .unwrap_or_else(|| {
                    panic!("the overlay replaces {}, which the base lacks", op["path"])
                });
            *at = op["value"].clone();
        }
    }
    obj
}

/// What fleet.sh must make of base manifest `file` for pair `id`: the base
/// (through the overlay with `pod_net`) under the pair's names, pinned to its
/// nodes, with `matrix` in place of the sweep's matrix args.
fn expected(
    file: &str,
    id: &str,
    server: &str,
    client: &str,
    matrix: Option<&[&str]>,
    pod_net: bool,
) -> Value {
    let mut v = base(file);
    if pod_net {
        v = pod_network(v);
    }
    let (srv, cli) = (
        format!("copybench-server-{id}"),
        format!("copybench-client-{id}"),
    );
    if !id.is_empty() {
        map_strings(&mut v, &|s| {
            s.replace("copybench-server", &srv)
                .replace("copybench-client", &cli)
        });
    }
    // (pointer_mut: indexing a Value mutably would insert what is missing.)
    if let Some(sel) = v
        .pointer_mut("/spec/template/spec/nodeSelector")
        .and_then(Value::as_object_mut)
    {
        let node = match sel
            .remove("copybench.io/role")
            .as_ref()
            .and_then(Value::as_str)
        {
            Some("server") => server,
            Some("client") => client,
            other => panic!("{file}: nodeSelector role {other:?}"),
        };
        sel.insert("kubernetes.io/hostname".into(), node.into());
    }
    if let (Some(matrix), Some(inits)) = (
        matrix,
        v.pointer_mut("/spec/template/spec/initContainers")
            .and_then(Value::as_array_mut),
    ) {
        let args = inits[0]["args"].as_array_mut().unwrap();
        let keep = args.iter().position(|a| a == "--resume").unwrap() + 1;
        args.truncate(keep);
        args.extend(matrix.iter().map(|a| Value::from(*a)));
    }
    v
}

fn fleet(args: &[&str], envs: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(fleet_script())
        .args(args)
        .env_remove("KUBECTL")
        .env_remove("COPYBENCH");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn fleet_renders_each_pair_as_the_base_plus_the_documented_edits() {
    let work = Scratch::new("render");
    let matrix = [
        "--quick",
        "--strategies",
        "one-copy,zero-copy",
        "--sizes",
        "64,4K",
    ];
    for pod_net in [false, true] {
        let out_dir = work.0.join(format!("out-{pod_net}"));
        let mut args = vec![
            "--pair",
            "node-a:node-b",
            "--pair",
            "node-b:node-a",
            "--pair",
            "node-c:node-d",
            "--parallel",
            "2",
            "--dry-run",
            "--sweep-args",
        ];
        let joined = matrix.join(" ");
        args.push(&joined);
        args.extend(["--out", out_dir.to_str().unwrap()]);
        if pod_net {
            args.push("--pod-network");
        }
        // Nothing is applied: no kubectl is called (`false` would fail it).
        let out = fleet(&args, &[("KUBECTL", Path::new("false"))]);
        assert!(out.status.success(), "{}", text(&out));
        let said = String::from_utf8_lossy(&out.stderr);
        // Two at once, never two on one node: pairs 1 and 3, then 2.
        for line in [
            "round 1: pair 1 of 3: server node-a, client node-b",
            "round 1: pair 3 of 3: server node-c, client node-d",
            "round 2: pair 2 of 3: server node-b, client node-a",
        ] {
            assert!(said.contains(line), "{line:?} in {said}");
        }
        for (i, (s, c)) in [
            ("node-a", "node-b"),
            ("node-b", "node-a"),
            ("node-c", "node-d"),
        ]
        .iter()
        .enumerate()
        {
            let id = format!("p{}", i + 1);
            for f in ["server-service.json", "server.json", "client-job.json"] {
                let got = read_json(&out_dir.join(format!("{s}-{c}/manifests/{f}")));
                let want = expected(f, &id, s, c, Some(&matrix), pod_net);
                assert_eq!(got, want, "{s}-{c} {f} (pod network: {pod_net})");
            }
        }
        let ns = read_json(&out_dir.join(".fleet/namespace.json"));
        assert_eq!(ns, expected("namespace.json", "", "", "", None, pod_net));
    }
    // The pod-network variant passes Pod Security's restricted level, as the overlay says.
    let job = pod_network(base("client-job.json"));
    assert_eq!(pod_spec(&job)["hostNetwork"], false);

    // Refusals, before anything is applied.
    for (args, says) in [
        (vec!["--pair", "a:a", "--dry-run"], "needs two nodes"),
        (
            vec!["--pair", "a:b", "--pair", "a:b", "--dry-run"],
            "given twice",
        ),
        (
            vec!["--pair", "a:b", "--sweep-args", "--out x", "--dry-run"],
            "set by the fleet",
        ),
        (
            vec![
                "--pair",
                "a:b",
                "--sweep-args",
                "--sizes $(id)",
                "--dry-run",
            ],
            "only [A-Za-z0-9",
        ),
        (vec!["--pair", "A:b", "--dry-run"], "lower-case"),
        (vec!["--dry-run"], "which nodes?"),
        (vec!["--pair", "a:b", "--label", "x=y"], "give one of them"),
    ] {
        let out = fleet(&args, &[("KUBECTL", Path::new("false"))]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out)
        );
    }
}

/// The manifests' anti-affinity, as the simulated scheduler applies it
/// (`sim::Cluster::place`: Kubernetes' rule for required terms, the new
/// pod's own and existing pods' against it), keeps a pair apart whichever
/// pod is placed first.
#[test]
fn the_simulated_scheduler_keeps_a_pair_apart() {
    let work = Scratch::new("sched");
    let anywhere = |file: &str| {
        let mut w = base(file);
        w["spec"]["template"]["spec"]["nodeSelector"] = serde_json::json!({});
        w["spec"]["template"].clone()
    };
    let on = |file: &str, node: &str| {
        let mut w = base(file);
        w["spec"]["template"]["spec"]["nodeSelector"] =
            serde_json::json!({"kubernetes.io/hostname": node});
        w["spec"]["template"].clone()
    };
    let (server, client) = (anywhere("server.json"), anywhere("client-job.json"));
    let nodes = || {
        ["node-a", "node-b"]
            .iter()
            .enumerate()
            .map(|(i, n)| sim::Node {
                name: n.to_string(),
                ns: format!("cbt-unused-{}-{i}", std::process::id()),
                ip: std::net::Ipv4Addr::new(198, 18, 0, i as u8 + 1),
                labels: BTreeMap::from([("kubernetes.io/hostname".to_string(), n.to_string())]),
            })
            .collect::<Vec<_>>()
    };
    // The server first: the client's own anti-affinity keeps it off the server's node.
    let cluster = sim::Cluster::start(nodes(), &work.0.join("a"), Path::new(BIN));
    assert_eq!(
        cluster.place(NS, &client).unwrap(),
        "node-a",
        "no server yet: anywhere"
    );
    cluster.assume(NS, ("Deployment", "copybench-server"), &server, "node-a");
    assert_eq!(cluster.place(NS, &client).unwrap(), "node-b");
    let refused = cluster
        .place(NS, &on("client-job.json", "node-a"))
        .unwrap_err();
    assert!(refused.contains("node-a: pod anti-affinity"), "{refused}");
    // Another pair's server does not repel this client.
    let mut other = server.clone();
    other["metadata"]["labels"]["app.kubernetes.io/instance"] = "copybench-server-p9".into();
    let fresh = sim::Cluster::start(nodes(), &work.0.join("b"), Path::new(BIN));
    fresh.assume(NS, ("Deployment", "copybench-server-p9"), &other, "node-a");
    assert_eq!(fresh.place(NS, &client).unwrap(), "node-a");
    // The client first: its anti-affinity keeps the server off its node too.
    let cluster = sim::Cluster::start(nodes(), &work.0.join("c"), Path::new(BIN));
    cluster.assume(NS, ("Job", "copybench-client"), &client, "node-a");
    assert_eq!(cluster.place(NS, &server).unwrap(), "node-b");
    let refused = cluster.place(NS, &on("server.json", "node-a")).unwrap_err();
    assert!(refused.contains("node-a: pod anti-affinity"), "{refused}");
}

/// A simulated cluster of `nodes` (name, namespace, address), each labelled
/// `copybench.io/fleet=sim`, with the token Secret made by the commands
/// docs/kubernetes.md gives, run through the stand-in.
/// fleet.sh with `args` against the simulated `cluster`, results into
/// `out_dir`: the time limits, kubectl and copybench every such run uses.
fn fleet_on(cluster: &sim::Sim, args: &[&str], out_dir: &Path) -> Output {
    Command::new("bash")
        .arg(fleet_script())
        .args(args)
        .args(["--ready-timeout", "60", "--timeout", "180", "--out"])
        .arg(out_dir)
        .env("KUBECTL", cluster.kubectl())
        .env("COPYBENCH", BIN)
        .env("FLEET_POLL", "0.2")
        .output()
        .unwrap()
}

fn fleet_cluster(nodes: &[(&str, &str, std::net::Ipv4Addr)], work: &Scratch) -> sim::Sim {
    let nodes = nodes
        .iter()
        .map(|(name, ns, ip)| sim::Node {
            name: name.to_string(),
            ns: ns.to_string(),
            ip: *ip,
            labels: BTreeMap::from([
                ("kubernetes.io/hostname".to_string(), name.to_string()),
                ("copybench.io/fleet".to_string(), "sim".to_string()),
            ]),
        })
        .collect();
    let cluster = sim::Cluster::start(nodes, &work.0.join("cluster"), Path::new(BIN));
    let docs = fs::read_to_string(repo().join("docs/kubernetes.md")).unwrap();
    let section = docs.split("## The token").nth(1).unwrap();
    let block = section
        .split("```sh")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let path = format!(
        "{}:{}",
        cluster.bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", block])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(out.status.success(), "the docs' commands: {}", text(&out));
    let token = cluster.secret(NS, "copybench-token").expect("the Secret")["token"].clone();
    assert!(token.len() >= 40, "a token of 32 random bytes: {token:?}");
    cluster
}

/// A fleet of two nodes, simulated. Two network namespaces joined by a veth
/// stand in as nodes node-a and node-b, both labelled
/// `copybench.io/fleet=sim`. The only stand-in is `kubectl`, at the process
/// boundary: scripts/fleet.sh runs unchanged with `KUBECTL` naming a script
/// that hands each call to the simulated cluster of `deploy/sim.rs`, which
/// runs exactly the command lines of the manifests fleet.sh applies (module
/// doc there: what it simulates and what not). The Secret is made by the
/// commands docs/kubernetes.md gives. fleet.sh takes both ordered pairs
/// (node-a serves node-b, node-b serves node-a), runs a sweep of a few
/// seconds on each, collects the results from the client's log, tears
/// down, and writes the report: `compare` of the second pair against the
/// first, index.html and fleet.json. Set `COPYBENCH_FLEET_OUT=DIR` to keep
/// the report in DIR.
#[test]
#[cfg_attr(
    copybench_no_netns,
    ignore = "needs root and iproute2 to make network namespaces: run the tests as root"
)]
fn a_simulated_fleet_runs_the_manifests_over_two_node_pairs() {
    let Some(pair) = common::netns::NetnsPair::up("fleet") else {
        return;
    };
    let mut work = Scratch::new("fleet");
    let cluster = fleet_cluster(
        &[
            ("node-a", &pair.server_ns, pair.server_addr),
            ("node-b", &pair.client_ns, pair.client_addr),
        ],
        &work,
    );

    let out_dir = match std::env::var_os("COPYBENCH_FLEET_OUT") {
        Some(d) => {
            let d = PathBuf::from(d);
            let _ = fs::remove_dir_all(&d);
            d
        }
        None => work.0.join("fleet-sim"),
    };
    let matrix = "--quick --strategies two-copy,one-copy --workloads rr,stream --sizes 64,4K --threads 1 --repeat 1";
    let t0 = Instant::now();
    let run = fleet_on(
        &cluster,
        &["--label", "copybench.io/fleet=sim", "--sweep-args", matrix],
        &out_dir,
    );
    eprintln!(
        "fleet.sh in {:.1} s:\n{}{}",
        t0.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&run.stderr),
        String::from_utf8_lossy(&run.stdout)
    );
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        cluster.unknown_calls().is_empty(),
        "{:?}",
        cluster.unknown_calls()
    );
    assert!(
        cluster.objects().is_empty(),
        "left in the cluster: {:?}",
        cluster.objects()
    );

    // Exactly the manifests' command lines ran: the applied ones, which are
    // the base plus the documented edits, as the user they name, on the nodes asked for.
    let started = cluster.started();
    let pairs = [("node-a", "node-b"), ("node-b", "node-a")];
    for (i, (s, c)) in pairs.iter().enumerate() {
        let id = format!("p{}", i + 1);
        let words: Vec<&str> = matrix.split(' ').collect();
        let dir = out_dir.join(format!("{s}-{c}"));
        for f in ["server.json", "client-job.json"] {
            let applied = read_json(&dir.join("manifests").join(f));
            assert_eq!(applied, expected(f, &id, s, c, Some(&words), false), "{f}");
            for ctr in containers(&applied) {
                let mut argv = strs(&ctr["command"]);
                argv.extend(strs(&ctr["args"]));
                let ran: Vec<&sim::Started> = started
                    .iter()
                    .filter(|r| {
                        r.pod
                            .starts_with(applied["metadata"]["name"].as_str().unwrap())
                            && r.container == ctr["name"]
                    })
                    .collect();
                assert_eq!(ran.len(), 1, "{f} {}: {ran:?}", ctr["name"]);
                assert_eq!(ran[0].argv, argv);
                assert_eq!(ran[0].uid, 65532);
                assert_eq!(ran[0].node, if f == "server.json" { *s } else { *c });
            }
        }
        let pair_txt = fs::read_to_string(dir.join("pair.txt")).unwrap();
        assert!(pair_txt.contains("status=ok\n"), "{pair_txt}");
        assert!(
            pair_txt.contains(&format!("where=server on {s}, client on {c}\n")),
            "{pair_txt}"
        );
        // The sweep crossed the veth: its rows name the server node's address.
        let server_ip = if *s == "node-a" {
            pair.server_addr
        } else {
            pair.client_addr
        };
        let csv = fs::read_to_string(dir.join("results.csv")).unwrap();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert_eq!(
            rows.len(),
            8,
            "2 strategies x 2 workloads x 2 sizes, once: {csv}"
        );
        for r in &rows {
            assert_eq!(r[col("status")], "ok", "{r:?}");
            assert_eq!(r[col("transport")], "tcp");
            assert_eq!(r[col("server")], format!("{server_ip}:7202"));
        }
        for f in [
            "index.html",
            "env.json",
            "findings.json",
            "serve.log",
            "sweep.log",
            "collect.log",
        ] {
            assert!(dir.join(f).is_file(), "{s}-{c}: no {f}");
        }
        // The server: the token from the Secret, probed all along, never a
        // log line per probe, one session, stopped by the teardown's SIGTERM.
        let serve_log = started
            .iter()
            .find(|r| r.pod.starts_with(&format!("copybench-server-{id}")))
            .unwrap()
            .log
            .clone();
        let log = fs::read_to_string(&serve_log).unwrap();
        eprintln!("{s} serve log:\n{log}");
        assert!(log.contains("clients must prove the token"), "{log}");
        assert!(!log.contains("refused"), "{log}");
        assert!(
            log.lines()
                .filter(|l| l.contains("closed without a word"))
                .count()
                <= 2,
            "{log}"
        );
        assert!(
            log.contains("1 cell(s), ok") || log.contains("cell(s), ok"),
            "{log}"
        );
        let stopped = log.lines().last().unwrap();
        assert!(stopped.contains("stopped"), "{log}");
    }
    assert!(cluster.probes.load(std::sync::atomic::Ordering::Relaxed) >= 2);

    // The report over both pairs: the second compared with the first.
    let second = out_dir.join("node-b-node-a");
    for f in ["compare.html", "compare.json", "compare.txt"] {
        assert!(second.join(f).is_file(), "no {f}");
    }
    let compared = read_json(&second.join("compare.json"));
    assert_eq!(
        compared["cells"].as_array().unwrap().len(),
        8,
        "every cell matched across the pairs"
    );
    let fleet_json = read_json(&out_dir.join("fleet.json"));
    assert_eq!(fleet_json["baseline"], "node-a-node-b");
    let listed: Vec<(String, String)> = fleet_json["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["dir"].as_str().unwrap().to_string(),
                p["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("node-a-node-b".into(), "ok".into()),
            ("node-b-node-a".into(), "ok".into())
        ]
    );
    let index = fs::read_to_string(out_dir.join("index.html")).unwrap();
    for link in [
        "node-a-node-b/index.html",
        "node-b-node-a/index.html",
        "node-b-node-a/compare.html",
    ] {
        assert!(index.contains(link), "index.html links {link}");
    }
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("2 pair(s), 0 failed"), "{stdout}");

    // The report step alone, again, on the collected results.
    let again = fleet(
        &["report", out_dir.to_str().unwrap()],
        &[("COPYBENCH", Path::new(BIN))],
    );
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(read_json(&out_dir.join("fleet.json")), fleet_json);
    work.1 = std::env::var_os("COPYBENCH_FLEET_OUT").is_some();
    drop(cluster);
}

/// `--parallel 2` over two pairs that share no node (two namespace pairs,
/// four nodes): both run in one round, at once, and both are collected.
#[test]
#[cfg_attr(
    copybench_no_netns,
    ignore = "needs root and iproute2 to make network namespaces: run the tests as root"
)]
fn a_simulated_fleet_runs_disjoint_pairs_at_once() {
    let (Some(one), Some(two)) = (
        common::netns::NetnsPair::up("fleet2"),
        common::netns::NetnsPair::up("fleet2"),
    ) else {
        return;
    };
    let work = Scratch::new("fleet2");
    let cluster = fleet_cluster(
        &[
            ("node-a", &one.server_ns, one.server_addr),
            ("node-b", &one.client_ns, one.client_addr),
            ("node-c", &two.server_ns, two.server_addr),
            ("node-d", &two.client_ns, two.client_addr),
        ],
        &work,
    );
    let out_dir = work.0.join("fleet");
    let run = fleet_on(
        &cluster,
        &[
            "--pair",
            "node-a:node-b",
            "--pair",
            "node-c:node-d",
            "--parallel",
            "2",
            "--sweep-args",
            "--quick --strategies one-copy --workloads rr --sizes 64 --threads 1 --repeat 1",
        ],
        &out_dir,
    );
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        cluster.unknown_calls().is_empty(),
        "{:?}",
        cluster.unknown_calls()
    );
    assert!(cluster.objects().is_empty(), "{:?}", cluster.objects());
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(said.contains("round 1: pair 2 of 2"), "{said}");
    let servers: Vec<sim::Started> = cluster
        .started()
        .into_iter()
        .filter(|r| r.container == "serve")
        .collect();
    assert_eq!(servers.len(), 2);
    let apart = if servers[0].at > servers[1].at {
        servers[0].at - servers[1].at
    } else {
        servers[1].at - servers[0].at
    };
    assert!(
        apart.as_secs_f64() < 2.0,
        "the servers started {apart:?} apart: not at once"
    );
    for dir in ["node-a-node-b", "node-c-node-d"] {
        let pair_txt = fs::read_to_string(out_dir.join(dir).join("pair.txt")).unwrap();
        assert!(pair_txt.contains("status=ok\n"), "{dir}: {pair_txt}");
        assert!(out_dir.join(dir).join("results.csv").is_file());
    }
    assert!(out_dir.join("node-c-node-d/compare.html").is_file());
}
