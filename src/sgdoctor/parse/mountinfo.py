"""/proc/<pid>/mountinfo, parsed as the kernel writes it (proc(5)); no I/O here.

A line reads ``36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue``:
mount id, parent id, major:minor, root within the filesystem, mount point, per-mount options,
optional fields up to a lone ``-``, then filesystem type, source and superblock options.
Paths escape space, tab, newline and backslash as octal (``\\040``).
"""

from __future__ import annotations

import re

from sgdoctor.records import dataclass

__all__ = ["MountEntry", "parse_mountinfo", "mount_for"]

_OCTAL = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class MountEntry:
    """One mount as this process sees it."""

    mount_point: str
    device: tuple[int, int]
    fstype: str
    source: str
    mount_options: tuple[str, ...]
    super_options: tuple[str, ...]

    @property
    def read_only(self) -> bool:
        """A mount is read-only if either the mount (a ro bind) or its superblock is."""
        return "ro" in self.mount_options or "ro" in self.super_options


def _unescape(field: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[MountEntry]:
    """Every well-formed line, in the kernel's order (later mounts stack on earlier ones)."""
    entries = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            sep = fields.index("-", 6)
            fstype, source, super_opts = fields[sep + 1], fields[sep + 2], fields[sep + 3]
            major, minor = (int(n) for n in fields[2].split(":"))
        except (ValueError, IndexError):
            continue
        entries.append(MountEntry(
            mount_point=_unescape(fields[4]),
            device=(major, minor),
            fstype=_unescape(fstype),
            source=_unescape(source),
            mount_options=tuple(fields[5].split(",")),
            super_options=tuple(super_opts.split(",")),
        ))
    return entries


def _contains(mount_point: str, path: str) -> bool:
    if mount_point == "/":
        return path.startswith("/")
    return path == mount_point or path.startswith(mount_point + "/")


def mount_for(entries: list[MountEntry], resolved_path: str,
              device: tuple[int, int] | None = None) -> MountEntry | None:
    """The mount holding an absolute, symlink-free path: the longest matching mount point,
    and among mounts stacked on the same point, the last (topmost) one.

    ``device`` (major, minor of the path's ``st_dev``) rules out mounts that a later mount
    on a shorter prefix has hidden, which the longest prefix alone would wrongly pick.
    """
    best: MountEntry | None = None
    for entry in entries:
        if device is not None and entry.device != device:
            continue
        if _contains(entry.mount_point, resolved_path) and (
                best is None or len(entry.mount_point) >= len(best.mount_point)):
            best = entry
    return best
