"""Gateways heard at a location: exchanges completed per meter, in JSON, text, CSV and HTML."""

from __future__ import annotations

import csv
import json
from collections import Counter

import numpy as np

from dsp.bandplan import ALL_MODES
from protocol.decoder import Decoder
from protocol.encoder import EllSpec, TelegramSpec, TplSpec, encode_telegram
from protocol.modes import Direction
from protocol.report import telegram_to_dict
from protocol.telegram import Address, Telegram
from sdr.io.files import probe_iq_file
from sdr.io.writers import write_iq
from sdr.sim.stream import BurstSpec, ModeFormat, StreamSettings, render_stream
from sdr.survey.analysis import build_survey
from sdr.survey.export import text_summary, write_csv
from sdr.survey.inputs import LocationInput, analyse_recording, read_log
from sdr.survey.report import render_html
from sdr.survey.stats import reception_from_dict
from tests.protocol.exchanges import GATEWAYS, deliver, random_exchanges, samples


def _location(tmp_path, count=30, drop_reply_every=5):
    """A log of ``count`` exchanges (every ``drop_reply_every``-th without the meter's reply),
    as ``wmbus decode --json`` would write it, read back as a location."""
    drawn, quiet = random_exchanges(np.random.default_rng(8), count)
    frames = [t for n, d in enumerate(drawn)
              for t in ((d.opener, d.request) if n % drop_reply_every == 0
                        else (d.opener, d.request, d.reply))]
    out = deliver(frames + quiet, chunk=samples(100)).out
    log = tmp_path / "spot.jsonl"
    log.write_text("".join(json.dumps(telegram_to_dict(t)) + "\n" for t in out
                           if isinstance(t, Telegram)))
    return drawn, quiet, read_log(log, "spot")


def _name(n: int) -> str | None:
    sender = GATEWAYS[n % len(GATEWAYS)]
    return None if sender is None else f"{sender.manufacturer} {sender.id}"


def test_gateways_and_their_exchanges_per_meter(tmp_path) -> None:
    drawn, _, location = _location(tmp_path)
    gateways = build_survey([location]).locations[0].gateways
    # Named gateways first, then the one whose frames carry the meter's address only.
    assert [g.gateway for g in gateways] == [*sorted(filter(None, map(_name, range(3)))), None]
    for g in gateways:
        mine = [n for n in range(len(drawn)) if _name(n) == g.gateway]
        assert g.frames == len(mine)
        assert {m.meter_id for m in g.meters} == {drawn[n].opener.meter_id for n in mine}
        for m in g.meters:
            n = next(n for n in mine if drawn[n].opener.meter_id == m.meter_id)
            replied = n % 5 != 0
            assert (m.exchanges, m.completed) == (1, int(replied))
            outside = (not drawn[n].inside[0]) + (replied and not drawn[n].inside[1])
            assert m.outside_window == outside
        assert set(g.modes) <= {"S2", "T2", "C2"}


def test_meter_statistics_count_only_the_meters_scheduled_frames(tmp_path) -> None:
    drawn, quiet, location = _location(tmp_path)
    meters = {m.stats.meter_id: m for m in build_survey([location]).locations[0].meters}
    own = Counter(r.meter_id for r in location.receptions if r.scheduled)
    assert sum(own.values()) == len(drawn) + len(quiet)  # no answer, no gateway frame
    assert {i: m.stats.received for i, m in meters.items()} == dict(own)
    assert len(meters) == len(drawn) + len(quiet)
    # A T2 meter's statistics use its physical layer (T1) for the link margin.
    t2 = next(m for m in meters.values() if m.stats.mode == "T2")
    assert t2.stats.phy is not None and t2.stats.phy.name == "T1"
    assert t2.stats.link_margin_db is not None


def test_gateways_in_json_text_csv_and_html(tmp_path) -> None:
    _, _, location = _location(tmp_path, count=6)
    survey = build_survey([location])
    data = survey.to_dict()["locations"][0]["gateways"]
    assert {"gateway", "frames", "modes", "meters"} <= set(data[0])
    assert set(data[0]["meters"][0]) == {"meter_id", "exchanges", "completed", "outside_window"}
    assert "gateway (unnamed)" in text_summary(survey)
    write_csv(survey, tmp_path / "csv")
    with open(tmp_path / "csv" / "gateways.csv", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == sum(len(g["meters"]) for g in data) == 6
    assert "<h3>Gateways heard</h3>" in render_html(survey)


def test_a_log_without_exchange_fields_reads_as_meters_frames() -> None:
    old = {"meter_id": "12345678", "time_s": 1.0, "mode": "T1", "M": "KAM", "AC": 3}
    reception = reception_from_dict(old)
    assert reception is not None and reception.from_meter and reception.exchange is None
    empty = LocationInput("x", "x", "log", 1.0, (reception,), None)
    assert build_survey([empty]).locations[0].gateways == ()


def test_a_c2_exchange_in_a_recording(tmp_path) -> None:
    """A C1 meter offering access (ELL CC: bidirectional, accessible, fast response), a C2
    gateway's request on 869.525 MHz 100 ms later, the meter's reply 100 ms after that: the
    survey shows the gateway, the completed exchange and the 869.525 MHz channel's bursts."""
    meter = Address(0x2C2D, bytes.fromhex("99873476"), 0x1B, 0x16)
    gateway = Address(0x4DEE, bytes.fromhex("01000090"), 0x01, 0x31)
    cc = 0x80 | 0x40 | 0x04
    volume = bytes.fromhex("041301000000")
    opener = encode_telegram(TelegramSpec(meter, 0x44, EllSpec(cc=cc, acc=9),
                                          tpl=TplSpec(ci=0x7A, acc=9), payload=volume))
    request = encode_telegram(TelegramSpec(gateway, 0x5B, EllSpec(cc=cc, acc=9),
                                           tpl=TplSpec(ci=0x80, acc=9, address=meter)))
    reply = encode_telegram(TelegramSpec(meter, 0x08, EllSpec(cc=cc, acc=9),
                                         tpl=TplSpec(ci=0x7A, acc=9), payload=volume))
    c2_meter = ModeFormat.of("C2", Direction.METER_TO_OTHER)
    c2_gateway = ModeFormat.of("C2", Direction.OTHER_TO_METER)
    bursts = [BurstSpec(c2_meter, opener), BurstSpec(c2_gateway, request),
              BurstSpec(c2_meter, reply)]
    settings = StreamSettings.for_modes([c2_meter, c2_gateway], ecn0_db=30.0)
    rng = np.random.default_rng(3)
    iq = np.concatenate([s for s, _ in render_stream(bursts, settings, rng, gap_s=(0.1, 0.1))])
    path = tmp_path / "c2_868.625M_2400k.cu8"
    write_iq(path, iq, "cu8")
    location = analyse_recording(probe_iq_file(path), "c2", ALL_MODES, Decoder())
    report = build_survey([location]).locations[0]
    assert [(g.gateway, g.modes, g.frames) for g in report.gateways] == [
        ("SON 90000001", ("C2",), 1)]
    assert [m.to_dict() for m in report.gateways[0].meters] == [
        {"meter_id": "76348799", "exchanges": 1, "completed": 1, "outside_window": 0}]
    channel = next(c for c in report.channels if c.freq_hz == 869.525e6)
    assert channel.bursts == 1 and channel.occupancy > 0
    assert [(m.stats.meter_id, m.stats.mode, m.stats.received) for m in report.meters] == [
        ("76348799", "C2", 1)]
