"""Evidence examples from a collection's own stored documents, with no external labels.

Each stored sentence long enough to answer something gives questions (written locally, by rules over
the spaCy parse: appliance/backends/question_rules.py). A question is kept only when three checks
pass:
- retrievable: `ask`'s own retrieval and ranking put its sentence among the candidates the model sees;
- not a copy: the question does not contain its answer and is not the sentence itself;
- unanswerable without it: no other candidate contains the answer, so removing the sentence (and
  every chunk that holds it) leaves a list that does not answer the question.
A kept question gives an answerable example (the candidates as `ask` builds them, the target id)
and an unanswerable one, target []:
- a changed detail (preferred): the question with one name, number or pseudonym it shares with its
  sentence swapped for another of the same kind from the collection, asked as `ask` would. Its
  sentence is still among the candidates and fits the question's words, but no candidate holds the
  new detail, so none answers. This is how SQuAD 2.0's unanswerable questions were written, and a
  relevance threshold cannot tell them from answerable ones;
- else other passages: the candidates of the passages retrieval found for the question that do not
  hold the sentence (BM25 and dense hard negatives sharing its words).
The messages are the recall prompt itself, so the model is trained on exactly what it is shown at
answer time.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from appliance.answer.citations import Evidence
from appliance.answer.prompts import recall_messages
from appliance.answer.recall import relevant_candidates, retrieve_for_recall
from appliance.answer.retrieval import Retrieved
from appliance.app import Appliance
from appliance.finetune.examples import Example
from appliance.sentences import sentence_spans

QuestionWriter = Callable[[str], list[tuple[str, str]]]  # sentence -> [(question, answer)]
MIN_SENTENCE_CHARS = 40
QUESTIONS_PER_SENTENCE = 2
# The details a changed-detail question swaps: pseudonyms, numbers, capitalised names (not the first word).
_DETAIL = re.compile(r"<[A-Z_]+_\d+>|\b\d[\d,.]*\d\b|\b\d\b|\b[A-Z][a-z]{2,}(?:\s[A-Z][a-z]{2,})*\b")


@dataclass(frozen=True)
class StoredSentence:
    document_row: int
    start: int
    end: int
    text: str


def evidence_examples(
    app: Appliance,
    collection: str,
    write_questions: QuestionWriter,
    limit: int,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[Example], Counter[str]]:
    """Up to `limit` examples, half answerable and half not, and how many questions each check dropped."""
    counts: Counter[str] = Counter()
    examples: list[Example] = []
    sentences = list(stored_sentences(app, collection))
    rng = random.Random(seed)
    rng.shuffle(sentences)
    pool = detail_pool(s.text for s in sentences)
    counts["sentences"] = len(sentences)
    for index, sentence in enumerate(sentences, start=1):
        if len(examples) >= limit:
            break
        for question, answer in write_questions(sentence.text)[:QUESTIONS_PER_SENTENCE]:
            counts["questions"] += 1
            changed = changed_detail(question, sentence.text, pool, rng)
            made = _examples_for(app, collection, sentence, (question, changed), answer, counts)
            examples.extend(made)
            if made:
                break  # one question per sentence: more sentences, not more of one
        if progress and index % 25 == 0:
            progress(f"{index}/{len(sentences)} sentences, {len(examples)} examples")
    counts["answerable"] = sum(1 for e in examples if target_ids(e))
    counts["unanswerable"] = len(examples) - counts["answerable"]
    return examples[:limit], counts


def stored_sentences(app: Appliance, collection: str) -> Iterator[StoredSentence]:
    """The sentences of every active document of the collection, in stored (redacted) text."""
    for document in app.catalog.list_active([collection]):
        text = app.catalog.document_text(document.row_id)
        for start, end in sentence_spans(text, 0, len(text)):
            if end - start >= MIN_SENTENCE_CHARS:
                yield StoredSentence(document.row_id, start, end, text[start:end])


def target_ids(example: Example) -> list[int]:
    """The ids an evidence example's answer names ([] for an unanswerable one)."""
    return list(json.loads(example.messages[-1][1])["ids"])


