"""Targets: how to reach a node (local, ssh, ansible, kube, netns, snapshot)."""

from .base import CommandResult, Target, TargetError
from .resolve import parse_target, TargetSpec

__all__ = ["CommandResult", "Target", "TargetError", "parse_target", "TargetSpec"]
