"""Production mode (DEBUG=false) needs the allocation chain key and the seed encryption key
(README "Keys, backup and restore"): each benchmark run makes fresh ones, shared with the
processes it starts through the environment."""

from __future__ import annotations

import base64
import secrets


def production_keys() -> dict[str, str]:
    return {
        name: "bench:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        for name in ("ALLOCATION_CHAIN_KEY", "SEED_ENCRYPTION_KEY")
    }
