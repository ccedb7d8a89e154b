"""Schema pieces shared by vendor modules."""

from __future__ import annotations

from singer_sdk import typing as th

#: A value of undocumented JSON type, kept as it came (loaded as JSON by SQL targets).
JSON_ANY = th.CustomType({"type": ["object", "array", "string", "number", "boolean", "null"]})

#: An object whose keys are not known in advance; every key is kept.
JSON_OBJECT = th.ObjectType()
