"""The pages a survivor or any participant reads in Spanish speak to them in one form of address: usted, never tú
(issue 18). Staff pages may use tú; these may not: the public pages, the participant's questionnaire and its
messages, the participant's view of their commitments, the page shell's quick exit and the 404 page."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "locale/es/LC_MESSAGES/django.po"

PARTICIPANT_FILES = {
    "templates/base.html",
    "templates/404.html",
    "templates/home.html",
    "circlekeeper/instruments/answering.py",
    *(
        str(path.relative_to(ROOT))
        for folder in (
            "circlekeeper/instruments/templates/instruments/link",
            "circlekeeper/instruments/templates/instruments/answer",
            "circlekeeper/accountability/templates/accountability/progress",
            "circlekeeper/community/templates/community/public",
        )
        for path in (ROOT / folder).glob("*.html")
    ),
}
# Shown only to staff entering answers for someone: staff pages use tú.
STAFF_ONLY = {"circlekeeper/instruments/templates/instruments/answer/_heading.html"}
# The questionnaire form's own messages (forms.py also holds staff forms, so these are named one by one).
ANSWER_MESSAGES = {
    "Answer this question.",
    "Answer this question or choose “Prefer not to say”.",
    "Choose “Prefer not to say” alone, or only other answers.",
    "For each statement, choose every answer that applies.",
    "For each statement, choose one answer.",
}

# Words only tú uses (its pronouns and verb forms, and -te attached to a verb).
TU = re.compile(
    r"\b(tú|tu|tus|te|ti|contigo|puedes|puedas|quieres|tienes|estás|eres|envíes|esperabas|decidas|"
    r"revísalas|escríbelo|ayudarte|ponerte)\b",
    re.IGNORECASE,
)
# Imperatives of tú, which read like usted's present tense ("usted elige"): caught where they command, at the
# start of a sentence or after "o".
TU_IMPERATIVE = re.compile(
    r"(?:^|[.;:!?¡¿(«]\s*|\bo\s+)(revisa|escribe|elige|responde|presiona|llama|envía|vuelve|pregunta|guarda|abre)\b",
    re.IGNORECASE,
)


def informal(text: str) -> bool:
    return bool(TU.search(text) or TU_IMPERATIVE.search(text))


def entries() -> list[tuple[set[str], str, str]]:
    found = []
    for block in CATALOG.read_text(encoding="utf-8").split("\n\n"):
        sources = {
            ref.rsplit(":", 1)[0] for line in re.findall(r"^#: (.*)$", block, re.M) for ref in line.split()
        }
        msgid = re.search(r'^msgid ((?:".*"\n?)+)', block, re.M)
        msgstrs = re.findall(r'^msgstr(?:\[\d\])? ((?:".*"\n?)+)', block, re.M)
        if msgid and msgstrs:
            join = lambda text: "".join(re.findall(r'"(.*)"', text)).replace('\\"', '"')  # noqa: E731
            for msgstr in msgstrs:
                found.append((sources, join(msgid.group(1)), join(msgstr)))
    return found


def test_participant_pages_say_usted_throughout() -> None:
    found = [
        (msgid, msgstr)
        for sources, msgid, msgstr in entries()
        if ((sources & PARTICIPANT_FILES) - STAFF_ONLY or msgid in ANSWER_MESSAGES) and informal(msgstr)
    ]
    assert not found, "\n".join(f"{msgid!r} -> {msgstr!r}" for msgid, msgstr in found)


def test_the_check_finds_tu_where_it_is() -> None:
    for text in (
        "Revisa tus respuestas",
        "Si estás en peligro ahora mismo, llama al 911.",
        "Responde esta pregunta.",
        "Sale de esta página de inmediato (o presiona Esc).",
        "Revise la dirección o vuelve atrás.",
    ):
        assert informal(text), text
    for text in (
        "Revise sus respuestas",
        "Si está en peligro ahora mismo, llame al 911.",
        "Usted elige si participa.",
        "Si la situación se vuelve más peligrosa, el contacto se detiene.",
        "Una pregunta sobre su seguridad.",
    ):
        assert not informal(text), text
