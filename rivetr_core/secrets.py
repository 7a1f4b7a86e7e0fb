"""Encryption of secrets at rest (env values, tokens, keys, OAuth tokens, notifier URLs).

AES-256-GCM with a random 96-bit nonce per value. The key comes from ``[auth] encryption_key`` or is generated
once into ``<data_dir>/secret.key`` with mode 0600. Stored form: ``v1:<base64(nonce || ciphertext+tag)>`` so
the scheme can change later without guessing.
"""

from __future__ import annotations

import base64
import os
import secrets as _stdlib_secrets
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_FILE = "secret.key"
_PREFIX = "v1:"


class SecretError(Exception):
    """A value cannot be decrypted (wrong key or corrupt data) or the key is malformed."""


def write_private_file(path: Path, content: str) -> None:
    """Create ``path`` with mode 0600 from the first byte on (never briefly world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) with mode 0700, or tighten an existing one of ours to 0700: the data dir holds
    the database, the key and the admin token, and no other local user has business listing it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    st = path.stat()
    if st.st_mode & 0o077 and st.st_uid == os.geteuid():
        os.chmod(path, st.st_mode & 0o700)


def make_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if missing, or tighten an existing one of ours to 0600 (for files
    another library creates, like SQLite's database, which would otherwise follow the umask)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        st = path.stat()
        if st.st_mode & 0o077 and st.st_uid == os.geteuid():
            os.chmod(path, st.st_mode & 0o600)


def load_or_create_private_value(path: Path, generate: str) -> tuple[str, bool]:
    """Read a one-line secret file, or create it with ``generate``. Returns (value, created)."""
    try:
        return path.read_text().strip(), False
    except FileNotFoundError:
        ensure_private_dir(path.parent)
        try:
            write_private_file(path, generate + "\n")
        except FileExistsError:  # another process won the race: use its value
            return path.read_text().strip(), False
        return generate, True


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise SecretError("encryption key must be 32 bytes (base64 of 32 random bytes)")
        self._key = key
        self._cipher: AESGCM | None = None

    @property
    def _aead(self) -> AESGCM:
        # cryptography is imported on first use: its Rust extension alone is ~7 MB of RSS, and an idle control
        # plane with nothing to decrypt should not pay for it (it must stay within its idle-memory budget).
        if self._cipher is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self._cipher = AESGCM(self._key)
        return self._cipher

    @classmethod
    def from_config(cls, configured_key: str | None, data_dir: Path) -> SecretBox:
        if configured_key:
            encoded = configured_key
        else:
            generated = base64.b64encode(_stdlib_secrets.token_bytes(32)).decode()
            encoded, _ = load_or_create_private_value(data_dir / KEY_FILE, generated)
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise SecretError("encryption key is not valid base64") from None
        return cls(key)

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), None)
        return _PREFIX + base64.b64encode(nonce + sealed).decode()

    def decrypt(self, stored: str) -> str:
        if not stored.startswith(_PREFIX):
            raise SecretError("unknown secret format")
        from cryptography.exceptions import InvalidTag

        try:
            raw = base64.b64decode(stored[len(_PREFIX) :], validate=True)
            return self._aead.decrypt(raw[:12], raw[12:], None).decode()
        except (InvalidTag, ValueError):
            raise SecretError(
                "cannot decrypt a stored secret: wrong encryption key or corrupt data"
            ) from None


#: What responses and logs show instead of a secret.
MASK = "••••••••"


def mask(value: str | None) -> str | None:
    """What responses show instead of a secret."""
    if value is None:
        return None
    return MASK
