"""host.rdma: the node's RDMA devices are usable by this user, and the HCAs the environment names
exist and are ACTIVE."""

from __future__ import annotations

from sgdoctor.api import Context, Findings, ProbeError, Result, Text, check
from sgdoctor.parse.hca import (
    NCCL_HCA_VARS,
    NVSHMEM_HCA_VAR,
    NVSHMEM_PE_MAPPING_VAR,
    HcaEntry,
    HcaSpec,
    gpudirect_requests,
    hca_specs,
    nvshmem_true,
    prefix_overreach,
    rdma_disabled,
    rdma_requests,
)
from sgdoctor.parse.verdict import shown

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from sgdoctor.probe.rdma import Port, RdmaFacts

ENV = (*NCCL_HCA_VARS, NVSHMEM_HCA_VAR, "NVSHMEM_HCA_PE_MAPPING", "NVSHMEM_ENABLE_NIC_PE_MAPPING",
       "NCCL_NET", "MCCL_NET", "NVSHMEM_IB_ENABLE_IBGDA", "NVSHMEM_REMOTE_TRANSPORT",
       "NCCL_NET_GDR_LEVEL", "MCCL_NET_GDR_LEVEL", "NCCL_IB_DISABLE", "MCCL_IB_DISABLE")
MIN_RATE_GBPS = 100   # multi-node inference fabrics run 200-400 Gb/s; below 100 is a degraded
                      # link (a lane down) or a management NIC
LINK_LAYERS = ("InfiniBand", "Ethernet")
DEVICE_REMEDY = Text("Give the container the RDMA devices: `docker run --device=/dev/infiniband` "
                     "(plus --cap-add=IPC_LOCK), or in Kubernetes an RDMA device plugin "
                     "resource; on the node, load the drivers (`modprobe ib_uverbs mlx5_ib`).")
PEERMEM_REMEDY = Text("Load the peer-memory module on the node (`modprobe nvidia_peermem`, or "
                      "nv_peer_mem for older MLNX_OFED); on MetaX GPUs use MetaX's equivalent "
                      "(its name is UNCONFIRMED here).")
IBSTAT_REMEDY = Text("Check the cable and the subnet manager (`ibstat`), or name an ACTIVE HCA.")


@check("host.rdma", title="RDMA devices and HCA selection", env=ENV, timeout=5.0,
       tags=("host", "network"), settings={"min_rate_gbps": int})
