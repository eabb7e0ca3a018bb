"""Self-contained HTML survey report: tables plus matplotlib plots embedded as base64 PNG."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure  # used without pyplot: no GUI backend, works headless

from sdr.errors import UserError
from sdr.survey.analysis import LocationReport, Survey
from sdr.survey.collisions import meter_channel

RECEIVED, WEAK, COLLIDED, COLLISION = "#2a9d4b", "#d62728", "#ff8c00", "#ffb347"

_CSS = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1150px; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f0f0f0; } td.l, th.l { text-align: left; }
.good { background: #e3f5e6; } .fair { background: #fff6d9; } .poor { background: #fde2e0; }
img { max-width: 100%; } .note { color: #666; font-size: 0.9em; }
"""


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(fig: Figure, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{_png(fig)}">'


def _axes(width_in: float, height_in: float) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width_in, height_in))
    return fig, fig.subplots()


def _finish_bars(ax: Axes, ylabel: str, title: str) -> None:
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", alpha=0.3)


def rssi_figure(survey: Survey) -> Figure:
    """Median RSSI (bar) with the 10-90 % range per meter and location."""
    meters = survey.meter_ids()
    labels = [loc.label for loc in survey.locations]
    fig, ax = _axes(max(6.0, 0.9 * len(meters) + 2), 3.6)
    width = 0.8 / max(len(labels), 1)
    x = np.arange(len(meters))
    for k, loc in enumerate(survey.locations):
        med, lo, hi = [], [], []
        for meter_id in meters:
            m = loc.meter(meter_id)
            spread = m.stats.rssi_dbfs if m is not None else None
            med.append(spread.median if spread else np.nan)
            lo.append(spread.median - spread.p10 if spread else 0)
            hi.append(spread.p90 - spread.median if spread else 0)
        ax.bar(x + (k - (len(labels) - 1) / 2) * width, np.array(med) + 100, width, bottom=-100,
               yerr=[lo, hi], capsize=2, label=loc.label)
    ax.set_xticks(x, meters, rotation=30, ha="right")
    _finish_bars(ax, "RSSI (dBFS)", "RSSI per meter and location (median, 10-90 %)")
    return fig


def timeline_figure(loc: LocationReport) -> Figure:
    """Received telegrams, losses (weak signal / collision) and detected collisions over time."""
    meters = list(loc.meters)
    fig, ax = _axes(11, 0.45 * len(meters) + 1.4)
    for row, m in enumerate(meters):
        freq = meter_channel(m.stats)
        for channel in loc.channels:
            if channel.freq_hz == freq:
                for span in channel.collisions or ():
                    # Collisions last milliseconds: widen them to stay visible on the time axis.
                    end = max(span.end_s, span.start_s + 0.004 * loc.duration_s)
                    ax.plot([span.start_s, end], [row, row], color=COLLISION, lw=9,
                            solid_capstyle="butt", alpha=0.6)
        ax.plot(m.stats.times_s, [row] * len(m.stats.times_s), "|", color=RECEIVED, ms=12,
                mew=2)
        flags = m.collided if m.collided is not None else (False,) * len(m.stats.missing)
        for missing, collided in zip(m.stats.missing, flags, strict=True):
            ax.plot(missing.time_s, row, "x", color=COLLIDED if collided else WEAK, ms=8, mew=2)
    ax.set_yticks(range(len(meters)), [f"{m.stats.meter_id} {m.stats.mode}" for m in meters])
    ax.set_ylim(-0.7, len(meters) - 0.3)
    ax.set_xlim(0, max(loc.duration_s, 1e-3))
    ax.set_xlabel("time (s)")
    ax.set_title(f"{loc.label}: received (|), lost to weak signal (red x), lost to collision "
                 "(orange x), detected collisions (orange bars)", fontsize="medium")
    ax.grid(axis="x", alpha=0.3)
    return fig


