"""CPU embedding back-ends side by side: tokens/s and agreement with torch's vectors.

Same model (all-MiniLM-L6-v2), same chunk texts (150-word windows of Moby Dick), one
process, candidates interleaved round by round so machine load hits them alike:

- ``torch``: sentence-transformers (its encode already sorts texts by length);
- ``torch-bf16``: the same under CPU bf16 autocast (AMX / AVX-512 BF16 where present);
- ``onnx-raw``: the plain fp32 export, SessionOptions ORT_ENABLE_ALL only;
- ``onnx``: fp32 with ``onnxruntime.transformers.optimizer`` BERT fusions, ORT_ENABLE_ALL;
- ``onnx-int8``: dynamic int8; ``onnx-int8-static``: calibrated static int8 (QDQ);
- batch sizes 32/64/128 for torch and onnx, and onnx without length-sorted batches.

Prints what it ran with (CPU model and flags, thread counts, the execution provider,
the int8 kernels in the optimized graphs), then per row: median tokens/s, spread
(min-max over the repeats), and mean/min cosine of its vectors to torch's.

Run: ``.venv/bin/python benchmarks/embedders.py [--chunks 240] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _common import require_data

WORDS = 150


def cpu_info() -> str:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(
        (ln.split(":", 1)[1].strip() for ln in text.splitlines() if "model name" in ln), "?"
    )
    flags = next(
        (ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []
    )
    wanted = [f for f in flags if f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni") or "amx" in f]
    shown = " ".join(wanted) or "none of avx2/avx512/vnni/amx"
    return f"{model}; {os.cpu_count()} logical CPUs; flags: {shown}"


def kernels(path: Path) -> str:
    """Op types of interest in the graph onnxruntime actually runs (after its own fusions)."""
    import onnx
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.optimized_model_filepath = str(Path(tmp) / "opt.onnx")
        ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        ops = Counter(n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node)
    keep = ("MatMulInteger", "QLinearMatMul", "DynamicQuantizeLinear", "QuantizeLinear",
            "DequantizeLinear", "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "Attention",
            "SkipLayerNormalization", "FusedMatMul", "MatMul", "Gelu", "BiasGelu")  # fmt: skip
    return ", ".join(f"{k}x{ops[k]}" for k in keep if ops[k])


def chunks(count: int) -> list[str]:
    words = (require_data("books/moby_dick.txt") / "books" / "moby_dick.txt").read_text().split()
    return [" ".join(words[i : i + WORDS]) for i in range(0, len(words), WORDS)][:count]


def candidates(data_dir: Path) -> dict:
    """Row name -> (encode(texts, batch) callable, batch size)."""
    import onnxruntime as ort

    from longdoc.retrieval.embedding import OnnxEmbedder, get_embedder

    torch_e = get_embedder("all-MiniLM-L6-v2", "torch", data_dir, "cpu")
    onnx = {
        b: OnnxEmbedder(data_dir=data_dir, backend=b)
        for b in ("onnx", "onnx-int8", "onnx-int8-static")
    }
    raw = OnnxEmbedder(data_dir=data_dir, backend="onnx")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = os.cpu_count() or 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    raw.session = ort.InferenceSession(str(raw.folder / "model.fp32.onnx"), opts,
                                       providers=["CPUExecutionProvider"])  # fmt: skip

    def unsorted(texts, batch):
        import numpy as np

        e = onnx["onnx"]
        return np.concatenate(
            [e.encode(texts[i : i + batch], batch) for i in range(0, len(texts), batch)]
        )

    rows = {f"torch b{b}": (torch_e.encode, b) for b in (32, 64, 128)}
    bf16 = get_embedder("all-MiniLM-L6-v2", "torch-bf16", data_dir, "cpu")
    rows |= {f"torch-bf16 b{b}": (bf16.encode, b) for b in (64, 128)}
    rows["onnx-raw (ORT_ENABLE_ALL) b64"] = (raw.encode, 64)
    rows |= {f"onnx b{b}": (onnx["onnx"].encode, b) for b in (32, 64, 128)}
    rows["onnx b64 unsorted"] = (unsorted, 64)
    nospin = OnnxEmbedder(data_dir=data_dir, backend="onnx")
    opts2 = ort.SessionOptions()
    opts2.intra_op_num_threads = os.cpu_count() or 1
    opts2.add_session_config_entry("session.intra_op.allow_spinning", "0")
    nospin.session = ort.InferenceSession(
        str(nospin.path), opts2, providers=["CPUExecutionProvider"]
    )
    rows["onnx b64 no thread spinning"] = (nospin.encode, 64)
    rows["onnx-int8 b64"] = (onnx["onnx-int8"].encode, 64)
    rows["onnx-int8-static b64"] = (onnx["onnx-int8-static"].encode, 64)
    print("  ORT providers:", onnx["onnx"].session.get_providers(),
          "| intra-op threads:", opts.intra_op_num_threads)  # fmt: skip
    for b, e in onnx.items():
        print(f"  {b} graph as run: {kernels(e.path)}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=240)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import numpy as np
    import onnxruntime
    import torch

    from longdoc.retrieval.embedding import get_embedder

    texts = chunks(args.chunks)
    print(f"CPU: {cpu_info()}")
    print(f"torch {torch.__version__} threads {torch.get_num_threads()} | onnxruntime "
          f"{onnxruntime.__version__} | load {os.getloadavg()}")  # fmt: skip
    tokens = sum(get_embedder("all-MiniLM-L6-v2", "torch", device="cpu").count_tokens(texts))
    print(f"{len(texts)} chunks of {WORDS} words, {tokens:,} tokens")
    with tempfile.TemporaryDirectory() as tmp:
        rows = candidates(Path(tmp))
        reference = rows["torch b64"][0](texts, 64)
        rates: dict[str, list[float]] = {name: [] for name in rows}
        cosine: dict[str, np.ndarray] = {}
        for name, (encode, batch) in rows.items():  # warm-up, and the vectors compared
            cosine[name] = (encode(texts[:], batch) * reference).sum(axis=1)
        for _ in range(args.repeats):
            for name, (encode, batch) in rows.items():
                t0 = time.perf_counter()
                encode(texts, batch)
                rates[name].append(tokens / (time.perf_counter() - t0))
                print(f"  {name}: {rates[name][-1]:,.0f} tokens/s", flush=True)
    base = statistics.median(rates["torch b64"])
    heads = ("tok/s median", "spread", "x torch", "cos mean", "cos min")
    print(f"\n{'backend':32} " + " ".join(f"{h:>12}" for h in heads))
    for name, r in rates.items():
        c = cosine[name]
        print(f"{name:32} {statistics.median(r):12,.0f} {min(r):8,.0f}-{max(r):<8,.0f} "
              f"{statistics.median(r) / base:8.2f} {c.mean():9.6f} {c.min():8.6f}")  # fmt: skip
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
