"""A model with every kind of protected field, installed only while a test class needs it.

It lives in its own registry, so that nothing outside these tests (key rotation included) sees it; the
test classes put it into the lib app and create its table inside their class transaction, which rolls
both back at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.apps import apps
from django.apps.registry import Apps
from django.db import connection, models
from hypothesis.extra.django import TestCase

from circlekeeper.lib.fields import (
    BlindIndexField,
    EncryptedDateField,
    EncryptedJSONField,
    EncryptedLongTextField,
    EncryptedTextField,
)

example_apps = Apps()


class Person(models.Model):
    organization_id = models.BigIntegerField()
    uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)
    first_name = EncryptedTextField(max_length=100, null=True, blank=True)
    last_name = EncryptedTextField(null=True, blank=True)
    story = EncryptedLongTextField(null=True, blank=True)
    date_of_birth = EncryptedDateField(null=True, blank=True)
    details = EncryptedJSONField(null=True, blank=True)
    nickname = models.CharField(max_length=50, blank=True)
    name_dob_index = BlindIndexField(
        sources=("first_name", "last_name", "date_of_birth"),
        kinds=("name", "name", "date"),
        purpose="name_dob",
    )
    # A source kept in clear beside an encrypted one.
    nickname_index = BlindIndexField(
        sources=("nickname", "last_name"), kinds=("name", "name"), purpose="nickname"
    )

    class Meta:
        app_label = "lib"
        apps = example_apps

    def __str__(self) -> str:
        return str(self.uid)


EXAMPLE_MODELS = (Person,)


@contextmanager
def installed_examples() -> Iterator[None]:
    """Make the example models part of the lib app (so rotation finds them), with their tables."""
    config = apps.get_app_config("lib")
    for model in EXAMPLE_MODELS:
        config.models[str(model._meta.model_name)] = model
    apps.clear_cache()
    # Inside the class transaction: the schema editor's context manager refuses that on SQLite, so its
    # statements run directly; both databases roll DDL back with the transaction.
    editor = connection.schema_editor()
    editor.deferred_sql = []
    try:
        for model in EXAMPLE_MODELS:
            editor.create_model(model)
        for sql in editor.deferred_sql:
            editor.execute(sql)
        yield
    finally:
        for model in EXAMPLE_MODELS:
            del config.models[str(model._meta.model_name)]
        apps.clear_cache()


class ExampleModelsTestCase(TestCase):
    """A TestCase (hypothesis runs each example in its own transaction) with the example models installed."""

    @classmethod
    def setUpTestData(cls) -> None:
        # Here rather than in setUpClass: inside the class transaction, and before subclasses' test data.
        super().setUpTestData()
        cls.enterClassContext(installed_examples())
