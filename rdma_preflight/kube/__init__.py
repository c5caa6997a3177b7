"""Kubernetes helpers: manifests that collect node facts in Jobs (manifests.py) and,
optionally, verdict labels written back to the nodes (labels.py)."""
