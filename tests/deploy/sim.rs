//! A simulated cluster for `scripts/fleet.sh`, behind a stand-in `kubectl`.
//!
//! What is simulated, and how far:
//!
//! - **kubectl** is a 20-line shell script ([`Cluster::kubectl`]) that writes
//!   its arguments into a request file and prints the answer this module
//!   writes back. It is the only substitute at the process boundary: fleet.sh
//!   runs unchanged with `KUBECTL` pointing at it. It knows exactly the calls
//!   fleet.sh and docs/kubernetes.md make and refuses anything else (the test
//!   then sees the refusal).
//! - **Nodes** are network namespaces joined by a veth: a pod with
//!   `hostNetwork: true` runs in its node's namespace (other pods are refused:
//!   there is no pod network here).
//! - **The kubelet** runs exactly the `command` + `args` of each container of
//!   the applied manifest (`ip netns exec NODE setpriv --reuid UID --regid GID
//!   --clear-groups --no-new-privs -- ARGV...`, as the securityContext's user),
//!   with `PATH` finding the built `copybench` (the image's only binary), its
//!   env (`secretKeyRef` read from the Secrets made through the stand-in), an
//!   `emptyDir` as a fresh world-writable directory for its `workingDir`, and
//!   stdout and stderr into the container's log. It probes `tcpSocket`
//!   readiness as the kubelet does (connect from the node, close) every
//!   `periodSeconds`. A Job runs its init containers, then its containers, one
//!   after another, once: a failure fails the Job (no restarts).
//! - **The scheduler** places a pod on the nodes its `nodeSelector` allows
//!   that no required pod anti-affinity (the pod's own, or an existing pod's
//!   against it) rules out; with none left, the pod stays Pending.
//! - **DNS**: a Service's `NAME.NAMESPACE.svc` resolves, in every node's
//!   namespace, to the node address of its ready pods (`/etc/netns/NODE/hosts`,
//!   which `ip netns exec` mounts over `/etc/hosts`).
//!
//! Not simulated: image pulls, a read-only root filesystem, dropped
//! capabilities beyond what a non-root user lacks, seccomp, cgroups and the
//! resource requests, restarts, Pod Security Admission.

use std::collections::BTreeMap;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

pub struct Node {
    pub name: String,
    pub ns: String,
    pub ip: Ipv4Addr,
    pub labels: BTreeMap<String, String>,
}

/// One container the simulated kubelet started: what a test may check.
#[derive(Debug, Clone)]
pub struct Started {
    pub pod: String,
    pub container: String,
    pub node: String,
    pub uid: u32,
    pub argv: Vec<String>,
    pub log: PathBuf,
    pub at: Instant,
}

struct Pod {
    name: String,
    namespace: String,
    /// ("Deployment" | "Job", its name).
    owner: (String, String),
    labels: Map<String, Value>,
    spec: Value,
    node: String,
    ready: Arc<AtomicBool>,
    logs: BTreeMap<String, PathBuf>,
    children: Arc<Mutex<Vec<Child>>>,
    stop: Arc<AtomicBool>,
}

#[derive(Default)]
struct State {
    secrets: BTreeMap<(String, String), BTreeMap<String, String>>,
    namespaces: Vec<String>,
    /// (kind, namespace, name) -> the applied object.
    objects: BTreeMap<(String, String, String), Value>,
    pods: Vec<Pod>,
    /// (namespace, job) -> its condition: "", "Complete" or "Failed".
    jobs: BTreeMap<(String, String), Arc<Mutex<String>>>,
    started: Vec<Started>,
    /// Calls the stand-in does not know.
    unknown: Vec<Vec<String>>,
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    state: Mutex<State>,
    work: PathBuf,
    rpc: PathBuf,
    /// PATH inside containers: the built copybench first.
    path: String,
    stop: AtomicBool,
    /// Readiness probes made (connects that succeeded).
    pub probes: AtomicU64,
    controller: Mutex<Option<std::thread::JoinHandle<()>>>,
}

type Answer = (i32, String, String);

fn ok(out: impl Into<String>) -> Answer {
    (0, out.into(), String::new())
}

