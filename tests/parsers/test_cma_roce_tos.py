"""cma_roce_tos -d DEV [-t TOS]: the rdma_cm default ToS it prints."""

from __future__ import annotations

import pytest

from rdma_preflight.parsers.cma_roce_tos import parse
from tests.parsers._fixtures_qos import check_parse_error, read_fixture


def test_netarbiter_prints_106():
    tos = parse(read_fixture("cma_roce_tos", "netarbiter-set-106"))
    assert (tos.tos, tos.dscp, tos.ecn) == (106, 26, 2)


def test_spiderpool_labelled_form_and_trace_line():
    tos = parse("+ cma_roce_tos -d mlx5_0\ncma_roce_tos: 160\n")
    assert (tos.tos, tos.dscp) == (160, 40)


@pytest.mark.parametrize("text, line, reason", [
    ("", 0, "printed nothing"),
    ("cma_roce_tos : Module rdma_cm is not loaded or does not support configfs\n", 1,
     "expected the ToS"),
    ("300\n", 1, "ToS 300 out of range"),
    ("106\n106\n", 2, "extra output"),
])
def test_errors(text, line, reason):
    check_parse_error(parse, text, "cma_roce_tos", line, reason)
