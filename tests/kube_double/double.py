"""KubeDouble: an in-process Kubernetes API server on 127.0.0.1, driven by the real client."""

from __future__ import annotations

import asyncio
import copy
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TypeVar

import yaml
from aiohttp import web
from kubernetes import client as k8s

from .app import Api
from .calls import ApiCall, Fault, Recorder
from .cluster import NAMESPACES, Cluster
from .netns import netns_supported
from .pods import NODES, PODS
from .resources import DEFAULT_CRDS, ResourceType, kind_from_plural
from .settings import ExecHandler, NetworkHook, Settings
from .store import Obj, meta

T = TypeVar("T")
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
DEFAULT_ALLOCATABLE = {"cpu": "64", "memory": "512Gi", "pods": "110", "ephemeral-storage": "500Gi"}


def _plural_for(kind: str) -> str:
    lower = kind.lower()
    return lower[:-1] + "ies" if lower.endswith("y") else lower + "s"


def _node_info(name: str) -> dict[str, str]:
    ident = uuid.uuid5(uuid.NAMESPACE_DNS, name)
    return {
        "architecture": "amd64", "bootID": str(ident), "containerRuntimeVersion": "containerd://1.7.20",
        "kernelVersion": "6.8.0-generic", "kubeProxyVersion": "v1.31.0", "kubeletVersion": "v1.31.0",
        "machineID": ident.hex, "operatingSystem": "linux", "osImage": "Ubuntu 24.04 LTS", "systemUUID": str(ident),
    }


def _setting(name: str, doc: str) -> Any:
    """A read/write property that forwards to `self.settings.<name>`."""
    return property(lambda self: getattr(self.settings, name), lambda self, value: setattr(self.settings, name, value), doc=doc)


