"""Lossless RoCE checks (area ``qos``): trust, PFC, ECN, CNP DSCP, RoCE ToS, TCP ECN,
per-priority discards and persistence, as Spiderpool's rdma-qos.sh applies them.

Three units are kept apart: a priority (0-7, PFC and ECN enables), a DSCP (0-63, cnp_dscp,
dscp2prio) and a ToS (0-255 = DSCP x 4, default_roce_tos and traffic_class). They are never
compared with each other; a value that is right in the wrong unit gets a message naming it.
"""

from __future__ import annotations

from ..facts.qos import PortQos, QosFacts
from ..profile.schema import LosslessSpec
from .context import NodeContext, Rail
from .registry import check
from .result import Result, failed, passed, skipped, warned, worst

DESIGNS = "RoCE designs with lossless.enabled"
SERVICE_NOTE = ("rdma-qos.service is active on this node: it re-applies its own values every 20 s, so a "
                "manual fix is overwritten within 20 s unless the service's settings match the profile")


def lossless_applies(profile) -> str | None:
    if not profile.is_roce:
        return "RoCE only: InfiniBand has no PFC/ECN (the profile's fabric is InfiniBand)"
    if not profile.lossless.enabled:
        return "lossless.enabled is false in the profile"
    return None


def unit_mistake(found: int, unit: str, ll: LosslessSpec) -> str:
    """Why ``found`` looks like a value in another unit than ``unit`` ("DSCP" or "ToS"); for a ToS
    that matches no other unit, what DSCP (and ECN bits) it carries."""
    if unit == "DSCP":
        if found > 63:
            return (f"{found} cannot be a DSCP (0-63): it looks like a ToS (ToS {found} = DSCP {found >> 2} x 4); "
                    "this file takes a DSCP")
        if found in (ll.rdma_priority, ll.cnp_priority) and found not in (ll.rdma_dscp, ll.cnp_dscp):
            return f"{found} looks like a priority (0-7), not a DSCP; priority p carries DSCP 8p..8p+7"
        if found == ll.rdma_dscp:
            return f"{found} is the RDMA DSCP, not the CNP DSCP"
        return ""
    if found <= 63 and found * 4 in (ll.roce_tos, ll.cnp_dscp * 4):
        return f"{found} looks like a DSCP written where a ToS belongs: ToS = DSCP x 4 = {found * 4}"
    if found <= 7 and found in (ll.rdma_priority, ll.cnp_priority):
        return f"{found} looks like a priority (0-7), not a ToS (= DSCP x 4)"
    if found == ll.cnp_dscp * 4:
        return f"{found} is the CNP's ToS (DSCP {ll.cnp_dscp} x 4), not the RDMA traffic's"
    return f"ToS {found} carries DSCP {found >> 2}" + (f" and ECN bits {found & 3}" if found & 3 else "")


def _qos(ctx: NodeContext) -> QosFacts | None:
    return ctx.facts.qos if isinstance(ctx.facts.qos, QosFacts) else None


def _port(ctx: NodeContext, rail: Rail) -> tuple[PortQos | None, Result | None]:
    """The rail's PortQos, or a finding when trust/PFC cannot be read."""
    q = _qos(ctx)
    port = q.ports.get(rail.netdev) if q else None
    if port is None:
        return None, failed(f"no QoS state collected for {rail.netdev}", "mlnx_qos (or dcb) output for the rail PF",
                            "nothing collected", fix="install MLNX_OFED/DOCA (mlnx_qos) and re-run")
    if port.source == "":
        return None, failed(f"QoS state of {rail.netdev} unreadable", "trust and PFC readable from mlnx_qos",
                            port.problem, fix="install MLNX_OFED/DOCA so the NIC has the ECN sysfs tree and "
                                               f"mlnx_qos works (`mlnx_qos -i {rail.netdev}`)")
    return port, None


def _service_note(ctx: NodeContext) -> str:
    q = _qos(ctx)
    if q is not None and q.service_running:
        return f" ({SERVICE_NOTE})"
    return ""


@check("qos.trust", "Trust mode is DSCP on the rail PF", designs=DESIGNS, applies=lossless_applies,
       remediation="apply")
