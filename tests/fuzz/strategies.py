"""Hypothesis strategies for hostile input: query parameters, cursors, upload bodies and SQS
message bodies. Each mixes values a client would send with the values a fuzzing pass found
(calendar edges, C1 controls, bidi overrides, lone surrogates, numbers beyond 64 bits,
strings at and beyond every documented limit), so that every case is plausible enough to get
past the first check and hostile enough to matter after it."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from chalicelib.api.params import (
    MAX_KEY_PREFIX_BYTES,
    MAX_LABEL_LENGTH,
    MAX_TEXT_LENGTH,
    MAX_TOKEN_LENGTH,
)
from tests.contract import fixtures

# -- text -----------------------------------------------------------------------------------------

# Characters that each broke, or could break, a parser, a store or a log line.
SPECIAL_CHARACTERS = (
    "\x00", "\n", "\r", "\t", "\x1f", "\x7f",  # C0 and DEL
    "\x85", "\x9b", "\x9f",  # C1: NEL, CSI
    "\u202e", "\u202a", "\u2066", "\u2069", "\u200f", "\u061c",  # bidi controls
    "\u2028", "\u2029",  # line and paragraph separators
    "\ud800", "\udfff",  # lone surrogates (a JSON \ud800 escape in the Lambda event)
    "\ufeff", "\u00a0", "\u0301", "\ufffd", "\uffff", "\U0010ffff",
    "ß", "İ", "ﬃ", "é", "😀", "漢", "ǅ",  # case and folding oddities, multi-byte UTF-8
    "%", "+", "*", "?", "\\", "'", '"', "{", "}", "[", "]", "(", ")", "/", ".", ",", "&", "=",
    "#", " ", "-", "_", ":", "<", ">", "|", "~", "^", "$",
)  # fmt: skip
WORDS = ("dog", "Dog", "cat", "café", "cafe", "coffee", "cofee", "animal", "Straße", "strasse")
WORDS += ("espresso", "open", "label:dog OR 1=1", '{"match_all":{}}', "*", "null", "true")

special = st.sampled_from(SPECIAL_CHARACTERS)
pieces = st.one_of(special, st.sampled_from(WORDS), st.text(max_size=4))
mixed_text = st.lists(pieces, max_size=8).map("".join)


def around(limit: int) -> st.SearchStrategy[int]:
    """Lengths at and just beside a limit."""
    return st.sampled_from([limit - 1, limit, limit + 1])


def long_text(*limits: int) -> st.SearchStrategy[str]:
    """A one- to four-byte character repeated to a length near one of ``limits``."""
    return st.builds(
        lambda char, length: char * length,
        st.sampled_from(["a", "é", "€", "😀", " ", "\x85"]),
        st.one_of(*(around(limit) for limit in limits)),
    )


def any_text(*limits: int) -> st.SearchStrategy[str]:
    return st.one_of(mixed_text, st.text(), long_text(*limits) if limits else st.nothing())


# -- query parameter values -----------------------------------------------------------------------

LABEL_NAMES = sorted(
    {
        name
        for image in fixtures.IMAGES
        for label in image.labels
        for name in (label.name, *label.parents)
    }
)
KEYS = sorted(image.key for image in fixtures.IMAGES)


def _cased(value: str) -> st.SearchStrategy[str]:
    return st.sampled_from([value, value.upper(), value.lower(), f" {value} "])


labels = st.one_of(
    st.sampled_from(LABEL_NAMES).flatmap(_cased),
    st.lists(st.sampled_from(LABEL_NAMES), min_size=1, max_size=12).map(",".join),
    st.lists(st.sampled_from([*LABEL_NAMES, "", " "]), max_size=4).map(",".join),
    any_text(MAX_LABEL_LENGTH),
)
numbers = st.one_of(
    st.integers(-5, 150).map(str),
    st.integers().map(str),  # beyond 64 bits too
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        ["nan", "NaN", "inf", "-inf", "1e309", "-0", "0x10", " 5 ", "٣", "1_0", "5.", ""]
    ),
    any_text(),
)


def choices(*allowed: str) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(allowed).flatmap(_cased), any_text())


# Times: real moments at any offset (including the calendar's edges), their text forms, and
# texts that only look like times.
offsets = st.one_of(
    st.just("Z"),
    st.just(""),
    st.builds(
        lambda sign, hours, minutes: f"{sign}{hours:02d}:{minutes:02d}",
        st.sampled_from("+-"),
        st.integers(0, 23),
        st.integers(0, 59),
    ),
)
moments = st.builds(
    lambda year, month, day, hour, fraction, offset: (
        f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:00:00{fraction}{offset}"
    ),
    st.one_of(st.integers(1, 9999), st.sampled_from([1, 999, 1000, 1969, 1970, 2026, 9999])),
    st.integers(1, 12),
    st.integers(1, 31),
    st.integers(0, 23),
    st.sampled_from(["", ".1", ".123", ".123456", ".1234567"]),
    offsets,
)
times = st.one_of(
    moments,
    st.sampled_from(
        [
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "9999-12-31T23:59:59.999999Z",
            "1970-01-01T00:00:00Z",
            "2026-11-04",
            "2026-W45-3",
            "20261104T000000Z",
            "yesterday",
            "1795809600",
        ]
    ),
    any_text(),
)
buckets = st.one_of(
    st.sampled_from(["photos", "holiday-photos", "ab", "a" * 63, "a" * 64, "-photos", "Photos"]),
    st.sampled_from(["photos\n", "photos.", "my..bucket", "192.168.1.1"]),
    st.from_regex(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", fullmatch=True),
    any_text(),
)
key_prefixes = st.one_of(
    st.sampled_from(KEYS).flatmap(lambda key: st.integers(1, len(key)).map(lambda n: key[:n])),
    long_text(MAX_KEY_PREFIX_BYTES, MAX_KEY_PREFIX_BYTES // 2, 1000, 1024),
    any_text(),
)
free_text = st.one_of(
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join),
    any_text(MAX_TEXT_LENGTH),
)
label_prefixes = st.one_of(
    st.sampled_from(LABEL_NAMES).flatmap(
        lambda name: st.integers(1, len(name)).map(lambda n: name[:n])
    ),
    any_text(MAX_LABEL_LENGTH),
)
opaque_tokens = st.one_of(
    any_text(MAX_TOKEN_LENGTH),
    st.from_regex(r"[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,50}", fullmatch=True),
)

# Values the API accepts, so that most cases reach a store (and both stores must agree).
VALID_FILTER_VALUES = {
    "label": st.one_of(
        st.sampled_from(LABEL_NAMES).flatmap(_cased),
        st.lists(st.sampled_from(LABEL_NAMES), min_size=1, max_size=3).map(",".join),
        st.sampled_from(["Café", "cafe", "STRASSE", "kitty", "canine"]),
    ),
    "match": st.sampled_from(["all", "any", "ANY"]),
    "expand": st.sampled_from(["true", "false"]),
    "min_confidence": st.one_of(st.integers(0, 100).map(str), st.floats(0, 100).map(repr)),
    "q": st.lists(st.sampled_from(WORDS[:10]), min_size=1, max_size=3).map(" ".join),
    "bucket": st.sampled_from(["photos", "holiday-photos", "other-photos"]),
    "since": st.sampled_from(
        ["2026-11-03T00:00:00Z", "2026-11-05T12:00:00+02:00", "1970-01-01T00:00:00Z"]
    ),
    "until": st.sampled_from(["2026-11-08T00:00:00Z", "9999-12-31T23:59:59Z", "2026-11-06"]),
    "time": st.sampled_from(["indexed", "event"]),
}
VALID_SEARCH_VALUES = {
    **VALID_FILTER_VALUES,
    "prefix": st.sampled_from(KEYS).flatmap(
        lambda key: st.integers(1, len(key)).map(lambda n: key[:n])
    ),
    "sort": st.sampled_from(["relevance", "confidence", "newest"]),
    "size": st.integers(1, 100).map(str),
}
VALID_LABELS_VALUES = {
    **VALID_FILTER_VALUES,
    "prefix": st.sampled_from(LABEL_NAMES).flatmap(
        lambda name: st.integers(1, len(name)).map(lambda n: name[:n].lower())
    ),
    "key_prefix": VALID_SEARCH_VALUES["prefix"],
    "size": st.integers(1, 100).map(str),
}

FILTER_VALUES = {
    "label": labels,
    "match": choices("all", "any"),
    "expand": choices("true", "false"),
    "min_confidence": numbers,
    "q": free_text,
    "bucket": buckets,
    "since": times,
    "until": times,
    "time": choices("indexed", "event"),
}
SEARCH_VALUES = {
    **FILTER_VALUES,
    "prefix": key_prefixes,
    "sort": choices("relevance", "confidence", "newest"),
    "size": numbers,
    "next": opaque_tokens,
}
LABELS_VALUES = {
    **FILTER_VALUES,
    "prefix": label_prefixes,
    "key_prefix": key_prefixes,
    "size": numbers,
}

# Names the API does not know: typos, other cases, hostile text.
unknown_names = st.one_of(
    st.sampled_from(
        ["lable", "Label", "label ", "LIMIT", "page", "offset", "sort_by", "", "next[]"]
    ),
    mixed_text,
)


@st.composite
def query(
    draw,
    values: dict[str, st.SearchStrategy[str]],
    valid: dict[str, st.SearchStrategy[str]] | None = None,
    max_names: int = 5,
):
    """name -> every value given, as API Gateway's multiValueQueryStringParameters.

    With ``valid``, a case is all valid values, or valid but one, or anything, in about equal
    shares: most cases then reach a store, and an error has one obvious culprit.
    """
    names = draw(st.lists(st.sampled_from(sorted(values)), max_size=max_names, unique=True))
    mode = draw(st.sampled_from(["valid", "one hostile", "any"])) if valid else "any"
    hostile = draw(st.sampled_from(names)) if names and mode == "one hostile" else None
    result = {}
    for name in names:
        source = values[name] if mode == "any" or name == hostile else valid.get(name, values[name])
        result[name] = draw(st.lists(source, min_size=1, max_size=3 if name == "label" else 1))
    if mode == "any" and draw(st.integers(0, 4)) == 0:
        # Now and then a repeated non-repeatable parameter, or an unknown one.
        if result and draw(st.booleans()):
            name = draw(st.sampled_from(sorted(result)))
            result[name] = [*result[name], draw(values[name])]
        else:
            result[draw(unknown_names)] = [draw(mixed_text)]
    return result


# -- path parameters and upload bodies -------------------------------------------------------------

image_ids = st.one_of(
    st.sampled_from([fixtures.image_id(image) for image in fixtures.IMAGES]),
    st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
    st.from_regex(r"[0-9a-fA-F]{63,65}", fullmatch=True),
    any_text(64),
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    any_text(),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(any_text(), children, max_size=4)
    ),
    max_leaves=12,
)


def nested(depth: int, kind: str) -> str:
    return ("[" * depth + "]" * depth) if kind == "list" else ('{"a":' * depth + "1" + "}" * depth)


upload_objects = st.fixed_dictionaries(
    {},
    optional={
        "filename": st.one_of(
            any_text(200), st.sampled_from(["cat.jpg", "../../etc/passwd", "a" * 201]), json_values
        ),
        "content_type": st.one_of(
            st.sampled_from(["image/jpeg", "image/png", "image/gif", "IMAGE/PNG"]), json_values
        ),
        "extra": json_values,
    },
)
upload_bodies = st.one_of(
    upload_objects.map(json.dumps),
    json_values.map(json.dumps),
    st.builds(
        nested, st.sampled_from([10, 999, 1001, 5000, 100_000]), st.sampled_from(["list", "object"])
    ),
    st.builds(
        lambda pad: json.dumps({"filename": "a.jpg", "content_type": "image/png", "pad": pad}),
        long_text(4096),
    ),
    any_text(),
    st.none(),
)

# -- SQS message bodies ----------------------------------------------------------------------------

IMAGE_BUCKET = "photos"
S3_RECORD_FIELDS = (
    ("eventSource",),
    ("eventName",),
    ("eventTime",),
    ("awsRegion",),
    ("s3",),
    ("s3", "bucket"),
    ("s3", "bucket", "name"),
    ("s3", "object"),
    ("s3", "object", "key"),
    ("s3", "object", "size"),
    ("s3", "object", "eTag"),
    ("s3", "object", "versionId"),
    ("s3", "object", "sequencer"),
)
EVENTBRIDGE_FIELDS = (
    ("source",),
    ("detail-type",),
    ("time",),
    ("region",),
    ("detail",),
    ("detail", "bucket", "name"),
    ("detail", "object"),
    ("detail", "object", "key"),
    ("detail", "object", "size"),
    ("detail", "object", "version-id"),
    ("detail", "object", "sequencer"),
)
EVENT_NAMES = (
    "ObjectCreated:Put", "ObjectCreated:CompleteMultipartUpload", "ObjectRemoved:Delete",
    "ObjectRemoved:DeleteMarkerCreated", "LifecycleExpiration:Delete", "ObjectRestore:Completed",
    "ObjectTagging:Put", "s3:ObjectCreated:Put", "ReducedRedundancyLostObject", "",
)  # fmt: skip
DETAIL_TYPES = ("Object Created", "Object Deleted", "Object Restore Completed", "Object Tags Added")

# What a mutated field becomes: a value of the wrong type, a hostile string, or a plausible one.
field_values = st.one_of(
    json_values,
    st.sampled_from(EVENT_NAMES + DETAIL_TYPES + ("aws:s3", "aws.s3", "aws:sqs", "other-bucket")),
    times,
    any_text(1024, 2000),
    st.integers(min_value=2**62, max_value=2**70),
)


def s3_record(
    event_name: str, key: str, sequencer: str, bucket: str = IMAGE_BUCKET
) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": key, "sequencer": sequencer}
    if event_name.startswith("ObjectCreated"):
        obj.update(size=2048, eTag="d41d8cd98f00b204e9800998ecf8427e")
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2026-11-27T20:00:00.000Z",
        "eventName": event_name,
        "s3": {"bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}, "object": obj},
    }


def eventbridge_event(detail_type: str, key: str, sequencer: str) -> dict[str, Any]:
    return {
        "version": "0",
        "detail-type": detail_type,
        "source": "aws.s3",
        "time": "2026-11-27T20:00:00Z",
        "region": "us-east-1",
        "detail": {
            "bucket": {"name": IMAGE_BUCKET},
            "object": {"key": key, "size": 2048, "sequencer": sequencer},
            "reason": "PutObject",
        },
    }


def sns_envelope(message: str) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": "m",
        "TopicArn": "arn:aws:sns:::t",
        "Message": message,
    }


@st.composite
def mutated(draw, document: dict[str, Any], paths: tuple[tuple[str, ...], ...]) -> dict[str, Any]:
    """``document`` with one to three fields replaced by hostile values or removed."""
    for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3)):
        parent = document
        for name in path[:-1]:
            child = parent.get(name) if isinstance(parent, dict) else None
            if not isinstance(child, dict):
                break
            parent = child
        else:
            if draw(st.integers(0, 4)) == 0:
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(field_values)
    return document


@st.composite
def poison_body(draw, key: str) -> str:
    """One hostile SQS message body about ``key`` (S3, SNS-wrapped, EventBridge or raw)."""
    shape = draw(
        st.sampled_from(["s3", "s3-records", "sns", "eventbridge", "raw", "other-bucket", "many"])
    )
    sequencer = draw(st.from_regex(r"[0-9A-F]{16}", fullmatch=True))
    if shape == "s3":
        record = draw(
            mutated(s3_record(draw(st.sampled_from(EVENT_NAMES)), key, sequencer), S3_RECORD_FIELDS)
        )
        return json.dumps({"Records": [record]})
    if shape == "s3-records":
        return json.dumps(
            {"Records": draw(st.one_of(json_values, st.lists(json_values, max_size=3)))}
        )
    if shape == "sns":
        inner = json.dumps(
            {
                "Records": [
                    draw(mutated(s3_record("ObjectCreated:Put", key, sequencer), S3_RECORD_FIELDS))
                ]
            }
        )
        envelope = sns_envelope(inner)
        if draw(st.booleans()):
            envelope = draw(mutated(envelope, (("Type",), ("Message",))))
        return json.dumps(envelope)
    if shape == "eventbridge":
        event = eventbridge_event(draw(st.sampled_from(DETAIL_TYPES)), key, sequencer)
        return json.dumps(draw(mutated(event, EVENTBRIDGE_FIELDS)))
    if shape == "other-bucket":
        return json.dumps(
            {"Records": [s3_record("ObjectCreated:Put", key, sequencer, bucket="other-bucket")]}
        )
    if shape == "many":
        count = draw(st.sampled_from([11, 50, 300]))
        return json.dumps(
            {
                "Records": [
                    s3_record("ObjectCreated:Put", f"{key}-{n}.jpg", sequencer)
                    for n in range(count)
                ]
            }
        )
    return draw(
        st.one_of(
            any_text(),
            json_values.map(json.dumps),
            st.builds(
                nested, st.sampled_from([500, 5000, 100_000]), st.sampled_from(["list", "object"])
            ),
        )
    )


# What a Rekognition stand-in might answer: shapes botocore's model would refuse.
label_answers = st.fixed_dictionaries(
    {},
    optional={
        "Name": st.one_of(st.sampled_from(["Dog", "Cat", ""]), json_values),
        "Confidence": st.one_of(st.floats(0, 100), json_values),
        "Parents": st.one_of(
            st.lists(
                st.one_of(st.fixed_dictionaries({"Name": json_values}), json_values), max_size=3
            ),
            json_values,
        ),
        "Categories": st.one_of(
            st.lists(st.one_of(st.text(max_size=5), json_values), max_size=3), json_values
        ),
        "Aliases": st.lists(
            st.fixed_dictionaries({"Name": st.sampled_from(["Canine", "\ud800", ""])}), max_size=2
        ),
        "Instances": st.one_of(
            st.lists(json_values, max_size=2),
            st.just([{"Confidence": 90.0, "BoundingBox": {"Width": 0.5}}]),
        ),
    },
)
rekognition_answers = st.one_of(
    st.fixed_dictionaries({"Labels": st.lists(st.one_of(label_answers, json_values), max_size=4)}),
    st.fixed_dictionaries({"Labels": json_values}),
    st.fixed_dictionaries({"Labels": st.just([{"Name": "Dog", "Confidence": float("nan")}])}),
)
