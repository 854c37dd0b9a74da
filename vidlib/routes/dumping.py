"""Response schemas compiled to plain functions.

flask-smorest dumps every response through its marshmallow schema, which walks each field of
each item through several generic calls: ~0.4 ms for one video record, ~9 ms for a page of 24
(more than the similarity search that found them). :func:`compile_dump` turns a schema into a
function that gives the same output for the field types vidlib's schemas use (String,
Integer, Float, Boolean, List, Nested, Dict): pick each declared field, convert it the way
the field's ``_serialize`` would, leave it out when absent, recurse into nested schemas. A
schema with anything else (hooks, method fields, custom fields or accessors) keeps
marshmallow's own ``dump``.

``VIDLIB_VERIFY_DUMPS=1`` (the test suite sets it) makes every compiled dump also run
marshmallow's and raise when their JSON differs, so every response a test asks for checks
the compiled form.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

from marshmallow import Schema, fields, missing
from marshmallow.schema import POST_DUMP, PRE_DUMP


class _Unsupported(Exception):
    """A schema or field the compiler does not reproduce exactly."""


def _identity(value: Any) -> Any:
    return value


def _text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def _converter(field: fields.Field) -> Callable[[Any], Any]:
    """What ``field._serialize(value, ...)`` does, as a function of the value alone."""
    cls = type(field)
    if cls.serialize is not fields.Field.serialize or cls.get_value is not fields.Field.get_value or not field._CHECK_ATTRIBUTE:
        raise _Unsupported(cls.__name__)
    serialize = cls._serialize
    if serialize is fields.Field._serialize:  # Boolean and Raw dump values as they are
        return _identity
    if serialize is fields.String._serialize:
        return _text
    if serialize is fields.Number._serialize and cls._format_num is fields.Number._format_num and not field.as_string:
        num_type = field.num_type

        def number(value: Any) -> Any:
            return None if value is None else num_type(value)

        number.num_type = num_type  # type: ignore[attr-defined]
        return number
    if serialize is fields.List._serialize:
        inner = _converter(field.inner)
        listed = lambda value: None if value is None else [inner(each) for each in value]  # noqa: E731
        listed.inner = inner  # type: ignore[attr-defined]
        return listed
    if serialize is fields.Nested._serialize:
        nested = field.schema
        dump = _compile(nested, nested.many or field.many)
        converted = lambda value: None if value is None else dump(value)  # noqa: E731
        if not (nested.many or field.many):
            converted.one = dump  # type: ignore[attr-defined]
        return converted
    if serialize is fields.Mapping._serialize and field.mapping_type is dict:
        keys = _converter(field.key_field) if field.key_field is not None else _identity
        values = _converter(field.value_field) if field.value_field is not None else _identity
        return lambda value: None if value is None else {keys(k): values(v) for k, v in value.items()}
    raise _Unsupported(cls.__name__)


def _get(obj: Any, key: str) -> Any:
    # marshmallow.utils.get_value for a key without dots
    if not hasattr(obj, "__getitem__"):
        return getattr(obj, key, missing)
    try:
        return obj[key]
    except (KeyError, IndexError, TypeError, AttributeError):
        return getattr(obj, key, missing)


_DICT_ATTRIBUTES = frozenset(dir(dict))


def _compile(schema: Schema, many: bool) -> Callable[[Any], Any]:
    """Generate one function per schema: a plain dict's keys read with ``dict.get``, each value
    converted inline for the common cases (a str already a str, an int already an int)."""
    cls = type(schema)
    if schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP] or cls.get_attribute is not Schema.get_attribute or schema.dict_class is not dict:
        raise _Unsupported(cls.__name__)
    namespace: dict[str, Any] = {"_m": missing, "_get": _get, "_text": _text}
    lines = ["def one(obj):", "    out = {}", "    if type(obj) is dict:", "        get = obj.get"]
    slow = ["    else:"]
    for i, (name, field) in enumerate(schema.dump_fields.items()):
        attribute = field.attribute or name
        if "." in attribute:
            raise _Unsupported(f"{cls.__name__}.{name}: dotted attribute")
        key = field.data_key if field.data_key is not None else name
        convert = _converter(field)
        namespace[f"c{i}"], namespace[f"d{i}"] = convert, field.dump_default
        inner = getattr(convert, "inner", None)
        namespace[f"n{i}"] = getattr(convert, "one", None) or getattr(inner, "one", None)
        if convert is _identity:
            expr = "v"
        elif convert is _text:
            expr = f"v if type(v) is str else c{i}(v)"
        elif getattr(convert, "num_type", None) in (int, float):
            expr = f"v if type(v) is {convert.num_type.__name__} else c{i}(v)"
        elif getattr(convert, "one", None) is not None:  # one nested schema: its function, called here
            expr = f"None if v is None else n{i}(v)"
        elif getattr(inner, "one", None) is not None:  # a list of one nested schema
            expr = f"None if v is None else [None if x is None else n{i}(x) for x in v]"
        elif inner is _text:
            expr = f"None if v is None else [x if type(x) is str else _text(x) for x in v]"
        else:
            expr = f"c{i}(v)"
        # A key absent from a plain dict: marshmallow then tries getattr (a dict method's name).
        fallback = f"_get(obj, {attribute!r})" if attribute in _DICT_ATTRIBUTES else "_m"
        for block, read in ((lines, f"get({attribute!r}, {fallback})"), (slow, f"_get(obj, {attribute!r})")):
            block.append(f"        v = {read}")
            if field.dump_default is not missing:
                block += ["        if v is _m:", f"            v = d{i}() if callable(d{i}) else d{i}"]
            block += ["        if v is not _m:", f"            out[{key!r}] = {expr}"]
    source = "\n".join(lines + (slow if len(slow) > 1 else ["    else:", "        pass"]) + ["    return out"])
    exec(compile(source, f"<dump {cls.__name__}>", "exec"), namespace)  # noqa: S102 - source built from field names above
    one = namespace["one"]
    if many:
        return lambda objs: None if objs is None else [one(obj) for obj in objs]
    return one


VERIFY = os.environ.get("VIDLIB_VERIFY_DUMPS") == "1"


def compile_dump(schema: Schema) -> bool:
    """Replace ``schema.dump`` (this instance's) with a compiled one; False when unsupported."""
    try:
        fast = _compile(schema, schema.many)
    except _Unsupported:
        return False
    original = schema.dump

    def dump(obj: Any, *, many: bool | None = None) -> Any:
        if many is not None and many != schema.many:
            return original(obj, many=many)
        result = fast(obj)
        if VERIFY:
            expected = original(obj)
            if json.dumps(result, sort_keys=True) != json.dumps(expected, sort_keys=True):
                raise AssertionError(f"compiled dump of {type(schema).__name__} differs from marshmallow's:\n{result!r}\n{expected!r}")
        return result

    schema.dump = dump
    return True