def trust(ctx: NodeContext, rail: Rail) -> Result:
    """``mlnx_qos -i <pf>`` shows ``Priority trust state: dscp`` (rdma-qos.sh runs
    ``mlnx_qos --trust=dscp`` on every PF with an ECN sysfs tree)."""
    port, problem = _port(ctx, rail)
    if problem:
        return problem
    want = ctx.profile.lossless.trust
    how = f"{port.source}" + (f", {port.trust_note}" if port.trust_note else "")
    if port.trust is None:
        return failed(f"trust mode of {rail.netdev} unknown", f"trust {want}", port.problem or "not shown")
    if port.trust == want:
        return passed(f"trust {want}", expected=f"trust {want}", found=f"trust {port.trust} ({how})")
    fix = (f"mlnx_qos -i {rail.netdev} --trust={want}" if port.source == "mlnx_qos" else
           f"dcb app add dev {rail.netdev} dscp-prio {ctx.profile.lossless.rdma_dscp}:{ctx.profile.lossless.rdma_priority}"
           " (a DSCP APP entry switches mlx5 to DSCP trust)" if want == "dscp" else
           f"dcb app flush dev {rail.netdev} dscp-prio (no DSCP entries: PCP trust)")
    return failed(f"trust mode is {port.trust}, not {want}", f"Priority trust state: {want}",
                  f"Priority trust state: {port.trust} ({how})", fix=fix + _service_note(ctx), trust=port.trust)


def _pfc_list(prios: list[int]) -> str:
    return ("priority " if len(prios) == 1 else "priorities ") + ",".join(map(str, prios)) if prios else "no priority"


def pfc_vector(priority: int) -> str:
    """mlnx_qos --pfc argument with only ``priority`` enabled: 5 -> 0,0,0,0,0,1,0,0."""
    return ",".join("1" if p == priority else "0" for p in range(8))


@check("qos.pfc", "PFC on the RDMA priority only", designs=DESIGNS, applies=lossless_applies,
       remediation="apply")
def pfc(ctx: NodeContext, rail: Rail) -> Result:
    """PFC is enabled on the profile's RDMA priority (5 by default) and on no other priority,
    and the RDMA DSCP maps to that priority in the NIC's dscp2prio table (DSCP 40 -> 5)."""
    port, problem = _port(ctx, rail)
    if problem:
        return problem
    ll = ctx.profile.lossless
    want = f"PFC on priority {ll.rdma_priority} only"
    if port.pfc is None:
        return failed(f"PFC state of {rail.netdev} unknown", want, port.problem or f"{port.source} showed no PFC table")
    on = sorted(p for p, v in port.pfc.items() if v)
    found = f"PFC on {_pfc_list(on)} ({port.source})"
    fix = (f"mlnx_qos -i {rail.netdev} --pfc {pfc_vector(ll.rdma_priority)}" if port.source == "mlnx_qos"
           else f"dcb pfc set dev {rail.netdev} prio-pfc " + " ".join(
               f"{p}:{'on' if p == ll.rdma_priority else 'off'}" for p in range(8))) + _service_note(ctx)
    results = []
    if on != [ll.rdma_priority]:
        results.append(failed(f"PFC is on {_pfc_list(on)}, expected priority {ll.rdma_priority} only",
                              want, found, fix=fix, pfc_enabled=on))
    mapped = port.dscp2prio.get(ll.rdma_dscp)
    if ll.trust == "dscp" and port.dscp2prio and mapped != ll.rdma_priority:
        where = (f"DSCP {ll.rdma_dscp} has no entry in the DSCP-to-priority table (it falls to the default "
                 "priority)" if mapped is None else f"DSCP {ll.rdma_dscp} maps to priority {mapped}")
        fix = (f"mlnx_qos -i {rail.netdev} --dscp2prio set,{ll.rdma_dscp},{ll.rdma_priority}" if port.source == "mlnx_qos"
               else f"dcb app add dev {rail.netdev} dscp-prio {ll.rdma_dscp}:{ll.rdma_priority}")
        results.append(failed(f"{where}, not the PFC priority {ll.rdma_priority}",
                              f"DSCP {ll.rdma_dscp} -> priority {ll.rdma_priority}",
                              f"DSCP {ll.rdma_dscp} -> {'no entry' if mapped is None else f'priority {mapped}'}",
                              fix=fix))
    return worst(results) if results else passed(want, expected=want, found=found)


