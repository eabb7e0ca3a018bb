"""Security primitives against the worked values of docs/protocol.md §3 and §6.

IVs, key derivation, MAC, CRCs.
"""

from __future__ import annotations

from protocol.crc import crc16
from protocol.framing import strip_crcs
from protocol.link import parse_address, parse_long_address
from protocol.modes import FrameFormat
from protocol.security import (
    DC_ENC_FROM_METER,
    DC_MAC_FROM_METER,
    aes_cbc_decrypt,
    aes_cmac,
    aes_ctr,
    ell_counter,
    mode5_iv,
    mode7_key,
)
from tests.protocol.spec_vectors import (
    ENGELMANN,
    ENGELMANN_KEY,
    R1,
    R1_KEY,
    R3,
    R3_KEY,
    R4,
    R4_KEY,
    R5,
    R5_KEY,
    R10,
    R10_KEY,
)


def test_ell_ctr_counter_payload_crc_and_plaintext_of_r1() -> None:
    raw = bytes.fromhex(R1)
    counter = ell_counter(parse_address(raw[2:10]), raw[11], raw[13:17])
    assert counter.hex().upper() == "2D2C998734761B1620D37CAC2100" + "0000"
    plain = aes_ctr(R1_KEY, counter, raw[17:])
    assert plain[:6].hex().upper() == "576C7802FF20"
    assert crc16(plain[2:]) == 0x6C57 == int.from_bytes(plain[:2], "little")


def test_ell_ctr_counter_clears_hop_and_repeated_access_bits() -> None:
    address = parse_address(bytes.fromhex("2D2C998734761B16"))
    assert ell_counter(address, 0x20 | 0x10 | 0x02, b"\0" * 4)[8] == 0x20


def test_mode5_iv_and_plaintext_of_r3_short_header() -> None:
    raw = bytes.fromhex(R3)
    iv = mode5_iv(parse_address(raw[2:10]), raw[11])
    assert iv.hex().upper() == "FA12216209200206" + "36" * 8
    plain = aes_cbc_decrypt(R3_KEY, iv, raw[15:47])
    assert plain.hex().upper() == (
        "2F2F046D282A9E2704136A00000002FD170000" "04933C00000000" + "2F" * 6
    )


def test_mode5_iv_of_r4_uses_long_header_address_in_link_order() -> None:
    raw = bytes.fromhex(R4)
    meter = parse_long_address(raw[11:19])
    iv = mode5_iv(meter, raw[19])
    assert iv.hex().upper() == "2104" "71000761" "2507" + "B5" * 8
    assert aes_cbc_decrypt(R4_KEY, iv, raw[23:39])[:8].hex().upper() == "2F2F0413281E0700"


def test_mode5_iv_uses_tpl_acc_not_ell_acc_r10() -> None:
    raw = bytes.fromhex(R10)
    link = parse_address(raw[2:10])
    ell_acc, tpl_acc = raw[12], raw[14]
    assert (ell_acc, tpl_acc) == (0xD0, 0x0D)
    block = raw[18:34]
    right = aes_cbc_decrypt(R10_KEY, mode5_iv(link, tpl_acc), block)
    wrong = aes_cbc_decrypt(R10_KEY, mode5_iv(link, ell_acc), block)
    assert right.hex().upper() == "2F2F046DB32E3438041303000000" "01FD"
    # CBC: the IV touches only the first block, and bytes 0-1 depend only on M: 2F2F passes
    # with the wrong ACC while bytes 8-15 are garbage (docs/protocol.md §6.2, R10).
    assert wrong[:2] == b"\x2f\x2f"
    assert wrong[8:12].hex().upper() == "D9CEDEDD"


def test_mode5_iv_source_caveat_engelmann_long_header() -> None:
    raw = bytes.fromhex(ENGELMANN)
    dll, meter = parse_address(raw[2:10]), parse_long_address(raw[11:19])
    block = raw[23:39]
    right = aes_cbc_decrypt(ENGELMANN_KEY, mode5_iv(meter, raw[19]), block)
    wrong = aes_cbc_decrypt(ENGELMANN_KEY, mode5_iv(dll, raw[19]), block)
    assert right[:6].hex().upper() == "2F2F2D056FF3"
    assert wrong[:6].hex().upper() == "2F2F5809B9F3"


def test_mode7_kdf_mac_and_plaintext_of_r5() -> None:
    data = strip_crcs(bytes.fromhex(R5), FrameFormat.B).data
    id_bytes, mcr = data[4:8], int.from_bytes(data[18:22], "little")
    assert mcr == 155273
    kenc = mode7_key(R5_KEY, DC_ENC_FROM_METER, mcr, id_bytes)
    kmac = mode7_key(R5_KEY, DC_MAC_FROM_METER, mcr, id_bytes)
    assert kenc.hex().upper() == "BB13AB0FBBC1F043BDAA104CC8D2D428"
    assert kmac.hex().upper() == "A69BD3F061C0C21E90D55D3F34117650"
    tpl = data[30:]
    assert tpl[:6].hex().upper() == "7A0E00900710"
    mac_input = bytes([data[17]]) + data[18:22] + tpl
    assert aes_cmac(kmac, mac_input)[:8] == data[22:30] == bytes.fromhex("3B0877D31DA840B1")
    plain = aes_cbc_decrypt(kenc, bytes(16), tpl[6 : 6 + 16])
    assert plain.hex().upper() == "2F2F046D3A2A283C04067D2400000413"
