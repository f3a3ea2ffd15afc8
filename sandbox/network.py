"""The one network experiments may join when the operator allows network at all.

Docker's default bridge lets a container reach the host's ports (the app database, an
unauthenticated Chroma) and every other container. labloop's own bridge does neither:

* ``enable_icc=false``: containers on it cannot reach each other;
* an ``INPUT`` rule drops every new connection from its interface to the host itself (any of
  the host's addresses, published ports included, which Docker's proxy serves from the host);
* a ``DOCKER-USER`` rule drops whatever it would forward to private, link-local and shared
  address ranges (other containers' networks, the LAN, cloud metadata services).

What is left is the way out to public addresses. Setting the rules up needs root and
``iptables``; without them no experiment gets network (fail closed).
"""

from __future__ import annotations

import shutil
import subprocess

import docker
import docker.errors

from sandbox.engine import docker_errors
from sandbox.errors import SandboxError

EGRESS_NETWORK = "labloop-egress"
BRIDGE = "labloop0"
PRIVATE_RANGES = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16,100.64.0.0/10,127.0.0.0/8"
_RULES = [  # new connections only: the host may still talk to a container and hear its answer
    ["INPUT", "-i", BRIDGE, "-m", "conntrack", "!", "--ctstate", "ESTABLISHED,RELATED", "-j", "DROP"],
    ["DOCKER-USER", "-i", BRIDGE, "-d", PRIVATE_RANGES, "-j", "DROP"],
]


def ensure_egress_network(client: docker.DockerClient) -> str:
    """Create labloop's isolated bridge (once) and its firewall rules; return its name."""
    with docker_errors("creating the experiments' network"):
        try:
            client.api.inspect_network(EGRESS_NETWORK)
        except docker.errors.NotFound:
            try:
                client.api.create_network(
                    EGRESS_NETWORK,
                    driver="bridge",
                    options={
                        "com.docker.network.bridge.name": BRIDGE,
                        "com.docker.network.bridge.enable_icc": "false",
                    },
                    labels={"labloop.service": "network"},
                )
            except docker.errors.APIError as exc:
                if "already exists" not in str(exc):
                    raise
    _ensure_rules()
    return EGRESS_NETWORK


def _ensure_rules() -> None:
    iptables = shutil.which("iptables")
    if iptables is None:
        raise SandboxError(
            "network for experiments needs iptables to isolate it from the host; install it "
            "(apt-get install iptables) or unset LABLOOP_SANDBOX_ALLOW_NETWORK"
        )
    for rule in _RULES:
        chain, spec = rule[0], rule[1:]
        present = subprocess.run([iptables, "-C", chain, *spec], capture_output=True, text=True)
        if present.returncode == 0:
            continue
        added = subprocess.run([iptables, "-I", chain, "1", *spec], capture_output=True, text=True)
        if added.returncode != 0:
            raise SandboxError(
                f"could not isolate the experiments' network ({added.stderr.strip()}); run labloop "
                "as root with iptables, or unset LABLOOP_SANDBOX_ALLOW_NETWORK"
            )
