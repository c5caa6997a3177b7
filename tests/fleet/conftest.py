"""Shared inputs for the fleet-report tests (all SYNTHETIC: see tests/fleet/synth.py)."""

from __future__ import annotations

import pytest

from tests.fleet.synth import CHECKS, record, synthetic_doc

HOSTILE = ("<script>alert(1)</script>", "=cmd|' /C calc'!A0", 'q"uo\'te&amp;\\back', "-2+3", "@SUM(A1)",
           "line\nbreak", "ノード-ünïcode\u2028x", "+plus")
ACTIVE = {"check": "qos.ecn", "nodes": "gpu-00*", "rail": None, "owner": "net-team <ops@example.com>",
          "reason": "ECN firmware fix </td> scheduled", "expires": "2099-01-01", "active": True}
EXPIRED = {"check": "net.mtu", "nodes": "gpu-003", "rail": "rail2", "owner": "bob", "reason": "temporary",
           "expires": "2020-01-01", "active": False}


def outcomes(node: str, check: str, rail: str | None) -> str | dict:
    """gpu-001 all pass; gpu-002 qos.ecn fails on rail2 only; gpu-003 net.mtu rail2 fails under an
    EXPIRED waiver and warns on rail1; gpu-004 qos.ecn waived (active) on rail1; gpu-005 rdma.netns_mode
    remediated; hostile names fail net.rail_count with hostile text."""
    c = next(c for c in CHECKS if c[0] == check)
    if node == "gpu-002" and check == "qos.ecn" and rail == "rail2":
        return "fail"
    if node == "gpu-003" and check == "net.mtu":
        return record(node, c, "fail", rail, waiver=EXPIRED) if rail == "rail2" else "warn"
    if node == "gpu-004" and check == "qos.ecn" and rail == "rail1":
        return record(node, c, "waived", rail, waiver=ACTIVE, found="ECN off <b>", expected="ECN on")
    if node == "gpu-005" and check == "rdma.netns_mode":
        return record(node, c, "remediated", rail, remediation={
            "status": "fixed", "actions": ["rdma system set netns exclusive", "echo 'options ib_core netns_mode=0'"],
            "journal": "/var/lib/rdma-preflight/journal/gpu-005.json", "reason": ""})
    if node in HOSTILE and check == "net.rail_count":
        return record(node, c, "fail", rail, summary="</script><script>alert('x')</script> <!-- ]]>",
                      found="=HYPERLINK(\"http://x\")", fix="@evil\r\nnext")
    return "pass"


NODES = ["gpu-001", "gpu-002", "gpu-003", "gpu-004", "gpu-005", "gpu-err", *HOSTILE]


@pytest.fixture
def doc() -> dict:
    """A SYNTHETIC results document (hand-made records; see ``outcomes``)."""
    return synthetic_doc(NODES, outcomes, node_errors={"gpu-err": "ssh: connect to host gpu-err: timed out"})
