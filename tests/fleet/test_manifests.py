"""Kubernetes manifests: schema-valid offline, least privilege, and a collector command that works."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from rdma_preflight.collect.stream import collector_script, decode_stream
from rdma_preflight.kube import manifests as m
from rdma_preflight.profile.loader import load_profile
from tests.fleet.synth import ROOT

kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate (bundles the OpenAPI schemas)")
K8S = "1.30.0"
IMAGE = "registry.example.com/rdma-preflight:0.1.0"
NODES = ["gpu-node-01", "GPU_Node.02.example.com", "n" * 200]


@pytest.fixture(scope="module")
def profile():
    return load_profile(ROOT / "profiles" / "roce-sriov-shared-subnet.yaml").profile


@pytest.mark.parametrize("daemonset", [False, True])
def test_every_object_valid_against_the_openapi_schema(profile, daemonset):
    objs = m.render_manifests(profile, NODES, IMAGE, "rdma-preflight", daemonset=daemonset, write_labels=True,
                              nonce="RPF0123abcd")
    for o in objs:
        kv.validate(o, K8S, strict=True)                   # strict: unknown fields are errors
        name = o["metadata"]["name"]
        assert len(name) <= 63 and m.DNS_LABEL.match(name.replace(".", "-")), name
        for value in o["metadata"].get("labels", {}).values():
            assert len(value) <= 63 and m.LABEL_VALUE.match(value), value
    assert yaml.safe_load_all(m.to_yaml(objs)) is not None
    assert list(yaml.safe_load_all(m.to_yaml(objs))) == objs


def test_validator_catches_mistakes():
    bad = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"},
           "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i", "privileged": True}]}}}}
    with pytest.raises(kv.ValidationError):
        kv.validate(bad, K8S, strict=True)


def test_jobs_per_node_run_the_collector_in_host_namespaces(profile):
    objs = m.render_manifests(profile, NODES, IMAGE, "rpf", nonce="RPFabc123")
    kinds = [o["kind"] for o in objs]
    assert kinds == ["Namespace", "ServiceAccount", "ServiceAccount", "Role", "RoleBinding", "ClusterRole",
                     "ClusterRoleBinding", "ConfigMap", "ConfigMap", "Job", "Job", "Job"]
    ns = objs[0]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    script = next(o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == m.SCRIPT_CM)
    assert script["data"]["collector.sh"] == collector_script()
    prof = next(o for o in objs if o["metadata"]["name"] == m.PROFILE_CM)
    assert yaml.safe_load(prof["data"]["profile.yaml"])["name"] == "roce-sriov-shared-subnet"
    jobs = [o for o in objs if o["kind"] == "Job"]
    assert [j["metadata"]["annotations"]["rdma-preflight.io/node"] for j in jobs] == NODES
    assert jobs[0]["metadata"]["name"] == "rpf-collect-gpu-node-01"
    assert [j["metadata"]["name"] for j in jobs] == [m.job_name(n) for n in NODES]
    assert len({j["metadata"]["name"] for j in jobs}) == 3
    spec = jobs[1]["spec"]
    assert spec["backoffLimit"] == 0 and spec["activeDeadlineSeconds"] == 300 and spec["ttlSecondsAfterFinished"] == 3600
    pod = spec["template"]["spec"]
    assert pod["nodeName"] == "GPU_Node.02.example.com"
    assert pod["hostNetwork"] is True and pod["hostPID"] is True and pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == m.COLLECTOR_SA and pod["automountServiceAccountToken"] is False
    assert pod["tolerations"] == [{"operator": "Exists"}]
    c = pod["containers"][0]
    assert c["securityContext"] == {"privileged": True, "runAsUser": 0}
    assert c["command"][:2] == ["sh", "-c"] and c["command"][3:] == ["RPFabc123", ""]
    assert c["command"][2].startswith("nsenter --target 1 --mount --uts --ipc --net --pid -- sh -c ")
    assert c["volumeMounts"] == [{"name": "collector", "mountPath": "/opt/rdma-preflight", "readOnly": True}]


def test_daemonset_option(profile):
    objs = m.render_manifests(None, NODES[:2], IMAGE, daemonset=True, nonce="RPF1", mlxconfig=True)
    assert [o["kind"] for o in objs][-1] == "DaemonSet" and not any(o["kind"] == "Job" for o in objs)
    assert not any(o["metadata"]["name"] == m.PROFILE_CM for o in objs)
    assert objs[0]["metadata"]["name"] == "rdma-preflight"           # default namespace
    ds = objs[-1]
    terms = ds["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": NODES[:2]}]}]
    c = ds["spec"]["template"]["spec"]["containers"][0]
    assert c["command"][2].endswith("; exec sleep infinity") and c["command"][3:] == ["RPF1", "mlxconfig"]
    role = next(o for o in objs if o["kind"] == "Role")
    assert {"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["create", "get", "delete"]} in role["rules"]


def test_rbac_is_least_privilege(profile):
    objs = m.render_manifests(profile, NODES[:1], IMAGE, "rpf")
    rules = {(o["kind"], o["metadata"]["name"]): o["rules"] for o in objs if "rules" in o}
    assert rules == {
        ("Role", m.RUNNER_SA): [
            {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create", "update", "delete"]}],
        ("ClusterRole", f"{m.RUNNER_SA}-nodes"): [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}],
    }
    every = [r for rs in rules.values() for r in rs]
    assert not any("*" in r["verbs"] or "*" in r["resources"] or "secrets" in r["resources"] for r in every)
    bindings = [o for o in objs if o["kind"].endswith("Binding")]
    assert all(b["subjects"] == [{"kind": "ServiceAccount", "name": m.RUNNER_SA, "namespace": "rpf"}] for b in bindings)
    labels = m.render_manifests(profile, NODES[:1], IMAGE, "rpf", write_labels=True)
    extra = [o for o in labels if o["metadata"]["name"] == f"{m.RUNNER_SA}-labels" and o["kind"] == "ClusterRole"]
    assert extra[0]["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}]


@pytest.mark.parametrize("kwargs,msg", [({"nodes": []}, "no nodes"), ({"namespace": "Bad_NS"}, "DNS-1123"),
                                        ({"nonce": "RPF;rm -rf /"}, "alphanumeric")])
def test_bad_input_refused(kwargs, msg):
    args = {"profile": None, "nodes": ["n1"], "image": IMAGE} | kwargs
    with pytest.raises(ValueError, match=msg):
        m.render_manifests(**args)


def test_collector_command_yields_a_valid_stream(tmp_path):
    """The container's command as rendered, with the script dir and nsenter's target PID pointed
    at this test process (entering PID 1's namespaces needs a privileged pod)."""
    if shutil.which("nsenter") is None:
        pytest.skip("nsenter (util-linux) not installed")
    (tmp_path / "collector.sh").write_text(collector_script())
    job = m.collector_job("node-a", IMAGE, "rpf", "RPFfeed42")
    argv = job["spec"]["template"]["spec"]["containers"][0]["command"]
    cmd = argv[2].replace(m.SCRIPT_DIR, str(tmp_path)).replace("--target 1 ", f"--target {os.getpid()} ")
    proc = subprocess.run(argv[:2] + [cmd] + argv[3:], capture_output=True, timeout=120)
    if proc.returncode and b"nsenter" in proc.stderr:
        pytest.skip(f"nsenter not permitted here: {proc.stderr.decode(errors='replace').strip()}")
    snap = decode_stream(proc.stdout, "RPFfeed42", "node-a")
    assert snap.meta["collector_version"] == "1"
    assert "/proc/sys/kernel/hostname" in snap.files and "ip_link" in snap.commands
