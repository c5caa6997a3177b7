"""Validation of every name that reaches a pod manifest or an argv.

Names come from profiles, ``--nodes``, the Kubernetes API and the pods' own output; each
is checked here before use, and refused with a message naming what it is.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from functools import partial

from ..profile.schema import IFNAME_RE, RAIL_NAME_RE, RDMA_DEV_RE
from ..targets.base import NODE_NAME_RE

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUALIFIED = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}$")
RUN_ID = re.compile(r"^[a-z0-9]{1,16}$")
# A word of a driver job (split by the shell on blanks, globbing off): no blank, quote,
# $, `, ;, |, &, <, >, (, ), *, ?, [, ], ~, \ or newline can get through.
WORD = re.compile(r"^[A-Za-z0-9_.:/=+,@-]{1,255}$")


class BadName(ValueError):
    """A name that may not reach a manifest or an argv."""


def _check(kind: str, pattern: re.Pattern[str], limit: int, value: object) -> str:
    if not isinstance(value, str) or len(value) > limit or not pattern.match(value):
        raise BadName(f"invalid {kind} {value!r}")
    return value


node = partial(_check, "node name", NODE_NAME_RE, 253)
kube_node = partial(_check, "Kubernetes node name", DNS_SUBDOMAIN, 253)
rail = partial(_check, "rail name", RAIL_NAME_RE, 32)
netdev = partial(_check, "interface name", IFNAME_RE, 15)
rdma_device = partial(_check, "RDMA device name", RDMA_DEV_RE, 63)
namespace = partial(_check, "namespace", DNS_LABEL, 63)
network = partial(_check, "network (SpiderMultusConfig) name", DNS_SUBDOMAIN, 253)
resource = partial(_check, "resource name", QUALIFIED, 253)
annotation_key = partial(_check, "annotation key", QUALIFIED, 253)
image = partial(_check, "image", IMAGE, 255)
run_id = partial(_check, "run id", RUN_ID, 16)
word = partial(_check, "argument", WORD, 255)


def new_run_id() -> str:
    return secrets.token_hex(4)


def ipv4(value: object) -> str:
    try:
        return str(ipaddress.IPv4Address(str(value)))
    except ValueError:
        raise BadName(f"invalid IPv4 address {value!r}") from None
