"""The API's use cases: turns request objects into store queries and JSON responses.

What cannot be answered is raised as an ApiError (chalicelib/api/errors.py); the store's own
StoreUnavailable and QueryRejected pass through to chalicelib/api/http.py, which maps them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from chalicelib.api.errors import InvalidParameter, NotFound
from chalicelib.api.params import FilterRequest, LabelsRequest, SearchRequest
from chalicelib.search.cursor import CursorCodec, InvalidCursor
from chalicelib.search.query import TOTAL_HITS_LIMIT, Filters, SearchQuery, matched_labels
from chalicelib.store.base import ImageStore
from chalicelib.vocabulary import ImageDocument

IMAGE_ID_LENGTH = 64


class ImageLinks:
    """Gives each result a URL the caller can open: presigned (the bucket is private)."""

    def __init__(self, s3_client, expiry_seconds: int, presign: bool):
        self._s3 = s3_client
        self._expiry = expiry_seconds
        self._presign = presign

    def url_for(self, document: Mapping[str, Any]) -> str:
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

    def filters(self, request: FilterRequest) -> Filters:
        min_confidence = request.min_confidence
        if min_confidence is None:  # not given: the stage's DEFAULT_MIN_CONFIDENCE
            min_confidence = self._default_min_confidence
        return Filters(
            labels=request.labels,
            match=request.match,
            expand=request.expand,
            min_confidence=min_confidence,
            text=request.text,
            bucket=request.bucket,
            prefix=request.key_prefix,
            since=request.since,
            until=request.until,
            time_field=request.time_field,
        )

    def search(self, request: SearchRequest) -> dict[str, Any]:
        query = SearchQuery(
            filters=self.filters(request),
            sort=request.sort,
            size=request.size,
            total_hits_limit=self._total_hits_limit,
        )
        if request.next_token:
            try:
                after = self._cursors.decode(query, request.next_token)
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

    def labels(self, request: LabelsRequest) -> dict[str, Any]:
        counts = self._store.label_counts(self.filters(request), request.label_prefix, request.size)
        return {"labels": [{"name": count.name, "count": count.count} for count in counts]}

    def image(self, image_id: str) -> dict[str, Any]:
        if len(image_id) != IMAGE_ID_LENGTH or not all(c in "0123456789abcdef" for c in image_id):
            raise InvalidParameter("id", "id must be the 64 lowercase hex characters of an image")
        document = self._store.get(image_id)
        if document is None:
            raise NotFound(f"no image with id {image_id}", "id")
        return {"id": image_id, "url": self._links.url_for(document), "document": document}

    def _item(self, document: ImageDocument, filters: Filters) -> dict[str, Any]:
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