fn err(msg: impl Into<String>) -> Answer {
    (1, String::new(), format!("{}\n", msg.into()))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// `matchLabels` (or a selector map) against labels.
fn selects(selector: &Value, labels: &Map<String, Value>) -> bool {
    selector
        .as_object()
        .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// A `k=v` label selector, as fleet.sh passes to `-l`.
fn label_pair(sel: &str) -> (String, String) {
    let (k, v) = sel
        .split_once('=')
        .unwrap_or_else(|| panic!("stand-in kubectl: -l {sel}: only k=v is simulated"));
    (k.to_string(), v.to_string())
}

impl Cluster {
    /// Starts the simulated control plane and kubelet for `nodes`, working under `work`.
    pub fn start(nodes: Vec<Node>, work: &Path, copybench: &Path) -> Sim {
        fs::create_dir_all(work).unwrap();
        // Containers run as an unprivileged user: it must reach its working directories.
        fs::set_permissions(work, fs::Permissions::from_mode(0o755)).unwrap();
        let rpc = work.join("rpc");
        fs::create_dir_all(&rpc).unwrap();
        let bin = work.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let script = format!(
            r#"#!/bin/bash
# Stand-in for kubectl (tests/deploy/sim.rs): hands its arguments to the
# test's simulated cluster and prints its answer. Nothing else.
set -eu
req='{rpc}/'"$$.$(date +%s%N)"
: >"$req.tmp"
for a in "$@"; do printf '%s\0' "$a" >>"$req.tmp"; done
mv "$req.tmp" "$req.args"
n=0
while [ ! -e "$req.rc" ]; do
    n=$((n + 1))
    if [ "$n" -gt 30000 ]; then echo "stand-in kubectl: no answer in 10 minutes" >&2; exit 1; fi
    sleep 0.02
done
cat "$req.out"
cat "$req.err" >&2
exit "$(cat "$req.rc")"
"#,
            rpc = rpc.display()
        );
        let kubectl = bin.join("kubectl");
        fs::write(&kubectl, script).unwrap();
        fs::set_permissions(&kubectl, fs::Permissions::from_mode(0o755)).unwrap();
        let bin_dir = copybench.parent().expect("a directory").to_path_buf();
        let cluster = Arc::new(Cluster {
            nodes,
            state: Mutex::new(State::default()),
            work: work.to_path_buf(),
            rpc,
            path: format!(
                "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                bin_dir.display()
            ),
            stop: AtomicBool::new(false),
            probes: AtomicU64::new(0),
            controller: Mutex::new(None),
        });
        cluster.publish();
        let c = Arc::clone(&cluster);
        let handle = std::thread::spawn(move || c.serve_requests());
        *cluster.controller.lock().unwrap() = Some(handle);
        Sim(cluster)
    }

    /// The stand-in kubectl.
    pub fn kubectl(&self) -> PathBuf {
        self.work.join("bin/kubectl")
    }

    /// A directory holding the stand-in as `kubectl`, for PATH.
    pub fn bin_dir(&self) -> PathBuf {
        self.work.join("bin")
    }

    pub fn started(&self) -> Vec<Started> {
        self.state.lock().unwrap().started.clone()
    }

    pub fn unknown_calls(&self) -> Vec<Vec<String>> {
        self.state.lock().unwrap().unknown.clone()
    }

    pub fn secret(&self, ns: &str, name: &str) -> Option<BTreeMap<String, String>> {
        self.state
            .lock()
            .unwrap()
            .secrets
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Objects still in the cluster (kind/name), besides namespaces.
    pub fn objects(&self) -> Vec<String> {
        let st = self.state.lock().unwrap();
        st.objects
            .keys()
            .filter(|(k, _, _)| k != "Namespace")
            .map(|(k, _, n)| format!("{k}/{n}"))
            .collect()
    }

    fn node(&self, name: &str) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no node {name}"))
    }

    fn serve_requests(self: Arc<Self>) {
        while !self.stop.load(Ordering::SeqCst) {
            let Ok(entries) = fs::read_dir(&self.rpc) else {
                break;
            };
            for e in entries.flatten() {
                let path = e.path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                let Some(id) = name.strip_suffix(".args") else {
                    continue;
                };
                let taken = self.rpc.join(format!("{id}.taken"));
                if fs::rename(&path, &taken).is_err() {
                    continue;
                }
                let base = self.rpc.join(id);
                let me = Arc::clone(&self);
                std::thread::spawn(move || {
                    let raw = fs::read(&taken).unwrap_or_default();
                    let args: Vec<String> = raw
                        .split(|b| *b == 0)
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect::<Vec<_>>();
                    // printf '%s\0' ends every argument with a NUL: the last piece is empty.
                    let args = args[..args.len().saturating_sub(1)].to_vec();
                    let (rc, out, err) = me.handle(&args);
                    // (Not with_extension: the id has a dot of its own.)
                    let with = |ext: &str| PathBuf::from(format!("{}.{ext}", base.display()));
                    let _ = fs::write(with("out"), out);
                    let _ = fs::write(with("err"), err);
                    let _ = fs::write(with("rc.tmp"), rc.to_string());
                    let _ = fs::rename(with("rc.tmp"), with("rc"));
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// One kubectl call.
    fn handle(self: &Arc<Self>, args: &[String]) -> Answer {
        let mut ns = "default".to_string();
        let mut files = Vec::new();
        let mut flags = Vec::new();
        let (mut selector, mut output, mut container) = (None, None, None);
        let mut words = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || it.next().cloned().unwrap_or_default();
            match a.as_str() {
                "-n" | "--namespace" => ns = value(),
                "-f" => files.push(value()),
                "-l" => selector = Some(value()),
                "-o" => output = Some(value()),
                "-c" => container = Some(value()),
                f if f.starts_with('-') => flags.push(f.to_string()),
                w => words.push(w.to_string()),
            }
        }
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        let out = output.as_deref();
        let answer = match (w.as_slice(), out) {
            (["get", "nodes"], Some("jsonpath={.items[*].metadata.name}")) => {
                let (k, v) = label_pair(selector.as_deref().unwrap_or(""));
                let names: Vec<&str> = self
                    .nodes
                    .iter()
                    .filter(|n| n.labels.get(&k) == Some(&v))
                    .map(|n| n.name.as_str())
                    .collect();
                Some(ok(names.join(" ")))
            }
            (["get", "secret", name], Some("name")) => Some(match self.secret(&ns, name) {
                Some(_) => ok(format!("secret/{name}\n")),
                None => err(format!(
                    "Error from server (NotFound): secrets \"{name}\" not found"
                )),
            }),
            (
                ["get", "job", name],
                Some(r#"jsonpath={.status.conditions[?(@.status=="True")].type}"#),
            ) => {
                let st = self.state.lock().unwrap();
                Some(match st.jobs.get(&(ns.clone(), name.to_string())) {
                    Some(c) => ok(c.lock().unwrap().clone()),
                    None => err(format!(
                        "Error from server (NotFound): jobs.batch \"{name}\" not found"
                    )),
                })
            }
            (["get", "pods"], Some("jsonpath={.items[*].spec.nodeName}")) => {
                let (k, v) = label_pair(selector.as_deref().unwrap_or(""));
                let st = self.state.lock().unwrap();
                let nodes: Vec<&str> = st
                    .pods
                    .iter()
                    .filter(|p| {
                        p.namespace == ns && p.labels.get(&k) == Some(&Value::from(v.clone()))
                    })
                    .map(|p| p.node.as_str())
                    .collect();
                Some(ok(nodes.join(" ")))
            }
            (["create", "namespace", name], None) => {
                let mut st = self.state.lock().unwrap();
                if !st.namespaces.iter().any(|n| n == name) {
                    st.namespaces.push(name.to_string());
                }
                Some(ok(format!("namespace/{name} created\n")))
            }
            (["create", "secret", "generic", name], None) => {
                let mut data = BTreeMap::new();
                for f in &flags {
                    let Some(kv) = f.strip_prefix("--from-literal=") else {
                        return self.unknown(args);
                    };
                    let (k, v) = kv.split_once('=').expect("--from-literal=KEY=VALUE");
                    data.insert(k.to_string(), v.to_string());
                }
                let mut st = self.state.lock().unwrap();
                if !st.namespaces.contains(&ns) {
                    return err(format!(
                        "error: failed to create secret namespaces \"{ns}\" not found"
                    ));
                }
                st.secrets.insert((ns.clone(), name.to_string()), data);
                Some(ok(format!("secret/{name} created\n")))
            }
            (["apply"], None) if !files.is_empty() && flags.is_empty() => {
                let mut text = String::new();
                for f in &files {
                    match self.apply_file(Path::new(f)) {
                        Ok(t) => text += &t,
                        Err(e) => return err(e),
                    }
                }
                Some(ok(text))
            }
            (["wait", what], None) => {
                let timeout = flags
                    .iter()
                    .find_map(|f| f.strip_prefix("--timeout="))
                    .and_then(|t| t.strip_suffix('s'))
                    .and_then(|t| t.parse::<u64>().ok());
                match (
                    flags.iter().any(|f| f == "--for=condition=Available"),
                    what.strip_prefix("deployment/"),
                    timeout,
                ) {
                    (true, Some(name), Some(secs)) if flags.len() == 2 => {
                        Some(self.wait_available(&ns, name, Duration::from_secs(secs)))
                    }
                    _ => None,
                }
            }
            (["logs", what], None) if flags.is_empty() => {
                let (kind, name) = what.split_once('/').unwrap_or(("", ""));
                let kind = match kind {
                    "deployment" => "Deployment",
                    "job" => "Job",
                    _ => return self.unknown(args),
                };
                Some(self.logs(&ns, kind, name, container.as_deref()))
            }
            (["delete"], None)
                if !files.is_empty()
                    && flags.iter().all(|f| {
                        [
                            "--ignore-not-found",
                            "--cascade=foreground",
                            "--wait=true",
                            "--wait=false",
                        ]
                        .contains(&f.as_str())
                    }) =>
            {
                let mut text = String::new();
                for f in &files {
                    match self.delete_file(Path::new(f)) {
                        Ok(t) => text += &t,
                        Err(e) => return err(e),
                    }
                }
                Some(ok(text))
            }
            _ => None,
        };
        answer.unwrap_or_else(|| self.unknown(args))
    }

    fn unknown(&self, args: &[String]) -> Answer {
        self.state.lock().unwrap().unknown.push(args.to_vec());
        err(format!(
            "stand-in kubectl: this call is not simulated: kubectl {}",
            args.join(" ")
        ))
    }

    fn objects_of(path: &Path) -> Result<Vec<Value>, String> {
        let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| format!("error: {}: not JSON: {e}", path.display()))?;
        Ok(if v["kind"] == "List" {
            v["items"].as_array().cloned().unwrap_or_default()
        } else {
            vec![v]
        })
    }

    fn key(obj: &Value) -> (String, String, String) {
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let kind = s(&obj["kind"]);
        let ns = if kind == "Namespace" {
            String::new()
        } else {
            obj["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string()
        };
        (kind, ns, s(&obj["metadata"]["name"]))
    }

    fn apply_file(self: &Arc<Self>, path: &Path) -> Result<String, String> {
        let mut text = String::new();
        for obj in Self::objects_of(path)? {
            let (kind, ns, name) = Self::key(&obj);
            let mut st = self.state.lock().unwrap();
            if kind != "Namespace" && !st.namespaces.contains(&ns) {
                return Err(format!(
                    "Error from server (NotFound): namespaces \"{ns}\" not found"
                ));
            }
            let key = (kind.clone(), ns.clone(), name.clone());
            let existed = st.objects.insert(key, obj.clone()).is_some();
            if kind == "Namespace" && !st.namespaces.contains(&name) {
                st.namespaces.push(name.clone());
            }
            drop(st);
            let group = match kind.as_str() {
                "Deployment" => "deployment.apps",
                "Job" => "job.batch",
                "Service" => "service",
                "Namespace" => "namespace",
                other => return Err(format!("stand-in kubectl: kind {other} is not simulated")),
            };
            if existed {
                text += &format!("{group}/{name} unchanged\n");
                continue;
            }
            match kind.as_str() {
                "Deployment" => self.create_pod(&obj, &ns, "Deployment", &name)?,
                "Job" => self.create_pod(&obj, &ns, "Job", &name)?,
                "Service" => self.publish(),
                _ => {}
            }
            text += &format!("{group}/{name} created\n");
        }
        Ok(text)
    }

    fn delete_file(self: &Arc<Self>, path: &Path) -> Result<String, String> {
        let mut text = String::new();
        for obj in Self::objects_of(path)? {
            let key = Self::key(&obj);
            let gone = self.state.lock().unwrap().objects.remove(&key).is_some();
            if !gone {
                continue;
            }
            let (kind, ns, name) = key;
            // The pods it owns: stopped as the kubelet stops them (SIGTERM, then SIGKILL after the grace period).
            let pods: Vec<Pod> = {
                let mut st = self.state.lock().unwrap();
                let (mine, rest) = std::mem::take(&mut st.pods)
                    .into_iter()
                    .partition(|p| p.namespace == ns && p.owner == (kind.clone(), name.clone()));
                st.pods = rest;
                if kind == "Job" {
                    st.jobs.remove(&(ns.clone(), name.clone()));
                }
                mine
            };
            for p in pods {
                p.stop.store(true, Ordering::SeqCst);
                let grace = p.spec["terminationGracePeriodSeconds"]
                    .as_u64()
                    .unwrap_or(30);
                let mut children = p.children.lock().unwrap();
                for c in children.iter_mut() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(c.id() as i32),
                        nix::sys::signal::Signal::SIGTERM,
                    );
                }
                let deadline = Instant::now() + Duration::from_secs(grace);
                for c in children.iter_mut() {
                    while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    let _ = c.kill();
                    let _ = c.wait();
                }
            }
            self.publish();
            let group = match kind.as_str() {
                "Deployment" => "deployment.apps".to_string(),
                "Job" => "job.batch".to_string(),
                other => other.to_lowercase(),
            };
            text += &format!("{group} \"{name}\" deleted\n");
        }
        Ok(text)
    }

    /// The scheduler: the first node the pod may go to.
    pub fn place(&self, ns: &str, template: &Value) -> Result<String, String> {
        let st = self.state.lock().unwrap();
        let spec = &template["spec"];
        let labels = template["metadata"]["labels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let required = |spec: &Value| -> Vec<Value> {
            spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        };
        let mut why = Vec::new();
        for node in &self.nodes {
            let fits_selector = spec["nodeSelector"].as_object().is_none_or(|sel| {
                sel.iter()
                    .all(|(k, v)| v.as_str() == node.labels.get(k).map(String::as_str))
            });
            if !fits_selector {
                why.push(format!("{}: node selector", node.name));
                continue;
            }
            let on_node: Vec<&Pod> = st
                .pods
                .iter()
                .filter(|p| p.node == node.name && p.namespace == ns)
                .collect();
            for term in required(spec) {
                assert_eq!(
                    term["topologyKey"], "kubernetes.io/hostname",
                    "the simulation knows only the hostname topology"
                );
            }
            let repelled = required(spec).iter().any(|term| {
                on_node
                    .iter()
                    .any(|p| selects(&term["labelSelector"]["matchLabels"], &p.labels))
            }) || on_node.iter().any(|p| {
                required(&p.spec)
                    .iter()
                    .any(|term| selects(&term["labelSelector"]["matchLabels"], &labels))
            });
            if repelled {
                why.push(format!("{}: pod anti-affinity", node.name));
                continue;
            }
            return Ok(node.name.clone());
        }
        Err(format!(
            "0/{} nodes are available: {}",
            self.nodes.len(),
            why.join(", ")
        ))
    }

    /// Records a pod of `template` as running on `node` without starting
    /// anything, for tests of [`Cluster::place`] alone.
    pub fn assume(&self, ns: &str, owner: (&str, &str), template: &Value, node: &str) {
        self.state.lock().unwrap().pods.push(Pod {
            name: format!("{}-assumed", owner.1),
            namespace: ns.to_string(),
            owner: (owner.0.to_string(), owner.1.to_string()),
            labels: template["metadata"]["labels"]
                .as_object()
                .cloned()
                .unwrap_or_default(),
            spec: template["spec"].clone(),
            node: node.to_string(),
            ready: Arc::new(AtomicBool::new(false)),
            logs: BTreeMap::new(),
            children: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
        });
    }

    fn create_pod(
        self: &Arc<Self>,
        obj: &Value,
        ns: &str,
        kind: &str,
        name: &str,
    ) -> Result<(), String> {
        let template = &obj["spec"]["template"];
        let spec = template["spec"].clone();
        let pod_name = format!("{name}-sim");
        let condition = Arc::new(Mutex::new(String::new()));
        if kind == "Job" {
            self.state
                .lock()
                .unwrap()
                .jobs
                .insert((ns.to_string(), name.to_string()), Arc::clone(&condition));
        }
        let node = match self.place(ns, template) {
            Ok(n) => n,
            // Pending: nothing runs, nothing becomes ready or complete.
            Err(_) => return Ok(()),
        };
        if spec["hostNetwork"] != true {
            return Err("the simulation runs host-network pods only".into());
        }
        let pod_dir = self.work.join("pods").join(&pod_name);
        fs::create_dir_all(&pod_dir).unwrap();
        // emptyDir volumes: fresh, world-writable (as the kubelet makes them).
        let mut volumes = BTreeMap::new();
        for v in spec["volumes"].as_array().into_iter().flatten() {
            assert!(
                v["emptyDir"].is_object(),
                "only emptyDir volumes are simulated: {v}"
            );
            let dir = pod_dir.join("volumes").join(v["name"].as_str().unwrap());
            fs::create_dir_all(&dir).unwrap();
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
            volumes.insert(v["name"].as_str().unwrap().to_string(), dir);
        }
        let containers: Vec<Value> = ["initContainers", "containers"]
            .iter()
            .flat_map(|k| spec[*k].as_array().cloned().unwrap_or_default())
            .collect();
        let logs: BTreeMap<String, PathBuf> = containers
            .iter()
            .map(|c| {
                let n = c["name"].as_str().unwrap().to_string();
                let log = pod_dir.join(format!("{n}.log"));
                (n, log)
            })
            .collect();
        let pod = Pod {
            name: pod_name.clone(),
            namespace: ns.to_string(),
            owner: (kind.to_string(), name.to_string()),
            labels: template["metadata"]["labels"]
                .as_object()
                .cloned()
                .unwrap_or_default(),
            spec: spec.clone(),
            node: node.clone(),
            ready: Arc::new(AtomicBool::new(false)),
            logs,
            children: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (ready, children, stop) = (
            Arc::clone(&pod.ready),
            Arc::clone(&pod.children),
            Arc::clone(&pod.stop),
        );
        let logs = pod.logs.clone();
        self.state.lock().unwrap().pods.push(pod);
        let me = Arc::clone(self);
        let ns = ns.to_string();
        if kind == "Deployment" {
            assert!(
                spec["initContainers"].is_null() && containers.len() == 1,
                "the simulation runs a server pod of one container"
            );
            let c = &containers[0];
            let child = self.spawn(
                &ns,
                &pod_name,
                &node,
                &spec,
                c,
                &volumes,
                &logs[c["name"].as_str().unwrap()],
            )?;
            children.lock().unwrap().push(child);
            let probe = c["readinessProbe"].clone();
            std::thread::spawn(move || me.readiness(&node, &probe, c_port(&probe), &ready, &stop));
        } else {
            std::thread::spawn(move || {
                let mut state = "Complete";
                for c in &containers {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let log = &logs[c["name"].as_str().unwrap()];
                    match me.spawn(&ns, &pod_name, &node, &spec, c, &volumes, log) {
                        Ok(child) => {
                            children.lock().unwrap().push(child);
                            let code = loop {
                                let done = children.lock().unwrap().last_mut().unwrap().try_wait();
                                match done {
                                    Ok(Some(s)) => break s.code(),
                                    Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                                    Err(_) => break None,
                                }
                            };
                            if code != Some(0) {
                                state = "Failed";
                                break;
                            }
                        }
                        Err(e) => {
                            let _ = fs::write(log, e);
                            state = "Failed";
                            break;
                        }
                    }
                }
                *condition.lock().unwrap() = state.to_string();
            });
        }
        Ok(())
    }

    /// Starts one container as the kubelet would: its command and args, its
    /// user, its env, its working directory, in its node's namespace.
    #[allow(clippy::too_many_arguments)]
    fn spawn(
        &self,
        ns: &str,
        pod: &str,
        node: &str,
        spec: &Value,
        c: &Value,
        volumes: &BTreeMap<String, PathBuf>,
        log: &Path,
    ) -> Result<Child, String> {
        let mut argv = strings(&c["command"]);
        argv.extend(strings(&c["args"]));
        assert!(
            !argv.is_empty(),
            "a container with no command: the image's entrypoint is not simulated"
        );
        assert!(
            argv.iter().all(|a| !a.contains("$(")),
            "$(VAR) expansion is not simulated: {argv:?}"
        );
        let id = |key: &str| {
            c["securityContext"][key]
                .as_u64()
                .or_else(|| spec["securityContext"][key].as_u64())
                .unwrap_or(0)
        };
        let (uid, gid) = (id("runAsUser") as u32, id("runAsGroup") as u32);
        let mut env = BTreeMap::new();
        for e in c["env"].as_array().into_iter().flatten() {
            let name = e["name"].as_str().unwrap().to_string();
            let value = if let Some(v) = e["value"].as_str() {
                v.to_string()
            } else {
                let r = &e["valueFrom"]["secretKeyRef"];
                let secret = self
                    .secret(ns, r["name"].as_str().unwrap())
                    .ok_or_else(|| {
                        format!(
                            "CreateContainerConfigError: secret {:?} not found",
                            r["name"]
                        )
                    })?;
                secret
                    .get(r["key"].as_str().unwrap())
                    .cloned()
                    .ok_or_else(|| {
                        format!(
                            "CreateContainerConfigError: no key {:?} in the secret",
                            r["key"]
                        )
                    })?
            };
            env.insert(name, value);
        }
        let cwd = match c["workingDir"].as_str() {
            None => PathBuf::from("/"),
            Some(dir) => {
                let mount = c["volumeMounts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|m| m["mountPath"] == dir)
                    .unwrap_or_else(|| panic!("workingDir {dir} is not a volume: the image's filesystem is not simulated"));
                volumes[mount["name"].as_str().unwrap()].clone()
            }
        };
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let node = self.node(node);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &node.ns, "setpriv"])
            .args(["--reuid", &uid.to_string(), "--regid", &gid.to_string()])
            .args(["--clear-groups", "--no-new-privs", "--"])
            .args(&argv)
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", "/")
            .env("HOSTNAME", &node.name)
            .envs(&env)
            .current_dir(&cwd)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        let child = cmd.spawn().map_err(|e| format!("starting {argv:?}: {e}"))?;
        self.state.lock().unwrap().started.push(Started {
            pod: pod.to_string(),
            container: c["name"].as_str().unwrap().to_string(),
            node: node.name.clone(),
            uid,
            argv,
            log: log.to_path_buf(),
            at: Instant::now(),
        });
        Ok(child)
    }

    /// The kubelet's tcpSocket readiness probe: from the node, connect to the
    /// pod's address (the node's, with host networking), close.
    fn readiness(
        &self,
        node: &str,
        probe: &Value,
        port: u16,
        ready: &AtomicBool,
        stop: &AtomicBool,
    ) {
        let node = self.node(node);
        let netns = fs::File::open(format!("/run/netns/{}", node.ns)).unwrap();
        nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let secs = |k: &str, d: u64| Duration::from_secs(probe[k].as_u64().unwrap_or(d));
        let (period, timeout) = (secs("periodSeconds", 10), secs("timeoutSeconds", 1));
        let threshold = probe["failureThreshold"].as_u64().unwrap_or(3);
        std::thread::sleep(secs("initialDelaySeconds", 0));
        let mut failures = 0;
        while !stop.load(Ordering::SeqCst) && !self.stop.load(Ordering::SeqCst) {
            let addr = SocketAddr::from((node.ip, port));
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(conn) => {
                    drop(conn);
                    self.probes.fetch_add(1, Ordering::Relaxed);
                    failures = 0;
                    if !ready.swap(true, Ordering::SeqCst) {
                        self.publish();
                    }
                }
                Err(_) => {
                    failures += 1;
                    if failures >= threshold && ready.swap(false, Ordering::SeqCst) {
                        self.publish();
                    }
                }
            }
            let until = Instant::now() + period;
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Cluster DNS: every Service's name, in every node's namespace, to the
    /// addresses of its ready pods.
    fn publish(&self) {
        let mut hosts = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost\n");
        {
            let st = self.state.lock().unwrap();
            for ((kind, ns, name), svc) in &st.objects {
                if kind != "Service" {
                    continue;
                }
                for p in st.pods.iter().filter(|p| {
                    &p.namespace == ns
                        && p.ready.load(Ordering::SeqCst)
                        && selects(&svc["spec"]["selector"], &p.labels)
                }) {
                    let ip = self.node(&p.node).ip;
                    hosts += &format!("{ip}\t{name}.{ns}.svc {name}.{ns}.svc.cluster.local\n");
                }
            }
        }
        // Only for namespaces that exist (a test of the scheduler alone has none).
        for n in self
            .nodes
            .iter()
            .filter(|n| Path::new("/run/netns").join(&n.ns).exists())
        {
            let dir = PathBuf::from("/etc/netns").join(&n.ns);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("hosts"), &hosts).unwrap();
        }
    }

    fn wait_available(&self, ns: &str, name: &str, timeout: Duration) -> Answer {
        let deadline = Instant::now() + timeout;
        loop {
            let ready = self.state.lock().unwrap().pods.iter().any(|p| {
                p.namespace == ns
                    && p.owner == ("Deployment".to_string(), name.to_string())
                    && p.ready.load(Ordering::SeqCst)
            });
            if ready {
                return ok(format!("deployment.apps/{name} condition met\n"));
            }
            if Instant::now() >= deadline {
                return err(format!(
                    "error: timed out waiting for the condition on deployments/{name}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn logs(&self, ns: &str, kind: &str, name: &str, container: Option<&str>) -> Answer {
        let st = self.state.lock().unwrap();
        let Some(pod) = st
            .pods
            .iter()
            .find(|p| p.namespace == ns && p.owner == (kind.to_string(), name.to_string()))
        else {
            return err(format!("error: no pods for {kind} {name}"));
        };
        let container = match container {
            Some(c) => c.to_string(),
            None if pod.logs.len() == 1 => pod.logs.keys().next().unwrap().clone(),
            None => return err("error: a container name must be specified"),
        };
        match pod.logs.get(&container).map(fs::read_to_string) {
            Some(Ok(text)) => ok(text),
            Some(Err(_)) => err(format!(
                "Error from server (BadRequest): container \"{container}\" in pod \"{}\" is waiting to start",
                pod.name
            )),
            None => err(format!("error: container {container} is not valid for pod {}", pod.name)),
        }
    }
}

/// The probe's port: a number (the manifests use one).
fn c_port(probe: &Value) -> u16 {
    let port = &probe["tcpSocket"]["port"];
    port.as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_else(|| panic!("the simulation probes a numeric tcpSocket port, not {probe}"))
}

/// Owns the simulated cluster: dropping it stops every container, the
/// readiness probes and the stand-in's controller, and removes the
/// namespaces' `/etc/netns` files.
pub struct Sim(pub Arc<Cluster>);

impl std::ops::Deref for Sim {
    type Target = Cluster;
    fn deref(&self) -> &Cluster {
        &self.0
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let c = &self.0;
        c.stop.store(true, Ordering::SeqCst);
        if let Some(h) = c.controller.lock().unwrap().take() {
            let _ = h.join();
        }
        let pods = std::mem::take(&mut c.state.lock().unwrap().pods);
        for p in pods {
            p.stop.store(true, Ordering::SeqCst);
            for child in p.children.lock().unwrap().iter_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        for n in &c.nodes {
            let _ = fs::remove_dir_all(PathBuf::from("/etc/netns").join(&n.ns));
        }
    }
}
