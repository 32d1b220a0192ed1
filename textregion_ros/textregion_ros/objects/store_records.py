"""What the persistent object store keeps per object, where the store is, and how it says what went wrong.

One row per object, keyed by (robot_id, session_id, track_id): track ids restart with every process,
so a per-boot session id keeps two boots' track 7 apart. The token is kept as little-endian fp16
(half the bytes, cosine error ~1e-3) next to the model that made it (`backbone:model:weights`): tokens of
another model are never scored against this model's text. 3D is kept in a named frame together with
the `map_id` that frame's coordinates belong to, so a re-mapped building does not silently move
every remembered pose.

ROS-free and database-free: the SQLite and PostgreSQL back ends share these definitions.
"""
from __future__ import annotations

import os
import re
import socket
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

import numpy as np

SCHEMA_VERSION = 1
APPLICATION = "textregion_ros"
OBJECTS_TABLE = "textregion_objects"
FORGOTTEN_TABLE = "textregion_forgotten"
META_TABLE = "textregion_meta"
DEFAULT_STORE = "$ROS_HOME/textregion/memory.sqlite"
POSTGRES_SCHEMES = ("postgresql", "postgres")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class StoreError(RuntimeError):
    """The store cannot be used (unreachable, refused, corrupt, read-only); the message says why and
    never holds a password."""


class StoreRefused(StoreError):
    """The store exists but is not ours to write (foreign or corrupt file, newer schema): never retried."""


@dataclass
class StoredObject:
    """One remembered object as the store keeps it (ROS-time stamps in nanoseconds)."""

    robot_id: str
    session_id: str
    track_id: int
    model: str  # the token's model, backbone:model:weights (EngineConfig.model_id)
    first_seen_ns: int
    last_seen_ns: int
    sightings: int
    token: np.ndarray  # [D] float32 in RAM, fp16 in the store
    box: tuple[float, float, float, float] = (float("nan"),) * 4
    box_frame: str = ""
    box_stamp_ns: int = 0
    has_3d: bool = False
    centre: tuple[float, float, float] = (float("nan"),) * 3
    box_centre: tuple[float, float, float] = (float("nan"),) * 3
    size: tuple[float, float, float] = (float("nan"),) * 3
    orientation: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    region_3d: str = ""
    stamp_3d_ns: int = 0
    map_id: str = ""
    seq: int = field(default=0, compare=False)  # the store's change number (set by the store)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.robot_id, self.session_id, int(self.track_id))

    def copy(self, **changes) -> "StoredObject":
        return replace(self, **changes)


def token_bytes(token: np.ndarray) -> bytes:
    """The token as the store keeps it: little-endian fp16."""
    return np.asarray(token, dtype="<f2").reshape(-1).tobytes()


def token_from_bytes(data: bytes) -> np.ndarray:
    """A stored token (little-endian float16 bytes) as float32 for matching."""
    return np.frombuffer(bytes(data), dtype="<f2").astype(np.float32)


def new_session_id() -> str:
    """A per-boot session id: unique across restarts and robots (random, not a clock)."""
    return uuid.uuid4().hex[:16]


def default_robot_id(namespace: str = "") -> str:
    """The node's namespace without slashes ('/robot1' -> 'robot1'), else the host name."""
    name = namespace.strip("/").replace("/", "_")
    return name or socket.gethostname() or "robot"


# -- where the store is ------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoreLocation:
    """A resolved memory_store value: nothing (RAM only), a SQLite file, or a PostgreSQL URL."""

    kind: str  # "ram", "sqlite" or "postgresql"
    target: str  # the file path or the full URL (may hold a password: never log it, use `shown`)
    shown: str  # the same with any password replaced by ***

    @property
    def secret(self) -> str:
        """The password in the URL ('' when none), to scrub from any text that reaches a log."""
        if self.kind != "postgresql":
            return ""
        try:
            return urlsplit(self.target).password or ""
        except ValueError:
            return ""

    def scrub(self, text: str) -> str:
        """`text` with the password (and the full URL) replaced: for errors from a client library."""
        text = str(text)
        if self.kind == "postgresql":
            text = text.replace(self.target, self.shown)
        secret = self.secret
        return text.replace(secret, "***") if secret else text


def redact_url(url: str) -> str:
    """The URL with its password replaced by *** (user, host, port and database kept)."""
    match = re.match(r"^([^:/?#]+://)([^@/?#]*)@(.*)$", url, flags=re.S)
    if not match:
        return url
    scheme, userinfo, rest = match.groups()
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{user}{':***' if ':' in userinfo else ''}@{rest}"


def ros_home() -> Path:
    """$ROS_HOME, else ~/.ros (the ROS 2 convention rtabmap.db also follows)."""
    return Path(os.environ.get("ROS_HOME") or Path.home() / ".ros")


def store_problem(value: str) -> Optional[str]:
    """Why a memory_store value is unusable ('' = RAM only, a SQLite path, a postgresql:// URL), or None.

    Checked when the parameter is set, so a bad URL is refused at once; the message never holds a
    password."""
    value = str(value)
    if not value.strip():
        return None
    scheme = _SCHEME.match(value)
    if scheme:
        if scheme.group(1).lower() not in POSTGRES_SCHEMES:
            return (f"is a URL of an unsupported kind ({scheme.group(1)}://): use a SQLite file path or a "
                    f"postgresql:// URL")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as error:
            return f"is not a valid postgresql:// URL ({redact_url(str(error))})"
        if not parts.hostname and "host=" not in parts.query:
            return "is a postgresql:// URL without a host"
        return None
    if "\0" in value:
        return "is not a usable file path (holds a NUL character)"
    if value != value.strip():
        return "has spaces at its start or end"
    return None


def resolve_store(value: str) -> StoreLocation:
    """The StoreLocation of a memory_store value ($ROS_HOME and ~ expanded in paths)."""
    problem = store_problem(value)
    if problem:
        raise StoreRefused(f"memory_store {problem}, got {redact_url(str(value))!r}")
    value = str(value)
    if not value.strip():
        return StoreLocation("ram", "", "RAM only")
    if _SCHEME.match(value):
        return StoreLocation("postgresql", value, redact_url(value))
    path = value.replace("$ROS_HOME", str(ros_home())).replace("${ROS_HOME}", str(ros_home()))
    path = str(Path(os.path.expandvars(os.path.expanduser(path))))
    return StoreLocation("sqlite", path, path)
