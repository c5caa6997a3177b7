"""Real Linux test hosts (network namespaces) for rdma-preflight's network checks.

- ``hosts.Lab`` / ``LabNode``: a fabric netns with one bridge per rail and
  node netns built like Spiderpool's RoCE designs, plus drift methods.
- ``sshd.SshdLab``: an OpenSSH server inside each node netns, reached through
  ``ProxyCommand ip netns exec <ns> socat ...``.
- ``fixtures``: pytest fixtures (``pytest_plugins = ["tests.lab.fixtures"]``).
- ``state.snapshot``: read-only pyroute2 view of a namespace, for assertions.
"""
