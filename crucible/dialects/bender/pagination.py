"""Limit/offset pages with absolute next/previous URLs (spec §2.3): bender-client follows `next` as is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

DEFAULT_LIMIT = 100
MAX_OFFSET = 2**53


@dataclass(frozen=True)
class PageRequest:
    limit: int
    offset: int


def _positive_int(text: str | None) -> int | None:
    try:
        value = int(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and value > 0 else None


def page_request(query: Mapping[str, str], max_limit: int) -> PageRequest:
    limit = _positive_int(query.get("limit")) or DEFAULT_LIMIT
    offset = _positive_int(query.get("offset")) or 0
    # no list is longer than MAX_OFFSET; a larger OFFSET would overflow the database's integer
    return PageRequest(limit=min(limit, max_limit), offset=min(offset, MAX_OFFSET))


@dataclass(frozen=True)
class PageLinks:
    """Everything needed to build absolute URLs for this request."""

    base_url: str  # scheme://host/path
    query: list[tuple[str, str]]  # the request's own query, in order


def _url(links: PageLinks, updates: dict[str, int], drop: tuple[str, ...] = ()) -> str:
    query = [(k, v) for k, v in links.query if k not in updates and k not in drop]
    query += [(k, str(v)) for k, v in updates.items()]
    return links.base_url + "?" + urlencode(query)


def page_body(results: list[Any], count: int, page: PageRequest, links: PageLinks) -> dict[str, Any]:
    next_url = None
    if page.offset + page.limit < count:
        next_url = _url(links, {"limit": page.limit, "offset": page.offset + page.limit})
    previous_url = None
    if page.offset > 0:
        if page.offset - page.limit <= 0:
            previous_url = _url(links, {"limit": page.limit}, drop=("offset",))
        else:
            previous_url = _url(links, {"limit": page.limit, "offset": page.offset - page.limit})
    return {"count": count, "next": next_url, "previous": previous_url, "results": results}
