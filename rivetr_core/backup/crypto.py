"""Streaming authenticated encryption of backup archives (AES-256-GCM in chunks, key from a passphrase by scrypt).

Layout of an encrypted archive (its key ends in ``.enc``)::

    header   = MAGIC (8) | n_log2 (1) | r (1) | p (1) | salt (16) | nonce prefix (8) | key check (32)
    chunks   = AES-256-GCM(plaintext[i:i + CHUNK]) + tag (16), one after another

* The key is ``scrypt(passphrase, salt)`` (64 bytes: 32 for AES, 32 for the key check); the salt is random per
  archive, so two archives never share a key even under one passphrase.
* Chunk ``i``'s nonce is the archive's random 8-byte prefix followed by ``i`` (4 bytes, big-endian), and its
  associated data is the whole header plus one byte that says whether it is the last chunk. Reordering, dropping,
  appending or truncating chunks (even exactly at a chunk boundary) therefore all fail authentication, and so does
  any change to the header (parameters, salt, prefix).
* The key check (HMAC-SHA256 of the header under the second half of the derived key) tells a wrong passphrase
  apart from a damaged archive before a single chunk is decrypted: :class:`WrongPassphrase` vs
  :class:`CorruptedData`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from typing import Any

from rivetr_core.backup.state import _SCRYPT  # the parameters state archives use: one policy for both

MAGIC = b"RVTRENC1"
CHUNK = 1 << 20
TAG = 16
_HEAD = struct.Struct(">8sBBB16s8s")
HEADER_SIZE = _HEAD.size + 32
MAX_CHUNKS = 1 << 32  # the counter is 4 bytes: 4 PiB per archive


class CryptoError(Exception):
    """Base of the two ways decryption fails."""


class WrongPassphrase(CryptoError):
    """The header is intact but the passphrase does not derive its key."""


class CorruptedData(CryptoError):
    """The encrypted stream was altered, truncated or is not one of ours."""


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> tuple[bytes, bytes]:
    derived = hashlib.scrypt(passphrase.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 << 20, dklen=64)
    return derived[:32], derived[32:]


def _nonce(prefix: bytes, counter: int) -> bytes:
    if counter >= MAX_CHUNKS:
        raise CorruptedData("the archive has more chunks than its nonce counter allows")
    return prefix + counter.to_bytes(4, "big")


class Encryptor:
    """Feed plaintext with :meth:`update`, end with :meth:`finish`; both return ciphertext to store in order."""

    def __init__(self, passphrase: str) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        n, r, p = _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"]
        salt, self._prefix = os.urandom(16), os.urandom(8)
        key, check_key = _derive(passphrase, salt, n, r, p)
        head = _HEAD.pack(MAGIC, n.bit_length() - 1, r, p, salt, self._prefix)
        self._header = head + hmac.new(check_key, head, hashlib.sha256).digest()
        self._aead = AESGCM(key)
        self._buf = bytearray()
        self._counter = 0
        self._started = False

    def _seal(self, data: bytes | bytearray, final: bool) -> bytes:
        aad = self._header + (b"\x01" if final else b"\x00")
        sealed = self._aead.encrypt(_nonce(self._prefix, self._counter), bytes(data), aad)
        self._counter += 1
        return sealed

    def update(self, data: bytes) -> bytes:
        self._buf += data
        out = bytearray()
        if not self._started:
            out += self._header
            self._started = True
        # A chunk goes out only once more data follows it: the last one must be sealed as final.
        while len(self._buf) > CHUNK:
            out += self._seal(self._buf[:CHUNK], final=False)
            del self._buf[:CHUNK]
        return bytes(out)

    def finish(self) -> bytes:
        head = b"" if self._started else self._header
        self._started = True
        out = head + self._seal(self._buf, final=True)
        self._buf.clear()
        return out


class Decryptor:
    """The inverse of :class:`Encryptor`. Raises :class:`WrongPassphrase` or :class:`CorruptedData`."""

    def __init__(self, passphrase: str) -> None:
        self._passphrase = passphrase
        self._buf = bytearray()
        self._aead: Any = None
        self._header = b""
        self._prefix = b""
        self._counter = 0

    def _read_header(self) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        head, check = bytes(self._buf[: _HEAD.size]), bytes(self._buf[_HEAD.size : HEADER_SIZE])
        magic, n_log2, r, p, salt, prefix = _HEAD.unpack(head)
        if magic != MAGIC:
            raise CorruptedData("not an encrypted Rivetr archive (unknown header)")
        if not (10 <= n_log2 <= 22 and 1 <= r <= 32 and 1 <= p <= 16):
            raise CorruptedData("the archive's key-derivation parameters are out of range")
        try:
            key, check_key = _derive(self._passphrase, salt, 1 << n_log2, r, p)
        except ValueError:  # parameters asking for more memory than we allow: not an archive we wrote
            raise CorruptedData("the archive's key-derivation parameters are out of range") from None
        if not hmac.compare_digest(hmac.new(check_key, head, hashlib.sha256).digest(), check):
            raise WrongPassphrase("the passphrase does not open this archive")
        self._aead = AESGCM(key)
        self._header, self._prefix = head + check, prefix
        del self._buf[:HEADER_SIZE]

    def _open(self, sealed: bytes | bytearray, final: bool) -> bytes:
        from cryptography.exceptions import InvalidTag

        assert self._aead is not None
        aad = self._header + (b"\x01" if final else b"\x00")
        try:
            plain = self._aead.decrypt(_nonce(self._prefix, self._counter), bytes(sealed), aad)
        except InvalidTag:
            raise CorruptedData(
                f"chunk {self._counter} fails authentication: the archive was altered or truncated"
            ) from None
        self._counter += 1
        return plain

    def update(self, data: bytes) -> bytes:
        self._buf += data
        if self._aead is None:
            if len(self._buf) < HEADER_SIZE:
                return b""
            self._read_header()
        out = bytearray()
        while len(self._buf) > CHUNK + TAG:
            out += self._open(self._buf[: CHUNK + TAG], final=False)
            del self._buf[: CHUNK + TAG]
        return bytes(out)

    def finish(self) -> bytes:
        if self._aead is None:
            raise CorruptedData("the archive ends before its encryption header does")
        if len(self._buf) < TAG:
            raise CorruptedData("the archive is truncated (its last chunk is missing)")
        out = self._open(self._buf, final=True)
        self._buf.clear()
        return out
