"""JMESPath filters and input templates of event subscriptions.

* ``filter``: a JMESPath expression evaluated against the event payload; the subscription matches when
  the result is truthy (JMESPath truthiness: not null, false, "", [] or {}). Empty: every event matches.
* ``inputTemplate`` maps the payload to the run input:
  - absent/null: the payload itself is the input;
  - a string: a JMESPath expression whose result (an object) is the input, e.g. a multiselect hash
    ``"{sha: sha256, name: name}"``;
  - an object: copied, with every string value that starts with ``$.`` replaced by the JMESPath lookup of
    the rest (``"$.evidence_id"``), ``"$"`` by the whole payload, and ``"$$…"`` standing for a literal
    string starting with ``$``; nested objects and lists are processed the same way.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import jmespath
from jmespath import exceptions as jmespath_errors
from jmespath import functions as jmespath_functions

from argus_plugins.core.errors import DomainError

from .error_codes import TriggersErrorCode

MAX_EXPRESSION_CHARS = 2000
MAX_TEMPLATE_BYTES = 16 * 1024
_KNOWN_FUNCTIONS = frozenset(jmespath_functions.Functions.FUNCTION_TABLE)


class TemplateError(ValueError):
    """The template could not produce an input object from this payload."""


@functools.lru_cache(maxsize=512)
def _compiled(expression: str) -> Any:
    return jmespath.compile(expression)


def _functions_in(node: Any) -> list[str]:
    if isinstance(node, dict):
        names = [node["value"]] if node.get("type") == "function_expression" else []
        for child in node.get("children", ()):
            names.extend(_functions_in(child))
        return names
    return []


def check_expression(expression: Any, *, field: str, code: TriggersErrorCode) -> str:
    """Compile ``expression`` (so a typo is a typed error now, not a failed delivery later)."""
    if not isinstance(expression, str):
        raise DomainError(code, "A JMESPath expression is a string.", field)
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise DomainError(code, f"At most {MAX_EXPRESSION_CHARS} characters.", field)
    try:
        parsed = _compiled(expression)
    except jmespath_errors.JMESPathError as error:
        message = " ".join(str(error).split())
        raise DomainError(code, f"Invalid JMESPath expression: {message[:300]}", field) from None
    unknown = sorted(set(_functions_in(parsed.parsed)) - _KNOWN_FUNCTIONS)
    if unknown:
        raise DomainError(code, f"Unknown JMESPath function(s): {', '.join(unknown)}.", field)
    try:
        parsed.search({})
    except jmespath_errors.ArityError as error:
        raise DomainError(code, f"Invalid JMESPath expression: {error}", field) from None
    except jmespath_errors.JMESPathError:
        pass  # type errors depend on the payload
    return expression


def search(expression: str, data: Any) -> Any:
    return _compiled(expression).search(data)


def matches(expression: str, payload: Any) -> bool:
    if not expression:
        return True
    result = search(expression, payload)
    return result not in (None, False, "", [], {})


def match_or_failure(expression: str, payload: Any) -> tuple[bool, str | None]:
    """Whether the filter matches the payload, and why it could not be evaluated on it: a filter that
    fails on a payload counts as a match, so that its delivery records the failure."""
    try:
        return matches(expression, payload), None
    except jmespath_errors.JMESPathError as error:
        return True, f"The filter failed on this payload: {error}"


def clean_template(template: Any, *, field: str = "inputTemplate") -> Any:
    code = TriggersErrorCode.INVALID_INPUT_TEMPLATE
    if template is None:
        return None
    if len(json.dumps(template)) > MAX_TEMPLATE_BYTES:
        raise DomainError(code, f"The template is larger than {MAX_TEMPLATE_BYTES} bytes.", field)
    if isinstance(template, str):
        return check_expression(template, field=field, code=code)
    if not isinstance(template, dict):
        raise DomainError(code, "The template is a JMESPath string or a JSON object.", field)

    def walk(value: Any, path: str) -> None:
        if isinstance(value, str) and value.startswith("$.") and not value.startswith("$$"):
            check_expression(value[2:], field=path, code=code)
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}.{index}")

    walk(template, field)
    return template


def render_template(template: Any, payload: Any) -> dict[str, Any]:
    """The run input for ``payload``; raises TemplateError when it is not a JSON object."""

    def render(value: Any) -> Any:
        if isinstance(value, str):
            if value == "$":
                return payload
            if value.startswith("$$"):
                return value[1:]
            if value.startswith("$."):
                return search(value[2:], payload)
            return value
        if isinstance(value, dict):
            return {key: render(item) for key, item in value.items()}
        if isinstance(value, list):
            return [render(item) for item in value]
        return value

    try:
        if template is None:
            result = payload
        elif isinstance(template, str):
            result = search(template, payload)
        else:
            result = render(template)
    except jmespath_errors.JMESPathError as error:
        raise TemplateError(f"The input template failed: {error}") from None
    if not isinstance(result, dict):
        raise TemplateError(f"The input template produced {type(result).__name__}, not a JSON object.")
    return result


def evidence_ids(expression: str, payload: Any) -> list[Any]:
    if not expression:
        return []
    try:
        result = search(expression, payload)
    except jmespath_errors.JMESPathError as error:
        raise TemplateError(f"The evidence expression failed: {error}") from None
    if result is None:
        return []
    return result if isinstance(result, list) else [result]
