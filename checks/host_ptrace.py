"""`host.ptrace`: can one server process take a file descriptor from another (pidfd_getfd)?"""

from __future__ import annotations

import re

from sgdoctor.api import Context, Findings, ProbeError, Result, Text, check
from sgdoctor.parse.settings import SettingError, setting_error
from sgdoctor.parse.verdict import shown

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ENV = ("PYTORCH_CUDA_ALLOC_CONF",)
CAP_REMEDY = Text.join("\n", ["docker run --cap-add SYS_PTRACE ...",
                              'Kubernetes: securityContext: {capabilities: {add: '
                              '["SYS_PTRACE"]}}'])
SCOPE_MEANING = {0: Text("classic ptrace permissions"), 1: Text("restricted to descendants"),
                 2: Text("admin-only (CAP_SYS_PTRACE)"), 3: Text("no attach at all")}


@check("host.ptrace", title="ptrace / pidfd_getfd permission", env=ENV, timeout=3.0,
       tags=("host",), settings={"pid": (int, str)})
def host_ptrace(ctx: Context) -> Result:
    """GPU memory shared between the server's processes through expandable segments
    (PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True) travels as file descriptors taken with
    pidfd_getfd(2), which needs ptrace access to the peer: Yama's ptrace_scope 1 (the Ubuntu
    default) allows it only toward descendants, 2 only with CAP_SYS_PTRACE, 3 never; Docker's
    default seccomp profile allows pidfd_getfd only with CAP_SYS_PTRACE. Without them the run
    fails with "pidfd_getfd: Operation not permitted". Each is a warning; no Yama and no
    seccomp filter is a skip. Under --host-root the kernel's side alone is judged (the
    containers' capabilities are not visible from there). Setting: pid (whose capabilities
    and seccomp mode; default this process).
    """
    from sgdoctor.parse.host import CAP_SYS_PTRACE
    from sgdoctor.probe.hostptrace import ptrace_facts
    from sgdoctor.probe.hostroot import HostRoot

    pid = ctx.setting("pid")
    if pid is not None and not (pid == "self" or re.fullmatch(r"[1-9]\d{0,9}", str(pid))):
        return Result.error(setting_error("host.ptrace", SettingError(Text(
            'setting pid={pid} must be a process id or "self"', pid=repr(pid)))), env=ENV)
    try:
        root = HostRoot.from_options(ctx.options)
    except ProbeError as exc:
        return Result.error(Text("--host-root: {error}", error=exc.message), env=ENV)
    # Under --host-root with no pid, the question is about the node's containers, whose
    # capabilities and seccomp profile cannot be seen from here: judge the kernel's side only.
    node_wide = not root.on_host and pid is None
    facts = ptrace_facts(root, None if pid is None else str(pid))
    status = None if node_wide else facts.status
    cap = None if status is None or status.cap_eff is None else bool(
        status.cap_eff >> CAP_SYS_PTRACE & 1)
    seccomp = None if status is None else status.seccomp
    expandable = "expandable_segments:true" in ctx.env.get(
        "PYTORCH_CUDA_ALLOC_CONF", "").replace(" ", "").lower()
    details: dict[str, Any] = {
        "yama_path": shown(facts.yama_path), "yama_present": facts.yama_present,
        "ptrace_scope": facts.yama_scope, "node_wide": node_wide,
        "status_path": None if node_wide else shown(facts.status_path),
        "cap_sys_ptrace": cap, "seccomp": seccomp, "expandable_segments": expandable}
    found = Findings()
    if node_wide:
        pass
    elif facts.status_error is not None:
        found.warn(Text("cannot read {path}: {error}", path=shown(facts.status_path),
                        error=shown(facts.status_error.message)), code="status_unreadable")
    elif cap is None or seccomp is None:
        found.warn(Text("{path} has no readable CapEff or Seccomp line",
                        path=shown(facts.status_path)), code="status_unreadable")
    if not facts.yama_present and (seccomp == 0 or node_wide):
        return Result.skip(Text("no Yama LSM: nothing restricts pidfd_getfd beyond the usual "
                                "same-user rule") if node_wide else
                           Text("no Yama LSM and no seccomp filter: nothing restricts "
                                "pidfd_getfd beyond the usual same-user rule"),
                           details=details, env=ENV)

    effect = (Text('pidfd_getfd between server processes fails with "Operation not '
                   'permitted"; PYTORCH_CUDA_ALLOC_CONF turns on expandable segments here')
              if expandable else
              Text('pidfd_getfd between server processes fails with "Operation not '
                   'permitted"'))
    scope = facts.yama_scope
    if facts.yama_error is not None:
        found.warn(Text("cannot read Yama's ptrace_scope: {error}",
                        error=shown(facts.yama_error.message)), code="yama_unreadable")
    elif scope == 3:
        found.warn(Text("kernel.yama.ptrace_scope=3 (no attach at all): {effect}, even with "
                        "CAP_SYS_PTRACE", effect=effect),
                   Text("on the host: put {line} in {path} and reboot (3 cannot be lowered "
                        "at run time)", line="kernel.yama.ptrace_scope = 1",
                        path="/etc/sysctl.d/10-ptrace.conf"), code="ptrace_disabled")
    elif scope == 2 and node_wide:
        found.warn(Text("kernel.yama.ptrace_scope=2 (admin-only): in containers without "
                        "CAP_SYS_PTRACE {effect}", effect=effect), CAP_REMEDY,
                   code="ptrace_admin_only")
    elif scope == 2 and cap is False:
        found.warn(Text("kernel.yama.ptrace_scope=2 (admin-only) and no CAP_SYS_PTRACE: "
                        "{effect}", effect=effect), CAP_REMEDY, code="ptrace_admin_only")
    elif scope == 1 and cap is False:
        found.warn(Text("kernel.yama.ptrace_scope=1 (descendants only) and no CAP_SYS_PTRACE: "
                        "{effect}", effect=effect),
                   Text.join("\n", [CAP_REMEDY, Text("on the host: {command}",
                                                     command="sysctl -w "
                                                     "kernel.yama.ptrace_scope=0")]),
                   code="ptrace_restricted")
    if seccomp is not None and seccomp != 0 and cap is False:
        found.warn(Text("a seccomp filter is installed (Seccomp: {seccomp}) and no "
                        "CAP_SYS_PTRACE: Docker's default profile then denies pidfd_getfd; "
                        "{effect}", seccomp=seccomp, effect=effect), CAP_REMEDY,
                   code="seccomp_filter")
    scope_text = (Text("ptrace_scope={scope} ({meaning})", scope=scope,
                       meaning=SCOPE_MEANING.get(scope, Text("unknown")))
                  if scope is not None else Text("no Yama"))
    if node_wide:
        return found.result(
            Text("{scope} on the node: containers need CAP_SYS_PTRACE for pidfd_getfd between "
                 "server processes", scope=scope_text) if scope == 1 else
            Text("{scope} on the node: pidfd_getfd between server processes is allowed",
                 scope=scope_text), details=details, env=ENV)
    cap_text = {True: Text("CAP_SYS_PTRACE held"), False: Text("no CAP_SYS_PTRACE"),
                None: Text("capabilities unknown")}[cap]
    return found.result(Text("{scope}, {cap}, seccomp mode {seccomp}: pidfd_getfd between "
                             "server processes is allowed", scope=scope_text, cap=cap_text,
                             seccomp=seccomp), details=details, env=ENV)
