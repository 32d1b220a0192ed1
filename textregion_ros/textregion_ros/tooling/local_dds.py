"""Keep DDS on this machine: the environment every test, benchmark and demo run starts ROS in.

With default settings Fast DDS announces itself by multicast on every network interface, so a
test run on a robot's network would be visible to (and receive traffic from) the robot. Runs
that are not meant to talk to a robot therefore get:
  - ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST (discovery stays on this host),
  - their own ROS_DOMAIN_ID (claimed with a lock file, so concurrent runs do not see each other),
  - a Fast DDS profile with a 64 MB shared-memory segment (the default 512 KB segment drops or
    delays 720p images) and UDP restricted to the loopback interface, under both profile
    variables (Jazzy reads FASTRTPS_*, newer releases FASTDDS_*).
The node itself never calls this: on a robot it must use the robot's DDS settings.
"""
from __future__ import annotations

import fcntl
import os
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, MutableMapping, Optional, TextIO

DISCOVERY_RANGE = "LOCALHOST"
SHM_SEGMENT_BYTES = 64 * 1024 * 1024
PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
# Linux allows domain ids 0-101 with default port settings; 0 is everybody's default, so skip it.
DOMAIN_IDS = range(1, 102)

_PROFILE_XML = f"""<?xml version="1.0" encoding="UTF-8" ?>
<!-- Written by textregion_ros.tooling.local_dds: large shared-memory segment, UDP on loopback only. -->
<profiles xmlns="http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles">
  <transport_descriptors>
    <transport_descriptor>
      <transport_id>textregion_shm</transport_id>
      <type>SHM</type>
      <segment_size>{SHM_SEGMENT_BYTES}</segment_size>
    </transport_descriptor>
    <transport_descriptor>
      <transport_id>textregion_udp_loopback</transport_id>
      <type>UDPv4</type>
      <interfaceWhiteList>
        <address>127.0.0.1</address>
      </interfaceWhiteList>
    </transport_descriptor>
  </transport_descriptors>
  <participant profile_name="textregion_local" is_default_profile="true">
    <rtps>
      <userTransports>
        <transport_id>textregion_shm</transport_id>
        <transport_id>textregion_udp_loopback</transport_id>
      </userTransports>
      <useBuiltinTransports>false</useBuiltinTransports>
    </rtps>
  </participant>
</profiles>
"""


class DdsIsolationError(RuntimeError):
    """The environment would let DDS traffic leave the machine or mix with another run."""


@dataclass
class LocalDds:
    """A claimed domain id plus the variables that confine DDS to this machine.

    Keep the object alive while ROS processes run: it holds the domain's lock file.
    """

    domain_id: int
    profile_path: Path
    _lock: Optional[TextIO] = field(default=None, repr=False)

    @property
    def env(self) -> dict[str, str]:
        variables = {
            "ROS_AUTOMATIC_DISCOVERY_RANGE": DISCOVERY_RANGE,
            "ROS_DOMAIN_ID": str(self.domain_id),
            "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
        }
        variables.update({name: str(self.profile_path) for name in PROFILE_VARIABLES})
        return variables

    def apply(self, environ: MutableMapping[str, str] = os.environ) -> None:
        """Export the variables into `environ` (this process and the children it starts)."""
        environ.update(self.env)
        environ.pop("ROS_LOCALHOST_ONLY", None)  # deprecated; would fight the range setting

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def claim(state_dir: Optional[Path] = None) -> LocalDds:
    """Claim a free domain id (lock file) and write the Fast DDS profile.

    Raises DdsIsolationError when every domain id is taken by a live run.
    """
    state_dir = Path(state_dir or Path(tempfile.gettempdir()) / "textregion_ros-dds")
    state_dir.mkdir(parents=True, exist_ok=True)
    profile_path = state_dir / "fastdds_local_shm64.xml"
    _write_atomically(profile_path, _PROFILE_XML)
    candidates = list(DOMAIN_IDS)
    start = random.randrange(len(candidates))
    for domain_id in candidates[start:] + candidates[:start]:
        lock = open(state_dir / f"domain-{domain_id}.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        lock.write(str(os.getpid()))
        lock.flush()
        return LocalDds(domain_id, profile_path, lock)
    raise DdsIsolationError(f"all ROS domain ids {DOMAIN_IDS.start}-{DOMAIN_IDS.stop - 1} are in use")


def check(environ: Mapping[str, str] = os.environ) -> None:
    """Raise DdsIsolationError unless `environ` confines DDS to this machine and domain."""
    problems = []
    if environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") != DISCOVERY_RANGE:
        problems.append(
            f"ROS_AUTOMATIC_DISCOVERY_RANGE is {environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE')!r}, "
            f"not {DISCOVERY_RANGE!r}"
        )
    domain = environ.get("ROS_DOMAIN_ID", "")
    if not domain.isdigit() or int(domain) not in DOMAIN_IDS:
        problems.append(f"ROS_DOMAIN_ID is {domain!r}, not a claimed id in 1-101")
    for name in PROFILE_VARIABLES:
        path = environ.get(name)
        if not path or not Path(path).is_file():
            problems.append(f"{name} does not name an existing Fast DDS profile ({path!r})")
        elif str(SHM_SEGMENT_BYTES) not in Path(path).read_text():
            problems.append(f"{name} profile {path} has no {SHM_SEGMENT_BYTES}-byte SHM segment")
    if problems:
        raise DdsIsolationError(
            "refusing to start ROS: DDS is not confined to this machine: " + "; ".join(problems)
        )


def _write_atomically(path: Path, text: str) -> None:
    if path.is_file() and path.read_text() == text:
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
