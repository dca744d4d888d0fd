"""Names for user and group ids, for findings about ownership (an id with no name stays a
number: containers often run with ids that /etc/passwd does not know)."""

from __future__ import annotations


def user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        return str(uid)


def group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except (KeyError, OverflowError):
        return str(gid)
