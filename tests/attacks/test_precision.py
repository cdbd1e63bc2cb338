"""bfloat16 white-box passes on the real Whisper tiny.en: close to float32, decisions confirmed in float32,
bit-identical for a seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthcheck.asr.precision import PRECISIONS, cpu_bf16_units, resolve_precision
from synthcheck.attacks import Attack, AttackConfig, TargetText
from synthcheck.audio.metrics import normalize_text
from synthcheck.cpu import cpu_flags
from synthcheck.errors import BadInputError
from synthcheck.experiments.config import ExperimentConfig

TARGET = "open the door"


def test_the_bf16_units_are_read_from_cpuinfo(tmp_path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx512f amx_bf16 amx_tile\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(info) == {"fpu", "avx512f", "amx_bf16", "amx_tile"}
    assert cpu_flags(tmp_path / "missing") == frozenset()
    assert resolve_precision("auto") == ("bf16" if cpu_bf16_units() else "fp32")
    assert [resolve_precision(p) for p in PRECISIONS] == list(PRECISIONS)
    with pytest.raises(BadInputError, match="unknown precision 'fp16'; choose one of: auto, fp32, bf16"):
        resolve_precision("fp16")


def test_experiment_configs_store_the_resolved_precision() -> None:
    assert ExperimentConfig().precision == resolve_precision("auto")
    assert ExperimentConfig(precision="fp32").precision == "fp32"
    stored = ExperimentConfig(precision="bf16").to_dict()
    assert ExperimentConfig.from_stored(stored).precision == "bf16"
    del stored["precision"]
    assert ExperimentConfig.from_stored(stored).precision == "fp32"  # older runs ran in float32
    with pytest.raises(BadInputError, match="config: unknown precision 'half'"):
        ExperimentConfig(precision="half")


def _batch(*items: np.ndarray) -> torch.Tensor:
    x = torch.zeros(len(items), max(a.size for a in items))
    for row, item in zip(x, items, strict=True):
        row[: item.size] = torch.from_numpy(item)
    return x


def _loss_grad_mask(recognizer, x: torch.Tensor, targets: list[str]):
    audio = x.clone().requires_grad_(True)
    loss, success = recognizer.loss_and_success(audio, targets)
    loss.sum().backward()
    return loss.detach(), audio.grad, success


def test_bf16_loss_gradient_and_mask_agree_with_fp32(tiny, hello, best) -> None:
    x = _batch(hello, best)
    own = tiny.transcribe_batch([hello, best])
    targets = [own[0], TARGET]  # one the clean audio decodes to, one it does not
    loss32, grad32, mask32 = _loss_grad_mask(tiny, x, targets)
    bf16 = tiny.with_precision("bf16")
    assert bf16.model is tiny.model and tiny.precision == "fp32" and bf16.precision == "bf16"
    loss16, grad16, mask16 = _loss_grad_mask(bf16, x, targets)
    assert mask32.tolist() == mask16.tolist() == [True, False]
    assert torch.allclose(loss16, loss32, rtol=0.03, atol=0.02), (loss16, loss32)
    cosine = torch.nn.functional.cosine_similarity(grad16.flatten(), grad32.flatten(), dim=0)
    assert cosine > 0.98, cosine
    assert not torch.equal(grad16, grad32)  # it really ran in another precision
    assert all(p.grad is None and not p.requires_grad for p in tiny.model.parameters())  # input gradients only


def test_a_bf16_success_that_float32_rejects_does_not_count(tiny, hello, monkeypatch) -> None:
    bf16 = tiny.with_precision("bf16")
    real = type(tiny)._greedy_hits
    calls: list[int] = []

    def optimistic_first_pass(self, logits, labels, valid):
        calls.append(len(logits))
        return np.ones(len(logits), dtype=bool) if len(calls) == 1 else real(self, logits, labels, valid)

    monkeypatch.setattr(type(tiny), "_greedy_hits", optimistic_first_pass)
    assert bf16.would_decode_to(_batch(hello), [TARGET]).tolist() == [False]
    assert calls == [1, 1]  # the bf16 pass claimed success; the float32 re-check of that item rejected it
    calls.clear()
    assert tiny.would_decode_to(_batch(hello), [TARGET]).tolist() == [True]  # float32: one pass, trusted
    assert calls == [1]


@pytest.fixture(scope="module")
def short_attacks(tiny, hello):
    """The short case in each precision (and bf16 twice): 60 steps toward TARGET, stop at -30 dB_x."""
    config = AttackConfig(max_steps=60, learning_rate=20.0, stop_db_x=-30.0, seed=0)
    run = {p: Attack(tiny.with_precision(p), config).run([hello], TargetText(TARGET))[0] for p in PRECISIONS}
    again = Attack(tiny.with_precision("bf16"), config).run([hello], TargetText(TARGET))[0]
    return run, again


def test_bf16_and_fp32_attacks_agree_on_a_short_case(short_attacks, tiny) -> None:
    run, _ = short_attacks
    for precision, result in run.items():
        assert result.success and normalize_text(result.transcript) == TARGET, precision
        assert result.config["precision"] == precision
    # the confirmation is a float32 greedy decode of the stored 16-bit audio
    assert normalize_text(tiny.transcribe_batch([run["bf16"].adversarial])[0]) == TARGET
    # measured: dB_x -38.6 (fp32) vs -39.5 (bf16), SNR 34.9 vs 35.3 dB; the paper's ten clauses: bench/attack.py
    assert abs(run["bf16"].db_x - run["fp32"].db_x) <= 1.5, (run["bf16"].db_x, run["fp32"].db_x)
    assert abs(run["bf16"].snr_db - run["fp32"].snr_db) <= 1.5, (run["bf16"].snr_db, run["fp32"].snr_db)


def test_bf16_attacks_are_bit_identical_for_a_seed(short_attacks) -> None:
    run, again = short_attacks
    assert np.array_equal(again.adversarial, run["bf16"].adversarial)
    assert again.loss_curve == run["bf16"].loss_curve and again.steps == run["bf16"].steps
