"""The broker ACL (Mosquitto ``acl_file``), generated from one table of service grants so the
deployed file (``deploy/mosquitto/acl``) can be regenerated and checked (``carehub provisioning
acl --check``). Hubs are not listed one by one: their MQTT username is their hub id, and the
``pattern`` lines confine every other user to its own subtree (DESIGN.md §3, §5)."""

from __future__ import annotations

from collections.abc import Mapping

from core.topics import DEFAULT_TOPIC_ROOT

HEADER = """\
# carehub broker ACL (Mosquitto acl_file). A hub's MQTT username is its opaque hub id, and a hub may
# only publish under its own up/ subtree and read its own down/ subtree (DESIGN.md §3, §5).
# Everything not granted here is denied.
"""

# service username -> (access, topic suffix under <root>/hub/+/)
SERVICE_GRANTS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "carehub-ingest": (("read", "up/#"), ("write", "down/readings/ack")),
    "carehub-provisioning": (("readwrite", "down/#"), ("read", "up/status"), ("read", "up/config/reported")),
    "carehub-scheduler": (("read", "up/status"), ("read", "up/events")),
}


def render_acl(
    root: str = DEFAULT_TOPIC_ROOT, grants: Mapping[str, tuple[tuple[str, str], ...]] = SERVICE_GRANTS
) -> str:
    lines = [HEADER, "# Services"]
    for user, topics in grants.items():
        lines.append(f"user {user}")
        lines.extend(f"topic {access} {root}/hub/+/{suffix}" for access, suffix in topics)
        lines.append("")
    lines += [
        "# Every other user is a hub: only its own subtree.",
        f"pattern write {root}/hub/%u/up/#",
        f"pattern read {root}/hub/%u/down/#",
    ]
    return "\n".join(lines) + "\n"
