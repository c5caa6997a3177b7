"""iproute2 dcb pfc/app show, text (man-page examples) and -j JSON (hand-made)."""

from __future__ import annotations

import pytest

from rdma_preflight.parsers.dcb import DcbApp, DcbPfc, parse, parse_app, parse_pfc
from tests.parsers._fixtures_qos import check_parse_error, fixture_names, read_fixture


@pytest.mark.parametrize("name", fixture_names("dcb"))
def test_every_fixture_parses(name):
    assert isinstance(parse(read_fixture("dcb", name)), (DcbPfc, DcbApp))


def test_man_page_pfc_on_6_and_7():
    pfc = parse_pfc(read_fixture("dcb", "iproute2-man-dcb-pfc-show-prio-6-7"))
    assert (pfc.pfc_cap, pfc.macsec_bypass, pfc.delay) == (8, False, 4096)
    assert pfc.enabled_priorities == (6, 7)
    assert pfc.prio_pfc[5] is False
    assert pfc.requests is None


def test_man_page_app_symbolic_and_numeric_agree():
    symbolic = parse_app(read_fixture("dcb", "iproute2-man-dcb-app-show-dscp-prio-symbolic"))
    numeric = parse_app(read_fixture("dcb", "iproute2-man-dcb-app-show-dscp-prio-numeric"))
    assert symbolic == numeric
    assert numeric.dscp_prio == ((0, 0), (24, 2), (24, 3), (48, 6))
    assert numeric.prios_for_dscp(24) == (2, 3)  # the conflict the man page demonstrates
    assert numeric.prios_for_dscp(48) == (6,)
    assert numeric.prios_for_dscp(40) == ()


# hand-made: JSON as iproute2's dcb_pfc.c / dcb_app.c print it with -j (pfc_cap, macsec_bypass,
# delay, prio_pfc booleans; dscp_prio [dscp, prio] pairs), for Spiderpool's priority 5.
PFC_JSON = ('{"pfc_cap":8,"macsec_bypass":false,"delay":0,'
            '"prio_pfc":[false,false,false,false,false,true,false,false],'
            '"requests":[0,0,0,0,0,17,0,0],"indications":[0,0,0,0,0,3,0,0]}\n')
APP_JSON = '{"default_prio":[0],"dscp_prio":[[40,5],[48,6]]}\n'


def test_hand_made_json_pfc_priority_5():
    pfc = parse(PFC_JSON)
    assert isinstance(pfc, DcbPfc)
    assert pfc.enabled_priorities == (5,)
    assert (pfc.requests[5], pfc.indications[5]) == (17, 3)


def test_hand_made_json_app_dscp_40_to_5():
    app = parse(APP_JSON)
    assert app == DcbApp(((40, 5), (48, 6)), (0,))


def test_empty_app_table_is_empty_not_an_error():
    assert parse_app("") == DcbApp((), ())
    assert parse_app("{}") == DcbApp((), ())


@pytest.mark.parametrize("text, line, reason", [
    ("", 0, "cannot tell pfc from app"),
    ("pfc-cap 8 macsec-bypass maybe delay 4096\n", 1, "macsec-bypass"),
    ("pfc-cap 8\nprio-pfc 0:off 1:yes\n", 2, "on/off"),
    ("prio-pfc 0:off 9:on\n", 1, "priority 9 out of range"),
    ("dscp-prio 0:0 XX9:2\n", 1, "DSCP is not a number"),
    ("dscp-prio 64:1\n", 1, "DSCP 64"),
    ("dscp-prio 8:8\n", 1, "priority 8"),
    ('{"prio_pfc":[true,false]}', 0, "list of bool"),
    ('{"dscp_prio":[[40]]}', 0, "[dscp, prio]"),
    ('{"dscp_prio": 5}', 0, "must be a list"),
    ('{"pfc_cap": 8,', 1, "invalid JSON"),
])
def test_hand_made_errors(text, line, reason):
    check_parse_error(parse, text, "dcb", line, reason)
