"""Shared fixtures for the project's own tests: real netns lab hosts (tests/lab) and the
in-process Kubernetes API double driven by the real client (tests/kube_double)."""

pytest_plugins = ["tests.lab.fixtures", "tests.kube_double.fixtures"]
