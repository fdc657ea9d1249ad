#!/usr/bin/env python3
"""Checks the rendered Kubernetes manifests for what the schemas cannot see:
the agent's security settings, that each configuration file agrees with the
mounts and ports around it, and that RBAC and the NetworkPolicy grant no
more than intended.

Usage: check_manifests.py OVERLAY RENDERED.yaml [OTHER-RENDERING.yaml ...]
where OVERLAY is "single" or "ha"; further renderings of the same overlay
(another kubectl's kustomize) must be equal to the first, modulo the
generated names' hash suffixes. Prints each failed check; exits 1 if any.
"""

import os
import re
import sys
import tomllib
from pathlib import Path, PurePosixPath

import yaml

REPO = Path(__file__).resolve().parents[2]
# validate.sh's self-test points this at a deliberately broken copy.
DEPLOY_DIR = Path(os.environ.get("GAMSA_DEPLOY_DIR", REPO / "deploy"))
KUSTOMIZE_DIR = DEPLOY_DIR / "kubernetes"
AGENT_CAPS = {"DAC_READ_SEARCH", "SYS_PTRACE"}
AGENT_RBAC = {("", "nodes", "get"), ("", "nodes", "list"), ("", "namespaces", "list"),
              # backup: Velero backups, restores, schedules and storage
              # locations; backup CronJobs and their Jobs.
              ("velero.io", "backups", "list"), ("velero.io", "restores", "list"),
              ("velero.io", "backupstoragelocations", "list"), ("velero.io", "schedules", "get"),
              ("batch", "cronjobs", "get"), ("batch", "cronjobs", "list"), ("batch", "jobs", "list"),
              ("networking.k8s.io", "networkpolicies", "list"),
              ("autoscaling", "horizontalpodautoscalers", "list"),
              ("rbac.authorization.k8s.io", "clusterrolebindings", "list")}
# Namespaced grants: namespace -> what the Role gamsa-agent there grants.
AGENT_NAMESPACED_RBAC = {"kube-system": {("apps", "deployments", "list")}}
# kustomize fields kubectl 1.20 (kustomize v2) understands: the files must
# render with Debian bookworm's kubernetes-client as with a current kubectl.
KUSTOMIZE_V2_FIELDS = {
    "apiVersion", "kind", "namespace", "namePrefix", "nameSuffix", "commonLabels",
    "commonAnnotations", "resources", "bases", "patchesStrategicMerge",
    "patchesJson6902", "configMapGenerator", "secretGenerator", "generatorOptions",
    "images", "vars",
}

failures: list[str] = []
passed = 0


def check(ok: bool, what: str) -> bool:
    global passed
    if ok:
        passed += 1
    else:
        failures.append(what)
    return ok


