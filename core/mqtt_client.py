"""A paho-mqtt client that moves bytes in bulk: fewer system calls and wake-ups per MQTT packet.

paho-mqtt 2.x reads every packet with at least three ``recv`` calls (the fixed header byte, each
remaining-length byte, then the body), writes every packet with its own ``send``, and wakes its
network thread with one byte on a socket pair for every packet another thread queues. Under a
stream of small QoS 1 messages (ingest receives thousands a second and answers each with a PUBACK
and a QoS 1 ``down/readings/ack``) those calls were a sixth of the ingest process's CPU.

:class:`BulkClient` keeps paho's protocol code and changes only how bytes move:

- reads go through :class:`BufferedSocket`, which takes up to 64 KiB per ``recv`` and hands paho
  its small reads from memory; ``pending()`` reports the buffered bytes (paho already asks an SSL
  socket the same question), and :meth:`BulkClient.loop_read` handles every complete packet the
  buffer holds before the loop selects again;
- paho's per-packet sends land in the wrapper's write buffer, flushed with one ``send`` at the end
  of each :meth:`BulkClient.loop_write` (:meth:`want_write` stays true while bytes wait, so the loop
  selects for writability exactly as it does for paho's own queue); the buffer is bounded and
  closing the socket flushes it first, so a DISCONNECT still reaches the broker;
- a thread that queues a packet while a wake-up byte is already on its way sends no second one;
- the packets a QoS 1 stream is made of take a direct path when they have their common shape:
  an incoming MQTT 5 PUBLISH at QoS 1 with no properties, a PUBACK of two to four bytes (a
  reason code, no properties), and an outgoing QoS 1 publish without properties on a client with
  no in-flight or queue limits of paho's own. paho built two ``Properties`` objects (each fills
  two dictionaries of every property name) and two ``threading.Condition`` per message; here an
  incoming message shares one empty ``Properties`` and a placeholder ``info`` (nobody waits on a
  received message), and an outgoing one gets its condition only if someone waits for it. Any
  other shape, or a client with paho logging on, takes paho's own code.

Nothing about sessions, acknowledgements or ordering changes: the bytes on the wire are the same,
only grouped. Written against paho-mqtt 2.2 (pinned in ``constraints.txt``); the private methods it
overrides are exercised by ``tests/core/test_mqtt_client.py`` against a real broker."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MessageState, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

READ_CHUNK = 65536
WRITE_LIMIT = 1 << 20  # bytes held for the next flush before paho is told to wait
PACKETS_PER_READ = 1000  # complete packets handled from the buffer before the loop runs again
CLOSE_FLUSH_TIMEOUT_S = 1.0

# Shared by every message and acknowledgement that has none: callbacks must not modify them.
NO_PUBACK_PROPERTIES = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]
NO_PUBLISH_PROPERTIES = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
_PUBACK_REASONS: dict[int, ReasonCode] = {}


def _puback_reason(code: int) -> ReasonCode:
    reason = _PUBACK_REASONS.get(code)
    if reason is None:
        reason = _PUBACK_REASONS[code] = ReasonCode(PacketTypes.PUBACK, identifier=code)
    return reason


class LazyMessageInfo(mqtt.MQTTMessageInfo):
    """``MQTTMessageInfo`` whose condition variable is made only when a thread waits on it."""

    _creation = threading.Lock()

    def __init__(self, mid: int) -> None:  # paho's __init__ makes the Condition: not called
        self.mid = mid
        self._published = False
        self.rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        self._iterpos = 0
        self._lazy_condition: threading.Condition | None = None

    @property
    def _condition(self) -> threading.Condition:  # type: ignore[override]
        with LazyMessageInfo._creation:
            if self._lazy_condition is None:
                self._lazy_condition = threading.Condition()
            return self._lazy_condition

    def _set_as_published(self) -> None:
        with LazyMessageInfo._creation:
            condition = self._lazy_condition
            if condition is None:  # nobody waits: a waiter arriving later sees the flag first
                self._published = True
                return
        with condition:
            self._published = True
            condition.notify()


_RECEIVED_INFO = LazyMessageInfo(0)  # the ``info`` of every received message: only sent ones use it


def _qos1_message(
    mid: int,
    topic: bytes,
    payload: bytes | bytearray,
    *,
    state: MessageState,
    dup: bool,
    retain: bool,
    info: mqtt.MQTTMessageInfo,
    properties: Properties | None,
) -> mqtt.MQTTMessage:
    """An ``MQTTMessage`` with every attribute paho's constructor sets, without that constructor
    (which makes an ``MQTTMessageInfo`` and its ``threading.Condition``)."""
    message: mqtt.MQTTMessage = mqtt.MQTTMessage.__new__(mqtt.MQTTMessage)
    message.timestamp = mqtt.time_func()
    message.state = state
    message.dup = dup
    message.mid = mid
    message._topic = topic
    message.payload = payload
    message.qos = 1
    message.retain = retain
    message.info = info
    message.properties = properties
    return message


class BufferedSocket:
    """A connected socket (plain or TLS) with a read-ahead buffer and a write-behind buffer."""

    __slots__ = ("_rbuf", "_rpos", "_sock", "_wbuf")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._rbuf = b""
        self._rpos = 0
        self._wbuf = bytearray()

    @property
    def raw(self) -> Any:
        return self._sock

    @property
    def buffered(self) -> int:
        """Bytes read from the network that paho has not taken yet."""
        return len(self._rbuf) - self._rpos

    @property
    def unsent(self) -> int:
        """Bytes paho has written that have not reached the kernel yet."""
        return len(self._wbuf)

    def recv(self, bufsize: int) -> bytes:
        buf = self._rbuf
        pos = self._rpos
        available = len(buf) - pos
        if available == 0:
            data: bytes = self._sock.recv(max(bufsize, READ_CHUNK))
            if len(data) <= bufsize:
                return data
            self._rbuf = data
            self._rpos = bufsize
            return data[:bufsize]
        end = pos + min(bufsize, available)
        if end == len(buf):
            self._rbuf = b""
            self._rpos = 0
        else:
            self._rpos = end
        if pos == 0 and end == len(buf):
            return buf
        return buf[pos:end]

    def pending(self) -> int:
        pending = getattr(self._sock, "pending", None)
        return self.buffered + (pending() if pending is not None else 0)

    def send(self, data: bytes | bytearray | memoryview) -> int:
        if len(self._wbuf) >= WRITE_LIMIT:
            self.flush()
            if len(self._wbuf) >= WRITE_LIMIT:
                raise BlockingIOError("the write buffer is full")
        self._wbuf += data
        return len(data)

    def flush(self) -> None:
        """Send what the buffer holds, as far as the kernel takes it without blocking
        (``BlockingIOError`` and TLS want-read/write leave the rest for the next call)."""
        while self._wbuf:
            try:
                sent: int = self._sock.send(self._wbuf)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError) as exc:  # TLS: the same "not now"
                raise BlockingIOError("the TLS socket cannot take more now") from exc
            if sent <= 0:
                raise BlockingIOError("the socket took nothing")
            del self._wbuf[:sent]

    def close(self) -> None:
        try:
            if self._wbuf:
                self._sock.settimeout(CLOSE_FLUSH_TIMEOUT_S)
                self._sock.sendall(self._wbuf)
                self._wbuf.clear()
        except (OSError, ValueError):
            pass  # the connection is going away; paho's session state covers what was not sent
        finally:
            self._sock.close()

    def shutdown(self, how: int) -> None:
        self._sock.shutdown(how)

    def fileno(self) -> int:
        fileno: int = self._sock.fileno()
        return fileno

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BulkClient(mqtt.Client):
    """``paho.mqtt.client.Client`` with bulk socket reads and writes (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wake_pending = False

    def _create_socket(self) -> Any:
        # a new connection may come with a new socket pair: a wake-up byte on the old one is gone
        self._wake_pending = False
        return BufferedSocket(super()._create_socket())

    def _buffered_socket(self) -> BufferedSocket | None:
        sock = self._sock
        return sock if isinstance(sock, BufferedSocket) else None

    def _packet_read(self) -> MQTTErrorCode:
        """A packet that lies whole in the read buffer is cut out of it in one step (paho reads the
        fixed header, each length byte and the body with separate calls); anything else, including
        a packet paho has started reading, goes to paho's own reader."""
        sock = self._buffered_socket()
        if sock is None or self._in_packet["command"] != 0:
            return super()._packet_read()
        buf = sock._rbuf
        start = sock._rpos
        size = len(buf)
        index = start + 1
        length = 0
        shift = 0
        while True:  # remaining length: at most four bytes of seven bits each
            if index >= size or shift > 21:
                return super()._packet_read()
            byte = buf[index]
            index += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        end = index + length
        if end > size:
            return super()._packet_read()
        if end == size:
            sock._rbuf = b""
            sock._rpos = 0
        else:
            sock._rpos = end
        self._in_packet["command"] = buf[start]
        self._in_packet["packet"] = bytearray(buf[index:end])
        self._in_packet["remaining_length"] = length
        self._in_packet["have_remaining"] = 1
        try:
            rc = self._packet_handle()
        except MalformedPacket:
            rc = MQTTErrorCode.MQTT_ERR_PROTOCOL
        self._in_packet = {
            "command": 0,
            "have_remaining": 0,
            "remaining_count": [],
            "remaining_mult": 1,
            "remaining_length": 0,
            "packet": bytearray(b""),
            "to_process": 0,
            "pos": 0,
        }
        with self._msgtime_mutex:
            self._last_bytes_received = mqtt.time_func()
        return rc

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        for _ in range(PACKETS_PER_READ):
            sock = self._buffered_socket()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or sock is None or sock.buffered == 0:
                break
            rc = super().loop_read(1)
        return rc

    def want_write(self) -> bool:
        if super().want_write():
            return True
        sock = self._buffered_socket()
        return sock is not None and sock.unsent > 0

    def loop_write(self) -> MQTTErrorCode:
        # Clear before paho takes the queue: a packet queued from now on either is taken below
        # or sends its own wake-up (see _packet_queue).
        self._wake_pending = False
        rc = super().loop_write()
        sock = self._buffered_socket()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or sock is None or sock.unsent == 0:
            return rc
        try:
            sock.flush()
        except BlockingIOError:
            pass  # want_write() keeps the socket in the write set until the rest is sent
        except OSError:
            return self._loop_rc_handle(MQTTErrorCode.MQTT_ERR_CONN_LOST)
        if self.want_write():
            self._call_socket_register_write()
        else:
            self._call_socket_unregister_write()
        return rc

    def _handle_publish(self) -> MQTTErrorCode:
        header: int = self._in_packet["command"]
        packet = self._in_packet["packet"]
        if (
            header & 0x06 != 0x02  # not QoS 1
            or self._protocol != MQTTProtocolVersion.MQTTv5
            or self.on_log is not None
            or self._logger is not None
            or len(packet) < 5
        ):
            return super()._handle_publish()
        topic_end = 2 + ((packet[0] << 8) | packet[1])
        if topic_end == 2 or len(packet) < topic_end + 3 or packet[topic_end + 2] != 0:
            return super()._handle_publish()  # a topic alias, properties, or a malformed packet
        mid = (packet[topic_end] << 8) | packet[topic_end + 1]
        message = _qos1_message(
            mid,
            bytes(packet[2:topic_end]),
            bytes(packet[topic_end + 3 :]),
            state=mqtt.mqtt_ms_invalid,
            dup=bool(header & 0x08),
            retain=bool(header & 0x01),
            info=_RECEIVED_INFO,
            properties=NO_PUBLISH_PROPERTIES,
        )
        self._handle_on_message(message)
        if self._manual_ack:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        return self._send_puback(mid)

    def _handle_pubackcomp(self, cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        packet = self._in_packet["packet"]
        size = len(packet)
        if (
            cmd != "PUBACK"
            or not (
                size == 2 or (self._protocol == MQTTProtocolVersion.MQTTv5 and (size == 3 or packet[3:] == b"\x00"))
            )
            or self.on_log is not None
            or self._logger is not None
        ):
            return super()._handle_pubackcomp(cmd)
        mid = (packet[0] << 8) | packet[1]
        # two bytes: success; three: a reason code (0x10 "no matching subscribers" is common for
        # an ack to a hub that is offline); four: a reason code and an empty property list
        reason = _puback_reason(packet[2] if size > 2 else 0)
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, reason, NO_PUBACK_PROPERTIES)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def publish(
        self,
        topic: str,
        payload: mqtt.PayloadType = None,
        qos: int = 0,
        retain: bool = False,
        properties: Properties | None = None,
    ) -> mqtt.MQTTMessageInfo:
        """paho 2.2's ``publish`` for a QoS 1 message without properties on a client that keeps no
        in-flight window or queue limit of its own (the caller keeps the window), with a
        :class:`LazyMessageInfo`; everything else goes to paho unchanged."""
        if (
            qos != 1
            or properties is not None
            or self._max_inflight_messages != 0
            or self._max_queued_messages != 0
            or self.on_log is not None
            or self._logger is not None
            or not topic
            or not isinstance(payload, (bytes, bytearray))
        ):
            return super().publish(topic, payload, qos, retain, properties)
        topic_bytes = topic.encode("utf-8")
        self._raise_for_invalid_topic(topic_bytes)
        if len(payload) > 268435455:
            raise ValueError("Payload too large.")
        mid = self._mid_generate()
        info = LazyMessageInfo(mid)
        message = _qos1_message(
            mid,
            topic_bytes,
            payload,
            state=mqtt.mqtt_ms_wait_for_puback,
            dup=False,
            retain=retain,
            info=info,
            properties=None,
        )
        with self._out_message_mutex:
            if mid in self._out_messages:
                info.rc = MQTTErrorCode.MQTT_ERR_QUEUE_SIZE
                return info
            self._out_messages[mid] = message
            self._inflight_messages += 1
            rc = self._send_publish(mid, topic_bytes, payload, 1, retain, False, info, None)
            if rc == MQTTErrorCode.MQTT_ERR_NO_CONN:  # sent after the next connection is made
                self._inflight_messages -= 1
                message.state = mqtt.mqtt_ms_publish
            info.rc = rc
            return info

    def _packet_queue(
        self,
        command: int,
        packet: bytes | bytearray,
        mid: int,
        qos: int,
        info: mqtt.MQTTMessageInfo | None = None,
    ) -> MQTTErrorCode:
        """paho 2.2's ``_packet_queue`` for a client whose loop runs on its own thread (or is
        driven from outside), minus the wake-up byte when one is already on its way."""
        self._out_packet.append(
            {
                "command": command,
                "mid": mid,
                "qos": qos,
                "pos": 0,
                "to_process": len(packet),
                "packet": packet,
                "info": info,
            }
        )
        # Appended first, then checked: if the flag is still set, the loop has not yet cleared
        # it in loop_write, so it will take this packet after clearing it.
        on_loop_thread = self._thread is not None and threading.current_thread() is self._thread
        if self._sockpairW is not None and not self._wake_pending and not on_loop_thread:
            self._wake_pending = True
            with contextlib.suppress(BlockingIOError):
                self._sockpairW.send(b"0")
        if self._thread is None and self._on_socket_register_write is None and self._in_callback_mutex.acquire(False):
            self._in_callback_mutex.release()
            return self.loop_write()
        self._call_socket_register_write()
        return MQTTErrorCode.MQTT_ERR_SUCCESS


def shutdown_socket(client: mqtt.Client) -> None:
    """Break a client's connection from any thread (its loop notices and reconnects)."""
    sock = client.socket()
    raw = sock.raw if isinstance(sock, BufferedSocket) else sock
    if isinstance(raw, socket.socket):
        with contextlib.suppress(OSError):
            raw.shutdown(socket.SHUT_RDWR)
