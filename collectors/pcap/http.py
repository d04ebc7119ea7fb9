"""HTTP/1.x and RTSP request heads and response status lines.

References: RFC 9112 sections 3 (request line), 4 (status line) and 5 (header fields);
RFC 9110 section 9 (methods); RFC 2326 / RFC 7826 (RTSP, which reuses the HTTP/1.1 syntax).
Only the head is read; bodies are never parsed.
"""

from __future__ import annotations

from typing import Any

HTTP_METHODS = (
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"SEARCH",
    b"REPORT",
    b"SUBSCRIBE",
    b"NOTIFY",
    b"M-SEARCH",
)
RTSP_METHODS = (
    b"DESCRIBE",
    b"ANNOUNCE",
    b"SETUP",
    b"PLAY",
    b"PAUSE",
    b"TEARDOWN",
    b"GET_PARAMETER",
    b"SET_PARAMETER",
    b"REDIRECT",
    b"RECORD",
    b"OPTIONS",
)
#: First bytes of a request: the method and the space after it.
REQUEST_STARTS = tuple(method + b" " for method in {*HTTP_METHODS, *RTSP_METHODS})
RESPONSE_STARTS = (b"HTTP/1.", b"RTSP/1.")
#: Heads longer than this are not collected (and a request without its end is given up).
MAX_HEAD = 16_384


def head_complete(data: bytes) -> bool:
    """Whether the bytes hold the whole head (up to the empty line)."""
    return b"\r\n\r\n" in data or b"\n\n" in data


def parse_request(data: bytes) -> dict[str, Any] | None:
    """ECS fields of a request head, or None when the bytes do not start one."""
    line_end = data.find(b"\n")
    line = (data if line_end < 0 else data[:line_end]).rstrip(b"\r")
    parts = line.split(b" ")
    if len(parts) == 2:  # HTTP/0.9 simple request, or a version-less line scanners send
        parts.append(b"HTTP/0.9")
    if len(parts) != 3 or not parts[2].startswith((b"HTTP/", b"RTSP/")):
        return None
    method, target, version = parts
    rtsp = version.startswith(b"RTSP/")
    fields: dict[str, Any] = {
        "http.request.method": method.decode("ascii", "replace"),
        "url.original": target.decode("utf-8", "backslashreplace"),
        "network.protocol": "rtsp" if rtsp else "http",
        "http.version": version[5:].decode("ascii", "replace"),
    }
    headers = _headers(data, line_end)
    host = headers.get("host")
    if host:
        fields["url.domain"] = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if "user-agent" in headers:
        fields["user_agent.original"] = headers["user-agent"]
    if "referer" in headers:
        fields["http.request.referrer"] = headers["referer"]
    length = headers.get("content-length", "")
    if len(length) <= 18 and length.isascii() and length.isdigit():  # not "²", not 5,000 digits
        fields["http.request.body.bytes"] = int(length)
    original = fields["url.original"]
    if "://" in original:
        scheme, _, rest = original.partition("://")
        authority, slash, path = rest.partition("/")
        fields["url.scheme"] = scheme
        fields.setdefault("url.domain", authority.rsplit("@", 1)[-1].split(":")[0])
        path = slash + path
    else:
        path = original
    path, mark, query = path.partition("?")
    fields["url.path"] = path
    if mark:
        fields["url.query"] = query
    return fields


def parse_status(data: bytes) -> int | None:
    """The status code of a response head, or None."""
    line_end = data.find(b"\n")
    line = data if line_end < 0 else data[:line_end]
    parts = line.split(b" ", 2)
    if len(parts) >= 2 and len(parts[1]) == 3 and parts[1].isdigit():
        return int(parts[1])
    return None


def _headers(data: bytes, line_end: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    if line_end < 0:
        return headers
    end = data.find(b"\r\n\r\n")
    block = data[line_end + 1 : end if end >= 0 else len(data)]
    for raw in block.split(b"\n"):
        name, colon, value = raw.partition(b":")
        if not colon:
            continue
        key = name.strip().lower().decode("ascii", "replace")
        if key in ("host", "user-agent", "referer", "content-length"):
            headers[key] = value.strip().decode("utf-8", "backslashreplace")
    return headers
