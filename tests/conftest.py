"""Shared fixtures for the project's own tests: real netns lab hosts (tests/lab)."""

pytest_plugins = ["tests.lab.fixtures"]
