"""Decode throughput per profile, against a bare ``struct.unpack`` of the same frames measured in the
same run (the floor any Python decoder pays). Run: ``.venv/bin/python bench/decode.py``.

The ingest pipeline handles on the order of 10–20k readings/s; decoding must stay far above that."""

from __future__ import annotations

import struct
import sys
import time
from collections.abc import Callable

from drivers import decode, to_observations

FRAMES: dict[str, tuple[str, str, str]] = {
    # profile: (characteristic, frame hex from reference/ble-health-profiles.md, struct format of the same bytes)
    "blood pressure 0x2A35": ("2a35", "1E8C005A00FF07E807050A173B00B400FF0800", "<BHHHHBBBBBHBH"),
    "glucose 0x2A18": ("2a18", "030201E807050A173B0002005FB011", "<BHHBBBBBhHB"),
    "glucose context 0x2A34": ("2a34", "7F100001320002510807 3C0101F041F0", "<BHBHBBHBBHH"),
    "weight 0x2A9D": ("2a9d", "0F7C3EE807030907050002F500B502", "<BHHBBBBBBHH"),
    "body composition 0x2A9C": ("2a9c", "0406E1000188139 83A", "<HHBHH"),
    "spot-check 0x2A5E": ("2a5e", "1061004800", "<BHH"),
    "thermometer 0x2A1C": ("2a1c", "02650E00FEE8070309070500", "<BIHBBBBB"),
    "RACP 0x2A52": ("2a52", "0103010201", "<BBBH"),
}
ROUNDS = 20_000


def rate(label: str, work: Callable[[], object]) -> float:
    start = time.perf_counter()
    for _ in range(ROUNDS):
        work()
    return ROUNDS / (time.perf_counter() - start)


def main() -> int:
    print(f"decoding {ROUNDS} frames per profile (python {sys.version.split()[0]})", flush=True)
    print(f"{'profile':<26}{'struct.unpack/s':>16}{'decode/s':>12}{'+normalise/s':>14}{'ratio':>8}")
    for label, (uuid, wire, fmt) in FRAMES.items():
        data = bytes.fromhex(wire.replace(" ", ""))
        unpack = struct.Struct(fmt).unpack
        assert struct.calcsize(fmt) == len(data), label
        decode(uuid, data)  # warm the layout cache, as a running gateway has it
        floor = rate(label, lambda unpack=unpack, data=data: unpack(data))
        decoded = rate(label, lambda uuid=uuid, data=data: decode(uuid, data))
        normalised = rate(label, lambda uuid=uuid, data=data: to_observations(decode(uuid, data)))
        print(f"{label:<26}{floor:>16,.0f}{decoded:>12,.0f}{normalised:>14,.0f}{floor / decoded:>7.1f}x", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
