"""MQTT topics between hubs and the cloud (DESIGN.md §3; ``reference/cellular-and-logistics.md`` §4.2).

Root ``<topic_root>/hub/<hub_id>/``; ``hub_id`` is opaque and equals the hub's MQTT username, so the
broker ACL ``pattern ... <root>/hub/%u/#`` confines each hub to its own subtree. No PHI in topics.
The root is configurable so tests and tenants can be isolated (default ``carehub/v1``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from core.errors import CarehubError

DEFAULT_TOPIC_ROOT = "carehub/v1"
HUB_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{4,64}$")


class HubTopic(StrEnum):
    """Topic suffixes under a hub's subtree."""

    STATUS = "up/status"
    READINGS = "up/readings"
    EVENTS = "up/events"
    CONFIG_REPORTED = "up/config/reported"
    COMMAND_RESULT = "up/cmd/result"
    CONFIG_DESIRED = "down/config/desired"
    READINGS_ACK = "down/readings/ack"
    COMMAND = "down/cmd"


class InvalidTopic(CarehubError):
    """A topic does not belong to the hub tree or names an invalid hub id."""


@dataclass(frozen=True, slots=True)
class Topics:
    """Builds and parses hub topics under one root."""

    root: str = DEFAULT_TOPIC_ROOT

    def hub(self, hub_id: str, suffix: HubTopic) -> str:
        if not HUB_ID_PATTERN.match(hub_id):
            raise InvalidTopic(f"invalid hub id {hub_id!r}")
        return f"{self.root}/hub/{hub_id}/{suffix.value}"

    def all_hubs(self, suffix: HubTopic) -> str:
        """Subscription filter for ``suffix`` of every hub."""
        return f"{self.root}/hub/+/{suffix.value}"

    def shared(self, group: str, topic_filter: str) -> str:
        """MQTT 5 shared-subscription filter: the broker gives each message to one group member."""
        return f"$share/{group}/{topic_filter}"

    def hub_id_of(self, topic: str, suffix: HubTopic) -> str:
        """The hub id in ``topic``, which must be ``<root>/hub/<id>/<suffix>``."""
        prefix = f"{self.root}/hub/"
        tail = f"/{suffix.value}"
        if not (topic.startswith(prefix) and topic.endswith(tail)):
            raise InvalidTopic(f"topic is not a hub {suffix.value} topic: {topic[:200]!r}")
        hub_id = topic[len(prefix) : -len(tail)]
        if not HUB_ID_PATTERN.match(hub_id):
            raise InvalidTopic(f"invalid hub id in topic: {hub_id[:80]!r}")
        return hub_id
