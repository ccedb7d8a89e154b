"""The record path from decoded response to RECORD line, without per-record generic work.

The SDK's default path conforms every record by walking it against the schema (recursive type
conformance) and writes every message with simplejson plus a flush. Our records are already
JSON-native (they come from ``msgspec.json.decode`` and our own normalisation), so the same
result is reached with:

* a conformer compiled once per stream from its schema, doing exactly what the SDK's recursive
  conformance does to JSON-native values (drop properties the schema does not declare, turn
  numbers in boolean-only properties into booleans), plus our JSON-text rule for properties of
  undocumented type; the SDK's own conformance is then switched off. As on the SDK's path, a
  supplied catalog's schema is the one records are conformed to (``compile_stream_conformer``);
* ``msgspec`` encoding of messages, with stdout flushed at each STATE message (and at exit)
  instead of after every record: a STATE line is never written before the records it covers.

``TAP_CHATBOT_REPORTS_PLAIN_SDK=1`` selects the SDK's default writer and conformance instead
(used by the benchmark harness to measure the difference; records are the same).
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import typing as t

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.contrib.msgspec import encoder as _ENCODER
from singer_sdk.helpers._state import StateWriter
from singer_sdk.helpers._typing import is_object_type, is_uniform_list
from singer_sdk.singerlib import SingerMessageType

from tap_chatbot_reports.schema_types import apply_json_text, json_text_paths, to_json_text

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import TapState
    from singer_sdk.singerlib.encoding.simple import Message

PLAIN_SDK_ENV = "TAP_CHATBOT_REPORTS_PLAIN_SDK"

Conformer = t.Callable[[t.Any], t.Any]
LOGGER = logging.getLogger(__name__)


def plain_sdk_path() -> bool:
    """True when the harness asked for the SDK's default record path."""
    return os.environ.get(PLAIN_SDK_ENV, "").strip().lower() in ("1", "true", "yes")


class BufferedMsgSpecWriter(MsgSpecWriter):
    """msgspec lines, written in blocks: at every non-RECORD message (STATE above all), when
    64 KiB are pending, and at exit. Each STATE line thus follows the records it covers, and a
    run costs one write per block instead of one per record (stdout is often unbuffered:
    ``PYTHONUNBUFFERED`` is common in orchestrators)."""

    block_size = 64 * 1024

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending = bytearray()
        atexit.register(self.flush)

    def write_message(self, message: Message) -> None:
        self._pending += self.format_message(message)
        if message.type != SingerMessageType.RECORD or len(self._pending) >= self.block_size:
            self.flush()

    def write_record(self, message: dict[str, t.Any]) -> None:
        """One RECORD message given as its dict (the fast record loop's path): the same bytes
        as ``write_message`` with a ``RecordMessage``, without building the message object."""
        pending = self._pending
        _ENCODER.encode_into(message, pending, -1)
        pending += b"\n"
        if len(pending) >= self.block_size:
            self.flush()

    def write_framed(self, frame: tuple[bytes, bytes], records: t.Sequence[bytes]) -> None:
        """RECORD lines made of encoded records between the same head and tail (see
        ``recordloop.EncodedPage``)."""
        head, tail = frame
        pending = self._pending
        for record in records:
            pending += head
            pending += record
            pending += tail
        if len(pending) >= self.block_size:
            self.flush()

    def write_line(self, line: bytes) -> None:
        """One encoded non-RECORD message (without its newline): written out at once."""
        self._pending += line
        self._pending += b"\n"
        self.flush()

    def drop_partial_line(self) -> None:
        """Forget the tail of a line cut short (a signal arrived between its parts)."""
        end = self._pending.rfind(b"\n") + 1
        del self._pending[end:]

    def flush(self) -> None:
        if self._pending:
            binary = getattr(sys.stdout, "buffer", None)
            if binary is not None:
                binary.write(self._pending)
            else:  # a text stream without a buffer (the SDK test runner captures with one)
                sys.stdout.write(self._pending.decode())
            self._pending.clear()
        sys.stdout.flush()


class EncodedStateWriter(StateWriter):
    """The SDK's ``StateWriter`` (a STATE line only when the state changed), comparing encoded
    bytes instead of keeping a deep copy, and writing the dict without the dataclass copy of
    ``StateMessage.to_dict``: the SDK's way costs about 2 ms per STATE line once a stream has a
    hundred partitions, and a line is written after every drained window."""

    def __init__(self, writer: BufferedMsgSpecWriter) -> None:
        super().__init__(writer)
        self._writer = writer
        self._last_line: bytes | None = None

    def write_state(self, state: TapState) -> None:
        line = _ENCODER.encode({"type": "STATE", "value": state})
        if line != self._last_line:
            self._writer.write_line(line)
            self._last_line = line


