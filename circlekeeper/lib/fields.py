"""Encrypted model fields and blind indexes (SECURITY.md 6-9).

Code reads and writes an encrypted field as plain Python (str, date, dict...); the column holds only the
AES-GCM token, bound to (organization, model, field, row uid, key version). A model with encrypted fields
needs `organization_id` and `uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)`: the
row is named by its uid because an auto-increment pk is not known before the INSERT.

- Writes: Model.save() and QuerySet.bulk_create() encrypt (through pre_save). QuerySet.update() and
  bulk_update() cannot bind a value to its row, so they refuse plaintext.
- Reads: a value is decrypted the first time it is read, so loading a row decrypts nothing it does not use.
  Decryption failures raise crypto.DecryptionError (keys.KeysDestroyed after shredding), never garbage.
  refresh_from_db() and full_clean() read, hence decrypt, every loaded encrypted field.
- values() / values_list() return the raw tokens (bytes), not plaintext: never use them on encrypted fields
  except to copy tokens as they are (key rotation does).
- Filters and lookups on encrypted fields are refused, except `isnull`; equality lookups go through a
  BlindIndexField and blind_index_for().
- Fixtures (loaddata) and dumpdata are not supported for encrypted fields: raw saves cannot encrypt.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from django import forms
from django.apps import apps
from django.core import validators
from django.core.exceptions import FieldError, ImproperlyConfigured, ValidationError
from django.db import connection, models, transaction
from django.db.models.lookups import Exact
from django.db.models.signals import class_prepared
from django.utils.dateparse import parse_date

from circlekeeper.lib import crypto, keys
from circlekeeper.lib.crypto import DecryptionError


class _Sealed(bytes):
    """A token as read from the database (or produced by pre_save), not decrypted here yet.

    A bytes subclass, so values()/values_list() hand back plain bytes-like tokens, while the descriptor
    can tell a token it must decrypt from a value the code assigned.
    """

    __slots__ = ()


def _refuse_plaintext_write(field: models.Field[Any, Any]) -> TypeError:
    return TypeError(
        f"{field.model._meta.label}.{field.name} is encrypted and bound to its row: write it by assigning the "
        "attribute and calling save() or bulk_create(); QuerySet.update() and bulk_update() cannot encrypt"
    )


class _EncryptedAttribute(models.query_utils.DeferredAttribute):
    """Holds a not-yet-decrypted token (from the database) or the plaintext the code assigned."""

    field: EncryptedField

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if isinstance(value, _Sealed):
            value = self.field.decrypt_for(instance, value)
            # From here on it is plaintext: if the code changes it (a dict in place, say), save() must
            # encrypt the change rather than keep the old token.
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        if value is not None and not isinstance(value, _Sealed):
            self.field.check_plaintext(value)
        instance.__dict__[self.field.attname] = value


class _RefusedLookup(Exact):
    """`field=None` becomes `field__isnull=True` (Django rewrites it after creating this); anything else fails."""

    def __init__(self, lhs: Any, rhs: Any) -> None:
        if rhs is not None:
            raise FieldError(_no_lookups_message(lhs.output_field))
        super().__init__(lhs, rhs)


def _no_lookups_message(field: models.Field[Any, Any]) -> str:
    return (
        f"{field.model._meta.label}.{field.name} is encrypted: the database cannot compare or search it "
        "(only isnull works). Use a BlindIndexField and blind_index_for() for equality lookups."
    )


class EncryptedField(models.Field):
    """Base of the encrypted fields: a nullable binary column holding one AES-GCM token per value."""

    descriptor_class = _EncryptedAttribute
    # What check_plaintext accepts, and how to name it in an error.
    plaintext_types: ClassVar[tuple[type, ...]] = ()
    plaintext_description: ClassVar[str] = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for option in ("primary_key", "unique", "db_index"):
            if kwargs.get(option):
                raise TypeError(
                    f"an encrypted field cannot have {option}=True: the database cannot compare it"
                )
        super().__init__(*args, **kwargs)

    def get_internal_type(self) -> str:
        return "BinaryField"

    # --- values --------------------------------------------------------------------------------

    def check_plaintext(self, value: object) -> None:
        # bool is an int, and datetime a date: each field says which it refuses.
        if not isinstance(value, self.plaintext_types) or self._refuses(value):
            raise TypeError(
                f"{self.model._meta.label}.{self.name} takes {self.plaintext_description} or None, "
                f"not {type(value).__name__}"
            )

    def _refuses(self, value: object) -> bool:
        return False

    def context_for(self, organization_id: int, uid: object) -> crypto.Context:
        # The model the field belongs to (not a proxy's), so a proxy reads what the model wrote.
        return crypto.Context(
            organization_id=organization_id,
            model=self.model._meta.label_lower,
            field=self.name,
            row_id=str(uid),
        )

    def _describe(self, uid: object) -> str:
        return f"{self.model._meta.label}.{self.name} of row {uid}"

    def decrypt_token(self, organization_id: int, uid: object, token: bytes) -> Any:
        try:
            value = keys.decrypt_value(organization_id, self.context_for(organization_id, uid), token)
        except keys.KeysDestroyed as exc:
            raise exc.restated(f"cannot decrypt {self._describe(uid)}: {exc}") from None
        except DecryptionError as exc:
            raise type(exc)(f"cannot decrypt {self._describe(uid)}: {exc}") from None
        if value is not None and (not isinstance(value, self.plaintext_types) or self._refuses(value)):
            raise DecryptionError(f"cannot decrypt {self._describe(uid)}: it holds a {type(value).__name__}")
        return value

    def decrypt_for(self, instance: models.Model, token: bytes) -> Any:
        return self.decrypt_token(instance.organization_id, instance.uid, token)  # type: ignore[attr-defined]

    def encrypt_for(self, organization_id: int, uid: object, value: object) -> _Sealed:
        try:
            token = keys.encrypt_value(organization_id, self.context_for(organization_id, uid), value)
        except TypeError as exc:
            raise TypeError(f"{self.model._meta.label}.{self.name}: {exc}") from None
        return _Sealed(token)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        data = model_instance.__dict__
        value = data[self.attname] if self.attname in data else getattr(model_instance, self.attname)
        if value is None:
            return None
        organization_id = model_instance.organization_id  # type: ignore[attr-defined]
        if isinstance(value, _Sealed):
            # Untouched since it was read: keep the token as it is (nothing to decrypt), unless a rotation
            # has begun, in which case the old version must not be written back.
            if crypto.token_key_version(value) == keys.keyring_for(organization_id).data_version:
                return value
            value = getattr(model_instance, self.attname)
        self.check_plaintext(value)
        return self.encrypt_for(organization_id, model_instance.uid, value)  # type: ignore[attr-defined]

    def get_prep_value(self, value: Any) -> Any:
        if value is None or isinstance(value, _Sealed):
            return value
        if hasattr(value, "resolve_expression"):
            return value
        raise _refuse_plaintext_write(self)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return connection.Database.Binary(bytes(value))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> _Sealed | None:
        return None if value is None else _Sealed(value)

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        if lookup_name == "exact":
            return _RefusedLookup
        raise FieldError(_no_lookups_message(self))

    def get_transform(self, lookup_name: str) -> Any:
        raise FieldError(_no_lookups_message(self))

    def value_to_string(self, obj: models.Model) -> str:
        raise FieldError(
            f"{self.model._meta.label}.{self.name} is encrypted and is not serialized (dumpdata would write it "
            "in clear); use the backup command"
        )


class EncryptedTextField(EncryptedField):
    """Text (names, contact details) stored encrypted; an optional max_length is checked, not stored."""

    plaintext_types = (str,)
    plaintext_description = "a str"

    def __init__(self, *args: Any, max_length: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_length = max_length
        if max_length is not None:
            self.validators.append(validators.MaxLengthValidator(max_length))

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.max_length is not None:
            kwargs["max_length"] = self.max_length
        return name, path, args, kwargs

    def to_python(self, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        raise ValidationError(f"{self.name}: expected text, not {type(value).__name__}", code="invalid")

    def formfield(
        self,
        form_class: type[forms.Field] | None = None,
        choices_form_class: type[forms.ChoiceField] | None = None,
        **kwargs: Any,
    ) -> forms.Field | None:
        defaults: dict[str, Any] = {"max_length": self.max_length}
        if self.null:
            defaults["empty_value"] = None
        return super().formfield(form_class or forms.CharField, choices_form_class, **{**defaults, **kwargs})


class EncryptedLongTextField(EncryptedTextField):
    """Narratives and notes: stored like EncryptedTextField, edited in a textarea."""

    def formfield(
        self,
        form_class: type[forms.Field] | None = None,
        choices_form_class: type[forms.ChoiceField] | None = None,
        **kwargs: Any,
    ) -> forms.Field | None:
        kwargs.setdefault("widget", forms.Textarea)
        return super().formfield(form_class, choices_form_class, **kwargs)


class EncryptedDateField(EncryptedField):
    """A date (e.g. of birth) stored encrypted; a datetime is refused, as it would lose its time."""

    empty_strings_allowed = False
    plaintext_types = (datetime.date,)
    plaintext_description = "a datetime.date"

    def _refuses(self, value: object) -> bool:
        return isinstance(value, datetime.datetime)

    def to_python(self, value: Any) -> Any:
        if value is None or (isinstance(value, datetime.date) and not isinstance(value, datetime.datetime)):
            return value
        if isinstance(value, str):
            try:
                parsed = parse_date(value)
            except ValueError:
                parsed = None
            if parsed is not None:
                return parsed
        raise ValidationError(f"{self.name}: expected a date, not {value!r}", code="invalid")

    def formfield(
        self,
        form_class: type[forms.Field] | None = None,
        choices_form_class: type[forms.ChoiceField] | None = None,
        **kwargs: Any,
    ) -> forms.Field | None:
        return super().formfield(form_class or forms.DateField, choices_form_class, **kwargs)


class EncryptedJSONField(EncryptedField):
    """A dict, list, str, int or bool stored encrypted (no top-level floats: they would not round-trip)."""

    plaintext_types = (dict, list, str, int)
    plaintext_description = "a dict, list, str, int or bool"

    def to_python(self, value: Any) -> Any:
        if value is None or (isinstance(value, self.plaintext_types)):
            return value
        raise ValidationError(f"{self.name}: expected JSON data, not {type(value).__name__}", code="invalid")

    def formfield(
        self,
        form_class: type[forms.Field] | None = None,
        choices_form_class: type[forms.ChoiceField] | None = None,
        **kwargs: Any,
    ) -> forms.Field | None:
        return super().formfield(form_class or forms.JSONField, choices_form_class, **kwargs)

    def validate(self, value: Any, model_instance: models.Model | None) -> None:
        super().validate(value, model_instance)
        try:
            crypto.encode_value(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"{self.name}: {exc}", code="invalid") from None


# --- Blind indexes ----------------------------------------------------------------------------


class _NoEmptyIndexLookup(Exact):
    """`index=None` would match every row without an index ("everyone without a name is the same person")."""

    def __init__(self, lhs: Any, rhs: Any) -> None:
        if rhs is None:
            raise ValueError(
                "blind index lookup with None: blind_index_for() returns None for an empty value, which "
                "matches nobody; check for None before filtering"
            )
        super().__init__(lhs, rhs)


class BlindIndexField(models.CharField):
    """A keyed HMAC of normalized source values, for equality lookups on encrypted fields (SECURITY.md 8).

    BlindIndexField(sources=("first_name", "last_name", "date_of_birth"), kinds=("name", "name", "date"),
    purpose="name_dob") is computed on save from the instance's plaintext sources with the organization's
    index key, and is NULL when any source is empty. Look rows up with blind_index_for().
    """

    def __init__(
        self,
        *args: Any,
        sources: Sequence[str] = (),
        kinds: Sequence[str] = (),
        purpose: str = "",
        **kwargs: Any,
    ) -> None:
        if not sources or len(sources) != len(kinds) or not purpose:
            raise TypeError("BlindIndexField needs sources, as many kinds, and a purpose")
        for kind in kinds:
            crypto.normalize_for_index(kind, "2000-01-01")  # raises ValueError on an unknown kind
        self.sources, self.kinds, self.purpose = tuple(sources), tuple(kinds), purpose
        kwargs.update(max_length=64, null=True, blank=True, db_index=True, editable=False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        for forced in ("max_length", "null", "blank", "db_index", "editable"):
            kwargs.pop(forced, None)
        kwargs.update(sources=self.sources, kinds=self.kinds, purpose=self.purpose)
        return name, path, args, kwargs

    def compute(self, organization_id: int, values: Sequence[object]) -> str | None:
        return blind_index_for(organization_id, self.purpose, self.kinds, values)

    def _kept(self, instance: models.Model) -> bool:
        """True when every source is an untouched token under the current key: the index is still right."""
        data = instance.__dict__
        if data.get(self.attname) is None:
            return False
        current = None
        for source in self.sources:
            value = data.get(source)
            if not isinstance(value, _Sealed):
                return False
            if current is None:
                current = keys.keyring_for(instance.organization_id).data_version  # type: ignore[attr-defined]
            if crypto.token_key_version(value) != current:
                return False
        return True

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        if self._kept(model_instance):
            return model_instance.__dict__[self.attname]
        value = self.compute(
            model_instance.organization_id,  # type: ignore[attr-defined]
            [getattr(model_instance, source) for source in self.sources],
        )
        setattr(model_instance, self.attname, value)
        return value

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "exact":
            return _NoEmptyIndexLookup
        return super().get_lookup(lookup_name)


def _check_protected_model(sender: type[models.Model], **_kwargs: Any) -> None:
    """Refuse, when a model class is made, encrypted fields or blind indexes that could not name their row."""
    if sender.__module__ == "__fake__":
        return  # a migration's historical model, which may be half-way through gaining its uid
    opts = sender._meta
    fields = opts.concrete_fields
    encrypted = [f.name for f in fields if isinstance(f, EncryptedField)]
    indexes = [f for f in fields if isinstance(f, BlindIndexField)]
    if not encrypted and not indexes:
        return
    has_organization = "organization_id" in {f.attname for f in fields}
    uid = next((f for f in fields if f.name == "uid"), None)
    if encrypted and (not has_organization or uid is None or not uid.unique):
        raise ImproperlyConfigured(
            f"{opts.label} has encrypted fields ({', '.join(encrypted)}) and so needs an `organization_id` "
            "(e.g. a ForeignKey named organization) and "
            "`uid = models.UUIDField(default=uuid.uuid4, editable=False, unique=True)`: "
            "each value is bound to its organization and row"
        )
    names = {f.name for f in fields}
    for index in indexes:
        missing = [s for s in index.sources if s not in names]
        if missing or not has_organization:
            raise ImproperlyConfigured(
                f"{opts.label}.{index.name}: a blind index needs `organization_id` and its sources as fields "
                f"of the model (missing: {', '.join(missing) or 'organization_id'})"
            )


class_prepared.connect(_check_protected_model, dispatch_uid="circlekeeper.lib.fields.check_protected_model")


def _normalized_parts(kinds: Sequence[str], values: Sequence[object]) -> list[str] | None:
    if len(kinds) != len(values):
        raise ValueError("as many values as kinds are needed")
    parts = []
    for kind, value in zip(kinds, values, strict=True):
        if value is None or value == "":
            return None
        if not isinstance(value, str | datetime.date):
            raise TypeError(f"cannot index a {type(value).__name__}")
        part = crypto.normalize_for_index(kind, value)
        if not part:  # e.g. a name of only punctuation or spaces
            return None
        parts.append(part)
    return parts


def blind_index_for(
    organization_id: int, purpose: str, kinds: Sequence[str], values: Sequence[object]
) -> str | None:
    """The blind index of these values under the organization's current index key; None if any is empty.

    Model.objects.filter(organization_id=org.pk, name_dob_index=blind_index_for(org.pk, "name_dob",
    ("name", "name", "date"), (first, last, dob))): check for None first (filtering on None is refused).
    """
    parts = _normalized_parts(kinds, values)
    return None if parts is None else keys.blind_index_value(organization_id, purpose, parts)


def blind_indexes_for(
    organization_id: int, purpose: str, kinds: Sequence[str], values: Sequence[object]
) -> list[str]:
    """Like blind_index_for, under every live index key (filter with `__in`): complete even mid-rotation."""
    parts = _normalized_parts(kinds, values)
    return [] if parts is None else keys.blind_index_values(organization_id, purpose, parts)


# --- Key rotation: re-encrypting rows ----------------------------------------------------------


def protected_models() -> list[tuple[type[models.Model], list[EncryptedField], list[BlindIndexField]]]:
    """Every model with encrypted fields or blind indexes, with those fields."""
    found = []
    for model in apps.get_models():
        if model._meta.proxy:
            continue
        local = model._meta.local_concrete_fields
        encrypted = [f for f in local if isinstance(f, EncryptedField)]
        indexes = [f for f in local if isinstance(f, BlindIndexField)]
        if encrypted or indexes:
            found.append((model, encrypted, indexes))
    return found


def reencrypt_organization(
    organization_id: int, *, batch_size: int, on_batch: Callable[[str, int, int], None]
) -> tuple[int, int]:
    """Bring every row of the organization to its current keys, in batches by pk; (checked, rewritten)."""
    checked = rewritten = 0
    for model, encrypted, indexes in protected_models():
        last_pk: Any = None
        while True:
            with transaction.atomic():
                rows = _lock_batch(model, organization_id, encrypted, indexes, last_pk, batch_size)
                if not rows:
                    break
                last_pk = rows[-1]["pk"]
                changes = _reencrypt_rows(organization_id, encrypted, indexes, rows)
                _write(model, changes)
                checked += len(rows)
                rewritten += len(changes)
                on_batch(model._meta.label_lower, len(rows), len(changes))
    return checked, rewritten


def _lock_batch(
    model: type[models.Model],
    organization_id: int,
    encrypted: list[EncryptedField],
    indexes: list[BlindIndexField],
    last_pk: Any,
    batch_size: int,
) -> list[dict[str, Any]]:
    queryset = model._base_manager.filter(organization_id=organization_id)
    if last_pk is not None:
        queryset = queryset.filter(pk__gt=last_pk)
    names = {"uid"} if encrypted else set()
    names |= {f.attname for f in encrypted} | {f.attname for f in indexes}
    names |= {source for index in indexes for source in index.sources}
    # Locked, so that a page saving one of these rows waits for the batch rather than overwriting it.
    return list(queryset.select_for_update().order_by("pk").values("pk", *sorted(names))[:batch_size])


def _reencrypt_rows(
    organization_id: int,
    encrypted: list[EncryptedField],
    indexes: list[BlindIndexField],
    rows: list[dict[str, Any]],
) -> dict[Any, dict[str, Any]]:
    current = keys.keyring_for(organization_id).data_version
    encrypted_names = {f.name for f in encrypted}
    changes: dict[Any, dict[str, Any]] = {}
    for row in rows:
        tokens = {f: row[f.attname] for f in encrypted if row[f.attname] is not None}
        stale = [f for f, token in tokens.items() if crypto.token_key_version(token) != current]
        if not stale and all(_index_is_current(index, encrypted_names, row) for index in indexes):
            continue
        plain = {f.name: f.decrypt_token(organization_id, row["uid"], t) for f, t in tokens.items()}
        change: dict[str, Any] = {
            f.attname: f.encrypt_for(organization_id, row["uid"], plain[f.name]) for f in stale
        }
        for index in indexes:
            values = [plain[s] if s in plain else row[s] for s in index.sources]
            value = index.compute(organization_id, values)
            if value != row[index.attname]:
                change[index.attname] = value
        if change:
            changes[row["pk"]] = change
    return changes


def _index_is_current(index: BlindIndexField, encrypted_names: set[str], row: dict[str, Any]) -> bool:
    """Whether the row shows that this index was made with the current index key (else it is recomputed).

    Data and index keys rotate together, so an index whose sources are all tokens under the current data
    key was made with the current index key. A source in clear, or an index beside empty sources, proves
    nothing; recomputing those is harmless (the row is rewritten only if the value differs).
    """
    if any(source not in encrypted_names for source in index.sources):
        return False
    if any(row[source] is None for source in index.sources):
        return row[index.attname] is None
    return True


def _write(model: type[models.Model], changes: dict[Any, dict[str, Any]]) -> None:
    """One UPDATE ... CASE per chunk of rows (as bulk_update does), writing tokens as they are."""
    if not changes:
        return
    attnames = sorted({name for change in changes.values() for name in change})
    fields = {name: model._meta.get_field(name) for name in attnames}
    per_row_params = 2 * len(attnames) + 1
    chunk = max(1, (connection.features.max_query_params or 10_000) // per_row_params - 1)
    pks = list(changes)
    for start in range(0, len(pks), chunk):
        part = pks[start : start + chunk]
        updates = {}
        for name in attnames:
            output: models.Field[Any, Any] = (
                models.BinaryField() if isinstance(fields[name], EncryptedField) else models.CharField()
            )
            whens = [
                models.When(pk=pk, then=models.Value(changes[pk][name], output_field=output))
                for pk in part
                if name in changes[pk]
            ]
            updates[name] = models.Case(*whens, default=models.F(name), output_field=output)
        model._base_manager.filter(pk__in=part).update(**updates)


__all__ = [
    "BlindIndexField",
    "EncryptedDateField",
    "EncryptedField",
    "EncryptedJSONField",
    "EncryptedLongTextField",
    "EncryptedTextField",
    "blind_index_for",
    "blind_indexes_for",
    "protected_models",
]
