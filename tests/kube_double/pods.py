"""Pod lifecycle: scheduling, a fake kubelet (netns, podIP, Running), deadlines and teardown."""

from __future__ import annotations

import asyncio
import copy
import ipaddress
import os
import signal
from concurrent.futures import Executor
from typing import Any

from .netns import add_netns, delete_netns, pod_netns_name
from .resources import builtin
from .scheduling import place
from .settings import Settings
from .store import Obj, Store, StoreEvent, meta, now

NODES = builtin("nodes")
PODS = builtin("pods")
TERMINAL = ("Succeeded", "Failed")
_FALLBACK_POD_NET = ipaddress.ip_network("10.244.0.0/16")


def condition(ctype: str, status: bool, reason: str | None = None, message: str | None = None) -> dict[str, Any]:
    cond: dict[str, Any] = {"type": ctype, "status": "True" if status else "False", "lastProbeTime": None, "lastTransitionTime": now()}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def set_condition(status: dict[str, Any], cond: dict[str, Any]) -> None:
    conds = [c for c in status.get("conditions") or [] if c.get("type") != cond["type"]]
    status["conditions"] = [*conds, cond]


def node_internal_ip(node: Obj | None) -> str:
    for addr in ((node or {}).get("status") or {}).get("addresses") or []:
        if addr.get("type") == "InternalIP":
            return str(addr.get("address", ""))
    return ""


def _container_statuses(pod: Obj, state: dict[str, Any], ready: bool) -> list[dict[str, Any]]:
    return [
        {
            "name": c.get("name"),
            "image": c.get("image"),
            "imageID": "",
            "containerID": f"containerd://{meta(pod).get('uid', '').replace('-', '')}{i}",
            "ready": ready,
            "started": ready,
            "restartCount": 0,
            "state": copy.deepcopy(state),
        }
        for i, c in enumerate(pod["spec"].get("containers") or [])
    ]


