"""Bulk inventory import from a CSV file (a vendor's packing list or a warehouse export).

Columns (header required, any order, case-insensitive): ``serial, vendor, model`` and, as the model
needs them, ``ble_address``, ``imei``, ``firmware``, ``lot``.

Policy: **all or nothing**. Every bad row is reported with its line number (the header is line 1)
and a file with any error imports no row: a half-imported packing list is harder to reconcile with
the vendor's invoice than a rejected one that is fixed and imported again. Serials and IMEIs that
repeat inside the file or already exist in inventory are errors too."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from uuid import UUID

from core.errors import CarehubError
from provisioning.inventory import DeviceModel, DeviceSpec, device_spec, models_by_name, register_device
from provisioning.registry import Conn

REQUIRED_COLUMNS = ("serial", "vendor", "model")
OPTIONAL_COLUMNS = ("ble_address", "imei", "firmware", "lot")
MAX_ROWS = 20_000


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    message: str


@dataclass
class ImportPlan:
    """The validated rows of a file (by line number) and every error found."""

    specs: list[tuple[int, DeviceSpec]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class ImportRefused(CarehubError):
    """The file has errors; nothing was imported."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} error(s); nothing imported")
        self.errors = errors


def parse_inventory_csv(text: str, models: Mapping[tuple[str, str], DeviceModel]) -> ImportPlan:
    """Validate a whole file without touching the database (``models`` keyed by case-folded vendor/model)."""
    plan = ImportPlan()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        _parse_rows(reader, models, plan)
    except csv.Error as exc:
        plan.errors.append(RowError(max(1, reader.line_num), f"malformed CSV: {exc}"))
    return plan


def _parse_rows(reader: csv.DictReader[str], models: Mapping[tuple[str, str], DeviceModel], plan: ImportPlan) -> None:
    header = [name.strip().casefold() for name in (reader.fieldnames or [])]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        plan.errors.append(RowError(1, f"missing column(s): {', '.join(missing)}"))
        return
    unknown = [name for name in header if name not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        plan.errors.append(RowError(1, f"unknown column(s): {', '.join(unknown)}"))
        return
    reader.fieldnames = header
    seen_serials: dict[str, int] = {}
    seen_imeis: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if len(plan.specs) + len(plan.errors) >= MAX_ROWS:
            plan.errors.append(RowError(line, f"more than {MAX_ROWS} rows; split the file"))
            break
        values = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if None in row:
            plan.errors.append(RowError(line, "more fields than columns"))
            continue
        if not any(values.values()):
            continue
        model = models.get((values["vendor"].casefold(), values["model"].casefold()))
        if model is None:
            plan.errors.append(RowError(line, f"unknown model {values['vendor']!r} {values['model']!r}"))
            continue
        try:
            spec = device_spec(
                serial=values["serial"],
                model=model,
                ble_address=values.get("ble_address") or None,
                imei=values.get("imei") or None,
                firmware=values.get("firmware") or None,
                lot=values.get("lot") or None,
            )
        except CarehubError as exc:
            plan.errors.append(RowError(line, str(exc)))
            continue
        if spec.serial in seen_serials:
            plan.errors.append(RowError(line, f"serial {spec.serial} repeats line {seen_serials[spec.serial]}"))
            continue
        if spec.imei is not None and spec.imei in seen_imeis:
            plan.errors.append(RowError(line, f"IMEI {spec.imei} repeats line {seen_imeis[spec.imei]}"))
            continue
        seen_serials[spec.serial] = line
        if spec.imei is not None:
            seen_imeis[spec.imei] = line
        plan.specs.append((line, spec))
    if not plan.specs and not plan.errors:
        plan.errors.append(RowError(1, "the file has no device rows"))


def import_inventory_csv(conn: Conn, *, practice_id: UUID, text: str) -> int:
    """Validate ``text`` and register every unit in one transaction; raise :class:`ImportRefused`
    listing every error (and import nothing) if any row is bad. Returns the number imported."""
    plan = parse_inventory_csv(text, models_by_name(conn))
    if plan.specs:
        serials = [spec.serial for _, spec in plan.specs]
        imeis = [spec.imei for _, spec in plan.specs if spec.imei]
        existing = conn.execute(
            "SELECT serial, imei FROM devices WHERE serial = ANY(%s) OR imei = ANY(%s)", (serials, imeis)
        ).fetchall()
        taken_serials = {r[0] for r in existing}
        taken_imeis = {r[1] for r in existing if r[1]}
        for line, spec in plan.specs:
            if spec.serial in taken_serials:
                plan.errors.append(RowError(line, f"serial {spec.serial} is already in inventory"))
            elif spec.imei in taken_imeis:
                plan.errors.append(RowError(line, f"IMEI {spec.imei} is already in inventory"))
    if plan.errors:
        raise ImportRefused(sorted(plan.errors, key=lambda e: e.line))
    with conn.transaction():
        for _, spec in plan.specs:
            register_device(conn, practice_id=practice_id, spec=spec)
    return len(plan.specs)
