"""Questions written by rules over spaCy's parse of a stored sentence, for training the evidence model.

For each named entity of a sentence, the entity becomes the answer and the sentence becomes a
question about it: the subject is replaced by a wh-word ("Rollo founded Normandy" -> "Who founded
Normandy?"), or the auxiliary is moved to the front, with do-support when there is none ("The
Normans reached Italy in 999" -> "When did the Normans reach Italy?"). The questions are
clumsy next to a person's, but they ask for what the sentence answers, need no labels and no
model, and come only from the customer's own (already redacted) text.
"""

from __future__ import annotations

from typing import Any

from appliance.backends.presidio_detector import resolve_spacy_model

WH_WORDS = {
    "PERSON": "Who",
    "NORP": "Which people",
    "ORG": "Which organisation",
    "GPE": "Where",
    "LOC": "Where",
    "FAC": "Which place",
    "DATE": "When",
    "TIME": "At what time",
    "CARDINAL": "How many",
    "MONEY": "How much",
    "QUANTITY": "How much",
    "PERCENT": "What percentage",
    "EVENT": "Which event",
    "WORK_OF_ART": "Which work",
    "LAW": "Which law",
    "LANGUAGE": "Which language",
}
SUBJECTS = {"nsubj", "nsubjpass"}
DO_SUPPORT = {"VBD": "did", "VBZ": "does", "VBP": "do"}
MODIFIERS = {"amod", "compound", "poss", "nmod"}  # "Norman knights": asking "Which people knights?" makes no sense
ASIDES = {"conj", "cc", "advcl", "parataxis", "ccomp", "punct"}


class SpacyQuestionWriter:
    """(question, answer) pairs from one sentence, by the rules above."""

    def __init__(self, spacy_model: str) -> None:
        import spacy

        resolved = resolve_spacy_model(spacy_model)
        if resolved is None:
            raise RuntimeError(f"spaCy model {spacy_model!r} is not installed; run `make install`")
        self._nlp = spacy.load(resolved)

    def questions(self, sentence: str) -> list[tuple[str, str]]:
        doc = self._nlp(" ".join(sentence.split()))
        if len(list(doc.sents)) != 1:
            return []
        found: list[tuple[str, str]] = []
        for ent in doc.ents:
            if ent.label_ not in WH_WORDS or ent.root.dep_ in MODIFIERS or "<" in ent.text or len(ent) > len(doc) // 2:
                continue
            question = _question(doc, ent, WH_WORDS[ent.label_])
            if question and ent.text.lower() not in question.lower():
                found.append((question, ent.text))
        return found


def _question(doc: Any, ent: Any, wh: str) -> str | None:
    sentence = next(iter(doc.sents))
    root = sentence.root
    if root.pos_ not in {"VERB", "AUX"}:
        return None
    removed = set(range(ent.start, ent.end))
    head = ent.root.head
    if ent.root.dep_ == "pobj" and head.dep_ == "prep" and {t.i for t in head.subtree} <= removed | {head.i}:
        removed.add(head.i)  # "in 999" goes with its entity
    for child in root.children:  # side clauses and asides that do not hold the entity are left out
        if child.dep_ in ASIDES and ent.root.i not in {t.i for t in child.subtree}:
            removed |= {t.i for t in child.subtree}
    removed |= {t.i for t in sentence if t.dep_ == "appos" or t.text in "()[]"}
    subject = [t for t in root.children if t.dep_ in SUBJECTS]
    if not subject:
        return None
    subject_span = {t.i for t in subject[0].subtree}
    kept = [t for t in sentence if t.i not in removed and (not t.is_punct or t.text in ",-'")]
    if ent.root.i in subject_span:
        if ent.root != subject[0]:
            return None  # the entity is only part of the subject: no clean question
        return _joined([wh], [t for t in kept if t.i > max(subject_span)], None)
    auxes = [t for t in root.children if t.dep_ in {"aux", "auxpass"} and t.i < root.i]
    if auxes:
        front = auxes[0]
    elif root.lemma_ == "be" or root.pos_ == "AUX":
        front = root
    elif root.tag_ in DO_SUPPORT:
        return _joined([wh, DO_SUPPORT[root.tag_]], kept, root)
    else:
        return None
    return _joined([wh, front.text.lower()], [t for t in kept if t.i != front.i], None)


def _joined(front: list[str], tokens: list[Any], base_form: Any) -> str | None:
    """The question: the wh-word (and auxiliary), then the kept tokens, the verb in its base form after do."""
    words = []
    for position, token in enumerate(tokens):
        text = token.lemma_ if base_form is not None and token.i == base_form.i else token.text
        if position == 0 and token.pos_ not in {"PROPN"} and not text.isupper():
            text = text.lower()
        joined = position + 1 < len(tokens) and tokens[position + 1].i == token.i + 1
        words.append(text + (token.whitespace_ if joined else " "))
    body = " ".join("".join(words).split()).strip(" ,;:-")
    body = body.replace(" ,", ",").replace(",,", ",")
    text = " ".join(front) + " " + body
    return f"{text}?" if len(text.split()) >= 4 else None
