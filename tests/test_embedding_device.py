"""LONGDOC_EMBEDDING_DEVICE, the backend ``auto`` resolves to, and its fallback to torch."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

import chromadb
import pytest
import torch

from longdoc.config import load_settings
from longdoc.errors import ConfigError, EmbeddingModelMismatchError, MissingExtraError
from longdoc.retrieval import embedding
from longdoc.retrieval.embedding import (
    LazyEmbedder,
    SentenceTransformerEmbedder,
    get_embedder,
    identity_of,
    resolve_device,
)
from longdoc.retrieval.store import Store

NAME = "all-MiniLM-L6-v2"


class Recorder:
    """Stands in for an embedder class: records where it was asked to run."""

    calls: ClassVar[list[tuple[object, ...]]] = []
    options: ClassVar[list[dict[str, object]]] = []

    def __init__(self, *args: object, **kwargs: object) -> None:
        Recorder.calls.append(args)
        Recorder.options.append(kwargs)


@pytest.fixture
def cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedding, "_CACHE", {})
    Recorder.calls, Recorder.options = [], []


def test_auto_picks_cuda_when_torch_sees_one(cuda: None) -> None:
    assert resolve_device("auto") == "cuda" and resolve_device("cuda") == "cuda"
    assert resolve_device("cpu") == "cpu"


def test_auto_is_cpu_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_an_unavailable_device_asked_for_is_an_error_naming_the_setting(
    device: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(ConfigError) as err:
        resolve_device(device)
    assert err.value.problems[0][0] == "LONGDOC_EMBEDDING_DEVICE"
    assert device in err.value.problems[0][1]


def test_the_setting_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().embedding_device == "auto"
    monkeypatch.setenv("LONGDOC_EMBEDDING_DEVICE", "tpu")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "LONGDOC_EMBEDDING_DEVICE" in str(err.value)


def test_on_a_gpu_auto_embeds_with_torch_there(
    cuda: None, fresh: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(embedding, "SentenceTransformerEmbedder", Recorder)
    monkeypatch.setattr(embedding, "OnnxEmbedder", Recorder)
    get_embedder(NAME, "auto", tmp_path, "auto", "off")  # "auto": apart, see its own tests
    get_embedder(NAME, "onnx-int8", tmp_path, "auto")  # ONNX runs on the CPU regardless
    assert Recorder.calls == [(NAME, "cuda"), (NAME, tmp_path, "onnx-int8")]


def test_on_a_cpu_auto_is_the_measured_cpu_default(
    fresh: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(embedding, "SentenceTransformerEmbedder", Recorder)
    monkeypatch.setattr(embedding, "OnnxEmbedder", Recorder)
    monkeypatch.setattr(embedding, "_native_bf16", lambda: False)
    get_embedder(NAME, "auto", tmp_path, "cpu")
    assert embedding.cpu_default() == "torch" and Recorder.calls == [(NAME, "cpu")]
    assert Recorder.options == [{"bf16": False}]
    monkeypatch.setattr(embedding, "_native_bf16", lambda: True)  # AMX / AVX-512 BF16
    get_embedder(NAME, "auto", tmp_path, "cpu")
    assert Recorder.calls[1] == (NAME, "cpu") and Recorder.options[1] == {"bf16": True}
    monkeypatch.setattr(embedding, "cpu_default", lambda: "onnx")  # where ONNX measures faster
    get_embedder(NAME, "auto", tmp_path, "cpu")
    assert Recorder.calls[2] == (NAME, tmp_path, "onnx")


def _broken(failure: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        if failure == "missing onnxruntime":
            raise MissingExtraError(extra="onnx", package="onnxruntime", feature="test")
        raise embedding.RetrievalError("onnx export of the model failed: disk full")

    monkeypatch.setattr(embedding, "import_extra" if "missing" in failure else "_build", broken)


@pytest.mark.slow
@pytest.mark.parametrize("failure", ["missing onnxruntime", "failed export"])
def test_auto_falls_back_to_torch_with_one_warning(
    failure: str,
    fresh: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _broken(failure, monkeypatch)
    monkeypatch.setattr(embedding, "cpu_default", lambda: "onnx")
    with caplog.at_level(logging.WARNING, logger=embedding.__name__):
        got = get_embedder(NAME, "auto", tmp_path, "cpu")
    assert isinstance(got, SentenceTransformerEmbedder) and got.identity == NAME
    [record] = [r for r in caplog.records if r.name == embedding.__name__]
    assert "torch" in record.getMessage() and record.levelno == logging.WARNING
    assert got.encode(["a whale"]).shape == (1, 384)
    with pytest.raises((MissingExtraError, embedding.RetrievalError)):  # asked for: no fallback
        get_embedder(NAME, "onnx", tmp_path, "cpu")


def test_vector_equivalent_backends_share_one_identity() -> None:
    assert identity_of(NAME, "torch") == identity_of(NAME, "onnx") == identity_of(NAME, "auto")
    assert identity_of(NAME, "torch-bf16") == NAME
    assert identity_of(NAME, "onnx-int8") == f"{NAME}#onnx-int8"
    assert identity_of(NAME, "onnx-int8-static") == f"{NAME}#onnx-int8-static"


def test_the_store_accepts_equivalent_backends_and_refuses_quantized_ones(tmp_path: Path) -> None:
    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"))
    # Identity needs no model: nothing loads here.
    Store(client, "built-by-torch", LazyEmbedder(NAME, "torch"))
    for backend in ("auto", "onnx"):
        store = Store(client, "built-by-torch", LazyEmbedder(NAME, backend))
        assert store.embedder.identity == NAME
    with pytest.raises(EmbeddingModelMismatchError):
        Store(client, "built-by-torch", LazyEmbedder(NAME, "onnx-int8"))
    Store(client, "built-by-int8", LazyEmbedder(NAME, "onnx-int8"))
    with pytest.raises(EmbeddingModelMismatchError):
        Store(client, "built-by-int8", LazyEmbedder(NAME, "auto"))


@pytest.mark.slow
def test_bf16_vectors_are_torch_vectors_up_to_rounding() -> None:
    texts = ["Call me Ishmael.", "The whale surfaced beside the ship at dawn.", "x" * 300]
    fp32 = SentenceTransformerEmbedder(NAME).encode(texts)
    bf16 = SentenceTransformerEmbedder(NAME, bf16=True)
    got = bf16.encode(texts)
    assert bf16.backend == "torch-bf16" and bf16.identity == NAME
    assert got.dtype == fp32.dtype and abs(float((got * got).sum(axis=1).min()) - 1) < 1e-5
    assert float((got * fp32).sum(axis=1).min()) > 0.999


@pytest.mark.slow
def test_direct_encoding_gives_sentence_transformers_vectors(austen_text: str) -> None:
    # The device path: one tokenization of all texts, length-sorted batches, one copy
    # back. Run here on the CPU, in fp32, it must give encode()'s vectors.
    texts = [austen_text[i : i + 700] for i in range(0, 70_000, 700)]
    texts += ["  padded  ", "x", "", "word " * 400]  # stripped, one letter, empty, truncated
    model = SentenceTransformerEmbedder(NAME)
    want = model.model.encode(texts, batch_size=16, normalize_embeddings=True)
    got = model.encode_direct(texts, batch_size=16)
    assert got.shape == want.shape == (len(texts), 384) and got.dtype == want.dtype
    assert float(abs(got - want).max()) < 1e-5
    order = list(reversed(range(len(texts))))  # rows come back in the caller's order
    assert float(abs(model.encode_direct([texts[i] for i in order], 7) - want[order]).max()) < 1e-5
