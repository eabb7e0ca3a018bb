"""Survey as plain text (terminal) and CSV files (spreadsheets)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from protocol.report import printable
from sdr.errors import UserError
from sdr.survey.analysis import Survey


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]


def meter_rows(survey: Survey) -> list[dict[str, Any]]:
    """One flat row per location and meter (the CSV and the text table)."""
    rows = []
    for loc in survey.to_dict()["locations"]:
        for m in loc["meters"]:
            rows.append({
                "location": loc["label"],
                "meter_id": m["meter_id"],
                "manufacturer": m["manufacturer"],
                "mode": m["mode"],
                "received": m["received"],
                "expected": m["expected"],
                "reception_ratio": m["reception_ratio"],
                "rssi_dbfs_median": (m["rssi_dbfs"] or {}).get("median"),
                "rssi_dbfs_p10": (m["rssi_dbfs"] or {}).get("p10"),
                "rssi_dbfs_p90": (m["rssi_dbfs"] or {}).get("p90"),
                "snr_db_median": (m["snr_db"] or {}).get("median"),
                "snr_db_p10": (m["snr_db"] or {}).get("p10"),
                "snr_db_p90": (m["snr_db"] or {}).get("p90"),
                "cfo_hz_median": (m["cfo_hz"] or {}).get("median"),
                "link_margin_db": m["link_margin_db"],
                "lost_to_collision": m["lost_to_collision"],
                "lost_to_weak_signal": m["lost_to_weak_signal"],
            })
    return rows


def channel_rows(survey: Survey) -> list[dict[str, Any]]:
    return [
        {
            "location": loc["label"],
            "freq_hz": c["freq_hz"],
            "occupancy": c["occupancy"],
            "bursts": c["bursts"],
            "collisions": None if c["collisions"] is None else len(c["collisions"]),
            "noise_dbfs": c["noise_dbfs"],
        }
        for loc in survey.to_dict()["locations"]
        for c in loc["channels"]
    ]


def gateway_rows(survey: Survey) -> list[dict[str, Any]]:
    """One row per location, gateway and meter it exchanged frames with."""
    return [
        {
            "location": loc.label,
            "gateway": g.gateway,
            "frames": g.frames,
            "modes": " ".join(g.modes),
            "meter_id": m.meter_id,
            "exchanges": m.exchanges,
            "completed": m.completed,
            "outside_window": m.outside_window,
        }
        for loc in survey.locations
        for g in loc.gateways
        for m in g.meters
    ]


def write_csv(survey: Survey, directory: str | Path) -> None:
    out = Path(directory)
    tables = {
        "meters.csv": meter_rows(survey),
        "channels.csv": channel_rows(survey),
        "gateways.csv": gateway_rows(survey),
        "placement.csv": [p.to_dict() for p in survey.placement],
    }
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, rows in tables.items():
            with open(out / name, "w", newline="", encoding="utf-8") as stream:
                if not rows:
                    continue
                writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
    except OSError as exc:
        raise UserError(f"{out}: cannot write CSV ({exc.strerror or exc})") from exc


def text_summary(survey: Survey) -> str:
    lines = []
    for loc in survey.to_dict()["locations"]:
        lines.append(f"{loc['label']} ({loc['source']}, {loc['duration_s']:.3g} s)")
        rows = [
            [m["meter_id"], m["manufacturer"], m["mode"], str(m["received"]), str(m["expected"]),
             f"{100 * m['reception_ratio']:.0f}%", _fmt((m["rssi_dbfs"] or {}).get("median")),
             _fmt((m["snr_db"] or {}).get("median")), _fmt(m["link_margin_db"]),
             _fmt(m["lost_to_collision"]), _fmt(m["lost_to_weak_signal"])]
            for m in loc["meters"]
        ]
        lines += ["  " + line for line in _table(
            ["meter", "mfr", "mode", "rx", "exp", "ratio", "rssi", "snr", "margin", "lost:coll",
             "lost:weak"], rows)]
        for c in loc["channels"]:
            if c["occupancy"] is None:
                lines.append(f"  {c['freq_hz'] / 1e6:.3f} MHz: telegrams only, no signal: "
                             "occupancy and collisions are unavailable")
            else:
                lines.append(
                    f"  {c['freq_hz'] / 1e6:.3f} MHz: occupancy {100 * c['occupancy']:.2f}%, "
                    f"{c['bursts']} bursts, {len(c['collisions'])} collisions"
                )
        for g in loc["gateways"]:
            done = ", ".join(f"{m['meter_id']} {m['completed']}/{m['exchanges']}"
                             for m in g["meters"]) or "none"
            lines.append(f"  gateway {g['gateway'] or '(unnamed)'} ({' '.join(g['modes'])}): "
                         f"{g['frames']} frames; exchanges completed per meter: {done}")
        lines.append("")
    lines.append("gateway placement (best first)")
    lines += ["  " + line for line in _table(
        ["rank", "location", "heard", "reliable", "mean ratio", "median margin"],
        [[str(p.rank), p.label, f"{p.meters_heard}/{p.meters_total}",
          f"{p.meters_reliable}/{p.meters_total}", f"{100 * p.mean_reception_ratio:.0f}%",
          _fmt(p.median_link_margin_db)] for p in survey.placement],
    )]
    # Ids, names and labels can come from a log file anyone could have written.
    return "\n".join(printable(line) for line in lines)
