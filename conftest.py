"""Repository root conftest: loads the rdma-preflight pytest plugin.

`pytest` (no args) runs the project's own tests (testpaths = tests).
`pytest checks/ --profile P --nodes N` runs the node checks; see README.md.
"""

pytest_plugins = ["rdma_preflight.harness.plugin"]