@check("qos.ecn", "ECN (NP and RP) enabled on the RDMA priority", designs=DESIGNS, applies=lossless_applies,
       remediation="apply")
def ecn(ctx: NodeContext, rail: Rail) -> Result:
    """``/sys/class/net/<pf>/ecn/roce_np/enable/<P>`` and ``.../roce_rp/enable/<P>`` read 1 for
    the RDMA priority P. Other priorities are not required (rdma-qos.sh writes only P)."""
    nd = ctx.facts.netdevs.get(rail.netdev)
    prio = ctx.profile.lossless.rdma_priority
    want = f"roce_np/enable/{prio} = 1 and roce_rp/enable/{prio} = 1"
    if nd is None or not nd.has_ecn_tree:
        return failed(f"no ECN sysfs tree on {rail.netdev}", want,
                      f"/sys/class/net/{rail.netdev}/ecn absent (MLNX_OFED/DOCA only; rdma-qos.sh skips this NIC)",
                      fix="install MLNX_OFED/DOCA for the ConnectX driver, then enable ECN")
    vals = {"roce_np": nd.ecn_np.get(prio), "roce_rp": nd.ecn_rp.get(prio)}
    found = ", ".join(f"{k}/enable/{prio} = {'unreadable' if v is None else v}" for k, v in vals.items())
    off = [k for k, v in vals.items() if v != 1]
    if not off:
        return passed(f"ECN on priority {prio}", expected=want, found=found)
    fix = "; ".join(f"echo 1 > /sys/class/net/{rail.netdev}/ecn/{k}/enable/{prio}" for k in off)
    return failed(f"ECN {' and '.join(off)} not enabled on priority {prio}", want, found,
                  fix=fix + _service_note(ctx), off=off, priority=prio)


@check("qos.cnp_dscp", "CNP DSCP", designs=DESIGNS, applies=lossless_applies, remediation="apply")
def cnp_dscp(ctx: NodeContext, rail: Rail) -> Result:
    """``/sys/class/net/<pf>/ecn/roce_np/cnp_dscp`` holds the CNP DSCP (48 by default). The value
    is a DSCP, not a ToS: 192 (= 48 x 4) or 160 there are unit mistakes."""
    nd = ctx.facts.netdevs.get(rail.netdev)
    ll = ctx.profile.lossless
    want = f"cnp_dscp = {ll.cnp_dscp} (a DSCP; CNP priority {ll.cnp_priority})"
    if nd is None or nd.cnp_dscp is None:
        return failed(f"cnp_dscp of {rail.netdev} unreadable", want,
                      f"/sys/class/net/{rail.netdev}/ecn/roce_np/cnp_dscp absent",
                      fix="install MLNX_OFED/DOCA (ECN sysfs tree)")
    if nd.cnp_dscp == ll.cnp_dscp:
        return passed(f"cnp_dscp {ll.cnp_dscp}", expected=want, found=f"cnp_dscp = {nd.cnp_dscp}")
    hint = unit_mistake(nd.cnp_dscp, "DSCP", ll)
    return failed(f"cnp_dscp is {nd.cnp_dscp}, expected DSCP {ll.cnp_dscp}" + (f": {hint}" if hint else ""),
                  want, f"cnp_dscp = {nd.cnp_dscp}",
                  fix=f"echo {ll.cnp_dscp} > /sys/class/net/{rail.netdev}/ecn/roce_np/cnp_dscp" + _service_note(ctx),
                  cnp_dscp=nd.cnp_dscp)


def rail_rdma_devices(ctx: NodeContext, rail: Rail) -> list[str]:
    """The rail's RDMA devices plus those of its VFs still visible on the host (ToS applies
    to every RDMA device, PF and VF)."""
    devs = list(rail.rdma_devices)
    pf = ctx.facts.netdevs.get(rail.netdev)
    if pf is not None and pf.pci:
        for nd in sorted(ctx.facts.netdevs.values(), key=lambda d: d.name):
            if nd.physfn == pf.pci:
                devs += [d for d in ctx.facts.rdma.device_for_netdev(nd.name) if d not in devs]
    return devs


