"""DRF's JSON parser, with deep nesting refused as a parse error instead of a 500.

Python's json module parses recursively: a body nested a few thousand levels raises
RecursionError inside DRF's JSONParser, which DRF does not catch. No body of Prefect's API
nests anywhere near that deep (pydantic refuses data deeper than its own recursion limit).
"""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply") from None
