"""rdma system / rdma sys show: netns mode is the token after ``netns``, in every iproute2 form."""

from __future__ import annotations

import pytest

from rdma_preflight.parsers.rdma_system import parse
from tests.parsers.conftest import fixture_text, parse_error


def test_spiderpool_shared_mode():
    result = parse(fixture_text("rdma_system", "spiderpool-shared-mode"))
    assert result.netns == "shared"
    assert result.shared and not result.exclusive
    assert result.copy_on_fork is True
    assert result.privileged_qkey is None and result.monitor is None


def test_spiderpool_exclusive_mode():
    result = parse(fixture_text("rdma_system", "spiderpool-exclusive-mode"))
    assert result.netns == "exclusive"
    assert result.exclusive
    assert result.copy_on_fork is True


# hand-made: the other iproute2 eras, from the format strings in iproute2 rdma/sys.c history
@pytest.mark.parametrize("line, netns, cof, qkey, monitor", [
    ("netns shared", "shared", None, None, None),                                     # 2019
    ("netns exclusive copy-on-fork off", "exclusive", False, None, None),             # 2021
    ("netns shared privileged-qkey off copy-on-fork on", "shared", True, False, None),  # 2023
    ("netns exclusive privileged-qkey on monitor off copy-on-fork on", "exclusive", True, True, False),
    ("netns unknown monitor on copy-on-fork on", "unknown", True, None, True),
])
def test_iproute2_versions(line, netns, cof, qkey, monitor):
    result = parse(line + "\n")
    assert (result.netns, result.copy_on_fork, result.privileged_qkey, result.monitor) == (netns, cof, qkey, monitor)


def test_tabs_crlf_and_bytes():
    # hand-made: CRLF, tab separators, bytes input
    result = parse(b"\tnetns\texclusive  copy-on-fork on\r\n")
    assert result.netns == "exclusive" and result.copy_on_fork is True


def test_no_netns_attribute_is_unknown():
    # hand-made: new iproute2 on a kernel that does not report the netns attribute
    result = parse("monitor off copy-on-fork off\n")
    assert result.netns == "unknown" and result.netns_reported is False
    assert result.monitor is False


def test_future_key_is_kept_not_fatal():
    # hand-made: a key a later iproute2 might add
    result = parse("netns shared future-flag on copy-on-fork on\n")
    assert result.netns == "shared" and result.extra == {"future-flag": "on"}


@pytest.mark.parametrize("text, netns, cof", [
    ('[{"netns":"shared","copy-on-fork":true}]', "shared", True),          # hand-made JSON
    ('{"netns":"exclusive","monitor":false,"copy-on-fork":false}', "exclusive", False),
])
def test_json(text, netns, cof):
    result = parse(text)
    assert result.netns == netns and result.copy_on_fork is cof


# hand-made error inputs: (text, line number in the ParseError)
@pytest.mark.parametrize("text, line", [
    ("", 0),
    ("\n\n", 0),
    ("netns\n", 1),
    ("\nnetns sideways copy-on-fork on\n", 2),
    ("netns shared copy-on-fork maybe\n", 1),
    ("netns shared\nnetns exclusive\n", 2),
    ("hello world\n", 1),
    ('[{"netns": 3}]', 0),
    ('[1, 2]', 0),
    ('{"netns": "shared",\n  ', 2),
])
def test_errors_name_the_line(text, line):
    err = parse_error(parse, text)
    assert (err.tool, err.line) == ("rdma_system", line)
