//! The deployment files under `deploy/` line up: every YAML file parses;
//! Kubernetes Services, probes, mounts, ring DNS names, compose dependencies
//! and Grafana data sources name things that exist and reach the right
//! services; every Cairn config they carry is accepted by the built binary
//! with the environment its deployment gives it. Failures name the file and
//! the broken reference.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The repository root.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `path` relative to the repository root, for messages.
fn rel(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", rel(path)))
}

/// Fails listing every problem found.
fn assert_none(what: &str, problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

/// The YAML documents of `text` (from `origin`); `---` lines separate them.
fn parse_documents(text: &str, origin: &str) -> Result<Vec<Value>, String> {
    let mut chunks = vec![String::new()];
    for line in text.lines() {
        if line.starts_with("---") {
            chunks.push(String::new());
        } else if let Some(last) = chunks.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    chunks
        .iter()
        .filter(|c| {
            c.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .map(|c| serde_saphyr::from_str::<Value>(c).map_err(|e| format!("{origin}: {e}")))
        .collect()
}

/// The YAML documents of the file at `path`.
fn documents(path: &Path) -> Result<Vec<Value>, String> {
    parse_documents(&read(path), &rel(path))
}

/// The one YAML document of the file at `path`.
fn document(path: &Path) -> Value {
    let mut docs = documents(path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(docs.len(), 1, "{} should hold one YAML document", rel(path));
    docs.remove(0)
}

/// Every `.yaml`/`.yml` file under `dir`, sorted.
fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", rel(dir)))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            yaml_files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
}

fn text_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn list_at<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A scalar as text: strings as they are, numbers and booleans printed, null empty.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A mapping of scalars (labels, data, environment) as text.
fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), scalar(v))).collect())
        .unwrap_or_default()
}

/// A label selector picks pods carrying every one of its labels; an empty one picks nothing here.
fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The value after `flag` in `args` (`flag value` or `flag=value`).
fn flag_value(args: &[String], flag: &str) -> Option<String> {
    args.iter().enumerate().find_map(|(i, a)| {
        if a == flag {
            args.get(i + 1).cloned()
        } else {
            a.strip_prefix(flag)
                .and_then(|r| r.strip_prefix('='))
                .map(str::to_string)
        }
    })
}

/// `${VAR}` references of a config that have no `:-default`.
fn required_vars(config: &str) -> BTreeSet<String> {
    config
        .split("${")
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(expr, _)| expr))
        .filter(|expr| !expr.contains(":-"))
        .map(str::to_string)
        .collect()
}

/// `runtime_config.file` of a config text, when set.
fn runtime_file(config: &str) -> Option<String> {
    let docs = parse_documents(config, "config").ok()?;
    let file = text_at(docs.first()?, "/runtime_config/file");
    (!file.is_empty()).then(|| file.to_string())
}

/// One Cairn process of a deployment, as the binary would see it.
struct Instance {
    /// `<file>: <name>`, for messages.
    name: String,
    /// Its arguments, `--config.file` among them.
    args: Vec<String>,
    /// Where its config file comes from, for messages.
    config_origin: String,
    /// The config file's text, before `${VAR}` expansion.
    config: String,
    /// Its environment.
    env: BTreeMap<String, String>,
}

impl Instance {
    /// Whether `--target` includes `service` (no `--target` runs everything).
    fn runs(&self, service: &str) -> bool {
        flag_value(&self.args, "--target")
            .unwrap_or_else(|| "all".into())
            .split(',')
            .any(|t| t.trim() == service || t.trim() == "all")
    }
}

/// A deployment: its Cairn processes and which of them answer at each `host:port`.
#[derive(Default)]
struct Topology {
    instances: Vec<Instance>,
    /// `host:port` → the instances (indexes) behind it.
    addresses: BTreeMap<String, BTreeSet<usize>>,
    /// Addresses that are headless-Service names (one A record per pod).
    headless: BTreeSet<String>,
}

impl Topology {
    fn add_address(&mut self, address: String, instance: usize) {
        self.addresses.entry(address).or_default().insert(instance);
    }

    /// Why `address` is not where `service` answers, if it is not.
    fn reaches(&self, address: &str, service: &str) -> Result<(), String> {
        let behind = self
            .addresses
            .get(address)
            .ok_or_else(|| format!("{address} names no service/port of the deployment"))?;
        match behind.iter().find(|&&i| !self.instances[i].runs(service)) {
            Some(&i) => Err(format!(
                "{address} reaches {}, which does not run the {service}",
                self.instances[i].name
            )),
            None => Ok(()),
        }
    }

