"""HPACK coders that remember header blocks made only of indexed fields (for :mod:`.h2conn`).

A client repeating a request (polling, load generators, the same asset) and an app repeating a response head
(same type, length and date within a second) send the same header list over and over. Once HPACK has the
fields in its dynamic table the block is all one-byte indexed fields (``0x80 | index``), and coding such a block
neither reads a literal nor changes the table: the same bytes mean the same list for as long as nothing else
changes the table. The ``hpack`` library codes every field in Python each time (a linear table search per
field when encoding); these subclasses keep a few such blocks and their lists, and forget them all as soon as a
block that may change the table is coded (a literal, a table size update) or the peer resizes the table.
At most ``_MEMO_MAX`` blocks of at most ``_BLOCK_MAX`` fields are kept per connection and direction. The
decoder also remembers blocks with literals that are not added to the table (see :class:`MemoDecoder`).

Only ever a cache: a block that is not remembered goes through the library unchanged, with its limits
(``max_header_list_size``, table size) and errors.
"""

from __future__ import annotations

from typing import Any

from hpack import Decoder, Encoder

_MEMO_MAX = 32  # blocks remembered per connection and direction
# Fields in a remembered block. Requests and response heads have a dozen or two; the bound keeps what a client
# can make a connection hold small (a block of N bytes may decode to N table entries).
_BLOCK_MAX = 64
# Bytes of a remembered request block (its literals are new bytes objects, unlike indexed fields' values).
_LITERALS_MAX = 1024


def indexed_only(block: bytes) -> bool:
    """True when every byte is a one-byte indexed field (index 1 to 126): a block that can't change the table.
    Literals, table size updates and multi-byte indexes all have a byte outside 0x81-0xFE."""
    return 0 < len(block) <= _BLOCK_MAX and min(block) > 0x80 and max(block) < 0xFF


class MemoEncoder(Encoder):
    """An hpack Encoder returning the remembered block for a header list it coded to indexed fields only."""

    def __init__(self) -> None:
        super().__init__()
        self.memo: dict[tuple[Any, ...], bytes] = {}

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        key = tuple(headers)  # h2 passes a list of (name, value) byte pairs
        memo = self.memo
        block = memo.get(key)
        if block is not None and not self.header_table.resized:  # resized: the peer shrank the table
            return block
        block = super().encode(key, huffman)
        if indexed_only(block):
            if len(memo) >= _MEMO_MAX:
                memo.clear()
            memo[key] = block
        elif memo:
            memo.clear()  # the table may have changed: remembered indexes may name other fields now
        return block


class MemoDecoder(Decoder):
    """An hpack Decoder returning the remembered list for a block it decoded before without changing the table.

    Indexed fields and literals *without* indexing (never-indexed ones included: clients send short cookies and
    authorization values so) leave the dynamic table as it was; a block made only of those means the same list
    for as long as the table stays as it is. The decoder tells by looking at the table around the decode (its
    size limit, its entry count and its newest entry: every addition puts a new tuple first), so it needs no
    parse of its own; any block that changed the table forgets every remembered one.

    h2 always calls ``decode(block, raw=True)`` here (``header_encoding=None``), so ``raw`` is not in the key."""

    def __init__(self) -> None:
        super().__init__()
        self.memo: dict[bytes, list[Any]] = {}

    def decode(self, data: bytes, raw: bool = False) -> list[Any]:  # type: ignore[override]
        memo = self.memo
        headers = memo.get(data)
        if headers is not None:
            return list(headers)  # the caller may keep or change its list
        table = self.header_table
        entries = table.dynamic_entries
        count, newest, limit = len(entries), entries[0] if entries else None, table.maxsize
        headers = list(super().decode(data, raw))
        entries = table.dynamic_entries
        if len(entries) == count and (entries[0] if entries else None) is newest and table.maxsize == limit:
            if len(data) <= _LITERALS_MAX and len(headers) <= _BLOCK_MAX:
                if len(memo) >= _MEMO_MAX:
                    memo.clear()
                memo[data] = headers
                return list(headers)
            return headers
        if memo:
            memo.clear()
        return headers
