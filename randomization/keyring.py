"""The two secrets of the allocation record that are not in the database (settings, read from the
environment; README "Keys, backup and restore"):

- the allocation chain key: each entry's hash is HMAC-SHA-256 under it, so someone who can write
  the database but does not hold the key cannot recompute the chain after rewriting a row;
- the seed encryption key: a scheme's secret seed is stored encrypted with AES-256-GCM
  (`cryptography`'s AEAD; the scheme's id is the associated data, so a ciphertext copied onto
  another scheme does not decrypt), so a database dump alone reveals no future allocation.

Each record stores the id of the key it was made with. New records use the current key; old keys
listed in the environment are still accepted for reading, which is how keys are rotated."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

NONCE_BYTES = 12  # the size AES-GCM is specified for (NIST SP 800-38D §8.2)


class KeyringError(LookupError):
    """A record names a key that is not configured, or does not open with it."""


def _ring(keys: dict[str, bytes], key_id: str, variable: str) -> bytes:
    try:
        return keys[key_id]
    except KeyError:
        raise KeyringError(
            f"key {key_id!r} is not configured (set it in {variable} or {variable.removesuffix('_KEY')}_OLD_KEYS)"
        ) from None


def chain_key_id() -> str:
    """The id of the key new allocations are hashed with."""
    return str(settings.ALLOCATION_CHAIN_KEY_ID)


def chain_hmac(key_id: str, message: bytes) -> str:
    """HMAC-SHA-256 of `message` under the chain key `key_id`, as 64 hex digits."""
    key = _ring(settings.ALLOCATION_CHAIN_KEYS, key_id, "ALLOCATION_CHAIN_KEY")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def seed_key_id() -> str:
    """The id of the key new seeds are encrypted with."""
    return str(settings.SEED_ENCRYPTION_KEY_ID)


def _seed_context(scheme_id: int) -> bytes:
    return f"trialsite randomization seed of scheme {scheme_id}".encode()


def seed_encrypt(seed: bytes, *, scheme_id: int) -> tuple[str, str]:
    """(key id, base64 of nonce + ciphertext + tag) of `seed` under the current seed key."""
    key_id = seed_key_id()
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(settings.SEED_ENCRYPTION_KEYS[key_id]).encrypt(nonce, seed, _seed_context(scheme_id))
    return key_id, base64.b64encode(nonce + sealed).decode("ascii")


def seed_decrypt(key_id: str, token: str, *, scheme_id: int) -> bytes:
    """The seed sealed by `seed_encrypt`; KeyringError if the key is missing or the token was altered."""
    key = _ring(settings.SEED_ENCRYPTION_KEYS, key_id, "SEED_ENCRYPTION_KEY")
    try:
        raw = base64.b64decode(token, validate=True)
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _seed_context(scheme_id))
    except (InvalidTag, ValueError) as exc:
        raise KeyringError(f"the seed does not decrypt with key {key_id!r} (wrong key or altered row)") from exc
