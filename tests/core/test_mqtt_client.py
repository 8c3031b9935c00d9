"""core.mqtt_client: paho with bulk socket reads and writes. The socket wrapper is checked on a
socket pair; the client against the real broker, on the shapes its direct decoders take and the
ones they hand back to paho (properties, QoS 0, big payloads), with manual acks and a reconnect."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from carehub.local_services import MosquittoBroker
from core.mqtt_client import READ_CHUNK, WRITE_LIMIT, BufferedSocket, BulkClient, shutdown_socket


@pytest.fixture
def pair() -> Iterator[tuple[BufferedSocket, socket.socket]]:
    left, right = socket.socketpair()
    left.setblocking(False)
    wrapped = BufferedSocket(left)
    yield wrapped, right
    wrapped.close()
    right.close()


def test_small_reads_are_served_from_one_receive(pair: tuple[BufferedSocket, socket.socket]) -> None:
    sock, peer = pair
    peer.sendall(b"\x30\x05hello\x40\x02\x00\x01")
    assert sock.recv(1) == b"\x30"
    assert sock.buffered == 10
    assert sock.pending() == 10
    assert sock.recv(1) == b"\x05"
    assert sock.recv(5) == b"hello"
    assert sock.recv(100) == b"\x40\x02\x00\x01"  # never more than the buffer holds
    assert sock.buffered == 0
    with pytest.raises(BlockingIOError):
        sock.recv(1)  # the buffer is empty and so is the socket: paho's "try again"
    peer.close()
    assert sock.recv(1) == b""  # end of stream passes through


def test_a_payload_larger_than_one_chunk_arrives_whole(pair: tuple[BufferedSocket, socket.socket]) -> None:
    sock, peer = pair
    body = bytes(range(256)) * (3 * READ_CHUNK // 256)
    sender = threading.Thread(target=peer.sendall, args=(body,))
    sender.start()
    received = bytearray()
    while len(received) < len(body):
        with contextlib.suppress(BlockingIOError):
            received += sock.recv(len(body) - len(received))
    sender.join()
    assert bytes(received) == body


def test_writes_wait_for_flush_and_close_sends_them(pair: tuple[BufferedSocket, socket.socket]) -> None:
    sock, peer = pair
    assert sock.send(b"abc") == 3
    assert sock.send(memoryview(b"def")) == 3
    assert sock.unsent == 6
    peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        peer.recv(10)  # nothing reached the kernel yet
    sock.flush()
    assert sock.unsent == 0
    assert peer.recv(10) == b"abcdef"
    sock.send(b"\xe0\x00")  # a DISCONNECT written just before paho closes the socket
    sock.close()
    peer.setblocking(True)
    assert peer.recv(10) == b"\xe0\x00"


def test_a_peer_that_stops_reading_makes_the_buffer_push_back(pair: tuple[BufferedSocket, socket.socket]) -> None:
    sock, peer = pair
    chunk = bytes(range(256)) * 256  # 64 KiB
    written = 0
    pushed_back = False
    for _ in range(10_000):
        try:
            written += sock.send(chunk)
        except BlockingIOError:  # paho keeps the packet and retries when the socket is writable
            pushed_back = True
            break
    assert pushed_back
    assert 0 < sock.unsent < WRITE_LIMIT + len(chunk)  # bounded: the kernel holds the rest
    received = bytearray()
    reader = threading.Thread(target=lambda: received.extend(_read_exactly(peer, written)))
    reader.start()
    while sock.unsent:
        with contextlib.suppress(BlockingIOError):
            sock.flush()
    reader.join(10)
    assert bytes(received) == chunk * (written // len(chunk))


def _read_exactly(peer: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        data += peer.recv(n - len(data))
    return bytes(data)


def _client(client_id: str, *, bulk: bool) -> mqtt.Client:
    cls = BulkClient if bulk else mqtt.Client
    return cls(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=True,
    )


def _wait(predicate: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def test_every_shape_of_message_arrives_in_order_and_acks_flow_both_ways(
    broker: MosquittoBroker, topic_root: str
) -> None:
    received: list[tuple[str, bytes, int, bool]] = []
    published: list[int] = []
    lock = threading.Lock()
    sub = _client(f"bulk-sub-{topic_root}", bulk=True)

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with lock:
            received.append(
                (
                    message.topic,
                    bytes(message.payload),
                    message.qos,
                    bool(getattr(message.properties, "UserProperty", None)),
                )
            )
        client.ack(message.mid, message.qos)

    reasons: list[str] = []

    def on_publish(client: mqtt.Client, userdata: object, mid: int, reason: ReasonCode, properties: object) -> None:
        with lock:
            published.append(mid)
            reasons.append(str(reason))

    subscribed = threading.Event()
    sub.on_message = on_message
    sub.on_publish = on_publish
    sub.on_subscribe = lambda *args: subscribed.set()
    sub.on_connect = lambda client, *args: client.subscribe(f"{topic_root}/#", qos=1)
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    assert subscribed.wait(10)

    expected: list[tuple[str, bytes, int, bool]] = []
    pub = _client(f"bulk-pub-{topic_root}", bulk=False)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    big = bytes(range(256)) * 1024  # 256 KiB: several chunks
    with_properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    with_properties.UserProperty = ("k", "v")
    infos = []
    for i in range(2000):
        topic = f"{topic_root}/hub/h{i % 7}/up/readings"
        if i % 500 == 3:
            payload, qos, props = big + i.to_bytes(4, "big"), 1, None
        elif i % 100 == 5:
            payload, qos, props = f"with properties {i}".encode(), 1, with_properties
        elif i % 100 == 7:
            payload, qos, props = f"qos 0 {i}".encode(), 0, None
        else:
            payload, qos, props = f'{{"n":{i}}}'.encode() * (1 + i % 13), 1, None
        infos.append(pub.publish(topic, payload, qos=qos, properties=props))
        expected.append((topic, payload, qos, props is not None))
    for info in infos:
        info.wait_for_publish(10)
    _wait(lambda: len(received) >= len(expected))
    # one publisher: the broker keeps its order within each QoS (QoS 0 may overtake QoS 1)
    for qos in (0, 1):
        assert [r for r in received if r[2] == qos] == [e for e in expected if e[2] == qos]
    assert len(received) == len(expected)

    # the other direction: QoS 1 publishes from a thread that is not the network loop
    results = [sub.publish(f"nobody/{topic_root}/ack/{i}", b"ack", qos=1) for i in range(3000)]
    for result in results[::500]:
        result.wait_for_publish(10)  # a waiter on the lazily made condition is woken
    _wait(lambda: len(published) == 3000)
    assert sorted(published) == sorted(r.mid for r in results)
    assert all(r.is_published() for r in results)
    # nobody subscribes to the ack topics: the broker answers with reason code 0x10, passed on as is
    assert set(reasons) == {"No matching subscribers"}
    got = threading.Event()
    sub.message_callback_add(f"{topic_root}/echo", lambda *args: got.set())
    sub.publish(f"{topic_root}/echo", b"x", qos=1).wait_for_publish(10)  # a subscriber: success
    assert got.wait(10)
    _wait(lambda: len(reasons) == 3001)
    assert reasons[-1] == "Success"
    pub.disconnect()
    pub.loop_stop()
    sub.disconnect()
    sub.loop_stop()


def test_unacknowledged_messages_come_back_after_the_connection_breaks(
    broker: MosquittoBroker, topic_root: str
) -> None:
    held: list[mqtt.MQTTMessage] = []
    connects = []
    sub = _client(f"bulk-resume-{topic_root}", bulk=True)
    sub.reconnect_delay_set(min_delay=1, max_delay=1)
    subscribed = threading.Event()

    def on_connect(client: mqtt.Client, *args: object) -> None:
        connects.append(time.monotonic())
        client.subscribe(f"{topic_root}/#", qos=1)

    sub.on_connect = on_connect
    sub.on_subscribe = lambda *args: subscribed.set()
    sub.on_message = lambda client, userdata, message: held.append(message)
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 300
    sub.connect("127.0.0.1", broker.port, clean_start=False, properties=properties)
    sub.loop_start()
    assert subscribed.wait(10)
    pub = _client(f"bulk-resume-pub-{topic_root}", bulk=False)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    for i in range(50):
        pub.publish(f"{topic_root}/m", str(i).encode(), qos=1).wait_for_publish(10)
    _wait(lambda: len(held) == 50)
    for message in held[:20]:
        sub.ack(message.mid, 1)
    time.sleep(0.2)  # let the 20 PUBACKs leave the write buffer
    held.clear()
    shutdown_socket(sub)  # the loop notices, reconnects with the session; 30 come back
    _wait(lambda: len(connects) == 2 and len(held) >= 30)
    assert sorted(int(m.payload) for m in held) == list(range(20, 50))
    assert all(m.dup for m in held)
    pub.disconnect()
    pub.loop_stop()
    sub.disconnect()
    sub.loop_stop()
