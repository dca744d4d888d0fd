"""Child helper for the differential tests: dlopen argv[1] with ctypes (as a program
would) and print, as JSON, the objects the real loader added to the link map, in load
order and under the names the loader gave them (l_name), or the loader's error."""

import ctypes
import json
import sys


class LinkMap(ctypes.Structure):
    pass
LinkMap._fields_ = [("l_addr", ctypes.c_void_p), ("l_name", ctypes.c_char_p),
                    ("l_ld", ctypes.c_void_p), ("l_next", ctypes.POINTER(LinkMap)),
                    ("l_prev", ctypes.POINTER(LinkMap))]
libc = ctypes.CDLL(None)
libc.dlinfo.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]

def names(handle: int) -> list[str]:
    """Every l_name of the namespace, from the head of the link map."""
    lm = ctypes.POINTER(LinkMap)()
    libc.dlinfo(handle, 2, ctypes.byref(lm))  # RTLD_DI_LINKMAP
    while lm.contents.l_prev:
        lm = lm.contents.l_prev
    out = []
    while lm:
        out.append(lm.contents.l_name.decode("utf-8", "surrogateescape"))
        lm = lm.contents.l_next
    return out

before = names(libc._handle)
try:
    lib = ctypes.CDLL(sys.argv[1])
except OSError as exc:
    print(json.dumps({"error": str(exc)}))
else:
    print(json.dumps({"new": [n for n in names(lib._handle) if n not in before]}))
