"""The CPU facts stored with a run: model, dispatch-relevant ISA flags, torch's capability, overriding env."""

from __future__ import annotations

import torch

from synthcheck.experiments.machine import cpu_facts

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8488C
stepping\t: 8
flags\t\t: fpu avx2 avx512f avx512_bf16 avx512_fp16 amx_bf16 amx_tile amx_int8

processor\t: 1
vendor_id\t: AuthenticAMD
"""


def test_cpu_facts_name_the_model_isa_capability_and_overrides(tmp_path, monkeypatch):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    monkeypatch.delenv("MKL_CBWR", raising=False)
    facts = cpu_facts(path)
    assert facts["cpu"] == "GenuineIntel Intel(R) Xeon(R) Platinum 8488C (6/143/8)"
    assert facts["cpu_isa"] == "avx2 avx512f avx512_bf16 avx512_fp16 amx_tile amx_bf16 amx_int8"
    assert facts["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert facts["env:ONEDNN_MAX_CPU_ISA"] == "AVX2" and "env:MKL_CBWR" not in facts


def test_an_unreadable_cpuinfo_leaves_only_what_torch_knows(tmp_path):
    assert set(cpu_facts(tmp_path / "missing")) >= {"torch_cpu_capability"}
    assert "cpu" not in cpu_facts(tmp_path / "missing")