def occupancy_figure(survey: Survey) -> Figure:
    locs = [loc for loc in survey.locations if loc.collisions_available]
    freqs = sorted({c.freq_hz for loc in locs for c in loc.channels})
    fig, ax = _axes(7, 3.2)
    width = 0.8 / max(len(freqs), 1)
    x = np.arange(len(locs))
    for k, freq in enumerate(freqs):
        values, counts = [], []
        for loc in locs:
            channel = next((c for c in loc.channels if c.freq_hz == freq), None)
            values.append(100 * (channel.occupancy or 0.0) if channel else 0.0)
            counts.append(len(channel.collisions or ()) if channel else 0)
        bars = ax.bar(x + (k - (len(freqs) - 1) / 2) * width, values, width,
                      label=f"{freq / 1e6:.3f} MHz")
        for bar, count in zip(bars, counts, strict=True):
            ax.annotate(f"{count} coll.", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize="x-small")
    ax.set_xticks(x, [loc.label for loc in locs])
    _finish_bars(ax, "occupancy (% of time)", "Channel occupancy and collisions")
    return fig


def placement_figure(survey: Survey) -> Figure:
    ranked = list(survey.placement)
    fig, ax = _axes(7, 0.5 * len(ranked) + 1.2)
    y = np.arange(len(ranked))[::-1]
    ax.barh(y, [100 * p.mean_reception_ratio for p in ranked], color="#4c72b0")
    for yy, p in zip(y, ranked, strict=True):
        ax.text(1, yy, f"#{p.rank}  {p.meters_reliable}/{p.meters_total} reliable",
                va="center", color="white", fontsize="small")
    ax.set_yticks(y, [p.label for p in ranked])
    ax.set_xlim(0, 100)
    ax.set_xlabel("mean reception ratio over all meters (%)")
    ax.set_title("Gateway placement ranking")
    return fig


def _cls(ratio: float) -> str:
    return "good" if ratio >= 0.9 else "fair" if ratio >= 0.5 else "poor"


def _num(value: float | int | None, fmt: str = "{:.1f}") -> str:
    return "–" if value is None else fmt.format(value)


def _gateways_html(loc: LocationReport) -> str:
    """One row per gateway and meter it exchanged frames with (a gateway with none: one row)."""
    if not loc.gateways:
        return '<p class="note">No gateway was heard here.</p>'
    rows = []
    for g in loc.gateways:
        head = (f"<td class=l>{html.escape(g.gateway or '(unnamed)')}</td>"
                f"<td class=l>{html.escape(' '.join(g.modes))}</td><td>{g.frames}</td>")
        cells = [
            f"<td class=l>{html.escape(m.meter_id)}</td><td>{m.exchanges}</td>"
            f"<td>{m.completed}</td><td>{m.outside_window}</td>"
            for m in g.meters
        ] or ["<td class=l>–</td><td>0</td><td>0</td><td>0</td>"]
        rows += [f"<tr>{head}{cell}</tr>" for cell in cells]
    return (
        "<table><tr><th class=l>gateway</th><th class=l>modes</th><th>frames</th>"
        "<th class=l>meter</th><th>exchanges</th><th>completed</th><th>outside window</th>"
        f"</tr>{''.join(rows)}</table>"
    )


