"""The TCP ports a node of an SGLang (and Dynamo) deployment will bind, derived as the
servers derive them; no I/O here.

SGLang (``srt/server_args.py``, ``PortArgs.init_new``; the same scheme from the 0.4 series to
the current source): the HTTP server binds ``--port`` (default 30000). Node rank 0 serves
torch's rendezvous store on the ``--dist-init-addr`` port. With ``--enable-dp-attention``
the ZMQ sockets between tokenizer, detokenizer, scheduler and DP controller are TCP ports:
``dist_init_port`` is the ``--dist-init-addr`` port, or ``--port + 233`` on a single node
without one (``ZMQ_TCP_PORT_DELTA``), and ``port_base = dist_init_port + 1``; then tokenizer
``port_base``, detokenizer ``+1``, rpc ``+2``, metrics ``+3``, scheduler input ``+4`` and,
on multi-node runs, the load collector ``+5`` (current source; older releases stop at
``+3``), all bound on node rank 0. Without DP attention those are IPC sockets. The
NCCL port is chosen free at start-up unless ``--nccl-port`` names it. A prefill server of a
disaggregated deployment (``--disaggregation-mode prefill``) also binds its bootstrap server
on ``--disaggregation-bootstrap-port`` (default 8998).
"""

from __future__ import annotations

from sgdoctor.api import Text
from sgdoctor.records import dataclass

__all__ = ["PlannedPort", "sglang_ports", "SGLANG_DEFAULT_PORT", "ZMQ_TCP_PORT_DELTA",
           "split_host_port"]

SGLANG_DEFAULT_PORT = 30000
ZMQ_TCP_PORT_DELTA = 233
BOOTSTRAP_DEFAULT_PORT = 8998


@dataclass(frozen=True)
class PlannedPort:
    port: int
    name: str | Text   # what binds it (the server's own option names verbatim)


def split_host_port(addr: str) -> tuple[str, int] | None:
    """``host:port`` or ``[v6]:port`` as SGLang's NetworkAddress.parse splits it."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isascii() or not port.isdigit() or len(port) > 5:
        return None
    number = int(port)
    if not 0 < number <= 65535:
        return None
    return host.strip("[]"), number


def sglang_ports(*, port: int = SGLANG_DEFAULT_PORT, dist_init_addr: str | None = None,
                 nnodes: int = 1, node_rank: int = 0, dp_attention: bool = False,
                 nccl_port: int | None = None, disaggregation_mode: str | None = None,
                 bootstrap_port: int = BOOTSTRAP_DEFAULT_PORT) -> list[PlannedPort]:
    """The ports this node's SGLang binds, in a stable order."""
    ports = [PlannedPort(port, Text("SGLang HTTP server ({option})", option="--port"))]
    if disaggregation_mode == "prefill":
        ports.append(PlannedPort(bootstrap_port, Text(
            "SGLang disaggregation bootstrap server ({option})",
            option="--disaggregation-bootstrap-port")))
    dist = split_host_port(dist_init_addr) if dist_init_addr else None
    if nccl_port is not None:
        ports.append(PlannedPort(nccl_port, Text("SGLang NCCL port ({option})",
                                                 option="--nccl-port")))
    if node_rank != 0:
        return ports
    if dist is not None:
        ports.append(PlannedPort(dist[1], Text("torch rendezvous store ({option})",
                                               option="--dist-init-addr")))
    if not dp_attention:
        return ports
    if dist is None:
        if nnodes != 1:
            return ports
        dist_port = port + ZMQ_TCP_PORT_DELTA
        if dist_port > 65535:
            dist_port = port - ZMQ_TCP_PORT_DELTA
    else:
        dist_port = dist[1]
    derived = 6
    base = dist_port + 1 if dist_port + derived <= 65535 else dist_port - derived - 1
    names = ["tokenizer (port_base)", "detokenizer", "rpc", "metrics",
             "scheduler input (DP controller)"]
    if nnodes > 1:
        names.append("load collector")
    ports += [PlannedPort(base + i, Text("SGLang DP-attention ZMQ {name}", name=name))
              for i, name in enumerate(names)]
    return ports
