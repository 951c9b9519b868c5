"""Compressed request bodies (``Content-Encoding: gzip`` or ``deflate``), on every predict and infer path.

tritonclient compresses infer bodies when asked (``request_compression_algorithm="gzip"`` or
``"deflate"``), and so do many Java and Go HTTP stacks. The body limit (``--max-body-mb``) holds for
the compressed body (Flask's ``MAX_CONTENT_LENGTH``) and again for what it inflates to: zlib inflates
with an output bound, so a small body that would inflate to gigabytes (a zip bomb) costs at most the
limit's worth of memory before its 413. ``deflate`` is the zlib format (RFC 9110); a raw deflate
stream, which some clients send under that name, is accepted too. Any other coding is a 415 naming
it. Answers are never compressed (see ``docs/api.md``).
"""

from __future__ import annotations

import zlib

from scoring_service.errors import ApiError

CODINGS = ("gzip", "deflate")
_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}


def codings(header: str | None) -> list[str]:
    """The codings of a ``Content-Encoding`` header, in the order they were applied (``identity`` dropped)."""
    if not header:
        return []
    return [c for c in (part.strip().lower() for part in header.split(",")) if c and c != "identity"]


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """``body`` with its ``Content-Encoding`` undone, at most ``limit`` bytes out (413 beyond; 415 for a
    coding other than gzip or deflate; 400 for a stream that is corrupt or cut short)."""
    applied = codings(content_encoding)
    for coding in applied:
        if coding not in _WBITS:
            raise ApiError(415, "unsupported_media_type", f"Content-Encoding {coding!r} is not accepted; send "
                           "gzip, deflate or none", field="Content-Encoding")
    for coding in reversed(applied):  # the last applied is undone first
        body = _inflate(body, coding, limit)
    return body


def _inflate(body: bytes, coding: str, limit: int) -> bytes:
    wbits = _WBITS[coding]
    out: list[bytes] = []
    size, data = 0, body
    try:
        while True:  # gzip allows several members one after the other (RFC 1952)
            try:
                inflater = zlib.decompressobj(wbits=wbits)
                chunk = inflater.decompress(data, limit + 1 - size)
            except zlib.error:
                if wbits != 15 or out:
                    raise
                wbits = -15  # "deflate" sent as a raw deflate stream, without the zlib header
                inflater = zlib.decompressobj(wbits=wbits)
                chunk = inflater.decompress(data, limit + 1 - size)
            out.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "body_too_large", f"request body too large: over {limit} bytes once "
                               "decompressed (--max-body-mb)")
            if not inflater.eof:
                raise ApiError(400, "invalid_request", f"the {coding} body ends before its compressed stream does "
                               "(cut short?)", field="Content-Encoding")
            data = inflater.unused_data
            if not data or wbits != 31:
                break
    except zlib.error as exc:
        raise ApiError(400, "invalid_request", f"the {coding} body cannot be decompressed: {exc}",
                       field="Content-Encoding") from None
    if data:
        raise ApiError(400, "invalid_request", f"the {coding} body has {len(data)} byte(s) after its compressed "
                       "stream", field="Content-Encoding")
    return b"".join(out)
