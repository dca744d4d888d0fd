"""ETCD_AUTH_CA / _CLIENT_CERT / _CLIENT_KEY as Dynamo would use them: the TLS material of an
etcd client, given as PEM text or as file paths (both are accepted, paths are noted)."""

from __future__ import annotations

from collections.abc import Mapping

from sgdoctor.parse.endpoints import ETCD_TLS_VARS
from sgdoctor.probe.tls_material import PEM_MARK, client_context, pem_from_value
from sgdoctor.records import dataclass

TYPE_CHECKING = False

if TYPE_CHECKING:
    import ssl

    from sgdoctor.parse.endpoints import EtcdConfig


@dataclass(frozen=True)
class TlsMaterial:
    """The three ETCD_AUTH_* TLS values, as set (PEM text or paths)."""

    ca: str
    cert: str
    key: str

    @classmethod
    def from_env(cls, env: Mapping[str, str], config: EtcdConfig) -> TlsMaterial | None:
        """The material, when Dynamo would use it (all three set, no password auth)."""
        return cls(*(env[name] for name in ETCD_TLS_VARS)) if config.tls else None

    def given_as_paths(self) -> list[str]:
        """The variables whose value is a path rather than PEM text."""
        return [name for name, value in zip(ETCD_TLS_VARS, (self.ca, self.cert, self.key),
                                            strict=True)
                if not value.lstrip().startswith(PEM_MARK)]


def client_tls_context(material: TlsMaterial | None) -> ssl.SSLContext:
    """A verifying client context; with material, its CA and client identity are loaded.
    Raises TlsMaterialError naming the variable that cannot be used."""
    if material is None:
        return client_context(None, None, None)
    ca, cert, key = (pem_from_value(value, name) for name, value in
                     zip(ETCD_TLS_VARS, (material.ca, material.cert, material.key), strict=True))
    return client_context(ca, cert, key)