def host_rdma(ctx: Context) -> Result:
    """Skipped when the node has no RDMA device and nothing asks for one. Otherwise, from the
    kernel's sysfs ABI (/sys/class/infiniband, /sys/class/infiniband_verbs) and /dev/infiniband:
    every HCA has a uverbs character device this user can open (libibverbs opens it O_RDWR);
    every port's state, physical state, link layer, rate and GIDs; the HCAs that NCCL_IB_HCA /
    MCCL_IB_HCA (NCCL's syntax: prefixes, '^' excludes, '=' exact, ':port') and
    NVSHMEM_HCA_LIST (exact names, '^' excludes, 'name:port[:count]'; honoured only with
    NVSHMEM_ENABLE_NIC_PE_MAPPING=1), and the launch's --disaggregation-ib-device, name exist
    and have an ACTIVE port — NCCL silently drops a
    missing or inactive HCA and falls back to TCP sockets; a RoCE port without an IPv4 GID; and,
    when GPUDirect RDMA is asked for (NCCL_NET_GDR_LEVEL, NVSHMEM IBGDA), the peer-memory
    module (nvidia_peermem / nv_peer_mem; MetaX's equivalent is UNCONFIRMED). Memlock is
    host.limits' business. Problems are failures when a variable asks for RDMA, else warnings
    (NCCL falls back to TCP sockets). Setting: min_rate_gbps (100): a used port slower warns."""
    from sgdoctor.parse.settings import int_setting, setting_error
    from sgdoctor.probe.hostroot import HostRoot
    from sgdoctor.probe.rdma import probe_rdma

    env_read = [n for n in ENV if n in ctx.env]
    try:
        min_rate = int_setting(ctx, "min_rate_gbps", MIN_RATE_GBPS)
        root = HostRoot.from_options(ctx.options)
    except ValueError as exc:
        return Result.error(setting_error("host.rdma", exc), env=env_read)
    except ProbeError as exc:
        return Result.error(Text("--host-root: {error}", error=exc.message), env=env_read)
    facts = probe_rdma(root)
    requests = rdma_requests(ctx.env)
    device = ctx.options.get("ib_device")        # the launch's --disaggregation-ib-device
    devices = [d.strip() for d in device.split(",") if d.strip()] \
        if isinstance(device, str) else []
    if devices:
        requests.append(f"--disaggregation-ib-device {shown(','.join(devices), 60)}")
    if not facts.hcas and not facts.verbs and not requests and not facts.class_problem:
        return Result.skip(Text("no RDMA device on this node (/sys/class/infiniband is empty "
                                "or absent) and nothing asks for one"), env=env_read,
                           details={"host_root": root.root})
    found = Findings()
    disabled = rdma_disabled(ctx.env)
    # Asked for, an unusable device stops the transport that wants it; not asked for, NCCL
    # tries IB by itself and falls back to TCP sockets: it works, slowly.
    severe = found.fail if requests else found.warn
    why = Text.join(", ", requests)

    if facts.class_problem:
        severe(Text("cannot list /sys/class/infiniband: {error}",
                    error=shown(facts.class_problem)),
               Text("Mount /sys of the node (read-only is enough) where sgdoctor runs."),
               code="sysfs_unreadable")
    if not facts.hcas and not facts.class_problem:
        found.fail(Text("{why}, but this node has no RDMA device in /sys/class/infiniband: "
                        "NCCL falls back to TCP sockets (\"NET/IB : No device found\"), "
                        "NVSHMEM's IB transports do not start", why=why), DEVICE_REMEDY,
                   code="no_devices")
    _judge_verbs(facts, found, severe)
    selections = _judge_selections(ctx, facts, found)
    for name in devices if facts.hcas else ():
        hca = facts.hcas.get(name)
        if hca is None:
            found.fail(Text("--disaggregation-ib-device {name} is not an HCA on this node "
                            "(HCAs: {hcas})", name=shown(name, 40), hcas=", ".join(facts.hcas)),
                       Text("name an HCA that exists (`ibv_devices`)"), code="hca_missing")
        elif not any(_usable(p) for p in hca.ports):
            found.fail(Text("--disaggregation-ib-device: {ports} — the transfer engine needs "
                            "an ACTIVE port", ports=Text.join("; ", (
                                _port_text(name, p) for p in hca.ports))),
                       IBSTAT_REMEDY, code="hca_inactive")
    _judge_ports(facts, selections, found, severe, min_rate, bool(requests))
    gpudirect = _judge_peermem(ctx, facts, found)

    details: dict[str, Any] = {
        "host_root": root.root,
        "hcas": {h.name: {"uverbs": h.uverbs, "problems": list(h.problems),
                          "ports": {str(p.number): p.as_details() for p in h.ports}}
                 for h in facts.hcas.values()},
        "verbs": [{"name": v.name, "path": v.path, "char_device": v.char_device,
                   "openable": v.openable, "error": v.error,
                   "kind": v.kind.value if v.kind else None} for v in facts.verbs],
        "selections": {s.variable: info for s, info in selections},
        "requests": [str(r) for r in requests], "disabled_by": disabled,
        "gpudirect": gpudirect,
        "thresholds": {"min_rate_gbps": min_rate},
    }
    return found.result(_ok_summary(facts), details=details, env=env_read)