def _tos_result(rail: Rail, ll: LosslessSpec, what: str, readings: dict[str, str],
                bad: list[tuple[str, int]], missing: list[str], fix: str) -> Result:
    want = f"{what} = ToS {ll.roce_tos} (DSCP {ll.rdma_dscp} x 4) on every RDMA device of the rail"
    found = "; ".join(f"{k}: {v}" for k, v in readings.items()) or "no RDMA device"
    if not readings:
        return failed(f"{rail.netdev} has no RDMA device", want, found)
    results = []
    for where, val in bad:
        hint = unit_mistake(val, "ToS", ll)
        results.append(failed(f"{where} {what} is {val}, expected ToS {ll.roce_tos}" + (f": {hint}" if hint else ""),
                              want, found, fix=fix))
    if missing:
        results.append(failed(f"{what} unreadable on {', '.join(missing)}", want, found, fix=fix))
    return worst(results) if results else passed(f"{what} {ll.roce_tos}", expected=want, found=found)


@check("qos.roce_tos", "rdma_cm default RoCE ToS per RDMA device", designs=DESIGNS, applies=lossless_applies,
       remediation="apply")
def roce_tos(ctx: NodeContext, rail: Rail) -> Result:
    """configfs ``/sys/kernel/config/rdma_cm/<dev>/ports/<p>/default_roce_tos`` is the ToS
    (160 = DSCP 40 x 4) for each RDMA device of the rail and its VFs (the collector creates the
    device directory, which must exist before the file can be read, and removes it again)."""
    ll, q = ctx.profile.lossless, _qos(ctx)
    readings, bad, missing = {}, [], []
    for dev in rail_rdma_devices(ctx, rail):
        tos = q.devices[dev].roce_tos if q and dev in q.devices else {}
        if not tos:
            missing.append(dev)
            readings[dev] = "unreadable"
        for port, val in sorted(tos.items()):
            readings[f"{dev} port {port}"] = str(val)
            if val != ll.roce_tos:
                bad.append((f"{dev} port {port}", val))
    fix = f"cma_roce_tos -d <dev> -t {ll.roce_tos} (writes configfs default_roce_tos)"
    if missing and not ctx.facts.system.module_loaded("rdma_cm"):
        fix = "modprobe rdma_cm (configfs rdma_cm appears with it), then " + fix
    return _tos_result(rail, ll, "default_roce_tos", readings, bad, missing, fix + _service_note(ctx))


@check("qos.traffic_class", "Verbs default traffic class per RDMA device", designs=DESIGNS,
       applies=lossless_applies, remediation="apply")
def traffic_class(ctx: NodeContext, rail: Rail) -> Result:
    """``/sys/class/infiniband/<dev>/tc/1/traffic_class`` reads ``Global tclass=<ToS>`` (160),
    for each RDMA device of the rail and its VFs. The file exists only with MLNX_OFED/DOCA."""
    ll, q = ctx.profile.lossless, _qos(ctx)
    readings, bad, missing = {}, [], []
    for dev in rail_rdma_devices(ctx, rail):
        d = q.devices.get(dev) if q else None
        if d is None or (not d.traffic_class and not d.traffic_class_problem):
            missing.append(dev)
            readings[dev] = "no tc/*/traffic_class file"
            continue
        for tc, val in sorted(d.traffic_class.items()):
            readings[f"{dev} tc/{tc}"] = f"Global tclass={val}"
            if val != ll.roce_tos:
                bad.append((f"{dev} tc/{tc}", val))
        for tc, why in sorted(d.traffic_class_problem.items()):
            readings[f"{dev} tc/{tc}"] = f"unreadable {why}"
            missing.append(f"{dev} tc/{tc}")
    fix = f"echo {ll.roce_tos} > /sys/class/infiniband/<dev>/tc/1/traffic_class"
    return _tos_result(rail, ll, "traffic_class", readings, bad, missing, fix + _service_note(ctx))


@check("qos.tcp_ecn", "TCP ECN sysctl", scope="node", designs=DESIGNS, applies=lossless_applies,
       remediation="apply")
