"""Template helpers for the feed and event pages. Every value from an event is escaped here
(format_html / escape) before it is marked safe."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from eventsui.events.web.feed_query import encode

register = template.Library()


@register.filter
def exact(value) -> str:
    """A datetime as every page writes it for people (`2026-12-01 10:55:00.250 UTC`)."""
    from eventsui.lib.times import exact_time

    return exact_time(value) if value else ""


@register.filter
def resource_url(resource_id: str) -> str:
    """The resource page of a resource id."""
    from eventsui.events.web.resource import resource_url as url

    return url(resource_id)


OPEN_DEPTH = 2  # nested objects deeper than this start collapsed
LONG_STRING = 300


@register.simple_tag
def query_add(querystring: str, name: str, value: str) -> str:
    """The feed's query string with one more parameter (for "filter by this" links)."""
    extra = encode([(name, value)])
    return f"?{querystring}&{extra}" if querystring else f"?{extra}"


def _scalar(value: Any) -> SafeString:
    if value is None:
        return mark_safe('<span class="j-null">null</span>')
    if isinstance(value, bool):
        return format_html('<span class="j-bool">{}</span>', "true" if value else "false")
    if isinstance(value, int | float):
        return format_html('<span class="j-num">{}</span>', value)
    text = str(value)
    if len(text) > LONG_STRING or "\n" in text:
        return format_html('<span class="j-str j-long">"{}"</span>', text)
    return format_html('<span class="j-str">"{}"</span>', text)


def _tree(value: Any, depth: int) -> SafeString:
    if isinstance(value, dict | list):
        if not value:
            return mark_safe(
                '<span class="j-empty">{}</span>'
                if isinstance(value, dict)
                else '<span class="j-empty">[]</span>'
            )
        items = value.items() if isinstance(value, dict) else enumerate(value)
        parts = []
        for key, child in items:
            key_html = (
                format_html('<span class="j-key">"{}"</span>: ', key)
                if isinstance(value, dict)
                else format_html('<span class="j-idx">{}</span>: ', key)
            )
            parts.append(format_html("<li>{}{}</li>", key_html, _tree(child, depth + 1)))
        summary = (
            f"{{ {len(value)} key{'s' if len(value) != 1 else ''} }}"
            if isinstance(value, dict)
            else f"[ {len(value)} item{'s' if len(value) != 1 else ''} ]"
        )
        return format_html(
            '<details class="j-node"{}><summary>{}</summary><ul>{}</ul></details>',
            mark_safe(" open") if depth < OPEN_DEPTH else "",
            summary,
            mark_safe("".join(parts)),
        )
    return _scalar(value)


@register.simple_tag
def json_tree(value: Any) -> SafeString:
    """Collapsible, escaped HTML for a JSON value (nested <details>)."""
    return format_html('<div class="json-tree">{}</div>', _tree(value, 0))


@register.filter
def tone_class(badge: dict | None) -> str:
    return escape(badge.get("tone", "neutral")) if badge else ""
