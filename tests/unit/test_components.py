"""Components: built lazily from the settings, except what the caller gives it."""

from __future__ import annotations

from functools import cached_property

import pytest

import app as app_module
from chalicelib.components import Collaborators, Components
from chalicelib.settings import Settings
from tests.samples import s3_event_body, sqs_record
from tests.serving import serving
from tests.unit.test_ingest import FakeLabeler, FakeStore
from tests.unit.test_metrics import SILENT


def unread_settings() -> Settings:
    raise AssertionError("the settings were read")


def test_nothing_is_built_or_read_when_components_are_made():
    components = Components(load_settings=unread_settings)
    assert not {"settings", "store", "ingestor", "labeler"} & vars(components).keys()


def test_a_given_collaborator_is_the_one_used_and_nothing_behind_it_is_built():
    store = FakeStore()
    components = Components(load_settings=unread_settings, store=store)
    assert components.store is store


def test_given_settings_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("STAGE", "from-the-environment")
    assert Components(settings=Settings(stage="given")).settings.stage == "given"
    assert Components().settings.stage == "from-the-environment"


def test_what_is_built_uses_what_was_given():
    labeler, store = FakeLabeler(), FakeStore()
    components = Components(
        settings=Settings(stage="test"), labeler=labeler, store=store, logger=SILENT
    )
    ingestor = components.ingestor
    assert components.ingestor is ingestor  # built once, kept for warm invocations
    assert (
        ingestor.process([sqs_record("m-1", s3_event_body("ObjectCreated:Put", "dog.jpg"))]) == []
    )
    assert labeler.calls == [("photos", "dog.jpg", None)]  # the given labeler was asked
    assert [write.document["key"] for write in store.writes] == ["dog.jpg"]  # the given store


def test_an_explicit_none_is_kept_not_built_from_the_settings():
    components = Components(settings=Settings(upload_bucket="photos"), upload_forms=None)
    assert components.upload_forms is None


def test_a_misspelt_collaborator_is_refused_not_silently_built():
    with pytest.raises(TypeError, match="no collaborator named storage"):
        Components(storage=FakeStore())  # type: ignore[call-arg]


def test_every_collaborator_names_one_of_the_properties_it_stands_for():
    properties = {
        name for name, value in vars(Components).items() if isinstance(value, cached_property)
    }
    assert Collaborators.__optional_keys__ <= properties


def test_serving_points_the_handlers_at_the_components_and_back():
    own = app_module.components
    given = Components(load_settings=unread_settings)
    with serving(given) as served:
        assert served is given and app_module.components is given
    assert app_module.components is own


def test_the_fixture_serves_fresh_components_by_default(serve_components):
    served = serve_components()
    assert app_module.components is served and isinstance(served, Components)
