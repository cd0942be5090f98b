"""The servers under test and how to start and stop them."""

from benchmarks.targets.base import Endpoint, Target, TargetUnavailable
from benchmarks.targets.channels import ChannelsTarget
from benchmarks.targets.partyray import PartyrayTarget
from benchmarks.targets.plain import PlainTarget

__all__ = [
    "TARGET_NAMES",
    "ChannelsTarget",
    "Endpoint",
    "PartyrayTarget",
    "PlainTarget",
    "Target",
    "TargetUnavailable",
]

#: Every target, in the order they run (plain first: the others are compared to it).
TARGET_NAMES = ("plain", "partyray", "channels")
