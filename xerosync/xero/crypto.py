"""Encryption of tokens at rest (Fernet: AES-128-CBC + HMAC-SHA256, with a timestamp).

Whether tokens may be stored without encryption (only against the sandbox) is the CLI's and
settings' decision; this module only encrypts and decrypts, and explains a bad key clearly.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class TokenCipherError(ValueError):
    """The key is malformed, or a stored value was encrypted with a different key."""


class TokenCipher:
    """Encrypt/decrypt token blobs with one or more Fernet keys (first encrypts; all decrypt).

    Several keys, comma-separated, allow rotation: put the new key first, keep the old after it.
    """

    def __init__(self, key: str | bytes) -> None:
        raw = key.decode() if isinstance(key, bytes) else key
        keys = [k.strip() for k in raw.split(",") if k.strip()]
        if not keys:
            raise TokenCipherError(
                "TOKEN_ENCRYPTION_KEY is empty; generate one with "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`"
            )
        fernets = []
        for position, item in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(item.encode()))
            except (ValueError, TypeError):
                raise TokenCipherError(
                    f"TOKEN_ENCRYPTION_KEY (key {position}) is not a Fernet key: it must be 32 "
                    "url-safe base64-encoded bytes (44 characters ending in '='); generate one "
                    "with Fernet.generate_key()"
                ) from None
        self._fernet = MultiFernet(fernets)

    @staticmethod
    def generate_key() -> str:
        """A fresh random key, as text for the settings."""
        return Fernet.generate_key().decode()

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        try:
            return self._fernet.decrypt(ciphertext)
        except InvalidToken:
            raise TokenCipherError(
                "stored tokens cannot be decrypted with TOKEN_ENCRYPTION_KEY (wrong key, or the "
                "data was altered); restore the previous key or connect the organisation again"
            ) from None

    def __repr__(self) -> str:
        return "TokenCipher(<key hidden>)"
