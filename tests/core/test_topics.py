from __future__ import annotations

import pytest

from core.topics import HubTopic, InvalidTopic, Topics


def test_build_and_parse_hub_topics() -> None:
    topics = Topics("carehub/v1")
    assert topics.hub("hub-0001", HubTopic.READINGS) == "carehub/v1/hub/hub-0001/up/readings"
    assert topics.hub_id_of("carehub/v1/hub/hub-0001/up/readings", HubTopic.READINGS) == "hub-0001"
    assert topics.shared("ingest", topics.all_hubs(HubTopic.READINGS)) == "$share/ingest/carehub/v1/hub/+/up/readings"


@pytest.mark.parametrize(
    "topic",
    [
        "carehub/v1/hub/hub-0001/up/status",
        "other/v1/hub/hub-0001/up/readings",
        "carehub/v1/hub/a/b/up/readings",
        "carehub/v1/hub/x/up/readings",
        "carehub/v1/hub//up/readings",
    ],
)
def test_foreign_or_malformed_topics_are_refused(topic: str) -> None:
    with pytest.raises(InvalidTopic):
        Topics("carehub/v1").hub_id_of(topic, HubTopic.READINGS)


def test_hub_ids_with_wildcards_cannot_build_topics() -> None:
    with pytest.raises(InvalidTopic):
        Topics().hub("hub/+", HubTopic.READINGS)