class KubeDouble:
    """A Kubernetes API server double; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        nodes: Iterable[str] = (),
        *,
        node_netns: Mapping[str, str] | None = None,
        token: str = "kube-double-token",
        start_delay: float = 0.05,
        pod_netns: bool | None = None,
        exec_handler: ExecHandler | None = None,
        on_pod_network: NetworkHook | None = None,
        namespaces: Iterable[str] = DEFAULT_NAMESPACES,
        crds: Iterable[ResourceType] = DEFAULT_CRDS,
        auto_crds: bool = True,
        workers: int = 64,
    ) -> None:
        self.settings = Settings(
            token=token,
            start_delay=start_delay,
            pod_netns=netns_supported() if pod_netns is None else pod_netns,
            node_netns=dict(node_netns or {}),
            exec_handler=exec_handler,
            on_pod_network=on_pod_network,
        )
        self.recorder = Recorder()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kube-double")
        self._seed = (list(nodes), list(namespaces), list(crds), auto_crds)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._cluster: Cluster | None = None
        self._api: Api | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> KubeDouble:
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        booted: list[BaseException | None] = []
        ready = threading.Event()
        self._loop = loop
        self._thread = threading.Thread(target=self._serve, args=(loop, ready, booted), name="kube-double", daemon=True)
        self._thread.start()
        ready.wait(timeout=30)
        if not booted or booted[0] is not None:
            self.stop()
            raise RuntimeError(f"kube double failed to start: {booted[0] if booted else 'timeout'}")
        return self

    def _serve(self, loop: asyncio.AbstractEventLoop, ready: threading.Event, booted: list[BaseException | None]) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._boot())
            booted.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to start()
            booted.append(exc)
        ready.set()
        if booted[0] is None:
            loop.run_forever()
        loop.close()

    async def _boot(self) -> None:
        nodes, namespaces, crds, auto_crds = self._seed
        self._cluster = cluster = Cluster(self.settings, self._executor, crds, auto_crds)
        for namespace in namespaces:
            cluster.create(NAMESPACES, None, {"metadata": {"name": namespace}})
        for name in nodes:
            self._add_node(name)
        self._api = api = Api(cluster, self.settings, self._executor, self.recorder, "")
        self._runner = web.AppRunner(api.build(), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        api.server = f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Stop serving, kill exec'd commands and delete every pod netns; safe to call twice."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=120)
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._loop = self._thread = None

    async def _shutdown(self) -> None:
        if self._cluster is not None:
            self._cluster.store.close_watchers()
            await self._cluster.lifecycle.shutdown()
        if self._api is not None:
            await self._api.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()

    def __enter__(self) -> KubeDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn` on the loop thread (where all state lives) and return its result."""
        if self._loop is None:
            raise RuntimeError("kube double is not running")
        if threading.current_thread() is self._thread:
            return fn(*args, **kwargs)

        async def job() -> T:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(job(), self._loop).result(timeout=60)

    @property
    def cluster(self) -> Cluster:
        if self._cluster is None:
            raise RuntimeError("kube double is not running")
        return self._cluster

    # -- client wiring --------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return self.settings.token

    def client_configuration(self) -> k8s.Configuration:
        config = k8s.Configuration(host=self.url)
        config.api_key = {"BearerToken": self.token}
        config.api_key_prefix = {"BearerToken": "Bearer"}
        return config

    def api_client(self) -> k8s.ApiClient:
        return k8s.ApiClient(self.client_configuration())

    def kubeconfig(self, path: str | Path, namespace: str = "default") -> Path:
        """Write a kubeconfig for `kubernetes.config.load_kube_config(config_file=...)`."""
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kube-double", "cluster": {"server": self.url}}],
            "users": [{"name": "kube-double", "user": {"token": self.token}}],
            "contexts": [{"name": "kube-double", "context": {"cluster": "kube-double", "user": "kube-double", "namespace": namespace}}],
            "current-context": "kube-double",
        }
        target = Path(path)
        target.write_text(yaml.safe_dump(doc, sort_keys=False))
        return target

    # -- hooks ------------------------------------------------------------------

    exec_handler = _setting("exec_handler", "exec_handler(pod, argv) -> (rc, stdout, stderr) | None (None: run argv for real).")
    exec_rewrite = _setting("exec_rewrite", "exec_rewrite(pod, argv) -> argv actually run for real (stdin still flows).")
    on_pod_network = _setting("on_pod_network", "on_pod_network(pod, netns) -> annotations | None, called before a pod runs.")

    @property
    def errors(self) -> list[str]:
        """Problems inside the double (failing hooks, netns errors, server bugs)."""
        return list(self.settings.errors)

    # -- seeding and inspection -------------------------------------------------

    def _add_node(self, name: str, netns: str | None = None, **fields: Any) -> Obj:
        cluster = self.cluster
        index = len(cluster.node_names()) + 1
        labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", **(fields.get("labels") or {})}
        allocatable = {**DEFAULT_ALLOCATABLE, **(fields.get("allocatable") or {})}
        addresses = fields.get("addresses") or [{"type": "InternalIP", "address": f"172.18.0.{index + 1}"}, {"type": "Hostname", "address": name}]
        node = {
            "metadata": {"name": name, "labels": labels, "annotations": dict(fields.get("annotations") or {})},
            "spec": {"podCIDR": f"10.244.{index}.0/24", "podCIDRs": [f"10.244.{index}.0/24"], "taints": list(fields.get("taints") or []),
                     "unschedulable": bool(fields.get("unschedulable"))},
            "status": {
                "allocatable": allocatable,
                "capacity": {**allocatable, **(fields.get("capacity") or {})},
                "addresses": addresses,
                "conditions": [{"type": "Ready", "status": "True" if fields.get("ready", True) else "False", "reason": "KubeletReady"}],
                "nodeInfo": _node_info(name),
            },
        }
        if netns:
            self.settings.node_netns[name] = netns
        return cluster.create(NODES, None, node)

    def add_node(self, name: str, *, netns: str | None = None, labels: Mapping[str, str] | None = None,
                 allocatable: Mapping[str, str] | None = None, capacity: Mapping[str, str] | None = None,
                 addresses: list[dict[str, str]] | None = None, taints: list[dict[str, str]] | None = None,
                 annotations: Mapping[str, str] | None = None, unschedulable: bool = False, ready: bool = True) -> Obj:
        """Add a node (labels/allocatable extend the defaults); `netns` backs its hostNetwork pods."""
        return self._call(self._add_node, name, netns, labels=labels, allocatable=allocatable, capacity=capacity,
                          addresses=addresses, taints=taints, annotations=annotations, unschedulable=unschedulable, ready=ready)

    def add_namespace(self, name: str, labels: Mapping[str, str] | None = None) -> Obj:
        return self.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels or {})}})

    def _rtype(self, api_version: str, kind: str, namespaced: bool) -> ResourceType:
        cluster = self.cluster
        found = cluster.registry.by_kind(api_version, kind)
        if found is not None:
            return found
        group, _, version = api_version.rpartition("/")
        rtype = cluster.resolve(group, version, _plural_for(kind), namespaced)
        if rtype is None:
            raise KeyError(f"unknown resource {api_version} {kind}")
        return cluster.adopt_kind(rtype, kind)

    def add(self, obj: Mapping[str, Any]) -> Obj:
        """Create any object from its apiVersion/kind (status kept as given); returns the stored copy."""
        def create() -> Obj:
            body = copy.deepcopy(dict(obj))
            namespace = (body.get("metadata") or {}).get("namespace")
            rtype = self._rtype(body["apiVersion"], body["kind"], namespace is not None)
            if rtype.namespaced:
                namespace = namespace or "default"
            return self.cluster.create(rtype, namespace if rtype.namespaced else None, body)

        return self._call(create)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj:
        return self._call(lambda: self.cluster.get(self._rtype(api_version, kind, namespace is not None), namespace, name))

    def objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[Obj]:
        return self._call(lambda: self.cluster.list(self._rtype(api_version, kind, namespace is not None), namespace))

    def replace(self, obj: Mapping[str, Any]) -> Obj:
        """Overwrite a stored object wholesale (status included), bumping its resourceVersion."""
        def store() -> Obj:
            md = obj.get("metadata") or {}
            rtype = self._rtype(obj["apiVersion"], obj["kind"], md.get("namespace") is not None)
            return self.cluster.store.replace(rtype, copy.deepcopy(dict(obj)))

        return self._call(store)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        self._call(lambda: self.cluster.delete(self._rtype(api_version, kind, namespace is not None), namespace, name))

    def install_crd(self, group: str, version: str, plural: str, kind: str | None = None, namespaced: bool = True) -> None:
        rtype = ResourceType(group, version, plural, kind or kind_from_plural(plural), namespaced, ("status",))
        self._call(self.cluster.install_crd, rtype)

    def uninstall_crd(self, group: str, plural: str) -> None:
        """Make a custom resource vanish (404 from then on), as if its operator was never installed."""
        self._call(self.cluster.uninstall_crd, group, plural)

    # -- pods -------------------------------------------------------------------

    def pods(self, namespace: str | None = None) -> list[Obj]:
        return self._call(self.cluster.list, PODS, namespace)

    def pod(self, name: str, namespace: str = "default") -> Obj:
        return self._call(self.cluster.get, PODS, namespace, name)

    def pod_netns(self, name: str, namespace: str = "default") -> str | None:
        """The netns the double created for a non-hostNetwork pod (None if it has none)."""
        return self._call(lambda: self.cluster.lifecycle.pod_netns(meta(self.cluster.get(PODS, namespace, name))["uid"]))

    def wait_for_pod(self, name: str, namespace: str = "default", phase: str = "Running", timeout: float = 10.0) -> Obj:
        """Poll until the pod reaches `phase`; TimeoutError otherwise."""
        end = time.monotonic() + timeout
        while True:
            pod = self.pod(name, namespace)
            if pod["status"].get("phase") == phase:
                return pod
            if time.monotonic() > end:
                raise TimeoutError(f"pod {namespace}/{name} is {pod['status'].get('phase')}, not {phase}")
            time.sleep(0.02)

    def settle(self) -> None:
        """Block until background pod work started so far (netns setup/teardown) is done."""
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self.cluster.lifecycle.settle(), self._loop).result(timeout=60)

    def finish_pod(self, name: str, namespace: str = "default", exit_code: int = 0, log: str | None = None) -> Obj:
        """End a pod's containers (Succeeded for 0, else Failed), optionally with a log."""
        def finish() -> Obj:
            pod = self.cluster.get(PODS, namespace, name)
            if log is not None:
                for container in pod["spec"]["containers"]:
                    self.cluster.lifecycle.logs[(namespace, name, container["name"])] = log
            return self.cluster.lifecycle.terminate(pod, exit_code)

        return self._call(finish)

    def set_pod_log(self, name: str, text: str, namespace: str = "default", container: str | None = None) -> None:
        def store() -> None:
            pod = self.cluster.get(PODS, namespace, name)
            chosen = container or pod["spec"]["containers"][0]["name"]
            self.cluster.lifecycle.logs[(namespace, name, chosen)] = text

        self._call(store)

    # -- instrumentation --------------------------------------------------------

    @property
    def calls(self) -> list[ApiCall]:
        return list(self.recorder.calls)

    def count(self, verb: str | None = None, resource: str | None = None, **fields: str | None) -> int:
        """How many calls matched, e.g. count("create", "pods") or count("exec", "pods", namespace="x")."""
        return sum(1 for call in self.calls if call.matches(verb, resource, **fields))

    def clear_calls(self) -> None:
        self.recorder.calls.clear()

    def inject_fault(self, verb: str | None = None, resource: str | None = None, code: int = 500, message: str | None = None,
                     *, namespace: str | None = None, name: str | None = None, times: int | None = 1) -> Fault:
        """Fail the next `times` matching calls (None: all of them) with a Status of `code`."""
        fault = Fault(verb, resource, code, message or f"injected failure ({code})", namespace, name, times)
        self.recorder.faults.append(fault)
        return fault
