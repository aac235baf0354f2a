"""Jinja templates in actions (webhook payloads, notification subjects and bodies, deployment
parameters), checked as Prefect's `prefect.server.utilities.user_templates.validate_user_template`
checks them: parsed in an immutable sandbox, with a bound on for loops and their nesting."""

from __future__ import annotations

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from automations.schemas.rules import rule

MAX_LOOP_COUNT = 10
MAX_NESTED_LOOP_DEPTH = 2

_template_environment = ImmutableSandboxedEnvironment(undefined=jinja2.ChainableUndefined)


class TemplateSecurityError(Exception):
    def __init__(self, message: str, line_number: int = 0) -> None:
        self.lineno = line_number
        self.message = message
        super().__init__(message)


def _nested_loop_depth(node: nodes.Node, depth: int = 0) -> int:
    if isinstance(node, nodes.For):
        depth += 1
    children = list(node.iter_child_nodes())
    if not children:
        return depth
    return max(_nested_loop_depth(child, depth) for child in children)


def validate_user_template(template: str) -> None:
    """Parse a template in the sandbox; raise TemplateSyntaxError or TemplateSecurityError."""
    try:
        # Jinja parses and walks templates recursively: thousands of nested blocks or
        # parentheses exhaust Python's stack. Prefect's validator does not guard this.
        _check_loops(_template_environment.parse(template))
    except RecursionError:
        raise TemplateSecurityError("The template is nested too deeply.") from None


def _check_loops(root: nodes.Template) -> None:
    loops = list(root.find_all(nodes.For))
    if not loops:
        return
    if len(loops) > MAX_LOOP_COUNT:
        raise TemplateSecurityError(
            f"Contains {len(loops)} for loops. Templates can contain no more than "
            f"{MAX_LOOP_COUNT} for loops."
        )
    depth = max(_nested_loop_depth(loop) for loop in loops)
    if depth > MAX_NESTED_LOOP_DEPTH:
        raise TemplateSecurityError(
            f"Contains nested for loops at a depth of {depth}. Templates can nest for loops "
            f"no more than {MAX_NESTED_LOOP_DEPTH} loops deep."
        )


def check_template(value: str, field_name: str) -> str:
    """The schema's rule: a field's template must be valid (`invalid_template` otherwise)."""
    try:
        validate_user_template(value)
    except (jinja2.TemplateSyntaxError, TemplateSecurityError) as exc:
        raise rule("invalid_template", field_name=field_name, error=exc.message) from None
    return value


def maybe_template(value: str) -> bool:
    return "{{" in value or "{%" in value
