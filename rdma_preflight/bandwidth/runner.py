"""Orchestration over endpoints (pods or hosts): discover, rounds, retests, verdicts.

An endpoint is one node's place to run commands: a pod (``pods.PodEndpoint``) or a host
(``host.HostEndpoint``). A round runs in three steps, each in parallel over endpoints:

1. ``serve``: every server of the round starts (one per (node, rail), a distinct TCP port
   per rail, all rails at once); the driver reports which listen.
2. ``run``: clients start only against servers that listen, all rails of a pair at once.
3. ``collect``: the servers' output, and any server still waiting is stopped.

Flows refused before any traffic (endpoint not Ready, no device, port down, bad GID,
perftest missing or of another version) are recorded without running. After the planned
rounds every flow that failed on traffic is retested alone and against a known-good
partner (``verdict.Judge.retest_flows``), then every planned flow is judged.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Protocol, Sequence

from . import driver, names
from .discover import HostView, RailEndpoint, RailTarget, bind, parse_view
from .failures import Classified, FailureClass, JobOutput, classify, read
from .schedule import Flow, Round, pack, planned_flows
from .verdict import FlowVerdict, Judge, Measurement, nominal_rates

C = FailureClass


class EndpointError(Exception):
    """A command could not be run on an endpoint (API or transport error, exec timeout)."""


class Endpoint(Protocol):
    node: str

    @property
    def annotations(self) -> Mapping[str, str] | None: ...

    def exec(self, argv: list[str], timeout: float) -> tuple[int, str, str]: ...


@dataclass(frozen=True)
class RunConfig:
    rails: tuple[RailTarget, ...]
    fabric: str                          # roce | infiniband
    duration: int = 10
    size: int = 65536
    qps: int = 4
    port_base: int = 18515
    perftest: str = "ib_write_bw"
    floor_fraction: float = 0.9
    outlier_fraction: float = 0.8
    rate_gbps: float | None = None
    retest: bool = True
    known_good: tuple[str, ...] = ()
    status_namespace: str | None = None  # Multus network-status names are <namespace>/<network>
    pod: bool = True
    listen_wait: int = 15                # seconds for a server to listen
    connect_slack: int = 15              # client setup + report beyond -D
    exec_margin: int = 30                # API/transport allowance per exec
    workers: int = 64

    @classmethod
    def from_profile(cls, profile, **over) -> "RunConfig":
        """Settings from the profile; keyword arguments override any of them."""
        bw = profile.bandwidth
        fields = dict(rails=tuple(RailTarget.from_profile(profile)), fabric=profile.design.fabric,
                      duration=bw.duration, size=bw.size, qps=bw.qps, port_base=bw.port_base,
                      perftest=bw.perftest, floor_fraction=bw.floor_fraction,
                      outlier_fraction=bw.outlier_fraction, rate_gbps=profile.rdma.rate_gbps, retest=bw.retest,
                      known_good=tuple(bw.known_good), status_namespace=profile.kubernetes.spiderpool_namespace)
        return cls(**{**fields, **over})

    @property
    def client_timeout(self) -> int:
        return self.duration + self.connect_slack

    @property
    def server_timeout(self) -> int:
        return self.listen_wait + self.client_timeout + self.connect_slack

    @property
    def round_budget(self) -> int:
        """Worst-case seconds of one round (the pods' activeDeadlineSeconds is built from it)."""
        return (self.listen_wait + self.client_timeout + driver.KILL_AFTER + self.connect_slack
                + 3 * self.exec_margin // 2)

    def port(self, rail: str) -> int:
        return self.port_base + next(r.index for r in self.rails if r.name == rail)


@dataclass
class RoundInfo:
    index: int
    retest: bool
    jobs: list[tuple[str, str, tuple[str, ...]]]
    seconds: float
    execs: int
    phases: dict[str, float] = field(default_factory=dict)      # serve | run | collect -> seconds


@dataclass
class BandwidthReport:
    run_id: str
    mode: str                                       # kubernetes | hosts
    nodes: list[str]
    rails: list[str]
    planned: list[Flow]
    rounds: list[RoundInfo] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    verdicts: dict[str, FlowVerdict] = field(default_factory=dict)
    endpoints: dict[str, dict[str, RailEndpoint]] = field(default_factory=dict)
    not_ready: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str | None] = field(default_factory=dict)
    seconds: float = 0.0
    deleted: list[str] = field(default_factory=list)
    interrupted: bool = False
    timings: dict[str, float] = field(default_factory=dict)    # create | ready | discover | delete -> seconds

    def verdict(self, flow: Flow) -> FlowVerdict | None:
        return self.verdicts.get(flow.id)

    def table(self) -> str:
        """One line per planned flow: outcome, figure, class, localisation."""
        lines = []
        for f in self.planned:
            v = self.verdicts.get(f.id)
            if v is None:
                continue
            fig = f"{v.gbps:8.2f}" if v.gbps is not None else "       -"
            where = f"  [{v.blame.kind}: {v.blame.node or ''}]" if v.blame else ""
            lines.append(f"{v.outcome:4}  {f.id:40} {fig} Gb/s  {v.cls.name if v.cls else ''}{where}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "run_id": self.run_id, "mode": self.mode, "nodes": self.nodes, "rails": self.rails,
            "seconds": round(self.seconds, 3), "interrupted": self.interrupted, "deleted": self.deleted,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "not_ready": self.not_ready, "versions": self.versions,
            "rounds": [{"index": r.index, "retest": r.retest, "seconds": round(r.seconds, 3), "execs": r.execs,
                        "phases": {k: round(v, 3) for k, v in r.phases.items()},
                        "jobs": [{"src": s, "dst": d, "rails": list(rs)} for s, d, rs in r.jobs]}
                       for r in self.rounds],
            "endpoints": {n: {r: {**e.evidence(), "problem": e.problem.name if e.problem else None,
                                  "detail": e.detail} for r, e in eps.items()}
                          for n, eps in self.endpoints.items()},
            "flows": [{"flow": v.flow.id, "outcome": v.outcome, "class": v.cls.name if v.cls else None,
                       "gbps": v.gbps, "summary": v.summary, "blame": v.blame.kind if v.blame else None,
                       "blamed_node": v.blame.node if v.blame else None}
                      for v in (self.verdicts[f.id] for f in self.planned if f.id in self.verdicts)],
        }


@dataclass
class _Leg:
    """One rail of one job in a round."""

    flow: Flow
    port: int
    server_tag: str
    client_tag: str
    server_job: str
    client_job: str


class Runner:
    def __init__(self, endpoints: Mapping[str, Endpoint], config: RunConfig, run_id: str, *,
                 not_ready: Mapping[str, str] | None = None, nonce: str | None = None,
                 deadline: float | None = None) -> None:
        self.endpoints = dict(endpoints)
        self.config = config
        self.run_id = names.run_id(run_id)
        self.nonce = nonce or names.new_run_id()
        self.not_ready = dict(not_ready or {})
        self.views: dict[str, HostView] = {}
        self.rails: dict[str, dict[str, RailEndpoint]] = {}
        self.deadline = deadline                    # time.monotonic() after which no round starts
        self.cancel = threading.Event()
        self.execs = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(config.workers, len(self.endpoints) or 1)),
                                        thread_name_prefix="rpf-bw")
        self._serving: dict[str, tuple[str, list[str]]] = {}  # node -> (round dir, server jobs) in flight

    # -- plumbing ---------------------------------------------------------------------------
    def close(self, wait: bool = False) -> None:
        """No new commands; ``wait``: also let the ones in flight end (each has its timeout)."""
        self.cancel.set()
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def _exec(self, node: str, argv: list[str], timeout: float) -> tuple[int, str, str]:
        if self.cancel.is_set():
            raise EndpointError("run cancelled")
        with self._lock:
            self.execs += 1
        return self.endpoints[node].exec(argv, timeout)

    def _parallel(self, calls: Mapping[str, Callable[[], object]]) -> dict[str, object]:
        """Run one call per node at once; an exception becomes that node's value."""
        futures = {node: self._pool.submit(fn) for node, fn in calls.items()}
        out: dict[str, object] = {}
        for node, fut in futures.items():
            try:
                out[node] = fut.result()
            except Exception as exc:  # noqa: BLE001 - reported per flow
                out[node] = exc
        return out

    # -- discovery --------------------------------------------------------------------------
    def discover(self) -> None:
        cfg = self.config
        argv = driver.discover_command(self.nonce, cfg.perftest)
        results = self._parallel({n: (lambda n=n: self._exec(n, argv, 30 + cfg.exec_margin))
                                  for n in self.endpoints})
        for node, res in results.items():
            if isinstance(res, Exception):
                self.not_ready[node] = f"discovery failed: {res}"
                continue
            rc, out, err = res  # type: ignore[misc]
            frames = driver.parse_frames(out, self.nonce)
            if "end" not in frames.sections:
                self.not_ready[node] = f"discovery failed (exit {rc}): {(err or out).strip()[:300]}"
                continue
            view = parse_view(frames.sections)
            self.views[node] = view
            self.rails[node] = bind(view, cfg.rails, cfg.fabric, annotations=self.endpoints[node].annotations,
                                    namespace=cfg.status_namespace, pod=cfg.pod)

    # -- one round --------------------------------------------------------------------------
    def _refused(self, flow: Flow) -> Classified | None:
        """Why a flow cannot run at all (None: it can)."""
        for node, side in ((flow.dst, "server"), (flow.src, "client")):
            if node in self.not_ready or node not in self.rails:
                return Classified(None, C.NOT_READY, f"{node}: {self.not_ready.get(node, 'no endpoint')}", side)
        for node, side in ((flow.dst, "server"), (flow.src, "client")):
            if self.views[node].perftest_missing:
                return Classified(None, C.BINARY_MISSING, f"{node}: {self.views[node].perftest_text[:200]}", side)
            ep = self.rails[node][flow.rail]
            if ep.problem is not None:
                return Classified(None, ep.problem, f"{node}: {ep.detail}", side)
            if not ep.ip and side == "server":
                return Classified(None, C.GID, f"{node}: {ep.netdev} has no IPv4 address", side)
        a, b = self.views[flow.src].perftest_version, self.views[flow.dst].perftest_version
        if a and b and a != b:
            return Classified(None, C.VERSION_SKEW, f"perftest {a} on {flow.src}, {b} on {flow.dst}", "")
        return None

    def _legs(self, rnd: Round) -> tuple[list[_Leg], list[Measurement]]:
        cfg = self.config
        legs, refused = [], []
        for flow in rnd.flows():
            why = self._refused(flow)
            if why is not None:
                refused.append(Measurement(flow, rnd.index, rnd.retest, why, self._evidence(flow)))
                continue
            port = cfg.port(flow.rail)
            s, c = self.rails[flow.dst][flow.rail], self.rails[flow.src][flow.rail]
            gid = (lambda ep: ep.gid_index if cfg.fabric == "roce" else None)
            server = driver.PerftestArgs(cfg.perftest, s.device, s.port, gid(s), port, cfg.duration, cfg.size, cfg.qps)
            client = driver.PerftestArgs(cfg.perftest, c.device, c.port, gid(c), port, cfg.duration, cfg.size, cfg.qps)
            st, ct = f"s-{flow.rail}", f"c-{flow.rail}"
            legs.append(_Leg(flow, port, st, ct, driver.job(st, port, server.argv(None, cfg.server_timeout)),
                             driver.job(ct, port, client.argv(s.ip, cfg.client_timeout))))
        return legs, refused

    def run_round(self, rnd: Round, phases: dict[str, float] | None = None) -> list[Measurement]:
        cfg = self.config
        phases = {} if phases is None else phases
        t0 = time.monotonic()
        legs, out = self._legs(rnd)
        round_dir = f"/tmp/rpf-bw-{self.run_id}-{'t' if rnd.retest else 'r'}{rnd.index}"
        serve: dict[str, list[_Leg]] = {}
        for leg in legs:
            serve.setdefault(leg.flow.dst, []).append(leg)
        for node, ls in serve.items():
            self._serving[node] = (f"{round_dir}-{node}", [leg.server_job for leg in ls])
        served = self._parallel({n: (lambda n=n, ls=ls: self._driver(n, "serve", f"{round_dir}-{n}", cfg.listen_wait,
                                                                     [leg.server_job for leg in ls]))
                                 for n, ls in serve.items()})
        phases["serve"] = time.monotonic() - t0
        status: dict[Flow, str] = {}
        dead_out: dict[Flow, JobOutput] = {}
        failed: dict[Flow, str] = {}
        for node, ls in serve.items():
            res = served[node]
            for leg in ls:
                if isinstance(res, Exception):
                    failed[leg.flow] = f"serve on {node}: {res}"
                    continue
                status[leg.flow] = res.status.get(leg.server_tag, "notready")
                if leg.server_tag in res.output:
                    dead_out[leg.flow] = JobOutput(res.output[leg.server_tag], res.rc.get(leg.server_tag))
        clients: dict[str, list[_Leg]] = {}
        for leg in legs:
            if status.get(leg.flow) == "ready":
                clients.setdefault(leg.flow.src, []).append(leg)
        t1 = time.monotonic()
        ran = self._parallel({n: (lambda n=n, ls=ls: self._clients(n, f"{round_dir}-{n}", ls, serve.get(n, [])))
                              for n, ls in clients.items()})
        t2 = time.monotonic()
        phases["run"] = t2 - t1
        # servers not collected by their endpoint's run exec (serving only, or the run exec failed)
        rest = {n: ls for n, ls in serve.items() if not isinstance(ran.get(n), tuple)}
        collected = self._parallel({n: (lambda n=n, ls=ls: self._driver(
            n, "collect", f"{round_dir}-{n}", cfg.connect_slack, [leg.server_job for leg in ls],
            cfg.connect_slack + 2 + driver.KILL_AFTER)) for n, ls in rest.items()})
        collected.update({n: ran[n][0] for n in serve if n not in rest})
        phases["collect"] = time.monotonic() - t2
        for node in serve:
            self._serving.pop(node, None)
        for leg in legs:
            out.append(self._measure(rnd, leg, status, dead_out, failed, ran.get(leg.flow.src),
                                     collected.get(leg.flow.dst)))
        return out

    def _clients(self, node: str, workdir: str, legs: list[_Leg],
                 servers: list[_Leg]) -> tuple[driver.Frames, dict[str, Classified]]:
        """Run an endpoint's clients, then collect its own servers of the round in the same exec;
        client outputs are read here, in the worker, while other endpoints still run."""
        cfg = self.config
        jobs = [leg.client_job for leg in legs]
        if servers:
            jobs += [driver.SERVERS_FOLLOW, *(leg.server_job for leg in servers)]
        wait = cfg.connect_slack if servers else 0
        frames = self._driver(node, "run", workdir, wait, jobs, cfg.client_timeout + driver.KILL_AFTER + 2)
        tags = {leg.client_tag for leg in legs}
        return frames, {tag: read(JobOutput(text, frames.rc.get(tag)), "client", cfg.client_timeout)
                        for tag, text in frames.output.items() if tag in tags}

    def _measure(self, rnd: Round, leg: _Leg, status, dead_out, failed, ran, collected) -> Measurement:
        cfg, flow = self.config, leg.flow
        ev = self._evidence(flow) | {"port": leg.port}
        if flow in failed:
            return Measurement(flow, rnd.index, rnd.retest, Classified(None, C.NO_RESULT, failed[flow], "server"), ev)
        client = server = client_read = None
        if isinstance(ran, tuple) and leg.client_tag in ran[0].output:
            client = JobOutput(ran[0].output[leg.client_tag], ran[0].rc.get(leg.client_tag))
            client_read = ran[1].get(leg.client_tag)
            ev["rc_client"] = client.rc
        elif isinstance(ran, Exception):
            return Measurement(flow, rnd.index, rnd.retest,
                               Classified(None, C.NO_RESULT, f"client exec on {flow.src}: {ran}", "client"), ev)
        if isinstance(collected, driver.Frames) and leg.server_tag in collected.output:
            server = JobOutput(collected.output[leg.server_tag], collected.rc.get(leg.server_tag))
        else:
            server = dead_out.get(flow)
        if server is not None:
            ev["rc_server"] = server.rc
        got = classify(client, server, status.get(flow, "notready"), cfg.client_timeout, cfg.server_timeout,
                       cfg.listen_wait, client_read)
        return Measurement(flow, rnd.index, rnd.retest, got, ev)

    def _driver(self, node: str, mode: str, workdir: str, wait_s: int, jobs: list[str],
                run_for: int = 0) -> driver.Frames:
        timeout = wait_s + run_for + self.config.exec_margin
        rc, out, err = self._exec(node, driver.command(mode, workdir, self.nonce, wait_s, jobs), timeout)
        frames = driver.parse_frames(out, self.nonce)
        if rc != 0 and not frames.output and not frames.status:
            raise EndpointError(f"driver {mode} exit {rc}: {(err or out).strip()[:300]}")
        return frames

    def _evidence(self, flow: Flow) -> dict:
        cfg = self.config
        ev: dict = {"qps": cfg.qps, "size": cfg.size, "duration": cfg.duration}
        for node, key in ((flow.src, "src"), (flow.dst, "dst")):
            ep = self.rails.get(node, {}).get(flow.rail)
            if ep is not None:
                ev[key] = ep.evidence()
            version = self.views[node].perftest_version if node in self.views else None
            if version:
                ev[f"{key}_perftest"] = version
        return ev

    def stop_servers(self) -> None:
        """Best effort after an abort: stop servers of the round in flight (hosts; pods are deleted)."""
        inflight, self._serving = dict(self._serving), {}
        self.cancel.clear()
        for node, (workdir, jobs) in inflight.items():
            try:
                self._driver(node, "collect", workdir, 0, jobs, driver.KILL_AFTER)
            except Exception:  # noqa: BLE001 - best effort
                pass
        self.cancel.set()

    # -- the whole run ------------------------------------------------------------------------
    def judge(self, measurements: Iterable[Measurement]) -> Judge:
        cfg = self.config
        ms = list(measurements)
        nominal = nominal_rates([r.name for r in cfg.rails], cfg.rate_gbps, self.rails, ms)
        return Judge(cfg.floor_fraction, cfg.outlier_fraction, nominal, self.rails, ms)

    def run(self, rounds: Sequence[Round], report: BandwidthReport) -> BandwidthReport:
        started = time.monotonic()
        try:
            self.discover()
            report.timings["discover"] = time.monotonic() - started
            report.endpoints = self.rails
            report.not_ready = self.not_ready
            report.versions = {n: v.perftest_version for n, v in self.views.items()}
            self._rounds(rounds, report)
            judge = self.judge(report.measurements)
            if self.config.retest:
                ready = [n for n in report.nodes if n in self.rails]
                again = judge.retest_flows(report.planned, ready, self.config.known_good)
                if again:
                    self._rounds(pack(again, first_index=len(rounds) + 1, retest=True), report)
                    judge = self.judge(report.measurements)
            report.verdicts = {f.id: judge.verdict(f) for f in report.planned}
        finally:
            report.seconds = time.monotonic() - started
        return report

    def _rounds(self, rounds: Iterable[Round], report: BandwidthReport) -> None:
        for rnd in rounds:
            if self.deadline is not None and time.monotonic() + self.config.round_budget > self.deadline:
                break
            t0, e0, phases = time.monotonic(), self.execs, {}
            report.measurements += self.run_round(rnd, phases)
            report.rounds.append(RoundInfo(rnd.index, rnd.retest, [(j.src, j.dst, j.rails) for j in rnd.jobs],
                                           time.monotonic() - t0, self.execs - e0, phases))


def new_report(run_id: str, mode: str, nodes: Sequence[str], rails: Sequence[str],
               rounds: Sequence[Round]) -> BandwidthReport:
    return BandwidthReport(run_id, mode, list(nodes), list(rails), planned_flows(rounds))
