"""probe.interfaces reads link state with two ioctls instead of psutil: the same answers as
psutil's net_if_stats, in a real network namespace with a device up, one down, an MTU of
its own and an address label (``eth:1``), which getifaddrs names but /proc/net/dev does not."""

from __future__ import annotations

import json
import sys

from netns import Namespaces, unique_subnet, veth

PSUTIL_VIEW = """
import json, psutil
from sgdoctor.probe.interfaces import list_interfaces
stats = psutil.net_if_stats()
out = {}
for name, i in list_interfaces().items():
    st = stats.get(name)
    flags = set(st.flags.split(",")) if st else set()
    out[name] = [["up" in flags, "loopback" in flags or name == "lo",
                  st.mtu if st and st.mtu else None],
                 [i.admin_up, i.loopback, i.mtu], list(i.ipv4)]
print(json.dumps(out))
"""


def test_link_state_is_what_psutil_says(needs_netns) -> None:
    subnet = unique_subnet()
    with Namespaces() as nets:
        node, peer = nets.new("node"), nets.new("peer")
        veth(node, "bond0", peer, "bond0p")
        veth(node, "eth9", peer, "eth9p")
        node.ip("link", "set", "bond0", "mtu", "1400")
        node.ip("addr", "add", f"{subnet}.1/24", "dev", "bond0")
        node.ip("addr", "add", f"{subnet}.7/24", "dev", "bond0", "label", "bond0:1")
        node.ip("addr", "add", f"{subnet}.9/32", "dev", "eth9")
        node.up("bond0")
        node.up("lo")
        seen = json.loads(node.exec([sys.executable, "-c", PSUTIL_VIEW]).stdout)
    assert {"lo", "bond0", "eth9"} <= set(seen)
    for name, (psutil_says, probe_says, _) in seen.items():
        assert probe_says == psutil_says, name
    assert seen["bond0"][1] == [True, False, 1400]
    assert seen["eth9"][1] == [False, False, 1500]
    assert seen["lo"][1][:2] == [True, True]
    labelled = [name for name in seen if name.startswith("bond0:")]
    assert labelled and all(seen[name][1] == [False, False, None] for name in labelled)