def tcp_ecn(ctx: NodeContext) -> Result:
    """``net.ipv4.tcp_ecn`` equals the profile's value (1, as rdma-qos.sh sets it)."""
    want = ctx.profile.lossless.tcp_ecn
    if want is None:
        return skipped("lossless.tcp_ecn is not set in the profile")
    got = ctx.facts.net.tcp_ecn
    exp = f"net.ipv4.tcp_ecn = {want}"
    if got == want:
        return passed(exp, expected=exp, found=f"net.ipv4.tcp_ecn = {got}")
    return failed(f"net.ipv4.tcp_ecn is {'unreadable' if got is None else got}, expected {want}", exp,
                  f"net.ipv4.tcp_ecn = {got}", fix=f"sysctl -w net.ipv4.tcp_ecn={want}" + _service_note(ctx))


@check("qos.discards", "No discards on the RDMA priority", designs=DESIGNS, applies=lossless_applies,
       severity="warn")
def discards(ctx: NodeContext, rail: Rail) -> Result:
    """``ethtool -S <pf>`` shows zero ``rx_prio<P>_discards`` and ``tx_prio<P>_discards`` for the
    RDMA priority P. Counters are cumulative since the driver loaded; non-zero means PFC did not
    keep the priority lossless at some point (a warning, not a failure)."""
    q = _qos(ctx)
    port = q.ports.get(rail.netdev) if q else None
    prio = ctx.profile.lossless.rdma_priority
    names = (f"rx_prio{prio}_discards", f"tx_prio{prio}_discards")
    if port is None or port.counters is None:
        return skipped((port.counters_problem if port else "") or f"no ethtool -S output for {rail.netdev}")
    vals = {n: port.counters.get(n) for n in names}
    if all(v is None for v in vals.values()):
        return skipped(f"ethtool -S {rail.netdev} shows no {' / '.join(names)} counters")
    found = ", ".join(f"{n}: {v}" for n, v in vals.items() if v is not None)
    pauses = {n: port.counters.get(n) for n in (f"rx_prio{prio}_pause", f"tx_prio{prio}_pause")}
    if not any(vals.values()):
        return passed(f"no discards on priority {prio}", expected="0 discards", found=found)
    return warned(f"discards on the RDMA priority {prio}", "0 discards", found,
                  fix="check PFC on the switch port (must match the host: priority "
                      f"{prio}), buffer/cable settings, and `ethtool -S {rail.netdev} | grep prio{prio}`",
                  counters=vals, pause=pauses)


@check("qos.persistence", "Lossless settings re-applied at boot", scope="node", designs=DESIGNS,
       applies=lossless_applies, severity="warn")
def persistence(ctx: NodeContext) -> Result:
    """Something re-applies the QoS settings after a reboot: Spiderpool's ``rdma-qos.service``
    (written by rdma-qos.sh) is enabled and active. It loops every 20 s, so it also overwrites
    manual changes with its own values."""
    q = _qos(ctx)
    enabled = q.service_enabled if q else None
    active = q.service_active if q else None
    found = f"rdma-qos.service is-enabled: {enabled or 'unknown'}, is-active: {active or 'unknown'}"
    if q is not None and q.service_unit is not None:
        found += "; unit file present at /etc/systemd/system/rdma-qos.service"
    want = "rdma-qos.service enabled and active"
    if enabled == "enabled" and active == "active":
        return passed("rdma-qos.service enabled and active", expected=want, found=found)
    ll = ctx.profile.lossless
    installed = enabled not in (None, "", "not-found") or (q is not None and q.service_unit is not None)
    if installed:
        if enabled == "enabled":
            # enabled but not running (failed, or stopped): starting it again is the fix, and
            # its journal says why it stopped
            return warned(f"rdma-qos.service is enabled but {active or 'not running'}", want, found,
                          fix="journalctl -u rdma-qos.service -n 50 (why it stopped), then "
                              "systemctl restart rdma-qos.service")
        return warned("rdma-qos.service is installed but not enabled and running", want, found,
                      fix="systemctl enable --now rdma-qos.service")
    fix = (f"run Spiderpool's rdma-qos.sh (GPU_RDMA_PRIORITY={ll.rdma_priority} GPU_CNP_PRIORITY="
           f"{ll.cnp_priority} bash rdma-qos.sh), which installs and starts rdma-qos.service, or persist "
           "the settings another way")
    return warned("nothing found that re-applies the lossless settings at boot", want, found, fix=fix)
