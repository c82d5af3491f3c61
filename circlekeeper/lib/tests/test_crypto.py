import dataclasses
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from circlekeeper.lib.crypto import (
    Context,
    DecryptionError,
    blind_index,
    decode_value,
    decrypt,
    encode_value,
    encrypt,
    generate_key,
    normalize_for_index,
    token_key_version,
    unwrap_key,
    wrap_key,
)

KEY = generate_key()
OTHER_KEY = generate_key()
INDEX_KEY = generate_key()
CONTEXT = Context(organization_id=42, model="cases.participant", field="legal_name", row_id="7")

json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)
values = (
    st.none()
    | st.text()
    | st.integers()
    | st.booleans()
    | st.dates()
    | st.lists(json_like)
    | st.dictionaries(st.text(), json_like)
)
contexts = st.builds(
    Context,
    organization_id=st.integers(min_value=1, max_value=2**40),
    model=st.text(min_size=1),
    field=st.text(min_size=1),
    row_id=st.text(min_size=1).filter(lambda s: s != "None") | st.uuids().map(str),
)


def assert_identical(out, expected):
    # `==` alone would accept True for 1 and [1] for [True]; types must survive exactly.
    assert type(out) is type(expected)
    assert out == expected
    if isinstance(expected, list):
        for o, e in zip(out, expected, strict=True):
            assert_identical(o, e)
    elif isinstance(expected, dict):
        assert list(out) == list(expected)
        for k in expected:
            assert_identical(out[k], expected[k])


def seal(value, context=CONTEXT, key=KEY, version=1):
    return encrypt(key, version, encode_value(value), context)


def unseal(token, context=CONTEXT, keys=None):
    return decode_value(decrypt(keys or {1: KEY}, token, context))


# --- Round trips and typed values ------------------------------------------------------------------


@given(value=values, context=contexts)
def test_any_value_round_trips_with_its_exact_type(value, context):
    assert_identical(unseal(seal(value, context), context), value)


def test_falsy_values_stay_distinct():
    falsy = [0, "", None, False, [], {}]
    decoded = [unseal(seal(v)) for v in falsy]
    for out, expected in zip(decoded, falsy, strict=True):
        assert_identical(out, expected)
    assert len({encode_value(v) for v in falsy}) == len(falsy)


def test_awkward_strings_round_trip():
    for text in ["", "\x00", "a\x00b", "😀𝔘𐍈", "José  García\n", "ﬁ"]:
        assert_identical(unseal(seal(text)), text)


def test_huge_ints_round_trip():
    for n in [2**200, -(2**200), -1, -128, 127, 128, 255, 256]:
        assert_identical(decode_value(encode_value(n)), n)


def test_values_that_would_come_back_different_are_refused():
    for value in [datetime(2024, 1, 5, 10, 30), 1.5, b"bytes", (1, 2), {1: "a"}, [(1, 2)]]:
        with pytest.raises(TypeError):
            encode_value(value)


def test_malformed_encoded_values_raise():
    for data in [b"", b"X", b"Nx", b"B2", b"I", b"S\xff", b"D2024-13-01", b"J{", b'J"str"']:
        with pytest.raises(DecryptionError):
            decode_value(data)


def test_same_value_encrypts_differently_each_time():
    assert seal("Jane Doe") != seal("Jane Doe")


# --- Tampering, context and keys -------------------------------------------------------------------


@given(data=st.data())
def test_flipping_any_byte_of_a_token_is_detected(data):
    token = bytearray(seal(data.draw(values)))
    index = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    token[index] ^= data.draw(st.integers(min_value=1, max_value=255))
    with pytest.raises(DecryptionError):
        decrypt({1: KEY}, bytes(token), CONTEXT)


@given(
    field=st.sampled_from(["organization_id", "model", "field", "row_id"]),
    replacement=st.integers(min_value=1, max_value=10**6) | st.text(min_size=1),
)
def test_token_from_another_context_fails(field, replacement):
    if field == "organization_id":
        replacement = CONTEXT.organization_id + (replacement if isinstance(replacement, int) else 1)
    else:
        replacement = str(replacement)
        if replacement in (getattr(CONTEXT, field), "None"):
            replacement += "x"
    other = dataclasses.replace(CONTEXT, **{field: replacement})
    with pytest.raises(DecryptionError, match="does not belong to this context"):
        decrypt({1: KEY}, seal("secret"), other)


def test_context_parts_cannot_be_shifted_between_fields():
    token = seal("secret", Context(organization_id=1, model="ab", field="c", row_id="1"))
    with pytest.raises(DecryptionError):
        decrypt({1: KEY}, token, Context(organization_id=1, model="a", field="bc", row_id="1"))


def test_context_refuses_an_unsaved_row():
    for row_id in ["", "None"]:
        with pytest.raises(ValueError):
            Context(organization_id=1, model="m", field="f", row_id=row_id)


def test_wrong_key_fails():
    with pytest.raises(DecryptionError):
        decrypt({1: OTHER_KEY}, seal("secret"), CONTEXT)


def test_unknown_key_version_names_the_version():
    with pytest.raises(DecryptionError, match="unknown key version 3"):
        decrypt({1: KEY, 2: OTHER_KEY}, seal("secret", version=3), CONTEXT)


def test_each_token_decrypts_under_its_own_key_version():
    keys = {1: KEY, 2: OTHER_KEY}
    old, new = seal("old", key=KEY, version=1), seal("new", key=OTHER_KEY, version=2)
    assert unseal(old, keys=keys) == "old"
    assert unseal(new, keys=keys) == "new"