class PodLifecycle:
    """Reacts to store events for pods and nodes; all methods run on the loop thread."""

    def __init__(self, store: Store, settings: Settings, executor: Executor) -> None:
        self.store = store
        self.settings = settings
        self.executor = executor
        self.logs: dict[tuple[str, str, str], str] = {}
        self._timers: dict[str, list[asyncio.TimerHandle]] = {}
        self._netns: dict[str, str] = {}
        self._procs: dict[str, set[asyncio.subprocess.Process]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_ip: dict[str, int] = {}
        self._closing = False
        store.listeners.append(self._on_event)

    # -- event reactions ----------------------------------------------------

    def _on_event(self, event: StoreEvent) -> None:
        loop = asyncio.get_running_loop()
        if event.rtype.key == PODS.key:
            uid = meta(event.new).get("uid", "")
            if event.type == "ADDED":
                loop.call_soon(self._admit, uid, meta(event.new).get("namespace"), meta(event.new)["name"])
            elif event.type == "DELETED":
                self._teardown(uid)
                loop.call_soon(self.retry_pending)
        elif event.rtype.key == NODES.key and event.type in ("ADDED", "MODIFIED"):
            loop.call_soon(self.retry_pending)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _later(self, uid: str, delay: float, callback: Any, *args: Any) -> None:
        handle = asyncio.get_running_loop().call_later(delay, callback, *args)
        self._timers.setdefault(uid, []).append(handle)

    def _current(self, uid: str, namespace: str | None, name: str) -> Obj | None:
        pod = self.store.find(PODS, namespace, name)
        return pod if pod is not None and meta(pod).get("uid") == uid else None

    # -- scheduling ---------------------------------------------------------

    def _admit(self, uid: str, namespace: str | None, name: str) -> None:
        pod = self._current(uid, namespace, name)
        if pod is None:
            return
        node_name = pod["spec"].get("nodeName")
        if node_name:
            if self.store.find(NODES, None, node_name) is not None:
                self._bind(pod, node_name)
        else:
            self._schedule(pod)

    def _pods_by_node(self) -> dict[str, list[Obj]]:
        out: dict[str, list[Obj]] = {}
        for pod in self.store.list(PODS):
            node = pod["spec"].get("nodeName")
            if node and (pod.get("status") or {}).get("phase") not in TERMINAL:
                out.setdefault(node, []).append(pod)
        return out

    def _schedule(self, pod: Obj) -> None:
        node_name, message = place(pod, self.store.list(NODES), self._pods_by_node())
        if node_name:
            self._bind(pod, node_name)
            return
        current = next((c for c in pod["status"].get("conditions") or [] if c.get("type") == "PodScheduled"), {})
        if current.get("message") != message:
            self.store.mutate(PODS, meta(pod).get("namespace"), meta(pod)["name"],
                              lambda p: set_condition(p["status"], condition("PodScheduled", False, "Unschedulable", message)))

    def retry_pending(self) -> None:
        """Give unscheduled pods another go (nodes or free resources changed)."""
        for pod in self.store.list(PODS):
            if not pod["spec"].get("nodeName") and pod["status"].get("phase") == "Pending":
                self._schedule(pod)

    def _bind(self, pod: Obj, node_name: str) -> None:
        def change(p: Obj) -> None:
            p["spec"]["nodeName"] = node_name
            set_condition(p["status"], condition("PodScheduled", True))
            p["status"]["containerStatuses"] = _container_statuses(p, {"waiting": {"reason": "ContainerCreating"}}, False)

        md = meta(pod)
        self.store.mutate(PODS, md.get("namespace"), md["name"], change)
        self._later(md["uid"], self.settings.start_delay, self._spawn_start, md["uid"], md.get("namespace"), md["name"])

    # -- the kubelet part ---------------------------------------------------

    def _spawn_start(self, uid: str, namespace: str | None, name: str) -> None:
        self._spawn(self._start(uid, namespace, name))

    def _pod_ip(self, node: Obj | None, node_name: str) -> str:
        cidr = ((node or {}).get("spec") or {}).get("podCIDR")
        net = ipaddress.ip_network(cidr, strict=False) if cidr else _FALLBACK_POD_NET
        bucket = node_name if cidr else ""
        self._next_ip[bucket] = self._next_ip.get(bucket, 1) + 1
        return str(net.network_address + self._next_ip[bucket])

    async def _start(self, uid: str, namespace: str | None, name: str) -> None:
        pod = self._current(uid, namespace, name)
        if pod is None or pod["status"].get("phase") != "Pending":
            return
        node_name = pod["spec"]["nodeName"]
        node = self.store.find(NODES, None, node_name)
        host_network = bool(pod["spec"].get("hostNetwork"))
        netns = None
        if not host_network and self.settings.pod_netns and not self._closing:
            netns = self._netns[uid] = pod_netns_name(uid)
            try:
                await add_netns(netns)
            except RuntimeError as exc:
                self.settings.errors.append(f"pod {namespace}/{name}: {exc}")
                return
        annotations: dict[str, str] = {}
        hook = self.settings.on_pod_network
        if hook is not None and not host_network:
            try:
                annotations = dict(await asyncio.get_running_loop().run_in_executor(self.executor, hook, copy.deepcopy(pod), netns) or {})
            except Exception as exc:  # noqa: BLE001 - a failing hook is reported, the pod stays Pending
                self.settings.errors.append(f"on_pod_network for {namespace}/{name}: {exc!r}")
                return
        current = self._current(uid, namespace, name)
        if current is None or self._closing or current["status"].get("phase") != "Pending":
            if netns and self._netns.get(uid) != netns:
                await delete_netns(netns)  # torn down while we were creating it
            return
        host_ip = node_internal_ip(node)
        pod_ip = host_ip if host_network else self._pod_ip(node, node_name)
        self.store.mutate(PODS, namespace, name, lambda p: self._run(p, host_ip, pod_ip, annotations))
        deadline = pod["spec"].get("activeDeadlineSeconds")
        if deadline is not None:
            self._later(uid, float(deadline), self._deadline, uid, namespace, name)

    @staticmethod
    def _run(pod: Obj, host_ip: str, pod_ip: str, annotations: dict[str, str]) -> None:
        if annotations:
            meta(pod).setdefault("annotations", {}).update(annotations)
        status = pod["status"]
        status.update(phase="Running", hostIP=host_ip, hostIPs=[{"ip": host_ip}] if host_ip else [],
                      podIP=pod_ip, podIPs=[{"ip": pod_ip}], startTime=now())
        for ctype in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady"):
            set_condition(status, condition(ctype, True))
        status["containerStatuses"] = _container_statuses(pod, {"running": {"startedAt": now()}}, True)

    def _deadline(self, uid: str, namespace: str | None, name: str) -> None:
        pod = self._current(uid, namespace, name)
        if pod is not None and pod["status"].get("phase") not in TERMINAL:
            self.terminate(pod, 137, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline")

    def terminate(self, pod: Obj, exit_code: int, reason: str | None = None, message: str | None = None) -> Obj:
        """End every container with `exit_code`; the pod goes Succeeded (0) or Failed."""
        phase = "Succeeded" if exit_code == 0 and reason is None else "Failed"

        def change(p: Obj) -> None:
            status = p["status"]
            status["phase"] = phase
            for key, value in (("reason", reason), ("message", message)):
                if value:
                    status[key] = value
            for ctype in ("Ready", "ContainersReady"):
                set_condition(status, condition(ctype, False, "PodCompleted" if phase == "Succeeded" else "PodFailed"))
            terminated = {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error", "finishedAt": now()}
            status["containerStatuses"] = _container_statuses(p, {"terminated": terminated}, False)

        md = meta(pod)
        updated = self.store.mutate(PODS, md.get("namespace"), md["name"], change)
        self._teardown(md["uid"])
        asyncio.get_running_loop().call_soon(self.retry_pending)  # its resources are free again
        return updated

    # -- processes, netns, teardown -----------------------------------------

    def exec_netns(self, pod: Obj) -> str | None:
        """Where an exec into `pod` runs: its own netns, its node's, or (None) right here."""
        if pod["spec"].get("hostNetwork"):
            return self.settings.node_netns.get(pod["spec"].get("nodeName", ""))
        return self._netns.get(meta(pod).get("uid", ""))

    def pod_netns(self, uid: str) -> str | None:
        return self._netns.get(uid)

    def track(self, uid: str, proc: asyncio.subprocess.Process, add: bool = True) -> None:
        procs = self._procs.setdefault(uid, set())
        if add:
            procs.add(proc)
        else:
            procs.discard(proc)

    @staticmethod
    def kill(proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _teardown(self, uid: str) -> None:
        for handle in self._timers.pop(uid, []):
            handle.cancel()
        for proc in self._procs.pop(uid, set()):
            self.kill(proc)
        netns = self._netns.pop(uid, None)
        if netns:
            self._spawn(delete_netns(netns))

    async def settle(self) -> None:
        """Wait for background work (pod starts, netns deletion) started so far."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def shutdown(self) -> None:
        """Kill everything, delete every netns this double made, and wait for it."""
        self._closing = True
        while True:
            for uid in list(set(self._timers) | set(self._procs) | set(self._netns)):
                self._teardown(uid)
            if not self._tasks:
                break
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