def load(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def find(objs, kind, name, namespace=None):
    for o in objs:
        m = o["metadata"]
        if o["kind"] == kind and m["name"] == name and m.get("namespace") == namespace:
            return o
    return None


def generated(objs, kind, base_name, namespace):
    """A generated ConfigMap/Secret, whose name carries a hash suffix."""
    pattern = re.compile(re.escape(base_name) + r"(-[a-z0-9]{10})?$")
    for o in objs:
        m = o["metadata"]
        if o["kind"] == kind and pattern.match(m["name"]) and m.get("namespace") == namespace:
            return o
    return None


def under(path: str, directory: str) -> bool:
    return PurePosixPath(directory) in PurePosixPath(path).parents


def tolerates(tolerations, key, effect):
    """Whether some toleration admits a taint `key` with `effect`."""
    for t in tolerations or []:
        if t.get("effect") not in (None, "", effect):
            continue
        if t.get("operator") == "Exists" and t.get("key") in (None, "", key):
            return True
        if t.get("key") == key:
            return True
    return False


def mounts_by_volume(pod_spec, container):
    volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
    return [(m, volumes.get(m["name"], {})) for m in container.get("volumeMounts", [])]


def mount_of(pod_spec, container, path):
    """The mount (and its volume) that holds `path`, deepest first."""
    best = None
    for m, v in mounts_by_volume(pod_spec, container):
        mp = m["mountPath"]
        if path == mp or under(path, mp):
            if best is None or len(mp) > len(best[0]["mountPath"]):
                best = (m, v)
    return best


def seccomp_runtime_default(pod_spec, container):
    c = container.get("securityContext", {}).get("seccompProfile")
    p = pod_spec.get("securityContext", {}).get("seccompProfile")
    return (c or p or {}).get("type") == "RuntimeDefault"


def check_agent(objs):
    ds = find(objs, "DaemonSet", "gamsa-agent", "gamsa-agent")
    if not check(ds is not None, "DaemonSet gamsa-agent/gamsa-agent exists"):
        return
    spec = ds["spec"]["template"]["spec"]
    check(spec.get("hostPID") is True, "agent: hostPID is true")
    check(spec.get("hostNetwork") is True, "agent: hostNetwork is true")
    check(spec.get("dnsPolicy") == "ClusterFirstWithHostNet",
          "agent: dnsPolicy ClusterFirstWithHostNet (Service names resolve on hostNetwork)")
    for key in ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"):
        check(tolerates(spec.get("tolerations"), key, "NoSchedule"),
              f"agent: tolerates {key}:NoSchedule (runs on control-plane nodes)")
    sa = spec.get("serviceAccountName")
    check(find(objs, "ServiceAccount", sa, "gamsa-agent") is not None,
          f"agent: ServiceAccount {sa!r} is part of the rendering")
    containers = spec.get("containers", [])
    if not check(len(containers) == 1, "agent: exactly one container"):
        return
    c = containers[0]
    sc = c.get("securityContext", {})
    check(sc.get("readOnlyRootFilesystem") is True, "agent: readOnlyRootFilesystem")
    check(sc.get("allowPrivilegeEscalation") is False, "agent: allowPrivilegeEscalation false")
    check(sc.get("privileged") is not True, "agent: not privileged")
    caps = sc.get("capabilities", {})
    check("ALL" in caps.get("drop", []), "agent: capabilities drop ALL")
    check(set(caps.get("add", [])) == AGENT_CAPS,
          f"agent: adds exactly {sorted(AGENT_CAPS)} (got {caps.get('add')})")
    check(seccomp_runtime_default(spec, c), "agent: seccompProfile RuntimeDefault")
    res = c.get("resources", {})
    check({"cpu", "memory"} <= set(res.get("limits", {})), "agent: cpu and memory limits")
    check({"cpu", "memory"} <= set(res.get("requests", {})), "agent: cpu and memory requests")
    node_name = [e for e in c.get("env", []) if e["name"] == "NODE_NAME"]
    check(len(node_name) == 1 and node_name[0].get("valueFrom", {}).get("fieldRef", {})
          .get("fieldPath") == "spec.nodeName", "agent: NODE_NAME from fieldRef spec.nodeName")

    host = [(m, v) for m, v in mounts_by_volume(spec, c) if m["mountPath"] == "/host"]
    check(len(host) == 1 and host[0][0].get("readOnly") is True
          and host[0][1].get("hostPath", {}).get("path") == "/",
          "agent: host root / mounted read-only at /host")
    host_volume = host[0][1].get("name") if host else None
    for v in spec.get("volumes", []):
        if "hostPath" in v and v["name"] != host_volume:
            check(v["hostPath"]["path"] == "/var/lib/gamsa-agent",
                  f"agent: other hostPath {v['hostPath']['path']} is only the agent's state")
    for v in spec.get("volumes", []):
        if "emptyDir" in v:
            check("sizeLimit" in v["emptyDir"], f"agent: emptyDir {v['name']} has a sizeLimit")

    # The configuration must agree with the mounts it names.
    cfg_mount = mount_of(spec, c, "/etc/gamsa/agent.toml")
    args = c.get("args", [])
    check("--config" in args and args[args.index("--config") + 1] == "/etc/gamsa/agent.toml",
          "agent: runs with --config /etc/gamsa/agent.toml")
    if not check(cfg_mount is not None and "configMap" in cfg_mount[1],
                 "agent: /etc/gamsa/agent.toml comes from a ConfigMap"):
        return
    cm_name = cfg_mount[1]["configMap"]["name"]
    cm = find(objs, "ConfigMap", cm_name, "gamsa-agent")
    if not check(cm is not None and "agent.toml" in cm.get("data", {}),
                 f"agent: ConfigMap {cm_name} with agent.toml is rendered"):
        return
    config = tomllib.loads(cm["data"]["agent.toml"])
    check(config.get("host_root") == "/host", "agent.toml: host_root = /host")
    col = config.get("collector", {})
    expect = {
        "ca": ("configMap", "gamsa-ca", True),
        "cert": ("hostPath", None, False),
        "key": ("hostPath", None, False),
        "enrol_token_file": ("secret", "gamsa-enrol-token", True),
    }
    for field, (source, name, read_only) in expect.items():
        path = col.get(field, "")
        found = mount_of(spec, c, path) if path else None
        ok = found is not None and source in found[1]
        if ok and name:
            ref = found[1][source].get("name") or found[1][source].get("secretName")
            ok = ref == name
        if ok:
            ok = bool(found[0].get("readOnly")) == read_only
        check(ok, f"agent.toml: collector.{field} {path!r} lies on a "
                  f"{'read-only' if read_only else 'writable'} {source} mount {name or ''}")
    # The spool of unacked evidence must outlive the pod (default /var/lib/gamsa-agent).
    state = config.get("state_dir", "/var/lib/gamsa-agent")
    found = mount_of(spec, c, state)
    check(found is not None and "hostPath" in found[1] and not found[0].get("readOnly"),
          f"agent.toml: state_dir {state!r} lies on a writable hostPath mount")
    for ep in col.get("endpoints", []):
        check(ep.startswith("https://gamsa-collector.gamsa.svc"),
              f"agent.toml: endpoint {ep} is the collector Service")


def check_rbac(objs):
    role = find(objs, "ClusterRole", "gamsa-agent")
    if not check(role is not None, "ClusterRole gamsa-agent exists"):
        return
    granted = {(g, r, v) for rule in role.get("rules", []) for g in rule.get("apiGroups", [])
               for r in rule.get("resources", []) for v in rule.get("verbs", [])}
    check(granted == AGENT_RBAC, f"ClusterRole grants exactly {sorted(AGENT_RBAC)} (got {sorted(granted)})")
    binding = find(objs, "ClusterRoleBinding", "gamsa-agent")
    check(binding is not None and binding["roleRef"]["name"] == "gamsa-agent"
          and binding["subjects"] == [{"kind": "ServiceAccount", "name": "gamsa-agent",
                                       "namespace": "gamsa-agent"}],
          "ClusterRoleBinding binds the role to the agent ServiceAccount only")
    roles = {o["metadata"].get("namespace"): o for o in objs if o["kind"] == "Role"}
    check(set(roles) == set(AGENT_NAMESPACED_RBAC),
          f"Roles only in {sorted(AGENT_NAMESPACED_RBAC)} (got {sorted(map(str, roles))})")
    for ns, want in AGENT_NAMESPACED_RBAC.items():
        role = roles.get(ns, {})
        got = {(g, r, v) for rule in role.get("rules", []) for g in rule.get("apiGroups", [])
               for r in rule.get("resources", []) for v in rule.get("verbs", [])}
        check(got == want, f"Role {ns}/gamsa-agent grants exactly {sorted(want)} (got {sorted(got)})")
        rb = [o for o in objs if o["kind"] == "RoleBinding" and o["metadata"].get("namespace") == ns]
        check(len(rb) == 1 and rb[0]["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                    "name": "gamsa-agent"}
              and rb[0]["subjects"] == [{"kind": "ServiceAccount", "name": "gamsa-agent",
                                         "namespace": "gamsa-agent"}],
              f"RoleBinding {ns}/gamsa-agent binds the Role to the agent ServiceAccount only")
    check(not any(o["kind"] in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
                  and o["metadata"]["name"] != "gamsa-agent" for o in objs),
          "no other Role, ClusterRole or binding")


def check_namespaces(objs):
    levels = {o["metadata"]["name"]: o["metadata"].get("labels", {})
              .get("pod-security.kubernetes.io/enforce") for o in objs if o["kind"] == "Namespace"}
    check(levels == {"gamsa": "restricted", "gamsa-agent": "privileged"},
          f"namespaces: gamsa enforces restricted, only gamsa-agent privileged (got {levels})")


def check_collector(objs, overlay):
    kind = {"single": "StatefulSet", "ha": "Deployment"}[overlay]
    w = find(objs, kind, "gamsa-collector", "gamsa")
    if not check(w is not None, f"{overlay}: {kind} gamsa/gamsa-collector exists"):
        return
    replicas = w["spec"].get("replicas", 1)
    if overlay == "single":
        check(replicas == 1, "single: exactly 1 replica (SQLite has one writer)")
    else:
        check(replicas >= 2, "ha: at least 2 replicas")
    tpl = w["spec"]["template"]
    spec = tpl["spec"]
    labels = tpl["metadata"].get("labels", {})
    c = spec["containers"][0]
    sc = c.get("securityContext", {})
    psc = spec.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0, "collector: runs as non-root")
    check(sc.get("readOnlyRootFilesystem") is True, "collector: readOnlyRootFilesystem")
    check(sc.get("allowPrivilegeEscalation") is False, "collector: allowPrivilegeEscalation false")
    check(sc.get("capabilities", {}).get("drop") == ["ALL"] and not sc["capabilities"].get("add"),
          "collector: drops ALL capabilities, adds none")
    check(seccomp_runtime_default(spec, c), "collector: seccompProfile RuntimeDefault")
    check(spec.get("automountServiceAccountToken") is False, "collector: no API token mounted")
    check("memory" in c.get("resources", {}).get("limits", {}), "collector: memory limit")
    ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = c.get(probe, {}).get("httpGet", {})
        check(get.get("path") == path and get.get("port") in ("http", ports.get("http")),
              f"collector: {probe} GET {path} on the HTTP port")
    for v in spec.get("volumes", []):
        if "emptyDir" in v:
            check("sizeLimit" in v["emptyDir"], f"collector: emptyDir {v['name']} has a sizeLimit")

    # collector.toml: from a ConfigMap (single) or a Secret (ha, database password).
    env = {e["name"]: e.get("value") for e in c.get("env", [])}
    cfg_path = env.get("GAMSA_COLLECTOR_CONFIG", "")
    found = mount_of(spec, c, cfg_path) if cfg_path else None
    if not check(found is not None, f"collector: GAMSA_COLLECTOR_CONFIG {cfg_path!r} is mounted"):
        return
    if overlay == "single":
        cm = found[1].get("configMap", {}).get("name")
        obj = find(objs, "ConfigMap", cm, "gamsa")
        if not check(obj is not None, f"single: ConfigMap {cm} is rendered"):
            return
        text = obj["data"][PurePosixPath(cfg_path).name]
    else:
        check(found[1].get("secret", {}).get("secretName") == "gamsa-collector-config",
              "ha: collector.toml comes from the Secret gamsa-collector-config")
        text = (KUSTOMIZE_DIR / "overlays" / "ha" / "collector.toml.example").read_text()
    config = tomllib.loads(text)
    for section, port_name in (("grpc", "grpc"), ("http", "http")):
        listen = config.get(section, {}).get("listen", "")
        check(listen.startswith("0.0.0.0:") and int(listen.rsplit(":", 1)[1]) == ports.get(port_name),
              f"collector.toml: {section}.listen {listen!r} is all addresses on containerPort {port_name}")
    data_dir = config.get("data_dir", "")
    pki = mount_of(spec, c, data_dir + "/pki/ca.key")
    check(pki is not None and pki[1].get("secret", {}).get("secretName") == "gamsa-collector-pki"
          and pki[0].get("readOnly") is True,
          f"collector.toml: {data_dir}/pki is the read-only Secret gamsa-collector-pki")
    url = config.get("store", {}).get("url", "")
    if overlay == "single":
        db = url.removeprefix("sqlite://")
        claims = {t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates", [])}
        on = mount_of(spec, c, db)
        check(url.startswith("sqlite://") and on is not None and on[0]["name"] in claims,
              f"single: store.url {url!r} lies on the StatefulSet's persistent volume")
    else:
        check(url.startswith("postgres://"), f"ha: store.url {url!r} is PostgreSQL")
    for name in config.get("grpc", {}).get("server_names", []):
        check(name.startswith("gamsa-collector.gamsa.svc"), f"collector.toml: server name {name} is the Service")

    svc = find(objs, "Service", "gamsa-collector", "gamsa")
    if check(svc is not None, "Service gamsa/gamsa-collector exists"):
        sel = svc["spec"]["selector"]
        check(sel.items() <= labels.items(), "Service selects the collector pods")
        svc_ports = {p["name"]: (p["port"], p["targetPort"]) for p in svc["spec"]["ports"]}
        check(svc_ports == {"grpc": (7443, "grpc"), "http": (7080, "http")},
              f"Service ports grpc 7443 and http 7080 (got {svc_ports})")
    pdb = find(objs, "PodDisruptionBudget", "gamsa-collector", "gamsa")
    check(pdb is not None and pdb["spec"]["selector"]["matchLabels"].items() <= labels.items(),
          "PodDisruptionBudget selects the collector pods")
    netpol = find(objs, "NetworkPolicy", "gamsa-collector", "gamsa")
    if check(netpol is not None, "NetworkPolicy gamsa/gamsa-collector exists"):
        np = netpol["spec"]
        check(np["podSelector"]["matchLabels"].items() <= labels.items()
              and np.get("policyTypes") == ["Ingress"], "NetworkPolicy applies to the collector's ingress")
        rules = np.get("ingress", [])
        by_port = {}
        for r in rules:
            for p in r.get("ports", [None]):
                by_port.setdefault(p and p.get("port"), []).append(r)
        check(set(by_port) == {"grpc", "http"},
              f"NetworkPolicy admits only the grpc and http ports (got {sorted(map(str, by_port))})")
        for port in ("grpc", "http"):
            for r in by_port.get(port, []):
                peers = r.get("from", [])
                check(bool(peers) and all(p.get("ipBlock", {}).get("cidr") != "0.0.0.0/0" for p in peers),
                      f"NetworkPolicy: {port} is open only to named peers")
        http_from = [p for r in by_port.get("http", []) for p in r.get("from", [])]
        check(all("namespaceSelector" in p or "ipBlock" in p for p in http_from),
              "NetworkPolicy: http admits namespaces or CIDRs")


def normalized(objs):
    text = yaml.safe_dump(sorted(objs, key=lambda o: (o["kind"], o["metadata"].get("namespace", ""),
                                                      o["metadata"]["name"])), sort_keys=True)
    return re.sub(r"(gamsa-[a-z-]+-config)-[a-z0-9]{10}\b", r"\1", text)


def check_kustomizations():
    for k in sorted(KUSTOMIZE_DIR.rglob("kustomization.yaml")):
        fields = set(yaml.safe_load(k.read_text()))
        extra = fields - KUSTOMIZE_V2_FIELDS
        check(not extra, f"{k.relative_to(DEPLOY_DIR)}: fields {sorted(extra)} need kustomize newer than kubectl 1.20's")


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("single", "ha"):
        sys.exit(__doc__)
    overlay, first, *others = sys.argv[1:]
    objs = load(first)
    for other in others:
        check(normalized(load(other)) == normalized(objs),
              f"{other} renders the same objects as {first}")
    check_kustomizations()
    check_namespaces(objs)
    check_rbac(objs)
    check_agent(objs)
    check_collector(objs, overlay)
    for f in failures:
        print(f"FAIL {overlay}: {f}")
    print(f"manifests({overlay}): {passed} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
