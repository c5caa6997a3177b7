"""Remediation: planned actions, a journal of prior state, apply, re-check, rollback."""
