"""Tokens as a person can read them on a page or an axis.

Byte-level BPE (GPT-2's, SmolLM2's) splits a multi-byte character such as "—" or "é" over several tokens; each
piece alone decodes to U+FFFD ("�", printed as '??' by some fonts). Such a piece is shown by its bytes instead,
``\\xe2\\x80``, so two different pieces never look the same.
"""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def _byte_of_char() -> dict[str, int]:
    """Inverse of byte-level BPE's byte → printable-character table (GPT-2's ``bytes_to_unicode``): printable
    Latin-1 bytes stand for themselves, the other 68 bytes are moved to U+0100 onwards in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, shifted = {}, 0
    for b in range(256):
        if b in printable:
            table[chr(b)] = b
        else:
            table[chr(256 + shifted)] = b
            shifted += 1
    return table


def readable_token(tokenizer, token_id: int) -> str:
    """The token's text, or for a piece of a multi-byte character its bytes as ``\\xNN`` escapes."""
    text = tokenizer.decode([int(token_id)])
    if "\ufffd" not in text:
        return text
    piece = tokenizer.convert_ids_to_tokens(int(token_id))
    table = _byte_of_char()
    if not isinstance(piece, str) or not all(ch in table for ch in piece):
        return piece if isinstance(piece, str) else text
    return "".join(chr(b) if 32 <= b < 127 else f"\\x{b:02x}" for b in (table[ch] for ch in piece))


def readable_tokens(tokenizer, token_ids) -> list[str]:
    return [readable_token(tokenizer, t) for t in token_ids]
