from decimal import Decimal

from xerosync.mapping.fingerprint import fingerprint


def test_equal_payloads_share_a_fingerprint_whatever_the_key_order() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})


def test_decimals_are_compared_by_value() -> None:
    assert fingerprint({"p": Decimal("10")}) == fingerprint({"p": Decimal("10.00")})
    assert fingerprint({"p": Decimal("0.00")}) == fingerprint({"p": Decimal("-0")})
    assert fingerprint({"p": Decimal("10.01")}) != fingerprint({"p": Decimal("10.00")})


def test_a_changed_field_changes_the_fingerprint() -> None:
    assert fingerprint({"Name": "Acme"}) != fingerprint({"Name": "Acme Ltd"})
    assert fingerprint({"p": Decimal(1)}) != fingerprint({"p": "1"})