def _location_html(loc: LocationReport) -> str:
    rows = []
    for m in loc.meters:
        s = m.stats
        rssi, snr, cfo = s.rssi_dbfs, s.snr_db, s.cfo_hz
        rows.append(
            f'<tr class="{_cls(s.reception_ratio)}"><td class="l">{html.escape(s.meter_id)}</td>'
            f'<td class="l">{html.escape(s.manufacturer)}</td><td class="l">{s.mode}</td>'
            f"<td>{s.received}</td><td>{s.expected}</td>"
            f"<td>{100 * s.reception_ratio:.0f}%</td>"
            f"<td>{_num(rssi and rssi.median)} ({_num(rssi and rssi.p10)}…"
            f"{_num(rssi and rssi.p90)})</td>"
            f"<td>{_num(snr and snr.median)} ({_num(snr and snr.p10)}…{_num(snr and snr.p90)})</td>"
            f"<td>{_num(cfo and cfo.median / 1e3)}</td><td>{_num(s.link_margin_db)}</td>"
            f"<td>{_num(m.lost_to_collision, '{}')}</td>"
            f"<td>{_num(m.lost_to_weak_signal, '{}')}</td></tr>"
        )
    channels = []
    for c in loc.channels:
        if c.occupancy is None:
            channels.append(f"<tr><td>{c.freq_hz / 1e6:.3f}</td><td colspan=4 class=l>"
                            "unavailable: telegrams only, no signal</td></tr>")
            continue
        channels.append(
            f"<tr><td>{c.freq_hz / 1e6:.3f}</td><td>{100 * c.occupancy:.2f}%</td>"
            f"<td>{c.bursts}</td><td>{len(c.collisions or ())}</td>"
            f"<td>{_num(c.noise_dbfs)}</td></tr>"
        )
    note = "" if loc.collisions_available else (
        '<p class="note">This location gave telegrams only (a log, or a receiver on an MQTT '
        "broker), no signal: occupancy, collisions and the cause of losses are unavailable.</p>"
    )
    return (
        f"<h2>{html.escape(loc.label)}</h2>"
        f'<p class="note">{html.escape(loc.source)} {html.escape(loc.path)}, '
        f"{loc.duration_s:.3g} s</p>{note}"
        "<table><tr><th class=l>meter</th><th class=l>mfr</th><th class=l>mode</th>"
        "<th>received</th><th>expected</th><th>ratio</th><th>RSSI dBFS (p10…p90)</th>"
        "<th>SNR dB (p10…p90)</th><th>CFO kHz</th><th>margin dB</th><th>lost: collision</th>"
        f"<th>lost: weak</th></tr>{''.join(rows)}</table>"
        "<table><tr><th>channel MHz</th><th>occupancy</th><th>bursts</th><th>collisions</th>"
        f"<th>noise dBFS</th></tr>{''.join(channels)}</table>"
        "<h3>Gateways heard</h3>" + _gateways_html(loc)
        + _img(timeline_figure(loc), f"reception timeline at {loc.label}")
    )


def render_html(survey: Survey, title: str = "wM-Bus building survey") -> str:
    placement = "".join(
        f"<tr><td>{p.rank}</td><td class=l>{html.escape(p.label)}</td>"
        f"<td>{p.meters_heard}/{p.meters_total}</td><td>{p.meters_reliable}/{p.meters_total}</td>"
        f"<td>{100 * p.mean_reception_ratio:.0f}%</td><td>{_num(p.median_link_margin_db)}</td></tr>"
        for p in survey.placement
    )
    best = "".join(
        f"<tr><td class=l>{html.escape(m)}</td><td class=l>"
        f"{html.escape(survey.best_location(m) or '–')}</td></tr>"
        for m in survey.meter_ids()
    )
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p>{len(survey.locations)} location(s), {len(survey.meter_ids())} meter(s).</p>",
        "<h2>Gateway placement</h2><table><tr><th>rank</th><th class=l>location</th>"
        "<th>meters heard</th><th>reliable (≥ 90%)</th><th>mean ratio</th>"
        f"<th>median margin dB</th></tr>{placement}</table>",
        _img(placement_figure(survey), "placement ranking"),
        "<table><tr><th class=l>meter</th><th class=l>heard best at</th></tr>"
        f"{best}</table>",
        "<h2>RSSI per meter and location</h2>", _img(rssi_figure(survey), "RSSI per meter"),
    ]
    if any(loc.collisions_available for loc in survey.locations):
        parts += ["<h2>Channel occupancy</h2>", _img(occupancy_figure(survey), "occupancy")]
    parts += [_location_html(loc) for loc in survey.locations]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(survey: Survey, path: str | Path) -> None:
    try:
        Path(path).write_text(render_html(survey), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot write the report ({exc.strerror or exc})") from exc
