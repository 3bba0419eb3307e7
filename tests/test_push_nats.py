"""The push path's bus-independent tests again, with EVENT_BUS=nats: the active relay publishes every
event to a real nats-server (JetStream, file storage), and the replicas hear only the stores their
clients watch. What is particular to one bus (a killed LISTEN connection; a restarted nats-server,
a killed relay leader) is in tests/test_push.py and tests/test_relay.py."""

from __future__ import annotations

import pytest

from tests.nats_server import NatsServer
from tests.test_push import (  # noqa: F401  (collected here, with this module's replica_env)
    REPLICA_ENV,
    replica_a,
    replica_b,
    test_a_menu_edit_through_a_is_served_by_b_within_a_second,
    test_a_store_stream_never_carries_another_store,
    test_a_stream_needs_a_token,
    test_a_thousand_clients_come_and_go_and_the_hub_is_empty,
    test_an_order_of_fifty_long_lines_streams,
    test_changes_through_a_reach_a_stream_on_b,
    test_heartbeat_comments_keep_idle_streams_alive,
    test_last_event_id_older_than_retention_gets_resync,
    test_reconnect_with_last_event_id_gets_the_rest_once_in_order,
    test_sigterm_ends_streams_and_clients_resume_elsewhere,
    test_stream_limit_per_store_and_resources_freed,
    test_transactions_committing_out_of_order_are_both_delivered,
    via_a,
)


@pytest.fixture(scope="module")
def replica_env(nats_server: NatsServer) -> dict[str, str]:
    return {**REPLICA_ENV, "EVENT_BUS": "nats", "NATS_URL": nats_server.url}
