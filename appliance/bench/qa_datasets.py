"""The question-answering evaluation sets: SQuAD 2.0 paragraphs and questions, Docugami SEC 10-Q questions."""

from __future__ import annotations

import csv
import fnmatch
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# The collection each set is ingested into by the benchmarks.
SQUAD = "squad"
SEC = "sec"
_PDF_NAME = re.compile(r"\b\d{4} Q\d [A-Z]+\.pdf\b")  # the dataset's file names, e.g. "2023 Q3 AAPL.pdf"


@dataclass(frozen=True)
class SquadItem:
    """One SQuAD question and the paragraph file it was written against."""

    qid: str
    question: str
    golds: tuple[str, ...]
    impossible: bool
    paragraph: str  # file name of the paragraph's .txt document


@dataclass(frozen=True)
class SecItem:
    """One Docugami question whose gold PDFs are all in the included set."""

    question: str
    question_type: str
    chunk_type: str
    gold_pdfs: frozenset[str]


def paragraph_file_name(article_index: int, title: str, paragraph_index: int) -> str:
    """One stable, file-system-safe name per SQuAD paragraph (article + index)."""
    return f"{article_index:02d}-{re.sub(r'[^A-Za-z0-9]+', '_', title)}-{paragraph_index:03d}.txt"


def load_squad(
    path: Path, paragraph_limit: int | None = None, article: str | None = None
) -> tuple[dict[str, str], list[SquadItem]]:
    """Paragraph texts by file name and the questions over them, in file order (of one `article` if named)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    paragraphs: dict[str, str] = {}
    items: list[SquadItem] = []
    titles = [a["title"] for a in data["data"]]
    if article is not None and article not in titles:
        raise ValueError(f"{path.name} has no article {article!r}; it has {', '.join(titles)}")
    for a_index, article_data in enumerate(data["data"]):
        if article is not None and article_data["title"] != article:
            continue
        for p_index, paragraph in enumerate(article_data["paragraphs"]):
            if paragraph_limit is not None and len(paragraphs) >= paragraph_limit:
                return paragraphs, items
            name = paragraph_file_name(a_index, article_data["title"], p_index)
            paragraphs[name] = paragraph["context"]
            for qa in paragraph["qas"]:
                golds = tuple(dict.fromkeys(a["text"] for a in qa.get("answers", [])))
                items.append(SquadItem(qa["id"], qa["question"], golds, bool(qa.get("is_impossible")), name))
    return paragraphs, items


def select_squad(items: Sequence[SquadItem], limit: int | None) -> list[SquadItem]:
    """All questions, or the first limit//2 answerable and the first limit//2 unanswerable (file order kept)."""
    if limit is None:
        return list(items)
    half = limit // 2
    keep = {i.qid for i in [i for i in items if not i.impossible][:half]}
    keep |= {i.qid for i in [i for i in items if i.impossible][:half]}
    return [i for i in items if i.qid in keep]


def _demojibake(text: str) -> str:
    """Undo UTF-8 read as cp1252 (the CSV's 'â€™'); text that is not such mojibake is kept."""
    if "â€" not in text and "Ã" not in text:
        return text
    try:
        return text.encode("cp1252").decode("utf-8")
    except UnicodeError:
        return text


def _cited_pdfs(answer: str) -> set[str]:
    """The PDF names an answer cites (its 'SOURCE(S): ...' line and inline '(SOURCE: ...)' notes)."""
    return set(_PDF_NAME.findall(answer))


def load_docugami(csv_path: Path, included: Iterable[str]) -> list[SecItem]:
    """The questions whose Source Docs glob matches included PDFs only (CSV in utf-8-sig)."""
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    included_set = set(included)
    # Every PDF the dataset names: the included ones plus those the answers cite (MSFT, INTC).
    universe = included_set | {name for row in rows for name in _cited_pdfs(row["Answer"])}
    items = []
    for row in rows:
        matches = {name for name in universe if fnmatch.fnmatch(name, row["Source Docs"].strip())}
        if matches and matches <= included_set:
            items.append(
                SecItem(
                    _demojibake(row["Question"]).strip(),
                    row["Question Type"].strip(),
                    row["Source Chunk Type"].strip(),
                    frozenset(matches),
                )
            )
    return items


def select_balanced(items: Sequence[SecItem], limit: int | None) -> list[SecItem]:
    """Up to `limit` questions taken in turn from each question type, so every type is represented."""
    if limit is None:
        return list(items)
    queues: dict[str, list[SecItem]] = {}
    for item in items:
        queues.setdefault(item.question_type, []).append(item)
    chosen: list[SecItem] = []
    while len(chosen) < limit and any(queues.values()):
        for queue in queues.values():
            if queue and len(chosen) < limit:
                chosen.append(queue.pop(0))
    return chosen
