"""Lossless RoCE facts: trust mode, PFC and DSCP map per PF, ethtool per-priority counters,
the RoCE ToS per RDMA device (configfs and verbs traffic_class), and what persists them.

Sources: ``mlnx_qos -i IF`` (MLNX_OFED/DOCA), else iproute2 ``dcb -j pfc|app show dev IF``;
``ethtool -S IF``; ``/sys/class/infiniband/<dev>/tc/<n>/traffic_class``; configfs
``default_roce_tos`` (read by the rdma facts). ECN enables and cnp_dscp are NetDevice facts.
A tool output that does not parse becomes a ``problem`` string, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..parsers.base import ParseError

QOS_SERVICE = "rdma-qos.service"
QOS_UNIT_PATH = "/etc/systemd/system/rdma-qos.service"


@dataclass
class PortQos:
    """QoS state of one netdev (a PF with the ECN tree or an RDMA device)."""

    netdev: str
    source: str = ""                          # "mlnx_qos" | "dcb" | "" (nothing readable)
    trust: str | None = None                  # dscp | pcp
    trust_note: str = ""                      # how trust was derived when not printed
    pfc: dict[int, bool] | None = None        # priority -> PFC enabled
    dscp2prio: dict[int, int] = field(default_factory=dict)
    problem: str = ""                         # why trust/PFC are unknown
    counters: dict[str, int] | None = None    # ethtool -S
    counters_problem: str = ""


@dataclass
class DeviceTos:
    """RoCE ToS of one RDMA device: configfs rdma_cm default and verbs traffic_class."""

    device: str
    roce_tos: dict[int, int] = field(default_factory=dict)       # port -> ToS
    traffic_class: dict[int, int] = field(default_factory=dict)  # tc index -> ToS
    traffic_class_problem: dict[int, str] = field(default_factory=dict)


@dataclass
class QosFacts:
    ports: dict[str, PortQos] = field(default_factory=dict)
    devices: dict[str, DeviceTos] = field(default_factory=dict)
    configfs_read: bool = False               # any default_roce_tos was read
    service_enabled: str | None = None        # systemctl is-enabled rdma-qos.service
    service_active: str | None = None
    service_unit: str | None = None           # unit file text, when present

    @property
    def service_running(self) -> bool:
        return self.service_active == "active"


def _mlnx_qos(snap, port: PortQos) -> bool:
    from ..parsers import mlnx_qos

    out = snap.cmd(f"mlnx_qos/{port.netdev}")
    if out is None:
        return False
    if out.rc != 0:
        err = out.stderr.decode(errors="replace").strip()[:200]
        port.problem = f"mlnx_qos -i {port.netdev} failed (exit {out.rc})" + (f": {err}" if err else "")
        return True
    try:
        q = mlnx_qos.parse(out.text)
    except ParseError as exc:
        port.problem = f"mlnx_qos -i {port.netdev} output could not be read: {exc}"
        return True
    port.source, port.trust, port.pfc, port.dscp2prio = "mlnx_qos", q.trust, q.pfc_enabled, dict(q.dscp2prio)
    if q.trust is None:
        port.problem = f"mlnx_qos -i {port.netdev} printed no 'Priority trust state'"
    return True


def _dcb(snap, port: PortQos) -> bool:
    from ..parsers import dcb

    pfc_text = snap.cmd_text(f"dcb_pfc/{port.netdev}")
    if pfc_text is None:
        return False
    try:
        pfc = dcb.parse_pfc(pfc_text)
        app_text = snap.cmd_text(f"dcb_app/{port.netdev}")
        app = dcb.parse_app(app_text) if app_text is not None else None
    except ParseError as exc:
        port.problem = f"dcb output for {port.netdev} could not be read: {exc}"
        return True
    port.source, port.pfc = "dcb", dict(pfc.prio_pfc)
    if app is not None:
        port.dscp2prio = {d: p for d, p in app.dscp_prio}
        # mlx5 switches to DSCP trust when the APP table holds DSCP entries (upstream kernels)
        port.trust = "dscp" if app.dscp_prio else "pcp"
        port.trust_note = "derived from the dcb APP table (DSCP entries present = DSCP trust)"
    else:
        port.problem = f"dcb app show dev {port.netdev} not collected: trust mode unknown"
    return True


def _counters(snap, port: PortQos) -> None:
    from ..parsers import ethtool_stats

    out = snap.cmd(f"ethtool_S/{port.netdev}")
    if out is None:
        port.counters_problem = ("ethtool is not installed" if "ethtool" in snap.missing
                                 else f"ethtool -S {port.netdev} not collected")
        return
    if out.rc != 0:
        port.counters_problem = f"ethtool -S {port.netdev} failed (exit {out.rc})"
        return
    try:
        port.counters = dict(ethtool_stats.parse(out.text).counters)
    except ParseError as exc:
        port.counters_problem = f"ethtool -S {port.netdev} output could not be read: {exc}"


def _port(snap, netdev: str, has_ecn_tree: bool) -> PortQos:
    port = PortQos(netdev=netdev)
    if not (_mlnx_qos(snap, port) or _dcb(snap, port)):
        if not has_ecn_tree:
            port.problem = (f"/sys/class/net/{netdev}/ecn is absent (no MLNX_OFED/DOCA QoS support), so "
                            "mlnx_qos was not run; Spiderpool's rdma-qos.sh silently skips such a NIC")
        elif "mlnx_qos" in snap.missing:
            port.problem = "mlnx_qos is not installed (MLNX_OFED/DOCA tool) and no dcb output was collected"
        else:
            port.problem = f"mlnx_qos -i {netdev} was not collected"
    _counters(snap, port)
    return port


def _device_tos(snap, dev) -> DeviceTos:
    from ..parsers import traffic_class

    out = DeviceTos(device=dev.name, roce_tos=dict(dev.roce_tos))
    for tc, raw in sorted(dev.traffic_class.items()):
        try:
            out.traffic_class[tc] = traffic_class.parse(raw).tos
        except ParseError as exc:
            out.traffic_class_problem[tc] = f"{raw!r} ({exc.reason})"
    return out


def from_snapshot(snap, facts) -> QosFacts:
    out = QosFacts(service_enabled=facts.system.systemd_enabled.get(QOS_SERVICE),
                   service_active=facts.system.systemd_active.get(QOS_SERVICE),
                   service_unit=facts.system.config_files.get(QOS_UNIT_PATH))
    rdma_netdevs = {p.netdev for d in facts.rdma.devices.values() for p in d.ports.values() if p.netdev}
    for name, nd in sorted(facts.netdevs.items()):
        has_cmd = any(f"{k}/{name}" in snap.commands for k in ("mlnx_qos", "dcb_pfc", "ethtool_S"))
        if nd.has_ecn_tree or has_cmd or name in rdma_netdevs:
            out.ports[name] = _port(snap, name, nd.has_ecn_tree)
    for name, dev in sorted(facts.rdma.devices.items()):
        out.devices[name] = _device_tos(snap, dev)
    out.configfs_read = any(d.roce_tos for d in out.devices.values())
    return out
