"""Python baseline for `vigie bench`: the same model and inputs with PyPI onnxruntime + tokenizers.

Same work as the Rust side: "query: " prefix, head+tail truncation, texts of a call sorted
by length and cut into the same inference calls (`buckets`), each padded to its longest,
sessions with the same threads and graph options. Calls of one text come from as many
callers as sessions, each with a session of its own; a call of more texts comes from one
caller and spreads its inference calls over the sessions, one thread each (ONNX Runtime
releases the GIL while it runs), as `SentimentModel::classify` does.
Prints one JSON object. Run by `vigie bench`; by hand:
    .venv/bin/python model/bench/baseline.py --model-dir model/dist --texts texts.json --threads 1 --sessions 2
"""

import argparse
import json
import resource
import threading
import time

t_start = time.perf_counter()
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

t_imported = time.perf_counter()


CALL_COST_TOKENS = 24  # as vigie_model::CALL_COST_TOKENS


def buckets(lengths, batch_size, call_tokens):
    """The calls `vigie_model::buckets` makes of `lengths` (sorted): the same cut, the same cost."""
    n = len(lengths)
    best, start = [0] + [None] * n, [0] * (n + 1)
    for i in range(1, n + 1):
        for j in range(i - 1, max(0, i - batch_size) - 1, -1):
            if j + 1 < i and (i - j) * lengths[i - 1] > call_tokens:
                break
            cost = best[j] + CALL_COST_TOKENS + (i - j) * lengths[i - 1]
            if best[i] is None or cost <= best[i]:
                best[i], start[i] = cost, j
    out, end = [], n
    while end > 0:
        out.append((start[end], end))
        end = start[end]
    return out[::-1]


def share_out(items, owners, work):
    """Runs `work(owner, item)` for every item, each owner on a thread of its own taking the
    next item (ONNX Runtime releases the GIL while it runs); with one owner, on this thread."""
    items, take = iter(items), threading.Lock()

    def loop(owner):
        while True:
            with take:
                item = next(items, None)
            if item is None:
                return
            work(owner, item)

    if len(owners) == 1:
        return loop(owners[0])
    threads = [threading.Thread(target=loop, args=(owner,)) for owner in owners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--texts", required=True, help="JSON list of strings")
    ap.add_argument("--threads", type=int, required=True, help="intra-op threads per session")
    ap.add_argument("--sessions", type=int, default=1, help="sessions, each with a caller of its own")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--call-tokens", type=int, default=256, help="most padded tokens per inference call, as vigie's --call-tokens")
    ap.add_argument("--no-cpu-arena", action="store_true", help="as vigie's --cpu-arena false")
    args = ap.parse_args()
    texts = json.load(open(args.texts, encoding="utf-8"))

    t0 = time.perf_counter()
    card = json.load(open(f"{args.model_dir}/model.json"))
    tok = Tokenizer.from_file(f"{args.model_dir}/tokenizer.json")
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.enable_cpu_mem_arena = so.enable_mem_pattern = not args.no_cpu_arena
    sessions = [ort.InferenceSession(f"{args.model_dir}/model.onnx", so, providers=["CPUExecutionProvider"]) for _ in range(max(1, args.sessions))]
    load_s = time.perf_counter() - t0

    prefix, max_tokens = card["text_prefix"], card["max_tokens"]
    bos, pad, eos = (card["special_ids"][k] for k in ("bos", "pad", "eos"))

    def encode(batch):
        encs = tok.encode_batch([prefix + t for t in batch], add_special_tokens=False) if len(batch) > 1 else [tok.encode(prefix + batch[0], add_special_tokens=False)]
        out = []
        room = max_tokens - 2
        for e in encs:
            ids = e.ids
            if len(ids) > room:
                head = (room + 1) // 2
                ids = ids[:head] + ids[len(ids) - (room - head) :]
            out.append([bos, *ids, eos])
        return out

    def classify(own, batch):
        """Labels of `batch`, its inference calls spread over the sessions `own`."""
        seqs = encode(batch)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        labels = [None] * len(seqs)

        def run(sess, call):
            g = order[call[0] : call[1]]
            width = max(len(seqs[i]) for i in g)
            ids = np.full((len(g), width), pad, dtype=np.int64)
            mask = np.zeros((len(g), width), dtype=np.int64)
            for r, i in enumerate(g):
                ids[r, : len(seqs[i])] = seqs[i]
                mask[r, : len(seqs[i])] = 1
            probs, _emb = sess.run(["probabilities", "embedding"], {"input_ids": ids, "attention_mask": mask})
            for r, i in enumerate(g):
                labels[i] = int(probs[r].argmax())

        share_out(buckets([len(seqs[i]) for i in order], 32, args.call_tokens), own, run)
        return labels

    for sess in sessions:  # warm-up, as on the Rust side
        classify([sess], texts[:8])
    runs = {}
    for b in args.batch:
        lat = []

        def call(own, s):
            c = time.perf_counter()
            classify(own, texts[s : s + b])
            lat.append(time.perf_counter() - c)

        # calls of one text: a caller per session; of more: one caller, its calls spread
        owners = [[sess] for sess in sessions] if b == 1 else [sessions]
        t = time.perf_counter()
        share_out(range(0, len(texts), b), owners, call)
        total = time.perf_counter() - t
        t = time.perf_counter()
        for s in range(0, len(texts), b):
            encode(texts[s : s + b])
        tokenize = time.perf_counter() - t
        lat_ms = np.asarray(lat) * 1000
        runs[str(b)] = {
            "texts": len(texts),
            "seconds": total,
            "per_second": len(texts) / total,
            "p50_ms": float(np.percentile(lat_ms, 50)),
            "p95_ms": float(np.percentile(lat_ms, 95)),
            "tokenize_seconds": tokenize,
        }
    print(json.dumps({
        "import_seconds": t_imported - t_start,
        "load_seconds": load_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "runs": runs,
        "onnxruntime": ort.__version__,
    }))


if __name__ == "__main__":
    main()