    /// `ring:` of every distinct config: the ingesters and distributors it
    /// lists or names by DNS are exactly the deployment's.
    fn ring_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut seen = BTreeSet::new();
        for inst in &self.instances {
            if !seen.insert(inst.config_origin.clone()) {
                continue;
            }
            let ring = match parse_documents(&inst.config, &inst.config_origin) {
                Ok(docs) => docs
                    .first()
                    .and_then(|d| d.get("ring"))
                    .cloned()
                    .unwrap_or(Value::Null),
                Err(e) => {
                    problems.push(e);
                    continue;
                }
            };
            for (list, dns, service) in [
                ("members", "members_dns", "ingester"),
                ("distributors", "distributors_dns", "distributor"),
            ] {
                let listed: Vec<String> = list_at(&ring, &format!("/{list}"))
                    .iter()
                    .map(scalar)
                    .collect();
                let dns_name = text_at(&ring, &format!("/{dns}"));
                let origin = &inst.config_origin;
                if listed.is_empty() && dns_name.is_empty() {
                    problems.push(format!(
                        "{origin}: ring.{list} and ring.{dns} are both empty: nothing finds the {service}s"
                    ));
                }
                for address in &listed {
                    if let Err(e) = self.reaches(address, service) {
                        problems.push(format!("{origin}: ring.{list}: {e}"));
                    }
                }
                let running = self.instances.iter().filter(|i| i.runs(service)).count();
                if !listed.is_empty() && listed.len() != running {
                    problems.push(format!(
                        "{origin}: ring.{list} lists {} {service}(s) but the deployment runs {running}",
                        listed.len()
                    ));
                }
                if !dns_name.is_empty() {
                    if !self.headless.contains(dns_name) {
                        problems.push(format!(
                            "{origin}: ring.{dns} {dns_name} names no headless Service (clusterIP: None) port"
                        ));
                    }
                    if let Err(e) = self.reaches(dns_name, service) {
                        problems.push(format!("{origin}: ring.{dns}: {e}"));
                    }
                }
            }
        }
        problems
    }
}

/// One Kubernetes object and the file it is in.
struct Object {
    file: String,
    value: Value,
}

impl Object {
    fn kind(&self) -> &str {
        text_at(&self.value, "/kind")
    }
    fn name(&self) -> &str {
        text_at(&self.value, "/metadata/name")
    }
    fn namespace(&self) -> &str {
        text_at(&self.value, "/metadata/namespace")
    }
    fn is_workload(&self) -> bool {
        matches!(self.kind(), "Deployment" | "StatefulSet" | "DaemonSet")
    }
    fn pod_labels(&self) -> BTreeMap<String, String> {
        string_map(self.value.pointer("/spec/template/metadata/labels"))
    }
    fn containers(&self) -> &[Value] {
        list_at(&self.value, "/spec/template/spec/containers")
    }
    /// `kind name` in `file`, for messages.
    fn what(&self) -> String {
        format!("{}: {} {}", self.file, self.kind(), self.name())
    }
    /// Whether a container declares `port` (a name or a number).
    fn declares_port(&self, port: &Value) -> bool {
        let wanted = scalar(port);
        self.containers()
            .iter()
            .flat_map(|c| list_at(c, "/ports"))
            .any(|p| {
                text_at(p, "/name") == wanted
                    || p.get("containerPort").is_some_and(|n| scalar(n) == wanted)
            })
    }
    /// The text of `key` in a ConfigMap's `data` or a Secret's `stringData`.
    fn data(&self, key: &str) -> Option<String> {
        ["/data", "/stringData"]
            .iter()
            .find_map(|p| self.value.pointer(p).and_then(|d| d.get(key)).map(scalar))
    }
    fn all_data(&self) -> BTreeMap<String, String> {
        let mut all = string_map(self.value.pointer("/data"));
        all.extend(string_map(self.value.pointer("/stringData")));
        all
    }
}

/// The manifests of deploy/k8s, from the files its kustomization lists.
struct Kubernetes {
    objects: Vec<Object>,
    problems: Vec<String>,
}

impl Kubernetes {
    fn dir() -> PathBuf {
        root().join("deploy/k8s")
    }

    fn load() -> Self {
        let dir = Self::dir();
        let kustomization = document(&dir.join("kustomization.yaml"));
        let listed: BTreeSet<String> = list_at(&kustomization, "/resources")
            .iter()
            .map(scalar)
            .collect();
        let mut files = Vec::new();
        yaml_files(&dir, &mut files);
        let present: BTreeSet<String> = files
            .iter()
            .filter_map(|f| f.file_name().and_then(|n| n.to_str()).map(str::to_string))
            .filter(|n| n != "kustomization.yaml")
            .collect();
        let mut problems = Vec::new();
        for missing in listed.difference(&present) {
            problems.push(format!(
                "deploy/k8s/kustomization.yaml lists {missing}, which does not exist"
            ));
        }
        for unlisted in present.difference(&listed) {
            problems.push(format!(
                "deploy/k8s/{unlisted} is not in kustomization.yaml resources"
            ));
        }
        let mut objects = Vec::new();
        for name in listed.intersection(&present) {
            let path = dir.join(name);
            match documents(&path) {
                Ok(docs) => objects.extend(docs.into_iter().map(|value| Object {
                    file: rel(&path),
                    value,
                })),
                Err(e) => problems.push(e),
            }
        }
        Self { objects, problems }
    }

