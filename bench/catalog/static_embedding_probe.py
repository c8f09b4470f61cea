#!/usr/bin/env python3
"""Measures a static-embedding re-ranker over baton's lexical tool search, offline.

The model is WordLlama's `l2_supercat_256` (PyPI package `wordllama`, which ships the
weights and the tokenizer inside its wheel; nothing is downloaded at run time): each
token of the Llama 2 vocabulary has a 256-dimension vector, and a text is the mean of
its tokens' vectors. The probe scores each request against every tool (semantic alone)
and re-ranks the lexical ranker's top K (fused), for the fusions and weights below, and
prints top-1 / top-3 per set. Choices are to be read off the tuning set only.

    python3 -m venv /tmp/probe && /tmp/probe/bin/pip install wordllama==0.4.0.post1
    cargo xtask tool-search-eval --set real-tuning --set real-test --report-only \
        --reps 1 --dump-rankings /tmp/rankings
    /tmp/probe/bin/python bench/catalog/static_embedding_probe.py /tmp/rankings
"""

import argparse
import json
from pathlib import Path

import numpy as np
import wordllama
from safetensors.numpy import load_file
from tokenizers import Tokenizer

HERE = Path(__file__).resolve().parent
PACKAGE = Path(wordllama.__file__).resolve().parent


def load_model():
    tokenizer = Tokenizer.from_file(str(PACKAGE / "tokenizers" / "l2_supercat_tokenizer_config.json"))
    table = load_file(str(PACKAGE / "weights" / "l2_supercat_256.safetensors"))["embedding.weight"]
    table = table.astype(np.float32)

    def embed(text):
        ids = tokenizer.encode(text, add_special_tokens=False).ids[:512]
        vector = table[ids].mean(0) if ids else np.zeros(table.shape[1], np.float32)
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    return embed


def tool_text(tool, mode):
    server, _, short = tool["name"].partition("__")
    short = short.replace("_", " ").replace("-", " ")
    description = tool.get("description") or ""
    if mode == "name":
        return f"{server} {short}"
    if mode == "first-sentence":
        return f"{server} {short}. {description.split('. ')[0][:300]}"
    return f"{server} {short}. {description[:1000]}"


def evaluate(rows, embed, tool_vectors, index, fusion, k, weight):
    top1 = top3 = 0
    for row in rows:
        expected = set(row["expected"])
        similarity = tool_vectors @ embed(row["query"])
        if fusion == "semantic":
            order = [n for n, _ in sorted(index.items(), key=lambda item: -similarity[item[1]])]
        else:
            hits = row["hits"][:k]
            if not hits:
                continue
            if fusion == "score":
                best = hits[0][1]
                keyed = [((1 - weight) * s / best + weight * similarity[index[n]], -r, n)
                         for r, (n, s) in enumerate(hits)]
            else:  # reciprocal-rank fusion
                by_meaning = sorted((n for n, _ in hits), key=lambda n: -similarity[index[n]])
                semantic_rank = {n: r for r, n in enumerate(by_meaning)}
                keyed = [(1 / (60 + r) + weight / (60 + semantic_rank[n]), -r, n)
                         for r, (n, _) in enumerate(hits)]
            order = [n for *_, n in sorted(keyed, reverse=True)]
        top1 += order[0] in expected
        top3 += any(n in expected for n in order[:3])
    return top1 / len(rows), top3 / len(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rankings", type=Path, help="--dump-rankings directory of tool-search-eval")
    parser.add_argument("--catalog", type=Path, default=HERE / "real" / "tools.json")
    parser.add_argument("--sets", default="real-tuning,real-test")
    args = parser.parse_args()

    embed = load_model()
    tools = json.loads(args.catalog.read_text())
    index = {tool["name"]: i for i, tool in enumerate(tools)}
    sets = {name: [json.loads(line) for line in (args.rankings / f"{name}.jsonl").open()]
            for name in args.sets.split(",")}
    configs = [("lexical", 1, 0.0)] + [("semantic", 0, 0.0)]
    configs += [("score", k, w) for k in (5, 10, 20) for w in (0.1, 0.2, 0.3, 0.5)]
    configs += [("rrf", k, w) for k in (5, 10, 20) for w in (0.3, 0.5, 1.0)]
    print("| tool text | fusion | top K | weight | " + " | ".join(f"{s} top-1 / top-3" for s in sets) + " |")
    print("| --- | --- | ---: | ---: | " + " | ".join("---:" for _ in sets) + " |")
    for mode in ("name", "first-sentence", "full"):
        vectors = np.array([embed(tool_text(tool, mode)) for tool in tools])
        for fusion, k, weight in configs:
            if fusion == "lexical":
                fusion, k, weight = "score", 20, 0.0
                label = "lexical only"
            else:
                label = fusion
            cells = [evaluate(rows, embed, vectors, index, fusion, k, weight) for rows in sets.values()]
            print(f"| {mode} | {label} | {k or 'all'} | {weight} | "
                  + " | ".join(f"{a:.3f} / {b:.3f}" for a, b in cells) + " |")


if __name__ == "__main__":
    main()
