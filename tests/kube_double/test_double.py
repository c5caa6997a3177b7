"""The double driven by the real `kubernetes` client over HTTP and WebSocket."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream, ws_client

from .double import KubeDouble
from .netns import IP, list_netns

SPIDER = ("spiderpool.spidernet.io", "v2beta1")
SRIOV = ("sriovnetwork.openshift.io", "v1")


def pod_body(name: str, labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    containers = spec.pop("containers", [{"name": "probe", "image": "busybox"}])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": {"containers": containers, **spec}}


def wait_phase(core: client.CoreV1Api, name: str, phase: str, namespace: str = "default") -> client.V1Pod:
    """Watch one pod until it reaches `phase` (the watch ends on its own after 20 s)."""
    for event in watch.Watch().stream(core.list_namespaced_pod, namespace, field_selector=f"metadata.name={name}", timeout_seconds=20):
        if event["object"].status.phase == phase:
            return event["object"]
    raise AssertionError(f"pod {name} never reached {phase}")


def wait_condition(core: client.CoreV1Api, name: str, ctype: str, namespace: str = "default") -> client.V1PodCondition:
    """Watch one pod until it carries a condition of type `ctype`."""
    for event in watch.Watch().stream(core.list_namespaced_pod, namespace, field_selector=f"metadata.name={name}", timeout_seconds=20):
        for cond in event["object"].status.conditions or []:
            if cond.type == ctype:
                return cond
    raise AssertionError(f"pod {name} never got condition {ctype}")


def run(core: client.CoreV1Api, pod: str, argv: list[str], namespace: str = "default") -> tuple[str, int]:
    """Exec in streaming mode; returns (stdout, exit code)."""
    ws = stream(core.connect_get_namespaced_pod_exec, pod, namespace, command=argv,
                stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False)
    ws.run_forever(timeout=20)
    return ws.read_stdout(), ws.returncode


def status_body(exc: ApiException) -> dict[str, Any]:
    return json.loads(exc.body)


@pytest.fixture
def core(kube_api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_api_client)


@pytest.fixture
def custom(kube_api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube_api_client)


# -- wiring, discovery, auth ----------------------------------------------------


def test_discovery_and_version(kube_api_client: client.ApiClient) -> None:
    assert client.VersionApi(kube_api_client).get_code().git_version == "v1.31.0"
    assert client.CoreApi(kube_api_client).get_api_versions().versions == ["v1"]
    groups = {g.name for g in client.ApisApi(kube_api_client).get_api_versions().groups}
    assert {"apps", "batch", "spiderpool.spidernet.io", "sriovnetwork.openshift.io", "k8s.cni.cncf.io"} <= groups
    resources = client.CoreV1Api(kube_api_client).get_api_resources().resources
    assert {"pods", "pods/exec", "nodes", "configmaps"} <= {r.name for r in resources}


def test_kubeconfig_file_is_loadable(kube_config_file: Any) -> None:
    api = config.new_client_from_config(config_file=str(kube_config_file))
    names = [ns.metadata.name for ns in client.CoreV1Api(api).list_namespace().items]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
    loaded = client.Configuration()
    config.load_kube_config(config_file=str(kube_config_file), client_configuration=loaded)
    assert [n.metadata.name for n in client.CoreV1Api(client.ApiClient(loaded)).list_node().items] == ["node-1", "node-2", "node-3"]


def test_wrong_token_is_unauthorized(kube_double: KubeDouble) -> None:
    cfg = kube_double.client_configuration()
    cfg.api_key = {"BearerToken": "nope"}
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(client.ApiClient(cfg)).list_node()
    assert err.value.status == 401
    assert status_body(err.value)["reason"] == "Unauthorized"


def test_unknown_path_is_plain_404(kube_double: KubeDouble) -> None:
    request = urllib.request.Request(kube_double.url + "/api/v1/widgets", headers={"Authorization": f"Bearer {kube_double.token}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request)
    assert (err.value.code, err.value.read()) == (404, b"404 page not found\n")


# -- nodes ----------------------------------------------------------------------


def test_node_shape(core: client.CoreV1Api) -> None:
    node = core.read_node("node-2")
    assert node.metadata.labels["kubernetes.io/hostname"] == "node-2"
    assert node.status.allocatable["cpu"] == "64"
    assert [(a.type, a.address) for a in node.status.addresses] == [("InternalIP", "172.18.0.3"), ("Hostname", "node-2")]
    assert node.spec.pod_cidr == "10.244.2.0/24"


def test_node_patch_labels_and_taints(core: client.CoreV1Api, kube_double: KubeDouble) -> None:
    core.patch_node("node-1", {"metadata": {"labels": {"rdma-preflight/result": "pass"}}})
    core.patch_node("node-1", {"spec": {"taints": [{"key": "rdma-preflight/failed", "value": "bw", "effect": "NoSchedule"}]}})
    node = core.read_node("node-1")
    assert node.metadata.labels["rdma-preflight/result"] == "pass"
    assert node.metadata.labels["kubernetes.io/hostname"] == "node-1"
    assert [(t.key, t.value, t.effect) for t in node.spec.taints] == [("rdma-preflight/failed", "bw", "NoSchedule")]
    core.patch_node("node-1", {"metadata": {"labels": {"rdma-preflight/result": None}}}, _content_type="application/merge-patch+json")
    core.patch_node("node-1", [{"op": "remove", "path": "/spec/taints/0"}])
    node = core.read_node("node-1")
    assert "rdma-preflight/result" not in node.metadata.labels
    assert node.spec.taints == []
    assert kube_double.count("patch", "nodes", name="node-1") == 4


# -- pods -----------------------------------------------------------------------


def test_pod_is_scheduled_and_becomes_ready(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_pod("default", pod_body("probe", nodeName="node-2"))
    assert created.status.phase == "Pending"
    pod = wait_phase(core, "probe", "Running")
    assert pod.spec.node_name == "node-2"
    assert pod.status.host_ip == "172.18.0.3"
    assert pod.status.pod_ip == "10.244.2.2"
    ready = {c.type: c.status for c in pod.status.conditions}
    assert ready["Ready"] == "True" and ready["PodScheduled"] == "True"
    assert pod.status.container_statuses[0].ready is True


def test_host_network_pod_gets_node_ip(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", pod_body("hostnet", hostNetwork=True, nodeSelector={"kubernetes.io/hostname": "node-3"}))
    pod = wait_phase(core, "hostnet", "Running")
    assert (pod.spec.node_name, pod.status.pod_ip) == ("node-3", "172.18.0.4")


def test_unschedulable_pod_waits_for_a_matching_node(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", pod_body("picky", nodeSelector={"rdma": "true"}))
    scheduled = wait_condition(core, "picky", "PodScheduled")
    assert (scheduled.status, scheduled.reason) == ("False", "Unschedulable")
    assert scheduled.message == "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    core.patch_node("node-3", {"metadata": {"labels": {"rdma": "true"}}})
    assert wait_phase(core, "picky", "Running").spec.node_name == "node-3"


def test_node_affinity_and_extended_resources(core: client.CoreV1Api, kube_double: KubeDouble) -> None:
    kube_double.add_node("gpu-1", allocatable={"spidernet.io/gpu1sriov": "1"})
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-2", "node-3"]}]}]}}}
    rdma = [{"name": "bw", "image": "perftest", "resources": {"limits": {"spidernet.io/gpu1sriov": "1"}}}]
    core.create_namespaced_pod("default", pod_body("aff", affinity=affinity))
    core.create_namespaced_pod("default", pod_body("rdma-1", containers=rdma))
    assert wait_phase(core, "aff", "Running").spec.node_name == "node-2"
    assert wait_phase(core, "rdma-1", "Running").spec.node_name == "gpu-1"
    core.create_namespaced_pod("default", pod_body("rdma-2", containers=rdma))
    pod = kube_double.pod("rdma-2")
    assert pod["status"]["phase"] == "Pending"
    assert pod["status"]["conditions"][0]["message"] == "0/4 nodes are available: 4 Insufficient spidernet.io/gpu1sriov."
    core.delete_namespaced_pod("rdma-1", "default")
    assert wait_phase(core, "rdma-2", "Running").spec.node_name == "gpu-1"


def test_label_and_field_selectors(core: client.CoreV1Api) -> None:
    for name, labels, node in (("a", {"app": "bw", "tier": "x"}, "node-1"), ("b", {"app": "bw"}, "node-2"), ("c", {"app": "probe", "tier": "y"}, "node-1")):
        core.create_namespaced_pod("default", pod_body(name, labels, nodeName=node))

    def names(**kw: str) -> list[str]:
        return [p.metadata.name for p in core.list_namespaced_pod("default", **kw).items]

    assert names(label_selector="app=bw") == ["a", "b"]
    assert names(label_selector="app!=bw") == ["c"]
    assert names(label_selector="tier in (x,y),app notin (probe)") == ["a"]
    assert names(label_selector="tier") == ["a", "c"]
    assert names(label_selector="!tier") == ["b"]
    assert names(field_selector="spec.nodeName=node-1") == ["a", "c"]
    assert names(field_selector="metadata.name=b") == ["b"]
    assert [p.metadata.name for p in core.list_pod_for_all_namespaces(label_selector="app=bw,tier=x").items] == ["a"]
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod("default", field_selector="spec.containers=x")
    assert err.value.status == 400


def test_list_pagination(core: client.CoreV1Api) -> None:
    for name in ("p1", "p2", "p3"):
        core.create_namespaced_pod("default", pod_body(name))
    first = core.list_namespaced_pod("default", limit=2)
    assert [p.metadata.name for p in first.items] == ["p1", "p2"]
    assert first.metadata.remaining_item_count == 1
    rest = core.list_namespaced_pod("default", limit=2, _continue=first.metadata._continue)
    assert [p.metadata.name for p in rest.items] == ["p3"]


def test_watch_sees_add_modify_delete(core: client.CoreV1Api) -> None:
    listing = core.list_namespaced_pod("default")
    core.create_namespaced_pod("default", pod_body("w", {"run": "r1"}, nodeName="node-1"))
    wait_phase(core, "w", "Running")
    core.delete_namespaced_pod("w", "default")
    seen = []
    stream_ = watch.Watch().stream(core.list_namespaced_pod, "default", label_selector="run=r1",
                                   resource_version=listing.metadata.resource_version, timeout_seconds=1)
    for event in stream_:
        seen.append((event["type"], event["object"].status.phase))
    assert seen[0] == ("ADDED", "Pending")
    assert ("MODIFIED", "Running") in seen
    assert seen[-1] == ("DELETED", "Running")


def test_delete_collection_by_label(core: client.CoreV1Api, kube_double: KubeDouble) -> None:
    for name, run_id in (("s1", "r1"), ("c1", "r1"), ("other", "r2")):
        core.create_namespaced_pod("default", pod_body(name, {"rdma-preflight/run": run_id}))
    core.delete_collection_namespaced_pod("default", label_selector="rdma-preflight/run=r1")
    assert [p["metadata"]["name"] for p in kube_double.pods()] == ["other"]
    core.delete_namespaced_pod("other", "default")
    assert kube_double.pods() == []


def test_active_deadline_fails_the_pod(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", pod_body("capped", activeDeadlineSeconds=1))
    pod = wait_phase(core, "capped", "Failed")
    assert pod.status.reason == "DeadlineExceeded"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 137


def test_finished_pod_log(core: client.CoreV1Api, kube_double: KubeDouble) -> None:
    core.create_namespaced_pod("default", pod_body("job-pod", restartPolicy="Never"))
    wait_phase(core, "job-pod", "Running")
    kube_double.finish_pod("job-pod", exit_code=0, log="done\n")
    assert core.read_namespaced_pod("job-pod", "default").status.phase == "Succeeded"
    assert core.read_namespaced_pod_log("job-pod", "default") == "done\n"


# -- error statuses -------------------------------------------------------------


def test_error_statuses(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("missing", "default")
    assert err.value.status == 404
    assert status_body(err.value)["message"] == 'pods "missing" not found'

    core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}, "data": {"k": "v"}})
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", {"metadata": {"name": "cm"}})
    assert (err.value.status, status_body(err.value)["reason"]) == (409, "AlreadyExists")

    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod("default", {"metadata": {"name": "empty"}, "spec": {"containers": []}})
    body = status_body(err.value)
    assert (err.value.status, body["reason"]) == (422, "Invalid")
    assert body["details"]["causes"] == [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"}]

    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod("nowhere", pod_body("x"))
    assert status_body(err.value)["message"] == 'namespaces "nowhere" not found'

    stale = core.read_namespaced_config_map("cm", "default")
    core.patch_namespaced_config_map("cm", "default", {"data": {"k": "v2"}})
    stale.data = {"k": "v3"}
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("cm", "default", stale)
    assert (err.value.status, status_body(err.value)["reason"]) == (409, "Conflict")


def test_injected_fault_then_recovery(custom: client.CustomObjectsApi, kube_double: KubeDouble) -> None:
    kube_double.inject_fault("list", "sriovnetworknodestates", 403, 'sriovnetworknodestates is forbidden')
    with pytest.raises(ApiException) as err:
        custom.list_namespaced_custom_object(*SRIOV, "spiderpool", "sriovnetworknodestates")
    assert (err.value.status, status_body(err.value)["reason"]) == (403, "Forbidden")
    assert custom.list_namespaced_custom_object(*SRIOV, "spiderpool", "sriovnetworknodestates")["items"] == []


# -- other resources --------------------------------------------------------------


def test_custom_objects_crud(custom: client.CustomObjectsApi, kube_double: KubeDouble) -> None:
    kube_double.add_namespace("spiderpool")
    smc = {"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderMultusConfig", "metadata": {"name": "gpu1-sriov"},
           "spec": {"cniType": "sriov", "sriov": {"resourceName": "spidernet.io/gpu1sriov"}}}
    created = custom.create_namespaced_custom_object(*SPIDER, "spiderpool", "spidermultusconfigs", smc)
    assert created["metadata"]["namespace"] == "spiderpool" and created["metadata"]["uid"]
    custom.patch_namespaced_custom_object(*SPIDER, "spiderpool", "spidermultusconfigs", "gpu1-sriov", {"spec": {"sriov": {"rdmaIsolation": True}}})
    got = custom.get_namespaced_custom_object(*SPIDER, "spiderpool", "spidermultusconfigs", "gpu1-sriov")
    assert got["spec"]["sriov"] == {"resourceName": "spidernet.io/gpu1sriov", "rdmaIsolation": True}

    pool = {"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool", "metadata": {"name": "gpu1-net11"}, "spec": {"subnet": "172.16.11.0/24"}}
    custom.create_cluster_custom_object(*SPIDER, "spiderippools", pool)
    assert [p["metadata"]["name"] for p in custom.list_cluster_custom_object(*SPIDER, "spiderippools")["items"]] == ["gpu1-net11"]

    kube_double.add({"apiVersion": "sriovnetwork.openshift.io/v1", "kind": "SriovNetworkNodeState",
                     "metadata": {"name": "node-1", "namespace": "spiderpool"}, "status": {"syncStatus": "Succeeded"}})
    states = custom.list_cluster_custom_object(*SRIOV, "sriovnetworknodestates")
    assert [(s["metadata"]["name"], s["status"]["syncStatus"]) for s in states["items"]] == [("node-1", "Succeeded")]

    custom.delete_namespaced_custom_object(*SPIDER, "spiderpool", "spidermultusconfigs", "gpu1-sriov")
    assert custom.list_namespaced_custom_object(*SPIDER, "spiderpool", "spidermultusconfigs")["items"] == []

    kube_double.uninstall_crd("sriovnetwork.openshift.io", "sriovnetworknodestates")
    with pytest.raises(ApiException) as err:
        custom.list_cluster_custom_object(*SRIOV, "sriovnetworknodestates")
    assert err.value.status == 404


def test_unknown_custom_resource_is_served(custom: client.CustomObjectsApi) -> None:
    body = {"apiVersion": "example.io/v1", "kind": "GPUCluster", "metadata": {"name": "w1"}, "spec": {"size": 3}}
    custom.create_namespaced_custom_object("example.io", "v1", "default", "gpuclusters", body)
    listed = custom.list_namespaced_custom_object("example.io", "v1", "default", "gpuclusters")
    assert (listed["kind"], listed["items"][0]["kind"], listed["items"][0]["spec"]["size"]) == ("GPUClusterList", "GPUCluster", 3)


def test_workloads_rbac_and_namespaces(kube_api_client: client.ApiClient, kube_double: KubeDouble) -> None:
    apps, rbac, batch = client.AppsV1Api(kube_api_client), client.RbacAuthorizationV1Api(kube_api_client), client.BatchV1Api(kube_api_client)
    kube_double.add_namespace("spiderpool")
    kube_double.add({"apiVersion": "apps/v1", "kind": "DaemonSet",
                     "metadata": {"name": "spiderpool-rdma-shared-device-plugin", "namespace": "spiderpool"},
                     "spec": {"selector": {"matchLabels": {"app": "rdma"}}, "template": {"metadata": {"labels": {"app": "rdma"}}, "spec": {"containers": [{"name": "p", "image": "plugin"}]}}},
                     "status": {"currentNumberScheduled": 3, "desiredNumberScheduled": 3, "numberMisscheduled": 0, "numberReady": 2}})
    ds = apps.read_namespaced_daemon_set("spiderpool-rdma-shared-device-plugin", "spiderpool")
    assert (ds.status.desired_number_scheduled, ds.status.number_ready) == (3, 2)
    assert [d.metadata.name for d in apps.list_daemon_set_for_all_namespaces().items] == ["spiderpool-rdma-shared-device-plugin"]
    batch.create_namespaced_job("spiderpool", {"metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}], "restartPolicy": "Never"}}}})
    rbac.create_cluster_role({"metadata": {"name": "preflight"}, "rules": [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}]})
    assert rbac.read_cluster_role("preflight").rules[0].resources == ["pods/exec"]
    core = client.CoreV1Api(kube_api_client)
    core.delete_namespace("spiderpool")
    assert batch.list_job_for_all_namespaces().items == []
    assert apps.list_daemon_set_for_all_namespaces().items == []


def test_calls_are_recorded(core: client.CoreV1Api, kube_double: KubeDouble) -> None:
    kube_double.clear_calls()
    core.create_namespaced_pod("default", pod_body("r"))
    core.list_namespaced_pod("default", label_selector="app=x")
    core.delete_namespaced_pod("r", "default")
    assert [(c.method, c.verb, c.resource) for c in kube_double.calls] == [
        ("POST", "create", "pods"), ("GET", "list", "pods"), ("DELETE", "delete", "pods")]
    assert kube_double.calls[1].param("labelSelector") == "app=x"
    assert kube_double.count("create", "pods", namespace="default") == 1
    assert kube_double.pods() == []


# -- exec -----------------------------------------------------------------------


def test_exec_handler_takes_over_some_commands(core: client.CoreV1Api, kube_double: KubeDouble) -> None:
    seen: list[tuple[str, list[str]]] = []

    def handler(pod: dict[str, Any], argv: list[str]) -> tuple[int, str, str] | None:
        seen.append((pod["spec"]["nodeName"], argv))
        return (0, " 65536  5000  97.52  97.48  0.185932\n", "") if argv[0] == "ib_write_bw" else None

    kube_double.exec_handler = handler
    core.create_namespaced_pod("default", pod_body("bw", nodeName="node-2"))
    wait_phase(core, "bw", "Running")
    out = stream(core.connect_get_namespaced_pod_exec, "bw", "default", command=["ib_write_bw", "-d", "mlx5_0"], stdout=True, stderr=True, stdin=False, tty=False)
    assert out == " 65536  5000  97.52  97.48  0.185932\n"
    assert run(core, "bw", ["sh", "-c", "echo real; exit 4"]) == ("real\n", 4)
    assert seen == [("node-2", ["ib_write_bw", "-d", "mlx5_0"]), ("node-2", ["sh", "-c", "echo real; exit 4"])]
    assert kube_double.count("exec", "pods") == 2


def test_exec_stdin_is_forwarded(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("default", pod_body("cat"))
    wait_phase(core, "cat", "Running")
    ws = stream(core.connect_get_namespaced_pod_exec, "cat", "default", command=["sh", "-c", "read line; echo got:$line; cat"],
                stdin=True, stdout=True, stderr=True, tty=False, _preload_content=False)
    ws.write_stdin("hello\n")
    assert ws.readline_stdout(timeout=20) == "got:hello"
    ws.write_stdin("more\n")
    assert ws.readline_stdout(timeout=20) == "more"
    ws.close_channel(0)
    ws.run_forever(timeout=20)
    assert ws.returncode == 0


def test_exec_over_v4_channel_protocol(core: client.CoreV1Api, kube_double: KubeDouble) -> None:
    core.create_namespaced_pod("default", pod_body("v4"))
    wait_phase(core, "v4", "Running")
    url = f"{kube_double.url}/api/v1/namespaces/default/pods/v4/exec"
    query = [("command", ["sh", "-c", "head -n1; echo oops >&2; exit 5"]), ("stdin", "true"), ("stdout", "true"), ("stderr", "true")]
    headers = {"authorization": f"Bearer {kube_double.token}", "sec-websocket-protocol": "v4.channel.k8s.io"}
    ws = ws_client.WSClient(kube_double.client_configuration(), ws_client.get_websocket_url(url, query), headers, capture_all=True)
    assert ws.subprotocol == "v4.channel.k8s.io"
    ws.write_stdin("line one\nline two\n")
    ws.run_forever(timeout=20)
    assert (ws.read_stdout(), ws.read_stderr(), ws.returncode) == ("line one\n", "oops\n", 5)


def test_watch_ends_after_timeout_seconds(core: client.CoreV1Api) -> None:
    events = list(watch.Watch().stream(core.list_namespaced_pod, "kube-public", timeout_seconds=1))
    assert events == []


def test_exec_refusals_and_missing_binary(core: client.CoreV1Api, kube_double: KubeDouble) -> None:
    core.create_namespaced_pod("default", pod_body("stuck", nodeSelector={"nope": "x"}))
    with pytest.raises(ApiException, match="400"):
        stream(core.connect_get_namespaced_pod_exec, "stuck", "default", command=["true"], stdout=True, stderr=False, stdin=False, tty=False)
    core.create_namespaced_pod("default", pod_body("ok"))
    wait_phase(core, "ok", "Running")
    ws = stream(core.connect_get_namespaced_pod_exec, "ok", "default", command=["no-such-binary-xyz"], stdout=True, stderr=True, stdin=False, tty=False, _preload_content=False)
    ws.run_forever(timeout=20)
    error = json.loads(ws.read_channel(3))
    assert error["reason"] == "InternalError"
    assert 'exec: "no-such-binary-xyz": executable file not found in $PATH' in error["message"]


# -- network namespaces -----------------------------------------------------------------


def _links(core: client.CoreV1Api, pod: str) -> list[str]:
    out, rc = run(core, pod, [IP, "-o", "link"])
    assert rc == 0
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


@pytest.mark.netns
def test_exec_runs_inside_the_pod_netns(netns_kube_double: KubeDouble) -> None:
    core = client.CoreV1Api(netns_kube_double.api_client())
    core.create_namespaced_pod("default", pod_body("p", nodeName="node-1"))
    wait_phase(core, "p", "Running")
    out, rc = run(core, "p", ["sh", "-c", "echo hi; exit 3"])
    assert (out, rc) == ("hi\n", 3)
    assert _links(core, "p") == ["lo"]
    netns = netns_kube_double.pod_netns("p")
    assert netns == f"kdpod-{netns_kube_double.pod('p')['metadata']['uid']}"
    assert netns in list_netns()
    core.delete_namespaced_pod("p", "default")
    netns_kube_double.settle()
    assert netns not in list_netns()


@pytest.mark.netns
def test_host_network_pod_runs_in_node_netns(netns_kube_double: KubeDouble, node_netns: dict[str, str]) -> None:
    subprocess.run([IP, "-n", node_netns["node-2"], "link", "add", "rail0", "type", "veth", "peer", "name", "rail0p"], check=True)
    core = client.CoreV1Api(netns_kube_double.api_client())
    core.create_namespaced_pod("default", pod_body("host", nodeName="node-2", hostNetwork=True))
    wait_phase(core, "host", "Running")
    assert sorted(_links(core, "host")) == ["lo", "rail0", "rail0p"]
    assert netns_kube_double.pod_netns("host") is None


@pytest.mark.netns
def test_pod_network_hook_adds_rail_interfaces(netns_kube_double: KubeDouble) -> None:
    def attach(pod: dict[str, Any], netns: str | None) -> dict[str, str]:
        assert netns is not None
        subprocess.run([IP, "-n", netns, "link", "add", "net1", "type", "veth", "peer", "name", "net1p"], check=True)
        status = [{"name": "spiderpool/gpu1-sriov", "interface": "net1", "ips": ["172.16.11.5"]}]
        return {"k8s.v1.cni.cncf.io/network-status": json.dumps(status)}

    netns_kube_double.on_pod_network = attach
    core = client.CoreV1Api(netns_kube_double.api_client())
    core.create_namespaced_pod("default", pod_body("rail", nodeName="node-1"))
    pod = wait_phase(core, "rail", "Running")
    status = json.loads(pod.metadata.annotations["k8s.v1.cni.cncf.io/network-status"])
    assert status[0]["ips"] == ["172.16.11.5"]
    assert sorted(_links(core, "rail")) == ["lo", "net1", "net1p"]
    assert netns_kube_double.errors == []


@pytest.mark.netns
def test_stop_removes_every_pod_netns(netns_kube_double: KubeDouble) -> None:
    core = client.CoreV1Api(netns_kube_double.api_client())
    for name in ("a", "b"):
        core.create_namespaced_pod("default", pod_body(name))
    for name in ("a", "b"):
        wait_phase(core, name, "Running")
    names = [netns_kube_double.pod_netns(n) for n in ("a", "b")]
    assert set(names) <= set(list_netns())
    netns_kube_double.stop()
    assert [name for name in names if name in list_netns()] == []
