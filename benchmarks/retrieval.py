"""Retrieval quality: share of gold units inside the returned context at equal budgets.

Sets: QMSum validation specific queries (gold = transcript turns in
``relevant_text_span``, searched within their meeting) and HotpotQA (gold =
supporting sentences; all 100 examples' gold and distractor paragraphs form one
document). A unit counts as found when at least 80% of its characters lie in
the returned context. Budgets are counted with the embedding model's tokenizer
for every method. Compared: our dense, BM25 and hybrid search (torch and the
int8 ONNX embedder), and llama-index's ``VectorStoreIndex`` with its default
chunking (SentenceSplitter 1024/200) and the same embedding model.

Run: ``.venv/bin/python benchmarks/retrieval.py [--quick]``.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import require_data, temp_settings

BUDGETS = (2000, 4000)
FOUND = 0.8


def _doc(doc_id: str, text: str):
    from longdoc.retrieval.models import LoadedDocument

    digest = hashlib.sha256(text.encode()).hexdigest()
    return LoadedDocument(doc_id=doc_id, source=doc_id, text=text, content_hash=digest)


def load_qmsum(data: Path, limit: int | None):
    """Documents and queries: (query, doc_id, [(start, end) of gold turns])."""
    docs, queries = [], []
    lines = (data / "qa" / "qmsum_val.jsonl").read_text(encoding="utf-8").splitlines()
    for m, line in enumerate(lines[:limit]):
        meeting = json.loads(line)
        parts, spans, pos = [], [], 0
        for turn in meeting["meeting_transcripts"]:
            text = f"{turn['speaker']}: {turn['content']}\n"
            spans.append((pos, pos + len(text) - 1))
            parts.append(text)
            pos += len(text)
        doc_id = f"qmsum-{m:02d}"
        docs.append(_doc(doc_id, "".join(parts)))
        for q in meeting["specific_query_list"]:
            gold = [spans[t] for a, b in q["relevant_text_span"]
                    for t in range(int(a), min(int(b), len(spans) - 1) + 1)]  # fmt: skip
            if gold:
                queries.append((q["query"], doc_id, gold))
    return docs, queries


def _lit(value):
    # Some fields are stored as Python literals in strings, some as JSON lists.
    return ast.literal_eval(value) if isinstance(value, str) else value


def load_hotpot(data: Path, limit: int | None):
    """One document of all paragraphs; gold units are the supporting sentences."""
    examples = json.loads((data / "qa" / "hotpotqa_dev_sample100.json").read_text("utf-8"))
    paragraphs: dict[str, list[str]] = {}
    for ex in examples[:limit]:
        paragraphs.setdefault(ex["title_a"], _lit(ex["para_a"]))
        paragraphs.setdefault(ex["title_b"], _lit(ex["para_b"]))
        for title, sents, *_ in _lit(ex["distractors"]):
            paragraphs.setdefault(title, sents)
    parts, where, pos = [], {}, 0
    for title, sents in paragraphs.items():
        head = f"{title}\n"
        pos += len(head)
        parts.append(head)
        for i, s in enumerate(sents):
            where[(title, i)] = (pos, pos + len(s))
            parts.append(s)
            pos += len(s)
        parts.append("\n\n")
        pos += 2
    doc = _doc("hotpotqa", "".join(parts))
    queries = []
    for ex in examples[:limit]:
        facts = _lit(ex["supporting_facts"])
        gold = [where[(ex["title_a"], i)] for i in facts[0] if (ex["title_a"], i) in where]
        gold += [where[(ex["title_b"], i)] for i in facts[1] if (ex["title_b"], i) in where]
        queries.append((ex["question"], "hotpotqa", gold))
    return [doc], queries


def recall(spans: list[tuple[int, int]], gold: list[tuple[int, int]]) -> float:
    """Share of gold spans with at least ``FOUND`` of their characters covered."""
    found = 0
    for a, b in gold:
        covered = sum(max(0, min(b, e) - max(a, s)) for s, e in spans)
        found += covered >= FOUND * max(1, b - a)
    return found / len(gold)


def eval_ours(docs, queries, backend: str, count) -> dict[str, dict[int, float]]:
    from longdoc.retrieval import Index

    name = f"bench-{docs[0].doc_id}-{backend}"
    index = Index(name, settings=temp_settings(),
                  embedding_backend=backend)  # fmt: skip
    t0 = time.perf_counter()
    index.ingest_documents(docs)
    print(f"    ingest ({backend}): {time.perf_counter() - t0:.1f}s", flush=True)
    out: dict[str, dict[int, float]] = {}
    for mode in ("dense", "bm25", "hybrid"):
        for budget in BUDGETS:
            total = 0.0
            for query, doc_id, gold in queries:
                passages = index.retrieve(query, budget, count_tokens=count, mode=mode,
                                          doc_ids=[doc_id], k=budget // 40)  # fmt: skip
                total += recall([(p.char_start, p.char_end) for p in passages], gold)
            out.setdefault(mode, {})[budget] = total / len(queries)
    return out


def eval_llamaindex(docs, queries, count) -> dict[int, float]:
    from llama_index.core import Document, Settings, VectorStoreIndex
    from llama_index.core.vector_stores import ExactMatchFilter, MetadataFilters
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    from longdoc.retrieval.embedding import resolve_model_path
    from longdoc.retrieval.models import Chunk, SearchHit
    from longdoc.retrieval.packing import pack

    Settings.embed_model = HuggingFaceEmbedding(model_name=resolve_model_path("all-MiniLM-L6-v2"))
    Settings.llm = None
    t0 = time.perf_counter()
    index = VectorStoreIndex.from_documents(
        [Document(text=d.text, metadata={"source_doc": d.doc_id}) for d in docs]
    )
    print(f"    ingest (llama-index default): {time.perf_counter() - t0:.1f}s", flush=True)
    out: dict[int, float] = {}
    for budget in BUDGETS:
        total = 0.0
        for query, doc_id, gold in queries:
            filters = MetadataFilters(filters=[ExactMatchFilter(key="source_doc", value=doc_id)])
            nodes = index.as_retriever(similarity_top_k=10, filters=filters).retrieve(query)
            hits = []
            for rank, n in enumerate(nodes):
                start = n.node.start_char_idx or 0
                text = n.node.get_content()
                chunk = Chunk(doc_id=doc_id, source=doc_id, ordinal=rank, char_start=start,
                              char_end=start + len(text), text=text)  # fmt: skip
                hits.append(SearchHit(chunk=chunk, score=n.score or 0.0, mode="dense", rank=rank))
            passages = pack(hits, budget, count)
            total += recall([(p.char_start, p.char_end) for p in passages], gold)
        out[budget] = total / len(queries)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 meetings, 30 HotpotQA examples")
    parser.add_argument("--backends", default="torch,onnx,onnx-int8,onnx-int8-static")
    args = parser.parse_args()
    data = require_data("qa/qmsum_val.jsonl", "qa/hotpotqa_dev_sample100.json")
    from longdoc.retrieval.embedding import get_embedder

    tok = get_embedder("all-MiniLM-L6-v2", "torch")

    def count(text: str) -> int:
        return tok.count_tokens([text])[0]

    sets = {
        "qmsum": load_qmsum(data, 5 if args.quick else None),
        "hotpotqa": load_hotpot(data, 30 if args.quick else None),
    }
    results: dict[str, dict[str, dict[int, float]]] = {}
    for name, (docs, queries) in sets.items():
        print(f"{name}: {len(docs)} document(s), {len(queries)} queries", flush=True)
        for backend in args.backends.split(","):
            for mode, by_budget in eval_ours(docs, queries, backend, count).items():
                results.setdefault(name, {})[f"{mode} ({backend})"] = by_budget
        results[name]["llama-index default"] = eval_llamaindex(docs, queries, count)
    print(f"\nshare of gold units found (>= {FOUND:.0%} of characters) at equal token budgets")
    for name, rows in results.items():
        print(f"\n{name:<28}" + "".join(f"{b:>10}" for b in BUDGETS))
        for method, by_budget in rows.items():
            print(f"  {method:<26}" + "".join(f"{by_budget[b]:>10.3f}" for b in BUDGETS))
    base = {n: rows["llama-index default"] for n, rows in results.items()}
    for name, rows in results.items():
        ours = {b: max(v[b] for m, v in rows.items() if m != "llama-index default")
                for b in BUDGETS}  # fmt: skip
        ratio = "  ".join(f"{b}: {ours[b] / max(base[name][b], 1e-9):.2f}x" for b in BUDGETS)
        print(f"{name}: our best / llama-index default = {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
