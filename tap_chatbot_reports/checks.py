"""Small pure helpers: config list checks, unknown settings, state shape, response unwrapping."""

from __future__ import annotations

import copy
import difflib
import json
import typing as t

from singer_sdk.typing import DEFAULT_JSONSCHEMA_VALIDATOR

from tap_chatbot_reports.errors import TapStateError


def list_problems(values: t.Sequence[t.Any], setting: str, noun: str) -> list[str]:
    """Problems of a list of ids/names: empty, duplicated or blank entries (one message each)."""
    if not values:
        return [f"{setting}: list at least one {noun}"]
    names = [str(v) for v in values]
    problems: list[str] = []
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        problems.append(f"{setting}: duplicated {noun}(s): {', '.join(duplicates)}")
    if any(not n.strip() for n in names):
        problems.append(f"{setting}: a {noun} is empty")
    return problems


def unwrap_rows(payload: t.Any) -> list[t.Any] | None:
    """A JSON array as is, or the one list inside a wrapping object; None for anything else."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        lists = [value for value in payload.values() if isinstance(value, list)]
        if len(lists) == 1:
            return lists[0]
    return None


def describe_payload(payload: t.Any) -> str:
    """``an object (keys: a, b)`` or the JSON type's name, for error messages (one line)."""
    if isinstance(payload, dict):
        keys = ", ".join(sorted(repr(str(k)[:40]) for k in payload)[:10])
        return f"an object (keys: {keys})"
    return type(payload).__name__


#: Config objects whose keys are the user's own (values for stream-map expressions, Faker).
FREE_FORM_SETTINGS = frozenset({"stream_map_config", "faker_config"})


def strict_schema(schema: dict[str, t.Any], path: str = "") -> dict[str, t.Any]:
    """A copy of a config schema where every object with named settings refuses other keys.
    Objects whose keys are the user's (``additionalProperties`` given as a schema, as for
    ``stream_maps`` or ``feedbot.user_data_where``, or ``FREE_FORM_SETTINGS``) stay open."""
    result = dict(schema)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        result["properties"] = {
            key: strict_schema(value, f"{path}.{key}" if path else key)
            if isinstance(value, dict)
            else value
            for key, value in properties.items()
        }
        if path not in FREE_FORM_SETTINGS and not isinstance(
            schema.get("additionalProperties"), dict
        ):
            result["additionalProperties"] = False
    for keyword in ("items", "additionalProperties"):
        if isinstance(schema.get(keyword), dict):
            result[keyword] = strict_schema(schema[keyword], path)
    for keyword in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(keyword), list):
            result[keyword] = [
                strict_schema(option, path) if isinstance(option, dict) else option
                for option in schema[keyword]
            ]
    return result


def setting_path(parts: t.Iterable[t.Any]) -> str:
    """``['feedbot', 'bots', 0, 'bot_id']`` -> ``feedbot.bots[0].bot_id``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def unknown_settings(config: t.Mapping[str, t.Any], schema: dict[str, t.Any]) -> list[str]:
    """One message per config key the schema does not name, at any depth, with the closest
    valid key of the same level: ``certainly.bot_idz: unknown setting, ignored (did you mean
    certainly.bot_ids?)``. Found with the SDK's JSON Schema validator on ``strict_schema``."""
    validator = DEFAULT_JSONSCHEMA_VALIDATOR(strict_schema(schema))
    found: list[tuple[str, str]] = []
    for error in validator.iter_errors(copy.deepcopy(dict(config))):
        if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
            continue
        known = [str(k) for k in (error.schema.get("properties") or {})]
        parent = list(error.absolute_path)
        for key in sorted(str(k) for k in error.instance if str(k) not in known):
            where = setting_path([*parent, key])
            closest = difflib.get_close_matches(key, known, n=1)
            hint = (
                f" (did you mean {setting_path([*parent, closest[0]])}?)"
                if closest
                else f" (valid here: {', '.join(sorted(known))})"
            )
            found.append((where, f"{where}: unknown setting, ignored{hint}"))
    return [message for _, message in sorted(found)]


def decode_state(text: str, source: str) -> dict[str, t.Any]:
    """The state in a ``--state`` file: a Singer state object, or the ``{"singer_state": ...}``
    that ``meltano state get`` prints (unwrapped). Anything else is one ``TapStateError`` line
    naming the file."""
    try:
        state = json.loads(text)
    except json.JSONDecodeError as exc:
        what = (
            "is empty"
            if not text.strip()
            else (
                f"is not valid JSON ({exc.msg}: line {exc.lineno}, column {exc.colno}; "
                "a truncated file?)"
            )
        )
        raise TapStateError(f"{state_label(source)} {what}{STATE_FIX}") from None
    if isinstance(state, dict) and "singer_state" in state and "bookmarks" not in state:
        state = state["singer_state"]
        if state is None:
            return {}
    if not isinstance(state, dict):
        raise TapStateError(
            f"{state_label(source)} is {describe_json(state)}, not a state object "
            '({"bookmarks": {...}}, or {"singer_state": {...}} as meltano state get prints it)'
            f"{STATE_FIX}"
        )
    return state


#: The end of every state error: what the user can do.
STATE_FIX = "; fix the file, or run without it (a first run from start_date)"


def state_label(source: str | None) -> str:
    return f"state file {source}" if source else "the state"


def state_shape_problem(state: t.Mapping[str, t.Any]) -> str | None:
    """Where a decoded state is not the shape Singer taps write, in words (None if it is):
    ``bookmarks`` an object of stream states, each an object whose ``partitions`` is a list of
    objects with a ``context`` object."""
    bookmarks = state.get("bookmarks")
    if bookmarks is None:
        return None
    if not isinstance(bookmarks, dict):
        return f"bookmarks is {describe_json(bookmarks)}, not an object of streams"
    for name, stream_state in bookmarks.items():
        if not isinstance(stream_state, dict):
            return f"stream {name}: its state is {describe_json(stream_state)}, not an object"
        partitions = stream_state.get("partitions")
        if partitions is None:
            continue
        if not isinstance(partitions, list):
            return f"stream {name}: partitions is {describe_json(partitions)}, not a list"
        for number, partition in enumerate(partitions):
            if not isinstance(partition, dict) or not isinstance(partition.get("context"), dict):
                return (
                    f"stream {name}: partition {number + 1} is {describe_json(partition)}, not "
                    "an object with a context object"
                )
    return None


def describe_json(value: t.Any) -> str:
    """``a JSON list`` / ``a string ('yesterday')`` style words for a JSON value."""
    if isinstance(value, bool) or value is None:
        return f"JSON {json.dumps(value)}"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    if isinstance(value, list):
        return "a JSON list"
    return "a JSON object"
