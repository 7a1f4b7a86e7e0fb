"""The HPACK memo of the h2 connections (hpack_memo.py) codes exactly what the hpack library codes.

Differential: the same random sequence of header lists goes through a plain hpack Encoder/Decoder pair and the
memo pair in lockstep (with repeats, new literals that shift the dynamic table's indexes, sensitive-free lists,
table resizes by the peer); every block and every decoded list must be identical."""

from __future__ import annotations

import random

from hpack import Decoder, Encoder, NeverIndexedHeaderTuple
from rivetr_proxy_builtin.hpack_memo import MemoDecoder, MemoEncoder, indexed_only

STATIC = [(b":status", b"200"), (b"content-type", b"text/html"), (b"server", b"nginx")]


def header_lists(seed: int, n: int) -> list[list[tuple[bytes, bytes]]]:
    rnd = random.Random(seed)
    lists: list[list[tuple[bytes, bytes]]] = []
    for _ in range(n):
        if lists and rnd.random() < 0.6:
            lists.append(list(rnd.choice(lists[-5:])))  # a repeat: the memo's case
            continue
        extra = [(b"x-%d" % rnd.randrange(40), b"v%d" % rnd.randrange(3)) for _ in range(rnd.randrange(4))]
        # Never-indexed literals (short cookies, authorization): coded as literals every time, never added.
        secret = [
            NeverIndexedHeaderTuple(b"cookie", b"s=%d" % rnd.randrange(3)) for _ in range(rnd.randrange(2))
        ]
        lists.append([*STATIC, (b"date", b"d%d" % rnd.randrange(5)), *extra, *secret])
    return lists


def test_memo_coders_code_what_hpack_codes():
    plain_enc, memo_enc = Encoder(), MemoEncoder()
    plain_dec, memo_dec = Decoder(), MemoDecoder()
    hits = dec_hits = neutral_hits = 0
    for i, headers in enumerate(header_lists(7, 3000)):
        if i % 700 == 699:  # the peer resizes the table (SETTINGS_HEADER_TABLE_SIZE): indexes change
            size = 256 if i % 1400 == 699 else 4096
            plain_enc.header_table_size = memo_enc.header_table_size = size
        hits += tuple(headers) in memo_enc.memo and not memo_enc.header_table.resized
        block = plain_enc.encode(headers)
        dec_hits += block in memo_dec.memo
        neutral_hits += block in memo_dec.memo and not indexed_only(block)
        assert memo_enc.encode(list(headers)) == block, i
        expected = plain_dec.decode(block, raw=True)
        assert memo_dec.decode(block, raw=True) == expected, i
        assert expected == headers
    assert hits > 100  # the sequence did exercise the memo
    assert dec_hits > 300 and neutral_hits > 200  # and the decoder's, blocks with never-indexed literals too


def test_a_remembered_block_is_forgotten_when_the_table_changes():
    """The same indexed-only bytes name other fields once a literal has shifted the table."""
    enc, dec = Encoder(), MemoDecoder()
    a = [(b"x-a", b"1")]
    dec.decode(enc.encode(a), raw=True)
    block = enc.encode(a)  # now one indexed field: 0x80 | 62
    assert indexed_only(block)
    assert dec.decode(block, raw=True) == a
    dec.decode(enc.encode([(b"x-b", b"2")]), raw=True)  # a literal: x-b is index 62 now, x-a 63
    assert dec.decode(block, raw=True) == [(b"x-b", b"2")]


def test_indexed_only():
    assert indexed_only(b"\x82\x84\xbe")
    assert not indexed_only(b"")
    assert not indexed_only(b"\x80")  # index 0 is an error: left to the library
    assert not indexed_only(b"\x82\x40")  # a literal
    assert not indexed_only(b"\xff\x01")  # an index of 127 or more
    assert not indexed_only(b"\x3f\xe1\x1f")  # a table size update
    assert indexed_only(b"\x82" * 64)
    assert not indexed_only(b"\x82" * 65)  # too many fields to keep


def test_the_decoder_remembers_blocks_that_leave_the_table_as_it_was():
    """A block with a never-indexed literal is remembered; an addition that evicts an entry (same entry count,
    other fields at the same indexes) forgets it."""
    enc, dec, plain = Encoder(), MemoDecoder(), Decoder()
    for d in (enc, dec, plain):
        d.header_table_size = 90  # room for two small entries: the third evicts the first
    first = [(b"x-a", b"1"), (b"x-b", b"2")]
    dec.decode(enc.encode(first), raw=True)  # size update + two additions
    asked = [(b"x-b", b"2"), NeverIndexedHeaderTuple(b"cookie", b"s=1")]
    block = enc.encode(asked)  # x-b indexed (62 now... or 63), the cookie a never-indexed literal
    assert not indexed_only(block)
    assert dec.decode(block, raw=True) == asked
    assert block in dec.memo
    assert dec.decode(block, raw=True) == asked  # from the memo
    dec.decode(enc.encode([(b"x-c", b"3")]), raw=True)  # evicts x-a: still two entries, shifted
    assert len(dec.header_table.dynamic_entries) == 2
    assert block not in dec.memo
    plain.decode(enc.encode(first), raw=True)  # (a plain decoder at the same table state, for comparison)


def test_a_block_that_shrinks_and_restores_the_table_forgets_the_memo():
    """Two table size updates in one block (shrink, restore) evict the oldest entry: the newest entry and the
    limit are as before, only the count tells, and remembered blocks naming the evicted entry are forgotten."""
    enc, dec = Encoder(), MemoDecoder()
    for d in (enc, dec):
        d.header_table_size = 90
    dec.decode(enc.encode([(b"x-a", b"1"), (b"x-b", b"2")]), raw=True)  # x-b is 62, x-a 63 (36 bytes each)
    old = b"\xbf\x82"  # x-a (63), :method GET
    assert dec.decode(old, raw=True) == [(b"x-a", b"1"), (b":method", b"GET")]
    assert old in dec.memo
    # size 40 (evicts x-a, keeps x-b), size 90 again, :method GET
    assert dec.decode(b"\x3f\x09\x3f\x3b\x82", raw=True) == [(b":method", b"GET")]
    assert [e[0] for e in dec.header_table.dynamic_entries] == [b"x-b"]
    assert old not in dec.memo
