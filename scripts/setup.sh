#!/usr/bin/env bash
# Install rdma-preflight and what it needs on a fresh Debian/Ubuntu machine (run as root).
#   bash scripts/setup.sh          the suite itself (to run checks)
#   bash scripts/setup.sh --test   plus what the project's own tests need
set -euo pipefail
cd "$(dirname "$0")/.."
WANT_TEST=0
[ "${1:-}" = "--test" ] && WANT_TEST=1

# iproute2: ip/rdma for the collector and the netns test hosts; openssh-client: ssh:// targets.
PKGS="iproute2 openssh-client python3 python3-pip python3-venv"
# Tests: real sshd per test namespace (openssh-server), reached through socat as ProxyCommand;
# ping for lab traffic; chromium renders the fleet HTML report in a screenshot test.
[ "$WANT_TEST" = 1 ] && PKGS="$PKGS openssh-server socat iputils-ping chromium procps"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
[ "$WANT_TEST" = 1 ] && mkdir -p /run/sshd   # Debian's sshd refuses to start without it

PY=python3
PIPFLAGS="-q"
# Debian 12+/Ubuntu 23.04+ mark the system Python as externally managed (PEP 668).
if "$PY" -c 'import sys,sysconfig,os; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_path("stdlib"),"EXTERNALLY-MANAGED")) else 1)'; then
  PIPFLAGS="$PIPFLAGS --break-system-packages"
fi
EXTRA=""
# Tests: the test extra, plus ansible-core (the optional `ansible` extra) since
# tests/spine/test_ansible_target.py drives the real ansible/ansible-inventory commands.
[ "$WANT_TEST" = 1 ] && EXTRA="[test,ansible]"
"$PY" -m pip install $PIPFLAGS --root-user-action=ignore -e ".${EXTRA}"
"$PY" -c "import rdma_preflight" || { echo "setup: rdma_preflight did not install" >&2; exit 1; }
# pyenv's shims only learn about new console scripts (ansible, ansible-inventory) on a rehash
command -v pyenv >/dev/null 2>&1 && pyenv rehash >/dev/null 2>&1 || true
if [ "$WANT_TEST" = 1 ]; then
  "$PY" -c "import ansible" && command -v ansible >/dev/null && command -v ansible-inventory >/dev/null \
    || { echo "setup: ansible-core did not install (or its commands are not on PATH)" >&2; exit 1; }
fi