def _exclusive_boolean(schema: dict[str, t.Any]) -> bool:
    """Same test as the SDK's conformance: type boolean, [boolean] or [boolean, null]."""
    if "type" not in schema:
        return False
    kind = schema["type"]
    return kind == "boolean" or kind == ["boolean"] or set(kind) == {"boolean", "null"}


def _is_json_text(schema: dict[str, t.Any]) -> bool:
    return schema.get("contentMediaType") == "application/json"


def _has_properties(schema: dict[str, t.Any]) -> bool:
    return bool(is_object_type(schema)) and "properties" in schema


class _Source:
    """Python source of one conformer, built from a schema (see ``compile_conformer``)."""

    def __init__(
        self,
        on_unmapped: t.Callable[[str], None],
        coerce_booleans: bool = True,
        json_text: bool = True,
    ) -> None:
        self.coerce_booleans = coerce_booleans
        self.json_text = json_text
        self.lines = ["def conform(v0):"]
        self.names: dict[str, t.Any] = {
            "_json": to_json_text,
            "_drop": _dropper(on_unmapped),
        }

    def constant(self, value: t.Any) -> str:
        name = f"_c{len(self.names)}"
        self.names[name] = value
        return name

    def add(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)

    def object(self, var: str, schema: dict[str, t.Any], path: str, depth: int) -> None:
        """Statements conforming the dict ``var`` (at indentation ``depth``) to ``schema``."""
        properties: dict[str, t.Any] = schema.get("properties") or {}
        if not schema.get("additionalProperties"):
            allowed = self.constant(frozenset(properties))
            self.add(depth, f"if not {var}.keys() <= {allowed}:")
            self.add(depth + 1, f"_drop({var}, {allowed}, {path!r})")
        child = f"v{depth + 1}"
        for name, prop in properties.items():
            key = repr(name)
            if self.json_text and _is_json_text(prop):
                self.add(depth, f"{child} = {var}.get({key})")
                self.add(depth, f"if {child} is not None and {child}.__class__ is not str:")
                self.add(depth + 1, f"{var}[{key}] = _json({child})")
            elif _has_properties(prop):
                header = len(self.lines)
                self.add(depth, f"{child} = {var}.get({key})")
                self.add(depth, f"if {child}.__class__ is dict:")
                self.object(child, prop, f"{path}{name}.", depth + 1)
                if len(self.lines) == header + 2:  # nothing to do inside
                    del self.lines[header:]
            elif is_uniform_list(prop):
                self.array(var, key, prop["items"], f"{path}{name}", depth)
            elif _exclusive_boolean(prop) and self.coerce_booleans:
                self.add(depth, f"{child} = {var}.get({key})")
                # As the SDK: a float is left as it is (its check for floats comes first).
                kind = f"{child}.__class__"
                self.add(
                    depth, f"if {child} is not None and {kind} is not bool and {kind} is not float:"
                )
                self.add(depth + 1, f"{var}[{key}] = {child} != 0")

    def array(self, var: str, key: str, items: dict[str, t.Any], path: str, depth: int) -> None:
        child, item = f"v{depth + 1}", f"v{depth + 2}"
        if _has_properties(items):
            body = len(self.lines)
            self.add(depth, f"{child} = {var}.get({key})")
            self.add(depth, f"if {child}.__class__ is list:")
            self.add(depth + 1, f"for {item} in {child}:")
            self.add(depth + 2, f"if {item}.__class__ is dict:")
            mark = len(self.lines)
            self.object(item, items, f"{path}.", depth + 3)
            if len(self.lines) == mark:
                del self.lines[body:]
        elif self.json_text and _is_json_text(items):
            self.add(depth, f"{child} = {var}.get({key})")
            self.add(depth, f"if {child}.__class__ is list:")
            self.add(depth + 1, f"{var}[{key}] = [_json(x) for x in {child}]")
        elif _exclusive_boolean(items) and self.coerce_booleans:
            self.add(depth, f"{child} = {var}.get({key})")
            self.add(depth, f"if {child}.__class__ is list:")
            coerce = "x if x is None or x.__class__ is bool or x.__class__ is float else x != 0"
            self.add(depth + 1, f"{var}[{key}] = [{coerce} for x in {child}]")


