"""ofed_info -s / -n / full listing, flavour detection and version comparison."""

from __future__ import annotations

import pytest

from rdma_preflight.parsers import ParseError
from rdma_preflight.parsers.ofed_info import parse, version_at_least, version_tuple
from tests.parsers.conftest import fixture_text, parse_error


def test_daocloud_mlnx_ofed_23_07():
    info = parse(fixture_text("ofed_info", "daocloud-mlnx-ofed-23.07"))
    assert info.flavour == "MLNX_OFED"
    assert info.version == "23.07-0.5.1.2"
    assert info.version_tuple == (23, 7, 0, 5, 1, 2)
    assert info.raw == "MLNX_OFED_LINUX-23.07-0.5.1.2:"
    assert info.full_listing is False


def test_doca_ofed_internal():
    # hand-made: DOCA-OFED 'ofed_info -s' form seen in public docs (no pinned real fixture found)
    info = parse("OFED-internal-24.10-1.1.4.0.200:\n")
    assert (info.flavour, info.version, info.version_tuple) == ("DOCA", "24.10-1.1.4.0.200", (24, 10, 1, 1, 4, 0, 200))


def test_bare_version_from_dash_n():
    # hand-made: 'ofed_info -n' prints only the version, so the flavour cannot be told
    info = parse("23.07-0.5.1.2\n")
    assert (info.flavour, info.version_tuple) == ("unknown", (23, 7, 0, 5, 1, 2))


def test_full_listing_first_line():
    # hand-made: plain 'ofed_info' starts with 'MLNX_OFED_LINUX-x (OFED-y):' then package lines
    info = parse("MLNX_OFED_LINUX-5.8-1.0.1.1 (OFED-5.8-1.0.1):\n\nclusterkit:\nmlnx_ofed_clusterkit/...\n")
    assert (info.flavour, info.version, info.full_listing) == ("MLNX_OFED", "5.8-1.0.1.1", True)


@pytest.mark.parametrize("found, minimum, expected", [
    (fixture_text("ofed_info", "daocloud-mlnx-ofed-23.07"), "4.7", True),   # spec: exclusive mode needs 4.7+
    ("MLNX_OFED_LINUX-4.6-1.0.1.1:", "4.7", False),
    ("MLNX_OFED_LINUX-4.7-3.2.9.0:", "4.7", True),
    ("23.07-0.5.1.2", "23.07-0.5.1.2", True),
    ("23.07-0.5.1.2", "23.07-0.5.1.3", False),
    ("OFED-internal-25.04-0.6.1:", "24.10", True),
])
def test_version_at_least(found, minimum, expected):
    assert version_at_least(found, minimum) is expected


def test_version_tuple_stops_at_text():
    assert version_tuple("4.9-LTS") == (4, 9)


# hand-made error inputs: (text, line number in the ParseError)
@pytest.mark.parametrize("text, line", [
    ("", 0),
    ("\n  bash: ofed_info: command not found\n", 2),
    ("23.07-0.5.1.2\nextra\n", 2),
])
def test_errors_name_the_line(text, line):
    err = parse_error(parse, text)
    assert (err.tool, err.line) == ("ofed_info", line)


def test_version_at_least_refuses_garbage():
    with pytest.raises(ParseError):
        version_at_least("MLNX_OFED_LINUX-23.07-0.5.1.2:", "latest")
