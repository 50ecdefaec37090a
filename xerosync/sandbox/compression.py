"""Response compression: gzip when the client accepts it and the body is large enough.

Xero's gateway answers with `Vary: Accept-Encoding` (captured identity.xero.com responses in
XeroAPI/xero-python's test cassettes), i.e. it negotiates the encoding; python-requests asks
for `gzip, deflate` on every call, urllib3 (under xero-python) asks for nothing and gets plain
bodies. Whether api.xero.com compresses, and from what size, is unconfirmed: the sandbox
compresses bodies of `gzip_min_bytes` (config, default 1,024; 0 = never) or more, so the
request log's `bytes` shows what a client that asks for gzip really downloads (Xero bills
egress per GB beyond each tier's allowance, XERO_FACTS §2).
"""

from __future__ import annotations

import gzip

from werkzeug.wrappers import Request, Response

_LEVEL = 6


def accepts_gzip(header: str) -> bool:
    """Whether an `Accept-Encoding` value allows gzip (`gzip`, `x-gzip` or `*`, q > 0)."""
    allowed: dict[str, float] = {}
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if name:
            allowed[name.strip().lower()] = quality
    for name in ("gzip", "x-gzip"):
        if name in allowed:
            return allowed[name] > 0
    return allowed.get("*", 0.0) > 0


def compress(request: Request, response: Response, min_bytes: int) -> None:
    """Gzip `response` in place when `request` accepts it and the body has `min_bytes`."""
    response.vary.add("Accept-Encoding")
    if (
        min_bytes <= 0
        or response.direct_passthrough
        or "Content-Encoding" in response.headers
        or response.status_code in (204, 304)
        or not accepts_gzip(request.headers.get("Accept-Encoding", ""))
    ):
        return
    body = response.get_data()
    if len(body) < min_bytes:
        return
    response.set_data(gzip.compress(body, compresslevel=_LEVEL, mtime=0))
    response.headers["Content-Encoding"] = "gzip"


def wire_bytes(response: Response) -> int | None:
    """The body's size as sent (compressed if it was), for the request log."""
    if response.direct_passthrough:
        return None
    return len(response.get_data())
