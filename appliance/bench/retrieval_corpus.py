"""A store of N real chunks for the retrieval benchmark: SQuAD paragraphs, then real documents, sentence-sized.

The shared evaluation data holds about 2.6 million characters of real prose and filings: too little for
10,000 chunks of the product's 1,000 characters, enough for 10,000 sentence-sized ones. Each unique
sentence (repeats across 10-Q quarters and the padded handbook are dropped) becomes one chunk; sentences
longer than MAX_CHUNK_CHARS are cut by the real chunker. Documents are written through the catalog and
the vector store in the order ingestion uses (pending rows, vectors, one switch to active), with real
MiniLM embeddings, but without redaction: the benchmark times retrieval, not the redactor.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.app import Appliance
from appliance.bench.qa_datasets import load_squad
from appliance.records import ChunkSpan, Section
from appliance.sentences import sentence_spans
from appliance.store.catalog import NewDocument, chunk_id_for
from appliance.store.versions import chunk_metadata
from ingestion.chunking import chunk_sections

Progress = Callable[[str], None]

MIN_SENTENCE_CHARS = 30  # shorter lines are table cells and headings ("$ 1,234", "Table of Contents")
MAX_CHUNK_CHARS = 400
SQUAD_FILE = Path("qa") / "haystack_squad2_dev_small.json"
# Real documents after SQuAD, fastest to load first; the 10-Q PDFs (3-5 s each to parse) come last.
DOCUMENT_FILES = (
    "docs/unstructured/example-10k.html",
    "docs/unstructured/handbook-872p.docx",
    "docs/docling/wiki_duck.html",
    "docs/haystack/paul_graham_superlinear.html",
    "docs/haystack/react_paper.pdf",
    "docs/docugami_public_pdfs/NARA2022.pdf",
    *(f"qa/docugami_sec10q/docs/2023 Q{q} AAPL.pdf" for q in (1, 2, 3)),
    "qa/docugami_sec10q/docs/2022 Q3 AAPL.pdf",
    *(
        f"qa/docugami_sec10q/docs/{p} {c}.pdf"
        for c in ("NVDA", "AMZN")
        for p in ("2022 Q3", "2023 Q1", "2023 Q2", "2023 Q3")
    ),
)


@dataclass(frozen=True)
class CorpusDocument:
    """One document of the benchmark store: its text (unique sentences), page sections and chunk spans."""

    doc_id: str
    kind: str
    text: str
    sections: list[Section]
    spans: list[ChunkSpan]

    def chunk_texts(self) -> list[str]:
        """The text of each chunk, in order."""
        return [self.text[s.start : s.end] for s in self.spans]


def _source_texts(eval_dir: Path) -> Iterator[tuple[str, str, list[tuple[str, int | None]]]]:
    """(doc_id, kind, [(segment text, page)]) for the SQuAD paragraphs, then each document file present."""
    from ingestion.loaders import loader_for
    from ingestion.loaders.base import LoadLimits, LoadNotes

    squad = eval_dir / SQUAD_FILE
    if squad.is_file():
        paragraphs, _ = load_squad(squad)
        for name, context in paragraphs.items():
            yield f"squad:{name}", "text", [(context, None)]
    for relative in DOCUMENT_FILES:
        path = eval_dir / relative
        if path.is_file():
            loader = loader_for(path)
            yield str(path), loader.kind, [(s.text, s.page) for s in loader.load(path, LoadLimits(), LoadNotes())]


def _document(
    doc_id: str, kind: str, segments: Sequence[tuple[str, int | None]], seen: set[str], room: int
) -> CorpusDocument | None:
    """The document made of the segments' sentences not seen before, with at most `room` chunks."""
    text, sections, units = "", [], []
    for segment, page in segments:
        kept = [segment[a:b] for a, b in sentence_spans(segment, 0, len(segment)) if b - a >= MIN_SENTENCE_CHARS]
        kept = [s for s in dict.fromkeys(kept) if s not in seen]
        if not kept:
            continue
        seen.update(kept)
        text += "\n\n" if text else ""
        start = len(text)
        for sentence in kept:
            units.append(Section(len(text), len(text) + len(sentence), page, None))
            text += sentence + "\n"
        text = text[:-1]
        sections.append(Section(start, len(text), page, None))
    # One section per sentence for the chunker: a chunk never spans two sentences; long ones are cut.
    spans = chunk_sections(text, units, MAX_CHUNK_CHARS, 0)
    if not spans or room <= 0:
        return None
    if len(spans) > room:  # the last document: keep its first `room` chunks and only their text
        spans = spans[:room]
        end = spans[-1].end
        text = text[:end]
        sections = [Section(s.start, min(s.end, end), s.page, s.label) for s in sections if s.start < end]
    return CorpusDocument(doc_id, kind, text, sections, spans)


