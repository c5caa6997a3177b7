"""Thresholds, link rate first, outliers, asymmetry and localisation from the result matrix.

* Floor: ``floor_fraction`` x the rail's *nominal* rate (profile ``rdma.rate_gbps``; without
  it the highest port rate seen on the rail, else the best pair), never the negotiated rate.
* Link rate first: a port whose sysfs rate is below nominal fails as LINK_DEGRADED, whatever
  the traffic did: a trained-down port is reported as that, not as low bandwidth.
* Outliers: below ``outlier_fraction`` x the best pair on that rail (warn).
* Asymmetric: below the floor while the reverse direction passes.
* Localisation (§3.4), per (node, rail) from every measured flow, retests included:
  slow with every partner both ways -> that NIC, its cable or leaf port; only when sending ->
  the transmit side (optic); every rail of a node -> the host; a pair slow while both ends
  are fine elsewhere -> the path (one direction only -> that direction's optics); slow first
  and fine on retest -> a transient, cleared.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from ..checks.result import Outcome, Result
from .discover import RailEndpoint
from .failures import FIX, Classified, FailureClass
from .schedule import Flow

C = FailureClass


@dataclass
class Measurement:
    """One flow as run (or refused before running) in one round."""

    flow: Flow
    round: int
    retest: bool
    got: Classified
    evidence: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Nominal:
    gbps: float | None
    basis: str


@dataclass(frozen=True)
class Blame:
    kind: str                 # host | nic | nic-tx | nic-rx | path | path-one-way | pair | transient | link
    node: str | None
    rail: str
    text: str
    fix: str = ""


@dataclass
class FlowVerdict:
    flow: Flow
    outcome: str                          # pass | warn | fail
    cls: FailureClass | None
    gbps: float | None
    summary: str
    expected: str
    found: str
    fix: str = ""
    blame: Blame | None = None
    evidence: dict = field(default_factory=dict)

    def result(self) -> Result:
        return Result(Outcome(self.outcome), self.summary, self.expected, self.found, self.fix,
                      evidence=self.evidence)


def nominal_rates(rails: Sequence[str], rate_gbps: float | None,
                  endpoints: Mapping[str, Mapping[str, RailEndpoint]],
                  measurements: Iterable[Measurement]) -> dict[str, Nominal]:
    out: dict[str, Nominal] = {}
    ms = list(measurements)
    for rail in rails:
        if rate_gbps:
            out[rail] = Nominal(rate_gbps, "profile rdma.rate_gbps")
            continue
        rates = [eps[rail].rate_gbps for eps in endpoints.values() if rail in eps and eps[rail].rate_gbps]
        if rates:
            out[rail] = Nominal(max(rates), f"highest port rate seen on {rail}")
            continue
        best = [m.got.gbps for m in ms if m.flow.rail == rail and m.got.gbps]
        out[rail] = Nominal(max(best) if best else None, f"best pair on {rail} (no port rate known)")
    return out


class Judge:
    """Judges every planned flow from all measurements (latest per flow wins)."""

    def __init__(self, floor_fraction: float, outlier_fraction: float, nominal: Mapping[str, Nominal],
                 endpoints: Mapping[str, Mapping[str, RailEndpoint]], measurements: Iterable[Measurement]):
        self.floor_fraction = floor_fraction
        self.outlier_fraction = outlier_fraction
        self.nominal = dict(nominal)
        self.endpoints = endpoints
        self.history: dict[Flow, list[Measurement]] = defaultdict(list)
        self.sides: dict[tuple[str, str, bool], list[Flow]] = defaultdict(list)   # (node, rail, sending)
        for m in measurements:
            if m.flow not in self.history:
                self.sides[(m.flow.src, m.flow.rail, True)].append(m.flow)
                self.sides[(m.flow.dst, m.flow.rail, False)].append(m.flow)
            self.history[m.flow].append(m)
        self._slow: dict[Flow, bool | None] = {}
        self._side_bad: dict[tuple[str, str, bool], bool] = {}
        self._host_bad: dict[str, bool] = {}
        good = defaultdict(list)
        for hist in self.history.values():
            for m in hist:
                if m.got.ok:
                    good[m.flow.rail].append(m.got.gbps)
        self.best = {rail: max(v) for rail, v in good.items()}

    # -- per measurement --------------------------------------------------------------------
    def floor(self, rail: str) -> float | None:
        n = self.nominal.get(rail)
        return n.gbps * self.floor_fraction if n and n.gbps else None

    def degraded(self, node: str, rail: str) -> RailEndpoint | None:
        ep = (self.endpoints.get(node) or {}).get(rail)
        n = self.nominal.get(rail)
        if ep is not None and ep.rate_gbps and n and n.gbps and ep.rate_gbps < n.gbps:
            return ep
        return None

    def status(self, m: Measurement) -> FailureClass | None:
        """The failure class of one measurement (None: fine)."""
        if m.got.failure is not None:
            return m.got.failure
        floor, gbps = self.floor(m.flow.rail), m.got.gbps
        if floor is not None and gbps is not None and gbps < floor:
            return C.BELOW_FLOOR
        best = self.best.get(m.flow.rail)
        if best and gbps is not None and gbps < self.outlier_fraction * best:
            return C.OUTLIER
        return None

    def final(self, flow: Flow) -> Measurement | None:
        hist = self.history.get(flow)
        return hist[-1] if hist else None

    def slow(self, flow: Flow) -> bool | None:
        """True/False for a flow that carried traffic (or tried to), None when not measured
        or refused before any traffic (static problems localise themselves)."""
        if flow not in self._slow:
            self._slow[flow] = self._is_slow(flow)
        return self._slow[flow]

    def _is_slow(self, flow: Flow) -> bool | None:
        m = self.final(flow)
        if m is None or self.degraded(flow.src, flow.rail) or self.degraded(flow.dst, flow.rail):
            return None
        cls = self.status(m)
        if cls is not None and cls.static:
            return None
        return cls is not None

    # -- localisation -------------------------------------------------------------------------
    def _side(self, node: str, rail: str, sending: bool) -> list[tuple[str, bool]]:
        """(partner, slow) of the measured flows where ``node`` sends (or receives) on ``rail``."""
        out = []
        for flow in self.sides.get((node, rail, sending), ()):
            s = self.slow(flow)
            if s is not None:
                out.append((flow.dst if sending else flow.src, s))
        return out

    def side_bad(self, node: str, rail: str, sending: bool) -> bool:
        key = (node, rail, sending)
        if key not in self._side_bad:
            side = self._side(node, rail, sending)
            self._side_bad[key] = len({p for p, _ in side}) >= 2 and all(s for _, s in side)
        return self._side_bad[key]

    def endpoint_bad(self, node: str, rail: str) -> bool:
        return self.side_bad(node, rail, True) or self.side_bad(node, rail, False)

    def host_bad(self, node: str) -> bool:
        if node not in self._host_bad:
            rails = {r for (n, r, _) in self.sides if n == node}
            self._host_bad[node] = len(rails) >= 2 and all(self.endpoint_bad(node, r) for r in rails)
        return self._host_bad[node]

    def fine_elsewhere(self, node: str, rail: str, peer: str) -> bool:
        return any(p != peer and not s for p, s in self._side(node, rail, True) + self._side(node, rail, False))

    def blame(self, flow: Flow) -> Blame:
        a, b, r = flow.src, flow.dst, flow.rail
        for node in (a, b):
            if self.host_bad(node):
                return Blame("host", node, r, f"every rail of {node} is slow: a host problem, not one NIC",
                             f"check {node} itself: the NICs' PCIe link width and speed (lspci LnkSta), the NUMA "
                             "node of the test against the NIC's, the CPU frequency governor and firmware; "
                             "compare with a healthy node")
        for node in (a, b):
            if self.side_bad(node, r, True) and self.side_bad(node, r, False):
                return Blame("nic", node, r, f"{node} {r} is slow with every partner: its NIC, cable or leaf "
                             "switch port", f"check {node} {r}: port error counters (ethtool -S, rdma statistic "
                             "out_of_sequence), reseat or swap the cable/optic, move it to another leaf port to "
                             "tell the NIC from the port")
        if self.side_bad(a, r, True):
            return Blame("nic-tx", a, r, f"{a} {r} is slow only when sending (it receives fine): the transmit "
                         "side of its optic or cable, or the leaf port's receive side",
                         f"swap the optic/cable of {a} {r}; check TX power on the NIC and RX power and errors "
                         "on the switch port")
        if self.side_bad(b, r, False):
            return Blame("nic-rx", b, r, f"{b} {r} is slow only when receiving (it sends fine): the receive "
                         "side of its optic or cable, or the leaf port's transmit side",
                         f"swap the optic/cable of {b} {r}; check RX power on the NIC and TX power and errors "
                         "on the switch port")
        if self.fine_elsewhere(a, r, b) and self.fine_elsewhere(b, r, a):
            if self.slow(flow.reverse) is False:
                return Blame("path-one-way", None, r, f"{a}->{b} is slow but {b}->{a} is fine and both are fine "
                             f"with other partners on {r}: one direction of the path between them (optics)",
                             f"check the optics and cables on the path {a}->{b} (switch-side RX power, CRC "
                             "errors) and retest the pair alone")
            return Blame("path", None, r, f"{a} and {b} are fine with other partners on {r} but slow together: "
                         "the path between them (switch, routing/ECMP) or contention",
                         "retest the pair alone; check the links and ECMP hashing between their leaf switches "
                         "and the switch port counters on the path")
        return Blame("pair", None, r, f"cannot tell {a}, {b} or the path apart: neither was measured with "
                     f"enough other partners on {r}", "add a third node or a known-good partner "
                     "(bandwidth.known_good) and re-run")

    # -- verdicts -----------------------------------------------------------------------------
    def expected(self, rail: str) -> str:
        n, floor = self.nominal.get(rail), self.floor(rail)
        if floor is None or n is None:
            return "a BW average (no nominal rate known for this rail)"
        return (f"BW average >= {floor:.1f} Gb/s ({self.floor_fraction:.0%} of nominal {n.gbps:g} Gb/s, "
                f"{n.basis})")

    def verdict(self, flow: Flow) -> FlowVerdict:
        hist = self.history.get(flow, [])
        expected = self.expected(flow.rail)
        if not hist:
            return FlowVerdict(flow, "fail", C.NO_RESULT, None, "not measured (the run stopped before this "
                               "flow)", expected, "no measurement", FIX[C.NO_RESULT])
        m = hist[-1]
        evidence = self._evidence(flow, hist)
        for node in (flow.src, flow.dst):
            ep = self.degraded(node, flow.rail)
            if ep is not None:
                n = self.nominal[flow.rail]
                blame = Blame("link", node, flow.rail, f"{node} {flow.rail} ({ep.device}) runs at "
                              f"{ep.rate_text or ep.rate_gbps}", FIX[C.LINK_DEGRADED])
                return FlowVerdict(flow, "fail", C.LINK_DEGRADED, m.got.gbps,
                                   f"link trained down: {node} {flow.rail} {ep.device} at {ep.rate_gbps:g} Gb/s, "
                                   f"nominal {n.gbps:g} Gb/s (bandwidth not judged)",
                                   f"port rate {n.gbps:g} Gb/s ({n.basis})",
                                   f"{ep.device} rate {ep.rate_text or ep.rate_gbps}" + self._measured(m),
                                   FIX[C.LINK_DEGRADED], blame, evidence)
        cls = self.status(m)
        first = self.status(hist[0])
        if cls is None:
            return self._passed(flow, m, hist, first, expected, evidence)
        if cls is C.BELOW_FLOOR and self.slow(flow.reverse) is False:
            cls = C.ASYMMETRIC
        blame = None if cls.static else self.blame(flow)
        summary, found = self._describe(flow, m, cls)
        if blame is not None:
            summary += f"; {blame.text}"
            evidence["localisation"] = {"kind": blame.kind, "node": blame.node, "rail": blame.rail}
        fix = blame.fix if blame is not None and blame.fix and cls in (C.BELOW_FLOOR, C.ASYMMETRIC, C.OUTLIER) \
            else FIX.get(cls, blame.fix if blame else "")
        return FlowVerdict(flow, cls.severity, cls, m.got.gbps, summary, expected, found, fix, blame, evidence)

    def _passed(self, flow: Flow, m: Measurement, hist: list[Measurement], first: FailureClass | None,
                expected: str, evidence: dict) -> FlowVerdict:
        found = f"{m.got.gbps:.2f} Gb/s BW average" + self._where(m)
        warn = [w for w in m.got.warnings if w[0] is C.MTU_FALLBACK]
        if len(hist) > 1 and first is not None:
            blame = Blame("transient", None, flow.rail, f"{first.value} in the first run "
                          f"({self._figure(hist[0])}), {m.got.gbps:.2f} Gb/s on retest: not reproducible")
            evidence["localisation"] = {"kind": "transient", "node": None, "rail": flow.rail}
            return FlowVerdict(flow, "pass", None, m.got.gbps, f"passed on retest; {blame.text}", expected,
                               found, "", blame, evidence)
        if warn:
            mtu = (m.got.header or {}).get("mtu")
            return FlowVerdict(flow, "warn", C.MTU_FALLBACK, m.got.gbps,
                               f"{m.got.gbps:.2f} Gb/s, but perftest fell back to RDMA MTU {mtu or '?'}: "
                               f"{warn[0][1]}", expected, found, FIX[C.MTU_FALLBACK], None, evidence)
        return FlowVerdict(flow, "pass", None, m.got.gbps, f"{m.got.gbps:.2f} Gb/s", expected, found,
                           evidence=evidence)

    def _describe(self, flow: Flow, m: Measurement, cls: FailureClass) -> tuple[str, str]:
        gbps = m.got.gbps
        if cls in (C.BELOW_FLOOR, C.ASYMMETRIC) and gbps is not None:
            floor = self.floor(flow.rail) or 0.0
            text = f"{gbps:.2f} Gb/s is below the floor {floor:.1f} Gb/s"
            if cls is C.ASYMMETRIC:
                rev = self.final(flow.reverse)
                text = (f"asymmetric: {flow.src}->{flow.dst} {gbps:.2f} Gb/s is below the floor {floor:.1f} Gb/s "
                        f"but {flow.dst}->{flow.src} gives {rev.got.gbps:.2f} Gb/s" if rev and rev.got.gbps
                        else text)
            return text, f"{gbps:.2f} Gb/s BW average" + self._where(m)
        if cls is C.OUTLIER and gbps is not None:
            best = self.best.get(flow.rail, 0.0)
            return (f"{gbps:.2f} Gb/s is below {self.outlier_fraction:.0%} of the best pair on {flow.rail} "
                    f"({best:.2f} Gb/s)", f"{gbps:.2f} Gb/s BW average" + self._where(m))
        side = f"{m.got.side}: " if m.got.side else ""
        return f"{cls.value}: {side}{m.got.line}", f"{side}{m.got.line}" + self._where(m)

    @staticmethod
    def _figure(m: Measurement) -> str:
        return f"{m.got.gbps:.2f} Gb/s" if m.got.gbps is not None else (m.got.line or "no result")

    @staticmethod
    def _measured(m: Measurement) -> str:
        return f"; measured {m.got.gbps:.2f} Gb/s" if m.got.gbps is not None else ""

    @staticmethod
    def _where(m: Measurement) -> str:
        ev = m.evidence
        src, dst = ev.get("src", {}), ev.get("dst", {})
        parts = [f"{m.flow.src} {src.get('device', '?')} -> {m.flow.dst} {dst.get('device', '?')}"]
        if ev.get("qps"):
            parts.append(f"{ev['qps']} QPs, {ev.get('size')} B, -D {ev.get('duration')}")
        return " (" + ", ".join(parts) + ")"

    def _evidence(self, flow: Flow, hist: list[Measurement]) -> dict:
        runs = [{"round": m.round, "retest": m.retest, "gbps": m.got.gbps,
                 "class": (self.status(m).name if self.status(m) else None), "line": m.got.line,
                 "side": m.got.side, **m.evidence} for m in hist]
        ev = {"src": flow.src, "dst": flow.dst, "direction": f"{flow.src}->{flow.dst}", "runs": runs,
              "floor_gbps": self.floor(flow.rail), "best_on_rail_gbps": self.best.get(flow.rail)}
        n = self.nominal.get(flow.rail)
        if n is not None:
            ev["nominal_gbps"], ev["nominal_basis"] = n.gbps, n.basis
        return ev

    # -- retests ----------------------------------------------------------------------------
    def clean(self, node: str, rail: str) -> bool:
        """A known-good partner on ``rail``: ready, not blamed itself, and measured fine at least
        as often as slow there (in a tournament everyone also met the bad nodes)."""
        ep = (self.endpoints.get(node) or {}).get(rail)
        if ep is None or not ep.ok or self.endpoint_bad(node, rail) or self.host_bad(node):
            return False
        seen = [s for sending in (True, False) for _, s in self._side(node, rail, sending)]
        good = seen.count(False)
        return good >= 1 and good >= seen.count(True)

    def retest_flows(self, flows: Iterable[Flow], nodes: Sequence[str], known_good: Sequence[str]) -> list[Flow]:
        """For every flow that carried traffic and failed: the flow again, and its ends against a
        known-good partner on that rail (src -> partner, partner -> dst), listed known-good nodes
        first, the least used partner next."""
        out: list[Flow] = []
        used: dict[str, int] = defaultdict(int)
        partners: dict[str, list[str]] = {}
        order = [n for n in known_good if n in nodes] + [n for n in nodes if n not in known_good]
        for flow in flows:
            m = self.final(flow)
            cls = self.status(m) if m else None
            if m is None or cls is None or cls.static or cls is C.OUTLIER or self.slow(flow) is None:
                continue
            out.append(flow)
            if flow.rail not in partners:
                partners[flow.rail] = [n for n in order if self.clean(n, flow.rail)]
            good = [n for n in partners[flow.rail] if n not in (flow.src, flow.dst)]
            listed = [n for n in good if n in known_good]
            pool = listed or good
            if pool:
                partner = min(pool, key=lambda n: used[n])
                used[partner] += 1
                out += [Flow(flow.src, partner, flow.rail), Flow(partner, flow.dst, flow.rail)]
        return list(dict.fromkeys(out))