def detail_pool(texts: Iterator[str] | Sequence[str]) -> dict[str, list[str]]:
    """Every distinct detail of the collection's sentences, by kind, in first-seen order (a sentence's
    first word is capitalised as a first word, not as a name: it is left out)."""
    pool: dict[str, dict[str, None]] = {}
    for text in texts:
        for match in _DETAIL.finditer(text):
            if match.start() == 0 and not match.group().startswith("<"):
                continue
            pool.setdefault(_detail_kind(match.group()), {})[match.group()] = None
    return {kind: list(values) for kind, values in pool.items()}


def changed_detail(
    question: str, sentence: str, pool: dict[str, list[str]], rng: random.Random
) -> tuple[str, str] | None:
    """(the question with one detail it shares with its sentence replaced by another of the same kind
    that the sentence does not hold, that new detail), or None when it has no such detail."""
    shared = [m for m in _DETAIL.finditer(question) if m.start() > 0 and m.group() in sentence]
    rng.shuffle(shared)
    for match in shared:
        others = [v for v in pool.get(_detail_kind(match.group()), []) if v not in sentence and v not in question]
        if others:
            new = rng.choice(others)
            return question[: match.start()] + new + question[match.end() :], new
    return None


def mask_details(question: str) -> str:
    """The question with every detail after its first word masked (its changed-detail form masks alike)."""
    return question[:1] + _DETAIL.sub("#", question[1:])


def _detail_kind(detail: str) -> str:
    if detail.startswith("<"):
        return "pseudonym:" + detail.rstrip(">").rsplit("_", 1)[0]
    return "number" if detail[0].isdigit() else "name"


def _candidates(app: Appliance, collection: str, question: str) -> tuple[list[Retrieved], list[Evidence], list[float]]:
    """Retrieval hits and the ranked candidates for a question, exactly as `ask` builds them."""
    vector, hits = retrieve_for_recall(app, question, [collection])
    return hits, relevant_candidates(app, question, vector, hits), vector


def _examples_for(
    app: Appliance,
    collection: str,
    sentence: StoredSentence,
    questions: tuple[str, tuple[str, str] | None],
    answer: str,
    counts: Counter[str],
) -> list[Example]:
    question, changed = questions
    if _folded(answer) in _folded(question) or _folded(question) == _folded(sentence.text):
        counts["dropped_copy"] += 1
        return []
    hits, candidates, vector = _candidates(app, collection, question)
    answering = [i for i, c in enumerate(candidates) if _holds(c, sentence)]
    if not answering:
        counts["dropped_not_retrievable"] += 1
        return []
    if any(_folded(answer) in _folded(c.text) for i, c in enumerate(candidates) if i not in answering):
        counts["dropped_answer_elsewhere"] += 1
        return []
    made = [_example(question, candidates, [answering[0] + 1])]
    if changed is not None:
        changed_question, new_detail = changed
        _, changed_candidates, _ = _candidates(app, collection, changed_question)
        if any(_holds(c, sentence) for c in changed_candidates) and not any(
            _folded(new_detail) in _folded(c.text) for c in changed_candidates
        ):
            counts["unanswerable_changed_detail"] += 1
            return [*made, _example(changed_question, changed_candidates, [])]
    negatives = relevant_candidates(app, question, vector, [h for h in hits if not _chunk_holds(h, sentence)])
    if negatives and not any(_folded(answer) in _folded(c.text) for c in negatives):
        counts["unanswerable_other_passages"] += 1
        made.append(_example(question, negatives, []))
    else:
        counts["no_hard_negative"] += 1
    return made


def _example(question: str, candidates: Sequence[Evidence], ids: list[int]) -> Example:
    messages = recall_messages(question, [c.text for c in candidates])
    pairs = [(m["role"], m["content"]) for m in messages]
    return Example((*pairs, ("assistant", json.dumps({"ids": ids}))))


def _holds(candidate: Evidence, sentence: StoredSentence) -> bool:
    """The candidate is the sentence (or a sentence that contains it)."""
    return (
        candidate.chunk.document_row == sentence.document_row
        and candidate.start <= sentence.start
        and candidate.end >= sentence.end
    )


def _chunk_holds(hit: Retrieved, sentence: StoredSentence) -> bool:
    chunk = hit.chunk
    return chunk.document_row == sentence.document_row and chunk.start < sentence.end and chunk.end > sentence.start


def _folded(text: str) -> str:
    return " ".join(text.lower().split())