def _ok_summary(facts: RdmaFacts) -> Text:
    ports = [(h.name, p) for h in facts.hcas.values() for p in h.ports]
    active = [f"{name}:{p.number} {p.link_layer} {p.rate}" for name, p in ports if p.active]
    openable = sum(1 for v in facts.verbs if v.openable)
    said = {"hcas": len(facts.hcas), "active": len(active), "ports": len(ports),
            "openable": openable}
    if not active:
        return Text("{hcas} HCA(s), {active} of {ports} port(s) ACTIVE; {openable} uverbs "
                    "device(s) openable", **said)
    return Text("{hcas} HCA(s), {active} of {ports} port(s) ACTIVE ({list}); {openable} uverbs "
                "device(s) openable", **said,
                list="; ".join(active[:4]) + (" ..." if len(active) > 4 else ""))


def _judge_verbs(facts: RdmaFacts, found: Findings, severe: Any) -> None:
    by_name = {v.name: v for v in facts.verbs}
    if facts.dev_problem:
        severe(Text("cannot list /dev/infiniband: {error}", error=shown(facts.dev_problem)),
               DEVICE_REMEDY, code="uverbs_unusable")
    for hca in facts.hcas.values():
        if hca.uverbs is None:
            severe(Text("HCA {name} has no uverbs device in /sys/class/infiniband_verbs "
                        "(ib_uverbs not loaded?): libibverbs cannot open it", name=hca.name),
                   Text("Load ib_uverbs on the node (`modprobe ib_uverbs`)."), code="no_uverbs")
            continue
        device = by_name.get(hca.uverbs)
        if device is None:
            severe(Text("{path} (HCA {name}) does not exist here: libibverbs cannot open the "
                        "HCA", path=f"/dev/infiniband/{hca.uverbs}", name=hca.name),
                   DEVICE_REMEDY, code="uverbs_missing")
    for device in facts.verbs:
        owner = next((h.name for h in facts.hcas.values() if h.uverbs == device.name), None)
        label = f"{device.path}" + (f" (HCA {owner})" if owner else "")
        if not device.char_device:
            severe(Text("{label} is {error}", label=label, error=device.error), DEVICE_REMEDY,
                   code="uverbs_not_device")
        elif not device.openable:
            kind = device.kind.value if device.kind else "io"
            code = "uverbs_denied" if kind == "permission" else "uverbs_unusable"
            severe(Text("{label} cannot be opened read-write by this user: {error}",
                        label=label, error=device.error),
                   Text("Run the server with access to /dev/infiniband (the rdma group, or "
                        "`--device=/dev/infiniband` in Docker); ENXIO means the device node's "
                        "driver is not loaded.") if code == "uverbs_unusable" else
                   Text("Give this user access to /dev/infiniband/uverbs* (the rdma group, or "
                        "a udev rule), or run the container with --device=/dev/infiniband."),
                   code=code)


def _all_ports(facts: RdmaFacts) -> list[tuple[str, Port]]:
    return [(h.name, p) for h in facts.hcas.values() for p in h.ports]


def _usable(port: Port) -> bool:
    return port.active and port.link_layer in LINK_LAYERS


def _port_text(name: str, port: Port) -> Text:
    said = {"name": name, "number": port.number, "phys": port.phys_state}
    if port.state is None:
        return (Text("{name} port {number} has an unreadable state, {phys}", **said)
                if port.phys_state else
                Text("{name} port {number} has an unreadable state", **said))
    if port.active and port.link_layer not in LINK_LAYERS:
        return Text("{name} port {number} has link layer {layer}", **said,
                    layer=port.link_layer or Text("unreadable"))
    return (Text("{name} port {number} is {state}, {phys}", **said, state=port.state)
            if port.phys_state else
            Text("{name} port {number} is {state}", **said, state=port.state))


def _entry_text(entry: HcaEntry) -> str:
    return entry.name + (f":{entry.port}" if entry.port is not None else "")


