# rdma-preflight suite image: the runner (pytest harness + reports) and, in Kubernetes, the
# collector pod (kube/manifests.py): that pod only needs sh, cat and nsenter from this image;
# everything it reads comes from the host after `nsenter --target 1`.
#
#   docker build -t rdma-preflight:0.1.0 .
#   docker run --rm -v "$PWD/snapshots:/data:ro" -v "$PWD/out:/out" rdma-preflight:0.1.0 \
#       run --nodes snapshot:///data/node-1 --profile profiles/roce-sriov-shared-subnet.yaml --report-dir /out
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# util-linux (nsenter) is essential in Debian slim images; fail the build if that ever changes.
RUN command -v nsenter && command -v sh && command -v cat

WORKDIR /opt/rdma-preflight
# Dependencies first (cached while only the sources change).
COPY pyproject.toml README.md* ./
COPY rdma_preflight/__init__.py rdma_preflight/__init__.py
RUN pip install . && pip uninstall -y rdma-preflight
COPY . .
# `rdma-preflight run` runs the checks/ folder of a checkout (conftest.py, checks/, profiles/):
# `pip install .` installs the package and its console script, and PYTHONPATH makes the
# checkout's copy the one imported, so REPO_ROOT/checks resolves inside the image.
RUN pip install . && python -c "import rdma_preflight.cli as c; assert c.CHECKS_DIR.is_dir(), c.CHECKS_DIR"
ENV PYTHONPATH=/opt/rdma-preflight

RUN useradd --system --uid 10001 --home-dir /opt/rdma-preflight rpf \
    && mkdir -p /opt/rdma-preflight/reports && chown 10001 /opt/rdma-preflight/reports
# The runner needs no root; the collector pod overrides this (privileged, runAsUser 0).
USER 10001
ENTRYPOINT ["rdma-preflight"]
CMD ["--help"]
