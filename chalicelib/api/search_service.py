"""The API's use cases: turns validated parameters into store queries and JSON responses."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib.api.params import InvalidParameter, ParsedParams
from chalicelib.search.cursor import CursorCodec, InvalidCursor
from chalicelib.search.query import (
    MATCH_ALL,
    SORT_RELEVANCE,
    TIME_INDEXED,
    TOTAL_HITS_LIMIT,
    Filters,
    SearchQuery,
    matched_labels,
)
from chalicelib.store.base import ImageStore

IMAGE_ID_LENGTH = 64


class ImageLinks:
    """Gives each result a URL the caller can open: presigned (the bucket is private)."""

    def __init__(self, s3_client, expiry_seconds: int, presign: bool):
        self._s3 = s3_client
        self._expiry = expiry_seconds
        self._presign = presign

    def url_for(self, document: dict[str, Any]) -> str:
        if not self._presign:
            return document["url"]
        params = {"Bucket": document["bucket"], "Key": document["key"]}
        if document.get("version_id"):
            params["VersionId"] = document["version_id"]
        return self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=self._expiry)


class SearchService:
    def __init__(
        self,
        store: ImageStore,
        links: ImageLinks,
        default_min_confidence: float,
        cursors: CursorCodec,
        total_hits_limit: int = TOTAL_HITS_LIMIT,
    ):
        self._store = store
        self._links = links
        self._default_min_confidence = default_min_confidence
        self._cursors = cursors
        self._total_hits_limit = total_hits_limit

    def filters(self, params: ParsedParams, key_prefix_param: str) -> Filters:
        return Filters(
            labels=tuple(params.get("label", ())),
            match=params.get("match", MATCH_ALL),
            expand=params.get("expand", True),
            min_confidence=params.get("min_confidence", self._default_min_confidence),
            text=params.get("q"),
            bucket=params.get("bucket"),
            prefix=params.get(key_prefix_param),
            since=params.get("since"),
            until=params.get("until"),
            time_field=params.get("time", TIME_INDEXED),
        )

    def search(self, params: ParsedParams) -> dict[str, Any]:
        query = SearchQuery(
            filters=self.filters(params, "prefix"),
            sort=params.get("sort", SORT_RELEVANCE),
            size=params.get("size", 20),
            total_hits_limit=self._total_hits_limit,
        )
        if params.get("next"):
            try:
                after = self._cursors.decode(query, params.get("next"))
            except InvalidCursor as error:
                raise InvalidParameter("next", str(error)) from None
            query = replace(query, after=after)
        page = self._store.search(query)
        last = page.hits[-1].sort_key if page.has_more else None
        return {
            "total": page.total,
            "total_is_exact": page.total_is_exact,
            "items": [self._item(hit.document, query.filters) for hit in page.hits],
            "next": self._cursors.encode(query, last) if last is not None else None,
        }

    def labels(self, params: ParsedParams) -> dict[str, Any]:
        counts = self._store.label_counts(
            self.filters(params, "key_prefix"), params.get("prefix"), params.get("size", 20)
        )
        return {"labels": [{"name": count.name, "count": count.count} for count in counts]}

    def image(self, image_id: str) -> dict[str, Any] | None:
        if len(image_id) != IMAGE_ID_LENGTH or not all(c in "0123456789abcdef" for c in image_id):
            raise InvalidParameter("id", "id must be the 64 lowercase hex characters of an image")
        document = self._store.get(image_id)
        if document is None:
            return None
        return {"id": image_id, "url": self._links.url_for(document), "document": document}

    def _item(self, document: dict[str, Any], filters: Filters) -> dict[str, Any]:
        return {
            "id": document["image_id"],
            "bucket": document["bucket"],
            "key": document["key"],
            "url": self._links.url_for(document),
            "labels": [
                {"name": label["name"], "confidence": label["confidence"]}
                for label in document.get("labels") or []
            ],
            "matched": matched_labels(document, filters),
            "indexed_at": document["indexed_at"],
        }