def _judge_selections(ctx: Context, facts: RdmaFacts,
                      found: Findings) -> list[tuple[HcaSpec, dict[str, Any]]]:
    ports = _all_ports(facts)
    names = list(facts.hcas)
    listing = Text.join(", ", (Text("{name} (ports {numbers})", name=h.name,
                                    numbers=", ".join(str(p.number) for p in h.ports) or "-")
                               for h in facts.hcas.values())) if facts.hcas else Text("none")
    out = []
    for spec in hca_specs(ctx.env):
        value = shown(spec.raw, 200)
        label = f"{spec.variable}={value!r}"
        effective = True
        nvshmem = spec.variable.startswith("NVSHMEM_")
        if nvshmem and not nvshmem_true(ctx.env.get("NVSHMEM_ENABLE_NIC_PE_MAPPING")):
            effective = False
            found.warn(Text("{label} is set without NVSHMEM_ENABLE_NIC_PE_MAPPING=1: NVSHMEM's "
                            "documentation (and its recent source) ignore it then (older "
                            "releases applied it anyway: which one changed that is "
                            "UNCONFIRMED)", label=label),
                       Text("Set NVSHMEM_ENABLE_NIC_PE_MAPPING=1 beside {variable}.",
                            variable=spec.variable), code="nvshmem_list_ignored")
        if spec.variable == NVSHMEM_HCA_VAR and NVSHMEM_PE_MAPPING_VAR in ctx.env:
            found.warn(Text("{label} and {mapping} are both set: NVSHMEM ignores the mapping "
                            "(\"Found conflicting parameters\")", label=label,
                            mapping=NVSHMEM_PE_MAPPING_VAR),
                       Text("Unset one of {list} and {mapping}.", list=NVSHMEM_HCA_VAR,
                            mapping=NVSHMEM_PE_MAPPING_VAR), code="nvshmem_conflict")
        for entry in spec.entries:
            matching = [(n, p) for n, p in ports if spec.matches(entry, n, p.number)]
            port0 = Text(" (':' followed by no number reads as port 0, which no HCA has)") \
                if entry.port == 0 else ""
            here = Text("HCAs here: {listing}.", listing=listing)
            if not matching and not spec.exclude:
                said = {"label": label, "entry": _entry_text(entry), "port0": port0,
                        "listing": listing}
                found.fail(Text("{label}: {entry} matches no HCA port on this node{port0} "
                                "(HCAs: {listing}); NVSHMEM skips it (\"could not find user "
                                "specified HCA name\")", **said) if nvshmem else
                           Text("{label}: {entry} matches no HCA port on this node{port0} "
                                "(HCAs: {listing}); NCCL ignores it silently", **said),
                           Text("Name HCAs that exist: {listing}.", listing=listing),
                           code="hca_missing")
            elif not matching:
                found.warn(Text("{label}: the excluded {entry} matches no HCA, so it excludes "
                                "nothing (a typo?)", label=label, entry=_entry_text(entry)),
                           here, code="exclude_matches_nothing")
            elif not spec.exclude and not any(_usable(p) for _, p in matching):
                found.fail(Text("{label}: {ports} — only ACTIVE ports are used", label=label,
                                ports=Text.join("; ", (_port_text(n, p) for n, p in matching))),
                           IBSTAT_REMEDY, code="hca_inactive")
        for name, others in prefix_overreach(spec, names).items():
            found.warn(Text("{label}: {name} is a name prefix for NCCL, so it also selects "
                            "{others}", label=label, name=name, others=", ".join(others)),
                       Text("Write {setting} (a leading '=' asks for exact names).",
                            setting=f"{spec.variable}=={spec.raw.lstrip('=')}"),
                       code="prefix_matches_more")
        selected = [(n, p) for n, p in ports if spec.selects(n, p.number)]
        usable = [f"{n}:{p.number}" for n, p in selected if _usable(p)]
        if facts.hcas and not usable and (spec.exclude or not spec.entries):
            found.fail(Text("{label} leaves no ACTIVE port: NCCL falls back to TCP sockets",
                            label=label), Text("HCAs here: {listing}.", listing=listing),
                       code="empty_selection")
        out.append((spec, {"value": value, "rule": spec.describe(), "effective": effective,
                           "selects": [f"{n}:{p.number}" for n, p in selected],
                           "active": usable}))
    return out