def _dropper(on_unmapped: t.Callable[[str], None]) -> t.Callable[[dict, frozenset, str], None]:
    def drop(record: dict[str, t.Any], allowed: frozenset[str], path: str) -> None:
        for key in [k for k in record if k not in allowed]:
            on_unmapped(f"{path}{key}")
            del record[key]

    return drop


def compile_conformer(
    schema: dict[str, t.Any],
    on_unmapped: t.Callable[[str], None],
    coerce_booleans: bool = True,
    json_text: bool = True,
) -> Conformer:
    """A function doing to one JSON-native record (in place) what the SDK's recursive type
    conformance does, plus JSON text for properties of undocumented type.

    ``coerce_booleans=False`` leaves out the SDK's number-to-boolean conversion, for streams
    whose records were already checked to hold booleans (or null) where the schema says boolean
    (a number there stopped the run with a clear error before reaching the conformer).
    ``json_text=False`` leaves out the JSON-text rule (exactly the SDK's conformance).

    The SDK walks the schema generically for every record; here the walk is unrolled once into
    straight-line Python (compiled with ``exec``, like ``dataclasses`` does), so a record costs a
    few dictionary lookups per declared property.
    """
    source = _Source(on_unmapped, coerce_booleans, json_text)
    source.object("v0", schema, "", 1)
    source.add(1, "return v0")
    namespace = dict(source.names)
    exec("\n".join(source.lines), namespace)  # noqa: S102 - source built above from a schema
    return t.cast("Conformer", namespace["conform"])


def compile_stream_conformer(
    schema: dict[str, t.Any],
    catalog_schema: dict[str, t.Any] | None,
    on_unmapped: t.Callable[[str], None],
    coerce_booleans: bool = True,
) -> Conformer:
    """What the plain SDK path does to a stream's record, when a catalog may have been given:
    the JSON-text rule of the stream's own ``schema`` (``post_process``), then the SDK's type
    conformance to the *catalog's* schema (``Stream.effective_schema``): properties the
    catalog does not declare are dropped, booleans follow the catalog.

    When the catalog's schema is the stream's own (discovery's catalog, as Meltano passes it),
    this is the one-pass ``compile_conformer``. Otherwise two passes: JSON text at the own
    schema's paths, then a conformer compiled from the catalog's schema without the JSON-text
    rule and with the boolean coercion (the stream's own type checks say nothing about types
    the catalog changed). Other types are left as they are, as the SDK leaves them: a string
    stays a string where the catalog says integer (a validating target then says so).
    """
    if catalog_schema is None or catalog_schema == schema:
        return compile_conformer(schema, on_unmapped, coerce_booleans)
    paths = json_text_paths(schema)
    conform = compile_conformer(catalog_schema, on_unmapped, coerce_booleans=True, json_text=False)

    def conform_to_catalog(record: t.Any) -> t.Any:
        for path in paths:
            apply_json_text(record, path)
        return conform(record)

    return conform_to_catalog


def declares(schema: dict[str, t.Any], name: str) -> bool:
    """True when the SDK's conformance to ``schema`` keeps a top-level property ``name``."""
    return name in (schema.get("properties") or {}) or bool(schema.get("additionalProperties"))


def drop_undeclared(record: dict[str, t.Any], schema: dict[str, t.Any]) -> None:
    """Drop (in place) the top-level keys the SDK's conformance to ``schema`` would drop: the
    partition keys the SDK's loop adds to a record after ``post_process`` conformed it (the
    SDK adds them before its conformance, so a catalog without them drops them)."""
    if schema.get("additionalProperties"):
        return
    properties = schema.get("properties") or {}
    for key in [key for key in record if key not in properties]:
        del record[key]


_SCALAR_TESTS = {
    "string": "isinstance({v}, str)",
    "integer": "(isinstance({v}, int) and not isinstance({v}, bool))",
    "number": "(isinstance({v}, (int, float)) and not isinstance({v}, bool))",
    "boolean": "isinstance({v}, bool)",
}