    fn find(&self, kind: &str, namespace: &str, name: &str) -> Option<&Object> {
        self.objects
            .iter()
            .find(|o| o.kind() == kind && o.namespace() == namespace && o.name() == name)
    }

    fn workloads(&self) -> impl Iterator<Item = &Object> {
        self.objects.iter().filter(|o| o.is_workload())
    }

    fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Object> {
        self.objects.iter().filter(move |o| o.kind() == kind)
    }

    /// Every reference between objects resolves.
    fn reference_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let namespaces: BTreeSet<&str> = self.of_kind("Namespace").map(Object::name).collect();
        for o in self.objects.iter().filter(|o| o.kind() != "Namespace") {
            if !namespaces.contains(o.namespace()) {
                problems.push(format!(
                    "{}: namespace {:?} is not a Namespace of the manifests",
                    o.what(),
                    o.namespace()
                ));
            }
        }
        for svc in self.of_kind("Service") {
            self.check_service(svc, &mut problems);
        }
        for w in self.workloads() {
            self.check_workload(w, &mut problems);
        }
        for pdb in self.of_kind("PodDisruptionBudget") {
            let selector = string_map(pdb.value.pointer("/spec/selector/matchLabels"));
            if !self
                .workloads()
                .any(|w| w.namespace() == pdb.namespace() && selects(&selector, &w.pod_labels()))
            {
                problems.push(format!(
                    "{}: selector {selector:?} matches no workload's pods",
                    pdb.what()
                ));
            }
        }
        problems
    }

    fn check_service(&self, svc: &Object, problems: &mut Vec<String>) {
        let selector = string_map(svc.value.pointer("/spec/selector"));
        let targets: Vec<&Object> = self
            .workloads()
            .filter(|w| w.namespace() == svc.namespace() && selects(&selector, &w.pod_labels()))
            .collect();
        if targets.is_empty() {
            problems.push(format!(
                "{}: selector {selector:?} matches no workload's pods",
                svc.what()
            ));
        }
        for port in list_at(&svc.value, "/spec/ports") {
            let target = port
                .get("targetPort")
                .or_else(|| port.get("port"))
                .unwrap_or(&Value::Null);
            for w in targets.iter().filter(|w| !w.declares_port(target)) {
                problems.push(format!(
                    "{}: targetPort {} is no containerPort of {}",
                    svc.what(),
                    scalar(target),
                    w.what()
                ));
            }
        }
    }

    fn check_workload(&self, w: &Object, problems: &mut Vec<String>) {
        let ns = w.namespace();
        let labels = w.pod_labels();
        let selector = string_map(w.value.pointer("/spec/selector/matchLabels"));
        if !selects(&selector, &labels) {
            problems.push(format!(
                "{}: selector {selector:?} does not match its pod labels",
                w.what()
            ));
        }
        if w.kind() == "StatefulSet" {
            let service = text_at(&w.value, "/spec/serviceName");
            match self.find("Service", ns, service) {
                Some(s) if text_at(&s.value, "/spec/clusterIP") == "None" => {}
                _ => problems.push(format!(
                    "{}: serviceName {service:?} is no headless Service",
                    w.what()
                )),
            }
        }
        for c in list_at(&w.value, "/spec/template/spec/topologySpreadConstraints") {
            let selector = string_map(c.pointer("/labelSelector/matchLabels"));
            if !selects(&selector, &labels) {
                problems.push(format!(
                    "{}: topologySpreadConstraints selector {selector:?} does not match its own pods",
                    w.what()
                ));
            }
        }
        let volumes = list_at(&w.value, "/spec/template/spec/volumes");
        let mut volume_names: BTreeSet<&str> =
            volumes.iter().map(|v| text_at(v, "/name")).collect();
        volume_names.extend(
            list_at(&w.value, "/spec/volumeClaimTemplates")
                .iter()
                .map(|v| text_at(v, "/metadata/name")),
        );
        for v in volumes {
            for (pointer, kind) in [
                ("/configMap/name", "ConfigMap"),
                ("/secret/secretName", "Secret"),
                ("/persistentVolumeClaim/claimName", "PersistentVolumeClaim"),
            ] {
                let name = text_at(v, pointer);
                if !name.is_empty() && self.find(kind, ns, name).is_none() {
                    problems.push(format!(
                        "{}: volume {} mounts {kind} {name}, which does not exist",
                        w.what(),
                        text_at(v, "/name")
                    ));
                }
            }
        }
        for c in w.containers() {
            let container = format!("{} container {}", w.what(), text_at(c, "/name"));
            for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
                for action in ["httpGet", "tcpSocket"] {
                    if let Some(port) = c.pointer(&format!("/{probe}/{action}/port"))
                        && !w.declares_port(port)
                    {
                        problems.push(format!(
                            "{container}: {probe} port {} is no containerPort",
                            scalar(port)
                        ));
                    }
                }
            }
            if let Some(port) = c.pointer("/lifecycle/preStop/httpGet/port")
                && !w.declares_port(port)
            {
                problems.push(format!(
                    "{container}: preStop port {} is no containerPort",
                    scalar(port)
                ));
            }
            for arg in list_at(c, "/lifecycle/preStop/exec/command")
                .iter()
                .map(scalar)
            {
                if let Ok(url) = reqwest::Url::parse(&arg)
                    && !w.declares_port(&Value::from(url.port_or_known_default().unwrap_or(0)))
                {
                    problems.push(format!(
                        "{container}: preStop calls {arg}, whose port is no containerPort"
                    ));
                }
            }
            for m in list_at(c, "/volumeMounts") {
                let name = text_at(m, "/name");
                if !volume_names.contains(name) {
                    problems.push(format!(
                        "{container}: volumeMount {name} names no volume or volumeClaimTemplate"
                    ));
                }
            }
            if let Err(e) = self.container_env(w, c) {
                problems.push(format!("{container}: {e}"));
            }
        }
    }

    /// A container's environment as the pod would get it; downward-API
    /// fields get sample values (pod `<workload>-0` at 10.0.0.10 in zone-a).
    fn container_env(&self, w: &Object, c: &Value) -> Result<BTreeMap<String, String>, String> {
        let ns = w.namespace();
        let mut env = BTreeMap::new();
        for from in list_at(c, "/envFrom") {
            for (pointer, kind) in [
                ("/configMapRef/name", "ConfigMap"),
                ("/secretRef/name", "Secret"),
            ] {
                let name = text_at(from, pointer);
                if name.is_empty() {
                    continue;
                }
                let source = self
                    .find(kind, ns, name)
                    .ok_or_else(|| format!("envFrom {kind} {name} does not exist"))?;
                env.extend(source.all_data());
            }
        }
        for var in list_at(c, "/env") {
            let name = text_at(var, "/name").to_string();
            let value = if let Some(v) = var.get("value") {
                scalar(v)
            } else if let Some(field) = var.pointer("/valueFrom/fieldRef/fieldPath") {
                let field = scalar(field);
                match field.as_str() {
                    "metadata.name" => format!("{}-0", w.name()),
                    "metadata.namespace" => ns.to_string(),
                    "status.podIP" => "10.0.0.10".into(),
                    "metadata.labels['topology.kubernetes.io/zone']" => "zone-a".into(),
                    other => {
                        return Err(format!("env {name}: no sample value for fieldRef {other}"));
                    }
                }
            } else {
                let mut found = None;
                for (pointer, kind) in [
                    ("/valueFrom/configMapKeyRef", "ConfigMap"),
                    ("/valueFrom/secretKeyRef", "Secret"),
                ] {
                    if let Some(r) = var.pointer(pointer) {
                        let (source, key) = (text_at(r, "/name"), text_at(r, "/key"));
                        found = self.find(kind, ns, source).and_then(|o| o.data(key));
                        if found.is_none() {
                            return Err(format!("env {name}: {kind} {source} has no key {key}"));
                        }
                    }
                }
                found.ok_or_else(|| format!("env {name} has neither value nor valueFrom"))?
            };
            env.insert(name, value);
        }
        Ok(env)
    }

    /// The text of the file at `path` inside a container: a key of the
    /// ConfigMap or Secret mounted at the longest matching mountPath.
    /// Returns where the text comes from (file, object, key) and the text.
    fn mounted_file(&self, w: &Object, c: &Value, path: &str) -> Result<(String, String), String> {
        let (mount, key) = list_at(c, "/volumeMounts")
            .iter()
            .filter_map(|m| {
                let key = path
                    .strip_prefix(text_at(m, "/mountPath"))?
                    .strip_prefix('/')?;
                Some((m, key))
            })
            .max_by_key(|(m, _)| text_at(m, "/mountPath").len())
            .ok_or_else(|| format!("no volumeMount holds {path}"))?;
        let volume_name = text_at(mount, "/name");
        let volume = list_at(&w.value, "/spec/template/spec/volumes")
            .iter()
            .find(|v| text_at(v, "/name") == volume_name)
            .ok_or_else(|| format!("{path}: volume {volume_name} does not exist"))?;
        let (kind, name) = match (
            text_at(volume, "/configMap/name"),
            text_at(volume, "/secret/secretName"),
        ) {
            (cm, _) if !cm.is_empty() => ("ConfigMap", cm),
            (_, s) if !s.is_empty() => ("Secret", s),
            _ => {
                return Err(format!(
                    "{path}: volume {volume_name} is no ConfigMap or Secret"
                ));
            }
        };
        self.find(kind, w.namespace(), name)
            .and_then(|o| Some((format!("{}: {kind} {name} key {key}", o.file), o.data(key)?)))
            .ok_or_else(|| format!("{path}: {kind} {name} has no key {key}"))
    }

    /// The Cairn processes (one per workload) and the addresses Services give them.
    fn topology(&self) -> (Topology, Vec<String>) {
        let mut t = Topology::default();
        let mut problems = Vec::new();
        let mut index = BTreeMap::new();
        for w in self.workloads() {
            for c in w.containers() {
                let container = format!("{} container {}", w.what(), text_at(c, "/name"));
                let args: Vec<String> = list_at(c, "/args").iter().map(scalar).collect();
                let Some(config_path) = flag_value(&args, "--config.file") else {
                    problems.push(format!("{container}: no --config.file argument"));
                    continue;
                };
                let (config_origin, config) = match self.mounted_file(w, c, &config_path) {
                    Ok(found) => found,
                    Err(e) => {
                        problems.push(format!("{container}: --config.file {e}"));
                        continue;
                    }
                };
                if let Some(runtime) = runtime_file(&config)
                    && let Err(e) = self.mounted_file(w, c, &runtime)
                {
                    problems.push(format!("{container}: runtime_config.file {e}"));
                }
                let env = self.container_env(w, c).unwrap_or_default();
                index.insert(w.name().to_string(), t.instances.len());
                t.instances.push(Instance {
                    name: container,
                    args,
                    config_origin,
                    config,
                    env,
                });
            }
        }
        for svc in self.of_kind("Service") {
            let selector = string_map(svc.value.pointer("/spec/selector"));
            let (name, ns) = (svc.name(), svc.namespace());
            let headless = text_at(&svc.value, "/spec/clusterIP") == "None";
            for w in self
                .workloads()
                .filter(|w| w.namespace() == ns && selects(&selector, &w.pod_labels()))
            {
                let Some(&i) = index.get(w.name()) else {
                    continue;
                };
                for port in list_at(&svc.value, "/spec/ports") {
                    let port = scalar(port.get("port").unwrap_or(&Value::Null));
                    for host in [
                        format!("{name}.{ns}.svc.cluster.local"),
                        format!("{name}.{ns}.svc"),
                        format!("{name}.{ns}"),
                        name.to_string(),
                    ] {
                        let address = format!("{host}:{port}");
                        if headless {
                            t.headless.insert(address.clone());
                        }
                        t.add_address(address, i);
                    }
                }
            }
        }
        (t, problems)
    }
}

