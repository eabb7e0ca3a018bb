"""Recorded IQ files: formats, metadata from SigMF and file names, streaming reads, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import sigmf

from sdr.errors import UserError
from sdr.io.codecs import SAMPLE_FORMATS
from sdr.io.files import probe_iq_file, read_iq_chunks
from sdr.io.names import parse_name_tokens, parse_quantity
from sdr.io.writers import Annotation, write_iq, write_sigmf

# Half a quantisation step of each format (full scale = 1.0).
STEP = {"cu8": 1 / 127.5, "cs8": 1 / 128, "cs16": 1 / 32768, "cf32": 0.0}


def random_iq(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.uniform(-0.95, 0.95, n) + 1j * rng.uniform(-0.95, 0.95, n)).astype(np.complex64)


def read_all(info, chunk_samples: int = 262_144) -> np.ndarray:
    return np.concatenate([c.samples for c in read_iq_chunks(info, chunk_samples)])


@pytest.mark.parametrize("fmt", SAMPLE_FORMATS)
def test_round_trip_every_format(tmp_path: Path, fmt: str) -> None:
    x = random_iq(5000)
    path = tmp_path / f"rec_868.625M_2400k.{fmt}"
    write_iq(path, x, fmt)
    info = probe_iq_file(path)
    assert info.sample_format == fmt
    assert info.num_samples == 5000
    assert path.stat().st_size == 5000 * {"cu8": 2, "cs8": 2, "cs16": 4, "cf32": 8}[fmt]
    y = read_all(info)
    assert y.dtype == np.complex64
    err = np.max(np.abs(y.view(np.float32) - x.view(np.float32)))
    assert err <= STEP[fmt] / 2 + 1e-7


def test_cu8_scaling_is_rtl_sdr_convention(tmp_path: Path) -> None:
    # rtl_sdr's bytes are centred on 127.5: 0 -> -1, 255 -> +1, 127/128 -> ∓1/255.
    path = tmp_path / "x_868.95M_1600k.cu8"
    path.write_bytes(bytes([0, 255, 127, 128]))
    y = read_all(probe_iq_file(path))
    assert y[0] == np.complex64(-1 + 1j)
    assert y[1] == pytest.approx(complex(-1 / 255, 1 / 255), abs=1e-7)


def test_integer_formats_little_endian_and_full_scale(tmp_path: Path) -> None:
    path = tmp_path / "x_868.95M_1600k.cs16"
    path.write_bytes(np.array([-32768, 16384], dtype="<i2").tobytes())
    assert read_all(probe_iq_file(path))[0] == np.complex64(-1 + 0.5j)
    path8 = tmp_path / "x_868.95M_1600k.cs8"
    path8.write_bytes(np.array([64, -128], dtype="i1").tobytes())
    assert read_all(probe_iq_file(path8))[0] == np.complex64(0.5 - 1j)


def test_writer_clips_instead_of_wrapping(tmp_path: Path) -> None:
    path = tmp_path / "x_868.95M_1600k.cs8"
    write_iq(path, np.array([3 - 3j], dtype=np.complex64), "cs8")
    assert np.frombuffer(path.read_bytes(), dtype="i1").tolist() == [127, -128]


@pytest.mark.parametrize(
    ("name", "rate", "center"),
    [
        ("rtlsdr_868.625M_2M4_issue48.cu8", 2.4e6, 868.625e6),
        ("rtlsdr_868.950M_1M6_samples2.cu8", 1.6e6, 868.95e6),
        ("g001_868.95M_1600k.cu8", 1.6e6, 868.95e6),
        ("meter_2.4M_868.3M.cs16", 2.4e6, 868.3e6),
        ("g005_433.92M_250k.cu8", 250e3, 433.92e6),
        ("sat_16000000SPS_2274000000Hz.cs8", 16e6, 2274e6),
        ("capture_2.4Msps_868.625MHz.cf32", 2.4e6, 868.625e6),
    ],
)
def test_name_tokens(name: str, rate: float, center: float) -> None:
    hints = parse_name_tokens(name)
    assert hints.sample_rate_hz == pytest.approx(rate)
    assert hints.center_freq_hz == pytest.approx(center)


def test_name_without_tokens_and_plain_numbers() -> None:
    hints = parse_name_tokens("issue48_2023-08-05_run2.cu8")
    assert hints.sample_rate_hz is None and hints.center_freq_hz is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("2.4M", 2.4e6), ("2M4", 2.4e6), ("2400000", 2.4e6), ("1600k", 1.6e6), ("868.95M", 868.95e6)],
)
def test_parse_quantity(text: str, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "fast", "2.4M4", "-3M"])
def test_parse_quantity_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_explicit_arguments_win(tmp_path: Path) -> None:
    path = tmp_path / "rec_868.625M_2M4.cu8"
    write_iq(path, random_iq(10), "cu8")
    info = probe_iq_file(path, sample_format="cs8", sample_rate_hz=1e6, center_freq_hz=868.3e6)
    assert (info.sample_format, info.sample_rate_hz, info.center_freq_hz) == ("cs8", 1e6, 868.3e6)


def test_chunks_are_contiguous_and_chunk_size_invariant(tmp_path: Path) -> None:
    path = tmp_path / "rec_868.625M_2M4.cu8"
    x = random_iq(10_000)
    write_iq(path, x, "cu8")
    info = probe_iq_file(path)
    chunks = list(read_iq_chunks(info, 997))
    assert [c.start_sample for c in chunks] == list(range(0, 10_000, 997))
    assert all(len(c.samples) == 997 for c in chunks[:-1])
    assert chunks[-1].end_sample == 10_000
    assert all(c.sample_rate_hz == 2.4e6 and c.center_freq_hz == 868.625e6 for c in chunks)
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks]), read_all(info))
    with pytest.raises(ValueError):
        next(read_iq_chunks(info, 0))


def test_sigmf_round_trip_metadata_and_annotations(tmp_path: Path) -> None:
    x = random_iq(3000)
    ann = Annotation(
        100, 500, "T1", comment="frame A", freq_lower_edge_hz=868.9e6, freq_upper_edge_hz=869.0e6
    )
    meta = write_sigmf(tmp_path / "rec", x, 2.4e6, 868.625e6, [ann], sample_format="cs16")
    assert meta == tmp_path / "rec.sigmf-meta"
    doc = json.loads(meta.read_text())
    assert doc["global"]["core:datatype"] == "ci16_le"
    assert doc["global"]["core:sample_rate"] == 2.4e6
    assert doc["captures"][0]["core:frequency"] == 868.625e6
    assert doc["annotations"][0]["core:sample_start"] == 100
    assert doc["annotations"][0]["core:sample_count"] == 500
    assert doc["annotations"][0]["core:label"] == "T1"
    assert doc["annotations"][0]["core:freq_upper_edge"] == 869.0e6
    # Any of meta, data or base name opens the recording; metadata gives rate and centre.
    for name in ("rec.sigmf-meta", "rec.sigmf-data", "rec"):
        info = probe_iq_file(tmp_path / name)
        assert info.is_sigmf and info.sample_format == "cs16" and info.num_samples == 3000
        assert (info.sample_rate_hz, info.center_freq_hz) == (2.4e6, 868.625e6)
    ours = read_all(probe_iq_file(meta), 777)
    # The sigmf package's own reader is an independent check of our decoding.
    theirs = sigmf.fromfile(meta).read_samples()
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    np.testing.assert_allclose(ours, x, atol=STEP["cs16"])


def test_sigmf_metadata_beats_name_tokens(tmp_path: Path) -> None:
    write_sigmf(tmp_path / "rec_433.92M_250k", random_iq(100), 1e6, 868.3e6, sample_format="cf32")
    info = probe_iq_file(tmp_path / "rec_433.92M_250k.sigmf-meta")
    assert (info.sample_rate_hz, info.center_freq_hz) == (1e6, 868.3e6)


def test_sigmf_unsupported_datatype(tmp_path: Path) -> None:
    meta = write_sigmf(tmp_path / "rec", random_iq(10), 1e6, 868.3e6, sample_format="cf32")
    doc = json.loads(meta.read_text())
    doc["global"]["core:datatype"] = "ri16_le"
    meta.write_text(json.dumps(doc))
    with pytest.raises(UserError, match="ri16_le"):
        probe_iq_file(meta)


def test_sigmf_missing_data_file(tmp_path: Path) -> None:
    meta = write_sigmf(tmp_path / "rec", random_iq(10), 1e6, 868.3e6)
    (tmp_path / "rec.sigmf-data").unlink()
    with pytest.raises(UserError):
        probe_iq_file(meta)


def test_sigmf_broken_metadata(tmp_path: Path) -> None:
    (tmp_path / "rec.sigmf-meta").write_text("{not json")
    (tmp_path / "rec.sigmf-data").write_bytes(b"\0" * 8)
    with pytest.raises(UserError, match="SigMF"):
        probe_iq_file(tmp_path / "rec.sigmf-meta")


# Metadata is other people's data: each bad field is a one-line error naming it (the sigmf
# package raised ZeroDivisionError, TypeError, AttributeError, RecursionError or tried to
# allocate terabytes for these).
@pytest.mark.parametrize(
    ("section", "key", "value", "match"),
    [
        ("global", "core:sample_rate", float("nan"), "core:sample_rate is nan"),
        ("global", "core:sample_rate", float("inf"), "core:sample_rate is inf"),
        ("global", "core:sample_rate", 1e12, "sample rate 1e\\+12 is not from 0.1M to 100M"),
        ("global", "core:sample_rate", 1e300, "sample rate 1e\\+300 is not from"),
        ("global", "core:sample_rate", "2.4M", "core:sample_rate is '2.4M'"),
        ("global", "core:sample_rate", 0, "sample rate 0 is not from"),
        ("global", "core:sample_rate", True, "core:sample_rate is True"),
        ("global", "core:num_channels", 0, "0 channels; only 1"),
        ("global", "core:num_channels", "one", "core:num_channels is 'one'"),
        ("global", "core:datatype", 5, "core:datatype is 5"),
        ("global", "core:trailing_bytes", -5, "core:trailing_bytes is negative"),
        ("global", "core:trailing_bytes", float("nan"), "core:trailing_bytes is nan"),
        ("capture", "core:frequency", float("nan"), "core:frequency is nan"),
        ("capture", "core:frequency", "868M", "core:frequency is '868M'"),
        ("capture", "core:frequency", -1e300, "centre frequency -1e\\+300 is not from"),
        ("doc", "global", [], "no 'global' object"),
        ("doc", "captures", "none", "'captures' list"),
        ("doc", "captures", [7], "'captures' list"),
    ],
)
def test_hostile_sigmf_metadata_is_a_one_line_error(
    tmp_path: Path, section: str, key: str, value: object, match: str
) -> None:
    meta = write_sigmf(tmp_path / "rec", random_iq(10), 1e6, 868.3e6, sample_format="cf32")
    doc = json.loads(meta.read_text())
    where = {"doc": doc, "global": doc["global"], "capture": doc["captures"][0]}[section]
    where[key] = value
    meta.write_text(json.dumps(doc))  # NaN and Infinity as Python's json writes them
    with pytest.raises(UserError, match=match) as info:
        probe_iq_file(meta)
    assert "\n" not in str(info.value) and str(meta) in str(info.value)


def test_sigmf_metadata_nested_deeper_than_json_reads(tmp_path: Path) -> None:
    (tmp_path / "rec.sigmf-meta").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "rec.sigmf-data").write_bytes(b"\0" * 8)
    with pytest.raises(UserError, match="unreadable SigMF metadata"):
        probe_iq_file(tmp_path / "rec.sigmf-meta")


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("absent_868.95M_1600k.cu8", None, "no such file"),
        ("empty_868.95M_1600k.cu8", b"", "empty"),
        ("one_byte_868.95M_1600k.cu8", b"\x80", "shorter than one"),
        ("rec_868.95M_1600k.bin", b"\0" * 4, "--format"),
        ("rec_868.95M.cu8", b"\0" * 4, "--rate"),
        ("rec_1600k.cu8", b"\0" * 4, "--center"),
    ],
)
def test_errors_are_user_errors(tmp_path: Path, name: str, content: bytes | None, match: str):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=match) as info:
        probe_iq_file(path)
    assert "\n" not in str(info.value)


def test_directory_and_bad_format_argument(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="directory"):
        probe_iq_file(tmp_path, "cu8", 1e6, 868e6)
    with pytest.raises(UserError, match="unknown sample format"):
        probe_iq_file(tmp_path / "x.cu8", "cu16")


@pytest.mark.parametrize(("fmt", "extra"), [("cu8", 1), ("cs16", 3), ("cf32", 5)])
def test_truncated_last_sample_is_skipped(tmp_path: Path, fmt: str, extra: int) -> None:
    path = tmp_path / f"rec_868.95M_1600k.{fmt}"
    x = random_iq(50)
    write_iq(path, x, fmt)
    with open(path, "ab") as fh:
        fh.write(b"\x01" * extra)
    info = probe_iq_file(path)
    assert info.truncated and info.trailing_bytes == extra and info.num_samples == 50
    np.testing.assert_allclose(read_all(info, 7), x, atol=STEP[fmt])
