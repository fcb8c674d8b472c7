"""Field encryption, key rotation, blind index and masking (pure unit tests)."""

import base64
import hashlib
import hmac
import os

import pytest
from cryptography.exceptions import InvalidTag

from fupin_kit.crypto import (
    BlindIndex,
    FieldCipher,
    mask_id_number,
    mask_name,
    mask_phone,
    parse_keyring,
)


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_encrypt_decrypt_and_rotation():
    old = parse_keyring(f"k1:{key()}")
    cipher = FieldCipher(old)
    blob = cipher.encrypt("220622198001011237", "id_number")
    assert b"220622198001011237" not in blob
    rotated = FieldCipher({"k2": os.urandom(32), **old})
    assert rotated.active == "k2"
    assert rotated.decrypt(blob, "id_number") == "220622198001011237"
    assert rotated.key_id_of(rotated.encrypt("x", "name")) == "k2"


def test_ciphertext_is_bound_to_its_field():
    cipher = FieldCipher(parse_keyring(f"k1:{key()}"))
    blob = cipher.encrypt("张三", "name")
    with pytest.raises(InvalidTag):
        cipher.decrypt(blob, "phone")


def test_blind_index_is_keyed_and_normalised():
    a, b = BlindIndex(os.urandom(32)), BlindIndex(os.urandom(32))
    assert a.of("11010519491231002x") == a.of("11010519491231002X")
    assert a.of("11010519491231002X") != b.of("11010519491231002X")
    with pytest.raises(ValueError):
        BlindIndex(b"short")


def test_blind_index_is_standard_hmac_sha256():
    for key in (os.urandom(32), os.urandom(48), os.urandom(100)):  # longer than a block too
        index = BlindIndex(key)
        for serial in range(200):
            value = f"22062219800101{serial:04d}"
            assert index.of(value) == hmac.new(key, value.encode(), hashlib.sha256).digest()


def test_masks():
    assert mask_id_number("220622198001011237") == "220622********1237"
    assert mask_name("张三丰") == "张**"
    assert mask_phone("13812345678") == "138****5678"


def test_a_key_id_is_ascii_so_its_stored_length_is_its_byte_length():
    with pytest.raises(ValueError, match="ASCII"):
        parse_keyring(f"密钥:{key()}")
    cipher = FieldCipher(parse_keyring(f"k-2026:{key()}"))
    assert cipher.decrypt(cipher.encrypt("x", "name"), "name") == "x"
