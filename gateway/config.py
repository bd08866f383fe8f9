"""Configuration (SPEC §8): one TOML file, ``HCGW_*`` environment variables over ``[gateway]``.

Read once, at the entry point, into one frozen :class:`Settings`. Every error names the key
and the bad value. Keys beyond SPEC §8 are documented in docs/configuration.md.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.core.crypto import PublicKey, load_public_key
from gateway.core.model import Alg, IssuerCode
from gateway.errors import InvalidKey


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which key and why."""


@dataclass(frozen=True, slots=True)
class IssuerConfig:
    iss: IssuerCode
    name: str
    upload_keys: tuple[PublicKey, ...]


@dataclass(frozen=True, slots=True)
class ClientConfig:
    id: str
    token_sha256: bytes
    scopes: frozenset[str]
    rate: float


@dataclass(frozen=True, slots=True)
class Settings:
    listen: str = "127.0.0.1:8080"
    redis_url: str = ""
    redis_cluster: bool = False
    admin_listen: str = ""
    workers: int = 1
    trust_key: str = "var/hub-trust-key.pem"
    # Beyond SPEC §8 (docs/configuration.md):
    data_dir: str = "var"  # the embedded redis-server keeps its files here
    redis_durability: str = "require"  # or "warn": what to do when Redis cannot keep acks
    max_inflight: int = 512  # past this, 503 overloaded at once
    local_cache_size: int = 100_000  # per-process verified-signature entries
    redis_deadline: float = 0.8  # seconds a request may wait on Redis before 503 unavailable
    access_log: bool = False
    log_format: str = "json"  # or "text" (gateway.metrics.logs)
    header_timeout: float = 10.0  # seconds a connection has to send a request head
    max_connections: int = 0  # per worker; 0: as many as the open-file limit allows
    lease_invalidation: bool = True  # answer what a worker knows from memory, under leases
    issuers: tuple[IssuerConfig, ...] = ()
    clients: tuple[ClientConfig, ...] = field(default_factory=tuple)

    @property
    def listen_host_port(self) -> tuple[str, int]:
        return split_host_port(self.listen, "listen")


_SCALARS = {
    f.name: f.type for f in dataclasses.fields(Settings) if f.name not in ("issuers", "clients")
}
_ISS = re.compile(r"[0-9]{6}")
SCOPES = frozenset({"verify", "trustlist"})
LOG_FORMATS = ("json", "text")  # gateway.metrics.logs


def split_host_port(value: str, key: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{key} = {value!r}: expected host:port, e.g. 127.0.0.1:8080")
    return host.strip("[]"), int(port)


def _coerce(key: str, value: Any, kind: str) -> Any:
    if kind == "bool":
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
            return value.lower() in ("1", "true", "yes")
        if type(value) is bool:
            return value
    elif kind == "int":
        try:
            if type(value) is not bool:
                return int(value)
        except ValueError:
            pass
    elif kind == "float":
        try:
            if type(value) is not bool:
                return float(value)
        except ValueError:
            pass
    elif kind == "str" and isinstance(value, str):
        return value
    raise ConfigError(f"[gateway] {key} = {value!r}: expected {kind}")


def load_upload_key(text: str, where: str) -> PublicKey:
    """Upload keys are base64url DER SPKI; the algorithm is the key's own."""
    try:
        spki = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"{where}: not base64url") from exc
    for alg in Alg:
        try:
            return load_public_key(alg, spki)
        except InvalidKey:
            continue
    raise ConfigError(f"{where}: not a canonical Ed25519 or P-256 SubjectPublicKeyInfo")


