"""Make this Python (interpreter, venv, sources) runnable by an unprivileged user, inside a
private mount namespace only, without touching a single permission on the host.

Run as root INSIDE `unshare -m --propagation private`: every ancestor directory of the needed
paths that the user may not traverse (e.g. /root, mode 0700, holding pyenv or the clone) is
covered with a tmpfs of mode 0711 into which only the needed children are bind-mounted back.
The mounts vanish with the namespace; the host keeps its modes.

    python expert_record_mountns.py UID GID WORKDIR
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import sysconfig
import tempfile


def _traversable(path: str, uid: int, gid: int) -> bool:
    st = os.stat(path)
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _symlink_hops(path: str) -> list[str]:
    """Every place a symlink chain passes through, each with a symlink-free directory."""
    hops = []
    for _ in range(40):
        here = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
        hops.append(here)
        if not os.path.islink(here):
            break
        path = os.path.join(os.path.dirname(here), os.readlink(here))
    return hops


def needed_paths() -> list[str]:
    import sgdoctor.checks

    import sgdoctor

    paths = [*_symlink_hops(sys.executable), sys.prefix, sys.base_prefix, sys.exec_prefix,
             sys.base_exec_prefix, os.path.dirname(sgdoctor.__file__),
             os.path.dirname(sgdoctor.checks.__file__)]
    paths += [p for p in sysconfig.get_paths().values() if os.path.isdir(p)]
    paths += [p for p in sys.path if p and os.path.isdir(p)]
    return [os.path.realpath(p) if not os.path.islink(p) else p for p in paths]


def blocked(paths: list[str], uid: int, gid: int) -> dict[str, set[str]]:
    """For each directory the user may not traverse: which children must be let through."""
    needs: dict[str, set[str]] = {}
    for path in paths:
        current = "/"
        for part in [p for p in path.split("/") if p]:
            if not _traversable(current, uid, gid):
                needs.setdefault(current, set()).add(part)
            current = os.path.join(current, part)
    return needs


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, timeout=30)


def expose(needs: dict[str, set[str]], workdir: str) -> None:
    for directory in sorted(needs, key=lambda d: d.count("/")):
        stash = tempfile.mkdtemp(dir=workdir)
        _mount("--bind", directory, stash)
        _mount("-t", "tmpfs", "-o", "mode=0711,size=64k", "tmpfs", directory)
        for name in sorted(needs[directory]):
            source, target = os.path.join(stash, name), os.path.join(directory, name)
            st = os.lstat(source)
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(source), target)
                continue
            if stat.S_ISDIR(st.st_mode):
                os.mkdir(target)
            else:
                open(target, "w").close()
            _mount("--bind", source, target)


def main() -> None:
    uid, gid, workdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    expose(blocked(needed_paths(), uid, gid), workdir)


if __name__ == "__main__":
    main()