def test_truncated_token_fails():
    token = seal("secret")
    for length in range(len(token)):
        with pytest.raises(DecryptionError):
            decrypt({1: KEY}, token[:length], CONTEXT)
    with pytest.raises(DecryptionError, match="too short"):
        decrypt({1: KEY}, token[:10], CONTEXT)


def test_unsupported_format_version_fails():
    token = b"\x02" + seal("secret")[1:]
    with pytest.raises(DecryptionError, match="unsupported format version 2"):
        decrypt({1: KEY}, token, CONTEXT)


@given(version=st.integers(min_value=0, max_value=2**32 - 1))
def test_token_key_version_is_read_without_a_key(version):
    assert token_key_version(seal("x", version=version)) == version


def test_token_key_version_rejects_garbage():
    with pytest.raises(DecryptionError):
        token_key_version(b"\x01\x00")


def test_keys_must_be_32_bytes():
    with pytest.raises(ValueError):
        encrypt(KEY[:16], 1, b"x", CONTEXT)


# --- Key wrapping ----------------------------------------------------------------------------------


def test_wrapped_key_round_trips():
    master, data_key = generate_key(), generate_key()
    wrapped = wrap_key(master, data_key, label="org:42:data:v3")
    assert data_key not in wrapped
    assert unwrap_key(master, wrapped, label="org:42:data:v3") == data_key
    assert wrap_key(master, data_key, label="org:42:data:v3") != wrapped


def test_unwrapping_with_the_wrong_master_key_fails():
    wrapped = wrap_key(generate_key(), generate_key(), label="org:42:data:v3")
    with pytest.raises(DecryptionError):
        unwrap_key(generate_key(), wrapped, label="org:42:data:v3")


def test_unwrapping_under_another_label_fails():
    master = generate_key()
    wrapped = wrap_key(master, generate_key(), label="org:42:data:v3")
    for label in ["org:43:data:v3", "org:42:index:v3", "org:42:data:v2"]:
        with pytest.raises(DecryptionError):
            unwrap_key(master, wrapped, label=label)


def test_unwrapping_a_truncated_key_fails():
    master = generate_key()
    wrapped = wrap_key(master, generate_key(), label="l")
    for length in (0, 20, len(wrapped) - 1):
        with pytest.raises(DecryptionError):
            unwrap_key(master, wrapped[:length], label="l")


# --- Blind index -----------------------------------------------------------------------------------


def index(kind, value, key=INDEX_KEY):
    return blind_index(key, kind, [normalize_for_index(kind, value)])


@pytest.mark.parametrize(
    ("kind", "spellings"),
    [
        ("name", ["José  García", "jose garcia", " JOSÉ GARCÍA ", "José\tGarcía"]),
        ("name", ["O'Brien", "OBrien", "o’brien"]),
        ("name", ["Mary-Jane Smith", "mary jane smith", "Mary Jane, Smith"]),
        (
            "phone",
            ["(415) 555-0100", "+1 415 555 0100", "415.555.0100", "1-415-555-0100", "４１５５５５０１００"],
        ),
        ("email", ["A@Example.org ", "a@example.org"]),
        ("date", ["2024-01-05", date(2024, 1, 5), " 2024-01-05"]),
        ("text", ["Main  Street", "main street", "ＭＡＩＮ street"]),
    ],
)
def test_the_same_value_written_differently_collides(kind, spellings):
    assert len({index(kind, spelling) for spelling in spellings}) == 1


def test_different_values_do_not_collide():
    assert index("name", "Jose Garcia") != index("name", "Josefa Garcia")
    assert index("phone", "415 555 0100") != index("phone", "415 555 0101")
    assert index("phone", "+44 20 7946 0000") != index("phone", "20 7946 0000")
    assert index("email", "a@example.org") != index("email", "b@example.org")


def test_different_keys_and_purposes_do_not_collide():
    assert index("name", "Jose Garcia") != index("name", "Jose Garcia", key=generate_key())
    assert blind_index(INDEX_KEY, "name", ["x"]) != blind_index(INDEX_KEY, "email", ["x"])


def test_parts_are_combined_unambiguously():
    assert blind_index(INDEX_KEY, "p", ["ab", "c"]) != blind_index(INDEX_KEY, "p", ["a", "bc"])
    name_dob = [normalize_for_index("name", "José García"), normalize_for_index("date", date(1990, 2, 3))]
    assert blind_index(INDEX_KEY, "name_dob", name_dob) == blind_index(
        INDEX_KEY, "name_dob", ["jose garcia", "1990-02-03"]
    )


@given(kind=st.sampled_from(["name", "email", "text"]), value=st.text())
def test_index_is_hex_of_fixed_length(kind, value):
    normalized = normalize_for_index(kind, value)
    if normalized:
        digest = blind_index(INDEX_KEY, kind, [normalized])
        assert len(digest) == 64
        int(digest, 16)


def test_unknown_kind_raises():
    with pytest.raises(ValueError, match="unknown normalization kind"):
        normalize_for_index("ssn", "123")


def test_invalid_date_raises():
    with pytest.raises(ValueError):
        normalize_for_index("date", "5 January 2024")


def test_empty_values_and_bare_strings_are_refused():
    with pytest.raises(ValueError):
        blind_index(INDEX_KEY, "phone", [normalize_for_index("phone", "n/a")])
    with pytest.raises(ValueError):
        blind_index(INDEX_KEY, "name", [])
    with pytest.raises(TypeError):
        blind_index(INDEX_KEY, "name", "jose")