def _judge_ports(facts: RdmaFacts, selections: list[tuple[HcaSpec, dict[str, Any]]],
                 found: Findings, severe: Any, min_rate: int, requested: bool) -> None:
    ports = _all_ports(facts)
    if selections:
        chosen = {key for _, info in selections for key in info["selects"]}
        considered = [(n, p) for n, p in ports if f"{n}:{p.number}" in chosen]
    else:
        considered = ports
        if ports and not any(_usable(p) for _, p in ports):
            severe(Text("no HCA port is ACTIVE: {ports} — NCCL falls back to TCP sockets "
                        "(\"NET/IB : No device found\")",
                        ports=Text.join("; ", (_port_text(n, p) for n, p in ports))),
                   Text("Check the cables and the subnet manager (`ibstat`, `ibv_devinfo`)."),
                   code="no_active_port")
    for name, port in considered:
        said = {"name": name, "number": port.number}
        if port.problems:
            found.warn(Text("{name} port {number}: {problems}", **said,
                            problems="; ".join(shown(p, 160) for p in port.problems[:3])),
                       Text("Check that /sys of the node is mounted completely where "
                            "sgdoctor runs."), code="sysfs_unreadable")
        if not _usable(port):
            continue
        if port.link_layer == "Ethernet" and not port.ipv4_gids:
            found.warn(Text("{name} port {number} is RoCE (Ethernet) without an IPv4 GID: its "
                            "network interface has no IPv4 address, and NCCL/NVSHMEM pick a "
                            "RoCE v2 IPv4 GID unless NCCL_IB_GID_INDEX / NVSHMEM_IB_GID_INDEX "
                            "say otherwise", **said),
                       Text("Give the network interface of {name} port {number} its IPv4 "
                            "address.", **said), code="roce_no_ipv4_gid")
        elif not port.gids:
            found.warn(Text("{name} port {number} has no GID (all entries zero)", **said),
                       Text("Check the port's configuration (`ibv_devinfo -v`)."), code="no_gid")
        rate = port.rate_gbps()
        if rate is not None and rate < min_rate:
            found.warn(Text("{name} port {number} runs at {rate}, below {minimum} Gb/sec (a "
                            "lane down, or a management NIC?)", **said, rate=port.rate,
                            minimum=min_rate),
                       Text("Check the cable and link width (`ibstat`), or lower {setting}.",
                            setting='[checks."host.rdma"] min_rate_gbps'), code="slow_port")


def _judge_peermem(ctx: Context, facts: RdmaFacts, found: Findings) -> dict[str, Any]:
    asked = gpudirect_requests(ctx.env)
    peer = facts.peermem
    info = {"asked": [str(a) for a in asked], "loaded": list(peer.loaded),
            "other": list(peer.other), "problem": peer.problem}
    if not asked:
        return info
    if peer.loaded:
        found.ok(Text("GPUDirect peer memory: {modules}", modules=", ".join(peer.loaded)),
                 code="peermem")
        return info
    other = Text(" (other peer-memory modules loaded: {modules})",
                 modules=", ".join(peer.other)) if peer.other else ""
    unread = f"; /proc/modules: {shown(peer.problem)}" if peer.problem else ""
    found.warn(Text("{asked} asks for GPUDirect RDMA, but no peer-memory module is loaded "
                    "(nvidia_peermem / nv_peer_mem; MetaX's equivalent is UNCONFIRMED)"
                    "{other}{unread}: registering GPU memory with the HCA fails unless "
                    "DMA-BUF is usable (sglang#6017)", asked=Text.join(", ", asked), other=other,
                    unread=unread), PEERMEM_REMEDY, code="peermem_missing")
    return info