/// deploy/compose/docker-compose.yaml.
struct Compose {
    dir: PathBuf,
    value: Value,
}

impl Compose {
    fn load() -> Self {
        let dir = root().join("deploy/compose");
        let value = document(&dir.join("docker-compose.yaml"));
        Self { dir, value }
    }

    fn origin(&self) -> String {
        rel(&self.dir.join("docker-compose.yaml"))
    }

    fn services(&self) -> Vec<(&String, &Value)> {
        self.value
            .get("services")
            .and_then(Value::as_object)
            .map(|m| m.iter().collect())
            .unwrap_or_default()
    }

    fn command(service: &Value) -> Vec<String> {
        match service.get("command") {
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            Some(v) => v
                .as_array()
                .map(|a| a.iter().map(scalar).collect())
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// `environment:` as a map or as `KEY=value` items.
    fn environment(service: &Value) -> BTreeMap<String, String> {
        match service.get("environment") {
            Some(Value::Array(items)) => items
                .iter()
                .map(scalar)
                .filter_map(|i| {
                    i.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                })
                .collect(),
            other => string_map(other),
        }
    }

    /// A bind mount's source on the host (relative to the compose file).
    fn host_path(&self, source: &str) -> PathBuf {
        self.dir.join(source.strip_prefix("./").unwrap_or(source))
    }

    /// The host file bind-mounted at `path` in `service`.
    fn host_file(&self, service: &Value, path: &str) -> Option<PathBuf> {
        list_at(service, "/volumes")
            .iter()
            .map(scalar)
            .find_map(|v| {
                let mut parts = v.split(':');
                let (source, target) = (parts.next()?, parts.next()?);
                (target == path && (source.starts_with('.') || source.starts_with('/')))
                    .then(|| self.host_path(source))
            })
    }

    fn reference_problems(&self) -> Vec<String> {
        let origin = self.origin();
        let mut problems = Vec::new();
        let services: BTreeSet<&String> = self.services().into_iter().map(|(n, _)| n).collect();
        let volumes: BTreeSet<String> = self
            .value
            .get("volumes")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        for (name, service) in self.services() {
            let deps: Vec<String> = match service.get("depends_on") {
                Some(Value::Array(a)) => a.iter().map(scalar).collect(),
                Some(Value::Object(m)) => m.keys().cloned().collect(),
                _ => Vec::new(),
            };
            for dep in deps.iter().filter(|d| !services.contains(d)) {
                problems.push(format!(
                    "{origin}: service {name} depends_on {dep}, which is no service"
                ));
            }
            for volume in list_at(service, "/volumes").iter().map(scalar) {
                let source = volume.split(':').next().unwrap_or("");
                if source.starts_with('.') || source.starts_with('/') {
                    if !self.host_path(source).exists() {
                        problems.push(format!(
                            "{origin}: service {name} mounts {source}, which does not exist"
                        ));
                    }
                } else if !volumes.contains(source) {
                    problems.push(format!("{origin}: service {name} mounts volume {source}, not declared under volumes:"));
                }
            }
            if let Some(build) = service.get("build") {
                let context = self.dir.join(text_at(build, "/context"));
                let dockerfile = context.join(match text_at(build, "/dockerfile") {
                    "" => "Dockerfile",
                    f => f,
                });
                if !dockerfile.is_file() {
                    problems.push(format!(
                        "{origin}: service {name} builds from {}, which does not exist",
                        rel(&dockerfile)
                    ));
                }
            }
        }
        problems
    }

    /// The Cairn services (those given `--config.file`) and the
    /// `service:port` / `alias:port` names they answer at.
    fn topology(&self) -> (Topology, Vec<String>) {
        let origin = self.origin();
        let mut t = Topology::default();
        let mut problems = Vec::new();
        for (name, service) in self.services() {
            let args = Self::command(service);
            let Some(config_path) = flag_value(&args, "--config.file") else {
                continue;
            };
            let what = format!("{origin}: service {name}");
            let Some(config_file) = self.host_file(service, &config_path) else {
                problems.push(format!(
                    "{what}: --config.file {config_path} is no bind-mounted file"
                ));
                continue;
            };
            let config = read(&config_file);
            if let Some(runtime) = runtime_file(&config)
                && self
                    .host_file(service, &runtime)
                    .is_none_or(|f| !f.is_file())
            {
                problems.push(format!(
                    "{what}: runtime_config.file {runtime} is no bind-mounted file"
                ));
            }
            let i = t.instances.len();
            t.instances.push(Instance {
                name: what,
                args,
                config_origin: rel(&config_file),
                config,
                env: Self::environment(service),
            });
            let mut hosts = vec![name.clone()];
            if let Some(networks) = service.get("networks").and_then(Value::as_object) {
                hosts.extend(
                    networks
                        .values()
                        .flat_map(|n| list_at(n, "/aliases"))
                        .map(scalar),
                );
            }
            for port in list_at(service, "/expose").iter().map(scalar) {
                for host in &hosts {
                    t.add_address(format!("{host}:{port}"), i);
                }
            }
        }
        (t, problems)
    }
}

/// deploy/local: run.sh's PROCESSES table (name target http grpc zone) with
/// the environment run.sh gives each process.
fn local_topology() -> Topology {
    let dir = root().join("deploy/local");
    let script = read(&dir.join("run.sh"));
    let config = read(&dir.join("cairn.yaml"));
    let table = script
        .split_once("PROCESSES=(")
        .and_then(|(_, rest)| rest.split_once("\n)"))
        .map(|(table, _)| table)
        .expect("deploy/local/run.sh has no PROCESSES=( ... ) table");
    let mut t = Topology::default();
    for row in table
        .lines()
        .map(|l| l.trim().trim_matches('"'))
        .filter(|l| !l.is_empty())
    {
        let fields: Vec<&str> = row.split_whitespace().collect();
        let &[name, target, http, grpc, zone] = fields.as_slice() else {
            panic!(
                "deploy/local/run.sh: PROCESSES row {row:?} is not `name target http grpc zone`"
            );
        };
        let env = [
            ("CAIRN_INSTANCE", name),
            ("CAIRN_HTTP_PORT", http),
            ("CAIRN_GRPC_PORT", grpc),
            ("CAIRN_ZONE", if zone == "-" { "" } else { zone }),
            ("CAIRN_DATA", "data/local"),
            (
                "CAIRN_OVERRIDES",
                &dir.join("overrides.yaml").display().to_string(),
            ),
            ("CAIRN_STORAGE_BACKEND", "filesystem"),
            ("CAIRN_S3_ENDPOINT", ""),
            ("CAIRN_S3_BUCKET", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let i = t.instances.len();
        t.instances.push(Instance {
            name: format!("deploy/local/run.sh: {name}"),
            args: vec![
                "--config.file".into(),
                dir.join("cairn.yaml").display().to_string(),
                "--target".into(),
                target.into(),
            ],
            config_origin: "deploy/local/cairn.yaml".into(),
            config: config.clone(),
            env,
        });
        t.add_address(format!("127.0.0.1:{http}"), i);
    }
    t
}

/// Runs `cairn --print-config` for `inst` (its config copied to a temporary
/// directory, its environment only) and returns the effective config.
fn print_config(inst: &Instance) -> Result<Value, String> {
    let missing: Vec<String> = required_vars(&inst.config)
        .into_iter()
        .filter(|v| !inst.env.contains_key(v))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{}: {} uses {missing:?}, which its deployment does not set",
            inst.name, inst.config_origin
        ));
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("cairn.yaml");
    std::fs::write(&config, &inst.config).expect("writing the config copy");
    let mut args = inst.args.clone();
    if let Some(i) = args.iter().position(|a| a == "--config.file")
        && let Some(path) = args.get_mut(i + 1)
    {
        *path = config.display().to_string();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(&args)
        .arg("--print-config")
        .env_clear()
        .envs(&inst.env)
        .current_dir(dir.path())
        .output()
        .expect("running cairn --print-config");
    if !out.status.success() {
        return Err(format!(
            "{} ({}): cairn {} --print-config exited {}: {}",
            inst.name,
            inst.config_origin,
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_saphyr::from_str::<Value>(&String::from_utf8_lossy(&out.stdout))
        .map_err(|e| format!("{}: --print-config printed no YAML: {e}", inst.name))
}

#[test]
fn every_yaml_file_under_deploy_parses() {
    let mut files = Vec::new();
    yaml_files(&root().join("deploy"), &mut files);
    assert!(
        files.len() >= 12,
        "only {} YAML files under deploy/",
        files.len()
    );
    let problems: Vec<String> = files.iter().filter_map(|f| documents(f).err()).collect();
    assert_none("YAML under deploy/", &problems);
}

#[test]
fn kubernetes_manifests_reference_what_exists() {
    let k = Kubernetes::load();
    let mut problems = k.problems.clone();
    problems.extend(k.reference_problems());
    let (topology, more) = k.topology();
    problems.extend(more);
    problems.extend(topology.ring_problems());
    for w in k.workloads() {
        if !topology
            .instances
            .iter()
            .any(|i| i.name.starts_with(&w.what()))
        {
            problems.push(format!("{}: runs no Cairn container", w.what()));
        }
    }
    // ConfigMaps carrying a copy of a file elsewhere under deploy/.
    for (configmap, key, original) in [
        (
            "grafana-datasources",
            "cairn.yaml",
            "deploy/grafana/provisioning/datasources/cairn.yaml",
        ),
        (
            "cairn-overrides",
            "overrides.yaml",
            "deploy/local/overrides.yaml",
        ),
    ] {
        let copy = k
            .find("ConfigMap", "cairn", configmap)
            .and_then(|o| o.data(key));
        if copy.as_deref() != Some(read(&root().join(original)).as_str()) {
            problems.push(format!(
                "deploy/k8s: ConfigMap {configmap} key {key} differs from {original}"
            ));
        }
    }
    assert_none("deploy/k8s", &problems);
}

#[test]
fn compose_services_reference_what_exists() {
    let compose = Compose::load();
    let mut problems = compose.reference_problems();
    let (topology, more) = compose.topology();
    problems.extend(more);
    problems.extend(topology.ring_problems());
    for service in ["distributor", "ingester", "querier", "compactor", "ruler"] {
        if !topology.instances.iter().any(|i| i.runs(service)) {
            problems.push(format!(
                "{}: no service runs the {service}",
                compose.origin()
            ));
        }
    }
    assert_none("deploy/compose", &problems);
}

#[test]
fn local_run_script_is_valid_bash_and_matches_its_config() {
    let script = root().join("deploy/local/run.sh");
    let out = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("running bash -n");
    assert!(
        out.status.success(),
        "bash -n deploy/local/run.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let topology = local_topology();
    let mut problems = topology.ring_problems();
    let mut ports = BTreeSet::new();
    for inst in &topology.instances {
        for key in ["CAIRN_HTTP_PORT", "CAIRN_GRPC_PORT"] {
            let port = inst.env.get(key).cloned().unwrap_or_default();
            if !ports.insert(port.clone()) {
                problems.push(format!("{}: port {port} is used twice", inst.name));
            }
        }
    }
    if let Err(e) = topology.reaches("127.0.0.1:9009", "distributor") {
        problems.push(format!("deploy/local/run.sh: the distributor must keep port 9009 so clients need no change: {e}"));
    }
    assert_none("deploy/local", &problems);
}

#[test]
fn grafana_data_sources_reach_the_querier_and_link_each_other() {
    let path = root().join("deploy/grafana/provisioning/datasources/cairn.yaml");
    let origin = rel(&path);
    let file = document(&path);
    let sources = list_at(&file, "/datasources");
    let uids: BTreeSet<&str> = sources.iter().map(|d| text_at(d, "/uid")).collect();
    let (k8s, _) = Kubernetes::load().topology();
    let (compose, _) = Compose::load().topology();
    let mut problems = Vec::new();
    for ds in sources {
        let name = text_at(ds, "/name");
        let url = text_at(ds, "/url");
        match reqwest::Url::parse(url) {
            Ok(u) => {
                let address = format!(
                    "{}:{}",
                    u.host_str().unwrap_or(""),
                    u.port_or_known_default().unwrap_or(0)
                );
                for (deployment, topology) in [("deploy/k8s", &k8s), ("deploy/compose", &compose)] {
                    if let Err(e) = topology.reaches(&address, "querier") {
                        problems.push(format!("{origin}: {name}: url {url} in {deployment}: {e}"));
                    }
                }
            }
            Err(e) => problems.push(format!("{origin}: {name}: url {url:?}: {e}")),
        }
        if text_at(ds, "/jsonData/httpHeaderName1") != "X-Scope-OrgID"
            || text_at(ds, "/secureJsonData/httpHeaderValue1").is_empty()
        {
            problems.push(format!("{origin}: {name} sends no X-Scope-OrgID (jsonData.httpHeaderName1 / secureJsonData.httpHeaderValue1)"));
        }
        let links = [
            "/jsonData/tracesToLogsV2/datasourceUid",
            "/jsonData/tracesToMetrics/datasourceUid",
            "/jsonData/lokiSearch/datasourceUid",
        ]
        .iter()
        .map(|p| text_at(ds, p))
        .chain(
            list_at(ds, "/jsonData/exemplarTraceIdDestinations")
                .iter()
                .map(|d| text_at(d, "/datasourceUid")),
        )
        .chain(
            list_at(ds, "/jsonData/derivedFields")
                .iter()
                .map(|d| text_at(d, "/datasourceUid")),
        );
        for uid in links.filter(|u| !u.is_empty() && !uids.contains(u)) {
            problems.push(format!(
                "{origin}: {name} links to data source uid {uid}, which is not provisioned"
            ));
        }
    }
    let linked = |p: &str| sources.iter().any(|d| d.pointer(p).is_some());
    for (pointer, what) in [
        ("/jsonData/tracesToLogsV2", "trace to logs"),
        ("/jsonData/derivedFields", "log to trace"),
        ("/jsonData/exemplarTraceIdDestinations", "exemplar to trace"),
    ] {
        if !linked(pointer) {
            problems.push(format!("{origin}: no {what} link ({pointer})"));
        }
    }
    assert_none("Grafana data sources", &problems);
}

#[test]
fn every_cairn_config_is_accepted_by_the_binary() {
    let (k8s, _) = Kubernetes::load().topology();
    let (compose, _) = Compose::load().topology();
    let local = local_topology();
    let mut problems = Vec::new();
    for inst in [&k8s, &compose, &local]
        .into_iter()
        .flat_map(|t| &t.instances)
    {
        match print_config(inst) {
            Ok(cfg) => {
                if cfg
                    .pointer("/ring/replication_factor")
                    .and_then(Value::as_u64)
                    != Some(3)
                    || cfg
                        .pointer("/ring/zone_awareness_enabled")
                        .and_then(Value::as_bool)
                        != Some(true)
                {
                    problems.push(format!(
                        "{} ({}): not RF 3 with zone awareness",
                        inst.name, inst.config_origin
                    ));
                }
                if inst.runs("ingester") && text_at(&cfg, "/ring/instance_zone").is_empty() {
                    problems.push(format!(
                        "{} ({}): an ingester without a zone",
                        inst.name, inst.config_origin
                    ));
                }
            }
            Err(e) => problems.push(e),
        }
    }
    // The overrides file uses only keys of `limits:`.
    let defaults = print_config(&Instance {
        name: "defaults".into(),
        args: Vec::new(),
        config_origin: "no config file".into(),
        config: String::new(),
        env: BTreeMap::new(),
    })
    .expect("cairn --print-config without a config file");
    let limits: BTreeSet<&String> = defaults
        .get("limits")
        .and_then(Value::as_object)
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    let overrides = document(&root().join("deploy/local/overrides.yaml"));
    for (tenant, keys) in overrides
        .get("overrides")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for key in keys.as_object().into_iter().flat_map(|m| m.keys()) {
            if !limits.contains(key) {
                problems.push(format!(
                    "deploy/local/overrides.yaml: tenant {tenant}: {key} is no limits: key"
                ));
            }
        }
    }
    assert_none("Cairn configs under deploy/", &problems);
}

/// The compose file runs a Grafana 12 (the first with every Drilldown app
/// built in) whose provisioning enables Logs, Traces and Metrics Drilldown
/// on Cairn's data sources.
#[test]
fn compose_grafana_is_12_with_the_drilldown_apps_enabled() {
    let compose = document(&root().join("deploy/compose/docker-compose.yaml"));
    let image = text_at(&compose, "/services/grafana/image");
    let major: u32 = image
        .rsplit(':')
        .next()
        .and_then(|tag| tag.split('.').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(
        major >= 12,
        "deploy/compose: grafana image {image:?} is older than Grafana 12"
    );
    let mounts: Vec<&str> = list_at(&compose, "/services/grafana/volumes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        mounts.contains(&"../grafana/provisioning:/etc/grafana/provisioning:ro"),
        "deploy/compose: grafana does not mount deploy/grafana/provisioning: {mounts:?}"
    );
    let plugins = document(&root().join("deploy/grafana/provisioning/plugins/drilldown.yaml"));
    let enabled: BTreeSet<&str> = list_at(&plugins, "/apps")
        .iter()
        .filter(|a| a.pointer("/disabled").and_then(Value::as_bool) != Some(true))
        .map(|a| text_at(a, "/type"))
        .collect();
    for app in [
        "grafana-lokiexplore-app",
        "grafana-exploretraces-app",
        "grafana-metricsdrilldown-app",
    ] {
        assert!(enabled.contains(app), "{app} is not enabled: {enabled:?}");
    }
}
