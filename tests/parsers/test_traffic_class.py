"""/sys/class/infiniband/<dev>/tc/1/traffic_class content: 'Global tclass=160'."""

from __future__ import annotations

import pytest

from rdma_preflight.parsers.traffic_class import parse
from tests.parsers._fixtures_qos import check_parse_error, read_fixture


def test_value_inside_the_spiderpool_query_line():
    # the query fixture's last line prints the file content after " = "
    last = read_fixture("ecn_sysfs", "spiderpool-rdma-qos-script-query").splitlines()[-1]
    content = last.split(" = ", 1)[1]
    tos = parse(content + "\n")
    assert (tos.tos, tos.dscp, tos.ecn) == (160, 40, 0)


def test_ecn_bits_of_netarbiter_tos_106():
    tos = parse("Global tclass=106\r\n")
    assert (tos.tos, tos.dscp, tos.ecn) == (106, 26, 2)


@pytest.mark.parametrize("text, line, reason", [
    ("", 0, "empty"),
    ("\n\n", 0, "empty"),
    ("160\n", 1, "no 'Global tclass='"),
    ("tclass=160\n", 1, "no 'Global tclass='"),
    ("Global tclass=\n", 1, "ToS is not a number"),
    ("Global tclass=256\n", 1, "ToS 256 out of range"),
])
def test_absent_prefix_or_empty_is_an_error(text, line, reason):
    check_parse_error(parse, text, "traffic_class", line, reason)