def _issuer(i: int, raw: Mapping[str, Any]) -> IssuerConfig:
    where = f"[[issuer]] #{i + 1}"
    iss = raw.get("iss")
    if not isinstance(iss, str) or not _ISS.fullmatch(iss):
        raise ConfigError(f"{where} iss = {iss!r}: expected six ASCII digits")
    keys = raw.get("upload_keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ConfigError(f"{where} ({iss}) upload_keys: expected a list of strings")
    return IssuerConfig(
        iss=IssuerCode(iss),
        name=str(raw.get("name", iss)),
        upload_keys=tuple(
            load_upload_key(k, f"{where} ({iss}) upload_keys[{j}]") for j, k in enumerate(keys)
        ),
    )


def _client(i: int, raw: Mapping[str, Any]) -> ClientConfig:
    where = f"[[client]] #{i + 1}"
    cid = raw.get("id")
    if not isinstance(cid, str) or not cid:
        raise ConfigError(f"{where} id = {cid!r}: expected a non-empty string")
    digest = raw.get("token_sha256", "")
    try:
        token_sha256 = bytes.fromhex(digest)
    except (TypeError, ValueError):
        token_sha256 = b""
    if len(token_sha256) != 32:
        raise ConfigError(f"{where} ({cid}) token_sha256 = {digest!r}: expected 64 hex digits")
    scopes = raw.get("scopes", [])
    if not isinstance(scopes, list) or not set(scopes) <= SCOPES:
        raise ConfigError(f"{where} ({cid}) scopes = {scopes!r}: allowed {sorted(SCOPES)}")
    rate = raw.get("rate")
    if not isinstance(rate, int | float) or isinstance(rate, bool) or rate <= 0:
        raise ConfigError(f"{where} ({cid}) rate = {rate!r}: expected requests per second > 0")
    return ClientConfig(cid, token_sha256, frozenset(scopes), float(rate))


def parse_settings(doc: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
    gateway = dict(doc.get("gateway", {}))
    for key in _SCALARS:
        env = environ.get(f"HCGW_{key.upper()}")
        if env is not None:
            gateway[key] = env
    unknown = set(gateway) - set(_SCALARS)
    if unknown:
        raise ConfigError(f"[gateway] unknown keys: {', '.join(sorted(unknown))}")
    values = {k: _coerce(k, v, str(_SCALARS[k])) for k, v in gateway.items()}
    issuers = tuple(_issuer(i, raw) for i, raw in enumerate(doc.get("issuer", [])))
    clients = tuple(_client(i, raw) for i, raw in enumerate(doc.get("client", [])))
    seen_iss = [i.iss for i in issuers]
    if len(set(seen_iss)) != len(seen_iss):
        raise ConfigError("[[issuer]]: an iss is enrolled twice")
    if len({c.token_sha256 for c in clients}) != len(clients):
        raise ConfigError("[[client]]: two clients share a token")
    settings = Settings(**values, issuers=issuers, clients=clients)
    if settings.redis_durability not in ("require", "warn"):
        raise ConfigError(
            f"[gateway] redis_durability = {settings.redis_durability!r}: "
            "expected 'require' or 'warn'"
        )
    if settings.log_format not in LOG_FORMATS:
        raise ConfigError(
            f"[gateway] log_format = {settings.log_format!r}: expected one of {LOG_FORMATS}"
        )
    if settings.workers < 1 or settings.max_inflight < 1:
        raise ConfigError("[gateway] workers and max_inflight must be at least 1")
    if not settings.header_timeout > 0 or settings.max_connections < 0:
        raise ConfigError(
            f"[gateway] header_timeout = {settings.header_timeout!r}, max_connections = "
            f"{settings.max_connections!r}: expected seconds > 0 and a count ≥ 0"
        )
    ports = [settings.listen_host_port[1]]  # validates listen early, with the key's name
    if settings.admin_listen:
        ports.append(split_host_port(settings.admin_listen, "admin_listen")[1])
    if settings.workers > 1 and 0 in ports:
        raise ConfigError(
            f"[gateway] workers = {settings.workers} with port 0: each worker would listen on a "
            "port of its own; name the port in listen and admin_listen"
        )
    return settings


def load_settings(path: str | Path | None, environ: Mapping[str, str]) -> Settings:
    if path is None:
        return parse_settings({}, environ)
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} not found (HCGW_CONFIG)") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from exc
    return parse_settings(doc, environ)
