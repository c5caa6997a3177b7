"""Bind a registered check to a pytest test function: ``test_mtu = bind("net.mtu")``.

The item's setup (fixture ``rpf_result``) evaluates the check, so a node that cannot be
reached, or an evaluator that breaks, is a pytest *error* (JUnit ``<error>``), while a
finding is a pytest *failure*. Warnings pass with a PreflightWarning.
"""

from __future__ import annotations

import warnings

import pytest

from ..checks.registry import REGISTRY, load_all


class PreflightWarning(UserWarning):
    """A check finding of severity warn."""


def bind(check_id: str):
    load_all()
    if check_id not in REGISTRY:
        raise KeyError(f"no check registered with id {check_id!r}")
    spec = REGISTRY[check_id]

    def test(rpf_result):
        outcome, message = rpf_result
        if outcome == "fail":
            pytest.fail(message, pytrace=False)
        if outcome == "warn":
            warnings.warn(PreflightWarning(message))

    test.__name__ = spec.test_name
    test.__qualname__ = spec.test_name
    test.__doc__ = f"[{spec.id}] {spec.title}"
    test._rpf_check = check_id
    return test
