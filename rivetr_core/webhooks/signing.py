"""Old import path of :mod:`rivetr_core.contract.signing` (the webhook signature helpers), kept working."""

from rivetr_core.contract.signing import (
    header,
    hmac_sha256_hex,
    json_object,
    verify_hmac_sha256,
    verify_token,
)

__all__ = ["header", "hmac_sha256_hex", "json_object", "verify_hmac_sha256", "verify_token"]
