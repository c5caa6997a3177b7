"""``python3 -m rdma_preflight ...`` is the same as the ``rdma-preflight`` command."""

import sys

from .cli import main

sys.exit(main())
