"""Host probes. Every network or subprocess call takes an explicit timeout."""


def host_arg(host: str) -> str | bytes:
    """``host`` as socket.getaddrinfo should be given it. CPython encodes every str host with
    the idna codec, whose first use imports encodings.idna, stringprep and unicodedata (about
    a millisecond of every start); for an ASCII name whose labels the codec accepts it returns
    the name's own bytes, so those are passed instead. Anything else still goes through the
    codec (and fails there as before)."""
    if not host.isascii():
        return host
    labels = host.split(".")
    if any(not 0 < len(label) < 64 for label in labels[:-1]) or len(labels[-1]) >= 64:
        return host
    return host.encode("ascii")
