"""Xero's signature: base64 HMAC-SHA256 of the raw body with the webhook key."""

from __future__ import annotations

import base64
import hashlib
import hmac

from tests.webhooks.support import KEY
from xerosync.webhooks.signature import is_valid, sign


def test_the_signature_is_base64_of_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"events":[],"firstEventSequence":1,"lastEventSequence":1,"entropy":"X"}'
    expected = base64.b64encode(hmac.new(KEY.encode(), body, hashlib.sha256).digest()).decode()
    assert sign(body, KEY) == expected
    assert is_valid(body, expected, KEY)


def test_a_changed_byte_another_key_or_no_header_is_invalid() -> None:
    body = b'{"events":[]}'
    good = sign(body, KEY)
    assert not is_valid(body + b" ", good, KEY)
    assert not is_valid(body, sign(body, "another-key"), KEY)
    assert not is_valid(body, None, KEY)
    assert not is_valid(body, "", KEY)
    assert not is_valid(body, good, "")