def compile_shape_check(
    schema: dict[str, t.Any], fields: t.Sequence[str]
) -> t.Callable[[dict[str, t.Any]], str | None]:
    """A function returning where a record's ``fields`` do not have their documented JSON shape
    (``"bot_module.kpis[] as str, not an object"``), or None.

    Checks, per value that is not null: objects are dicts (and their properties are checked),
    arrays are lists (and their items are checked), scalars have one of their declared types (a
    boolean is not a number); properties of undocumented type (JSON text) are not checked.
    Compiled once, like ``compile_conformer``: a record costs a few type tests per property.
    """
    lines = ["def check(v0):"]

    def add(depth: int, line: str) -> None:
        lines.append("    " * depth + line)

    def value(var: str, prop: dict[str, t.Any], path: str, depth: int) -> None:
        kinds = prop.get("type")
        if not kinds or "contentMediaType" in prop:
            return
        kinds = [kinds] if isinstance(kinds, str) else kinds
        mark = len(lines)
        add(depth, f"if {var} is not None:")
        inner = depth + 1
        if "object" in kinds:
            add(inner, f"if not isinstance({var}, dict):")
            add(inner + 1, f"return f'{path} as {{type({var}).__name__}}, not an object'")
            child = f"v{depth + 1}"
            for key, sub in (prop.get("properties") or {}).items():
                add(inner, f"{child} = {var}.get({key!r})")
                value(child, sub, f"{path}.{key}", inner)
        elif "array" in kinds:
            add(inner, f"if not isinstance({var}, list):")
            add(inner + 1, f"return f'{path} as {{type({var}).__name__}}, not a list'")
            item = f"v{depth + 1}"
            add(inner, f"for {item} in {var}:")
            body = len(lines)
            value(item, prop.get("items") or {}, f"{path}[]", inner + 1)
            if len(lines) == body:
                del lines[body - 1 :]
        else:
            known = [kind for kind in kinds if kind in _SCALAR_TESTS]
            if not known:
                del lines[mark:]
                return
            test = " or ".join(_SCALAR_TESTS[kind].format(v=var) for kind in known)
            add(inner, f"if not ({test}):")
            add(inner + 1, f"return f'{path} as {{type({var}).__name__}}, not {'/'.join(known)}'")

    properties = schema.get("properties") or {}
    for name in fields:
        add(1, f"v1 = v0.get({name!r})")
        value("v1", properties[name], name, 1)
    add(1, "return None")
    namespace: dict[str, t.Any] = {}
    exec("\n".join(lines), namespace)  # noqa: S102 - source built above from a schema
    explain = t.cast("t.Callable[[dict[str, t.Any]], str | None]", namespace["check"])
    shape = _msgspec_shape(properties, fields)
    if shape is None:
        return explain
    convert, validation_error = msgspec.convert, msgspec.ValidationError

    def check(record: dict[str, t.Any]) -> str | None:
        try:
            convert(record, shape)
        except validation_error:
            return explain(record)  # says where (None if only msgspec objected)
        return None

    return check


#: JSON Schema scalar type -> the Python type msgspec checks it with (strict: no coercion; a
#: boolean is not an integer or a number, as in the Python check).
_MSGSPEC_SCALARS: dict[str, t.Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
}


def _msgspec_type(prop: dict[str, t.Any], path: str) -> t.Any:
    kinds = prop.get("type")
    if not kinds or "contentMediaType" in prop:
        return t.Any
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    members: list[t.Any] = []
    if "object" in kinds:
        nested = prop.get("properties")
        members.append(_struct(nested, list(nested), path) if nested else dict)
    elif "array" in kinds:
        members.append(list[_msgspec_type(prop.get("items") or {}, path)])  # type: ignore[misc]
    else:
        known = [_MSGSPEC_SCALARS[kind] for kind in kinds if kind in _MSGSPEC_SCALARS]
        if not known:
            return t.Any
        members += known
    union: t.Any = members[0]
    for member in members[1:]:
        union = union | member
    return union | None


def _struct(properties: dict[str, t.Any], fields: t.Sequence[str], path: str) -> t.Any:
    return msgspec.defstruct(
        f"Shape_{path or 'record'}".replace(".", "_"),
        [(name, _msgspec_type(properties[name], f"{path}.{name}"), None) for name in fields],
        gc=False,  # built only to be checked and dropped: no need to track it for cycles
    )


def _msgspec_shape(properties: dict[str, t.Any], fields: t.Sequence[str]) -> t.Any:
    """A msgspec Struct type accepting exactly the records the Python check accepts (for
    JSON-native values), or None when the schema cannot be expressed that way. Validating
    with ``msgspec.convert`` is done in C: about five times faster than the Python check,
    which then only runs to explain a record msgspec refused."""
    try:
        shape = _struct(properties, fields, "")
        msgspec.convert({}, shape)  # unions msgspec cannot check fail here, not per record
    except (TypeError, ValueError, msgspec.ValidationError):
        return None
    return shape