def collect_corpus(eval_dir: Path, chunks: int) -> list[CorpusDocument]:
    """Documents holding `chunks` unique sentence-sized chunks of real text, or all there is if fewer."""
    documents: list[CorpusDocument] = []
    seen: set[str] = set()
    total = 0
    for doc_id, kind, segments in _source_texts(eval_dir):
        document = _document(doc_id, kind, segments, seen, chunks - total)
        if document is not None:
            documents.append(document)
            total += len(document.spans)
        if total >= chunks:
            break
    return documents


@dataclass
class IndexedCorpus:
    """What was written: chunk ids, texts and unit vectors in one order, and the time each step took."""

    chunk_ids: list[str]
    texts: list[str]
    vectors: np.ndarray  # float32, one unit-length row per chunk
    embed_seconds: float
    index_seconds: float


def index_corpus(app: Appliance, documents: Sequence[CorpusDocument], collection: str, say: Progress) -> IndexedCorpus:
    """Embed and store each document as ingestion does: pending rows, vectors, then active."""
    chunk_ids: list[str] = []
    texts: list[str] = []
    blocks: list[np.ndarray] = []
    embed_seconds = index_seconds = 0.0
    total = sum(len(d.spans) for d in documents)
    for document in documents:
        chunk_texts = document.chunk_texts()
        started = time.perf_counter()
        vectors = app.embedder.embed(chunk_texts)
        embed_seconds += time.perf_counter() - started
        started = time.perf_counter()
        new = NewDocument(
            collection=collection,
            doc_id=document.doc_id,
            version=app.catalog.next_version(collection, document.doc_id),
            source=document.doc_id,
            kind=document.kind,
            sha256=hashlib.sha256(document.text.encode()).hexdigest(),
            size_bytes=len(document.text.encode()),
            page_count=max((s.page for s in document.sections if s.page is not None), default=None),
            text=document.text,
            redactions={},
            notes=["retrieval benchmark corpus: not redacted"],
            policy_hash=app.redactor.policy_hash,
            embedding_model=app.embedder.model_id,
            actor="bench-retrieval",
        )
        row_id = app.catalog.insert_pending(new, document.sections, document.spans)
        ids = [chunk_id_for(row_id, s.ordinal) for s in document.spans]
        app.vectors.upsert(ids, vectors, [chunk_metadata(new, row_id, s) for s in document.spans])
        app.catalog.activate(row_id)
        index_seconds += time.perf_counter() - started
        chunk_ids += ids
        texts += chunk_texts
        blocks.append(np.asarray(vectors, dtype=np.float32))
        if len(chunk_ids) // 1000 > (len(chunk_ids) - len(ids)) // 1000 or len(chunk_ids) == total:
            rate = len(chunk_ids) / embed_seconds if embed_seconds else 0.0
            say(f"  indexed {len(chunk_ids)}/{total} chunks ({rate:.0f} chunks/s embedding)")
    matrix = np.concatenate(blocks) if blocks else np.zeros((0, 0), dtype=np.float32)
    return IndexedCorpus(chunk_ids, texts, matrix, embed_seconds, index_seconds)
