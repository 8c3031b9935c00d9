"""``carehub decode <characteristic> <hex>`` and ``carehub decode --vendor NAME FILE``: print one
decoded frame or vendor payload as a JSON document. A bad frame prints the typed error and exits 2.
Decoding is :mod:`drivers`; this module only formats."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import datetime
from enum import Enum, IntFlag
from pathlib import Path
from typing import Any

from core.domain import Observation
from drivers import DecodeError, Normalised, decode, decode_vendor, lookup, to_observations
from drivers.date_time import DateTime

EXIT_BAD_FRAME = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "decode",
        help="decode a BLE characteristic value or a vendor payload to JSON",
        description="Decode a GATT value (hex) or a cellular vendor webhook body (file, '-' for stdin).",
    )
    parser.add_argument("target", help="characteristic UUID (2a35, 0x2A35, 128-bit), or the file with --vendor")
    parser.add_argument("hex", nargs="?", help="the value as hex (spaces and colons allowed)")
    parser.add_argument("--vendor", help="decode TARGET as a webhook body of this vendor (bodytrace, tenovi, …)")
    parser.add_argument("--strict", action="store_true", help="refuse bytes after the last field")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        document = _vendor(args) if args.vendor else _characteristic(args)
    except DecodeError as exc:
        print(json.dumps({"error": type(exc).__name__, "reason": exc.reason, "raw_hex": exc.raw_hex}))
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_FRAME
    except OSError as exc:
        print(f"error: cannot read {args.target}: {exc.strerror}", file=sys.stderr)
        return 1
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return 0


def _characteristic(args: argparse.Namespace) -> dict[str, Any]:
    if args.hex is None:
        raise SystemExit("carehub decode: a characteristic needs a hex value")
    text = "".join(args.hex.replace(":", " ").split())
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise DecodeError(f"{args.hex!r} is not hex", b"") from None
    characteristic = lookup(args.target)
    frame = decode(args.target, data, strict=args.strict)
    return {
        "characteristic": characteristic.short,
        "name": characteristic.name,
        "frame": type(frame).__name__,
        **_normalised(to_observations(frame)),
        "fields": _fields(frame),
    }


def _vendor(args: argparse.Namespace) -> dict[str, Any]:
    body = sys.stdin.buffer.read() if args.target == "-" else Path(args.target).read_bytes()
    payload = decode_vendor(args.vendor, body)
    records = []
    for record in payload.records:
        records.append(
            {
                "message": record.message.value,
                "device_id": record.device_id,
                "idempotency_key": record.idempotency_key,
                **_normalised(to_observations(record)),
                "fields": _fields(record),
            }
        )
    return {"vendor": payload.vendor, "records": records}


def _normalised(normalised: Normalised) -> dict[str, Any]:
    return {
        "kind": normalised.kind.value if normalised.kind else None,
        "measured_at": normalised.measured_at.isoformat() if normalised.measured_at else None,
        "measured_at_source": normalised.measured_at_source.value if normalised.measured_at_source else None,
        "user_id": normalised.user_id,
        "observations": [_observation(obs) for obs in normalised.observations],
        "flags": sorted(flag.value for flag in normalised.flags),
        "storable": normalised.storable,
        "device_captured": normalised.device_captured,
        "battery_pct": normalised.battery_pct,
    }


def _observation(obs: Observation) -> dict[str, Any]:
    out: dict[str, Any] = {"code": obs.metric.value, "value": obs.value, "unit": obs.unit.value}
    if obs.special is not None:
        out["special"] = obs.special.value
    if obs.source_unit is not None:
        out["source_value"] = obs.source_value
        out["source_unit"] = obs.source_unit.value
    return out


def _fields(value: Any) -> dict[str, Any]:
    return {f.name: _json(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name not in ("observations",)}


def _json(value: Any) -> Any:
    if isinstance(value, IntFlag):
        return {"value": int(value), "set": [m.name.lower() for m in type(value) if m.name and m in value]}
    if isinstance(value, Enum):
        return value.name.lower() if isinstance(value, int) else value.value
    if isinstance(value, DateTime):
        return value.isoformat()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    if isinstance(value, (tuple, list, frozenset)):
        return [_json(item) for item in (sorted(value) if isinstance(value, frozenset) else value)]
    return value
