"""The facts about the CPU and its numeric libraries that decide a run's floating-point results.

Same seed, same code and the same facts give bit-identical runs; a change in any of them (another CPU
model or instruction set, another thread count, a dispatch override in the environment) may move the numbers
in their last bits, and the attack's shrinking bound turns that into different trajectories
(see docs/determinism.md). They are stored with every run beside the package versions.
"""

from __future__ import annotations

from pathlib import Path

from synthcheck.cpu import first_processor

#: CPU flags that change which kernels MKL, oneDNN and ATen dispatch to.
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")
#: Environment variables that override the dispatch or threading of those libraries.
NUMERIC_ENV = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS",
               "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def cpu_facts(cpuinfo: str | Path = "/proc/cpuinfo") -> dict[str, str]:
    """CPU model, its dispatch-relevant ISA flags, torch's CPU capability and any overriding environment.

    Returns
    -------
    dict
        ``cpu`` (vendor, model name, family/model/stepping), ``cpu_isa`` (the :data:`ISA_FLAGS` present),
        ``torch_cpu_capability`` (the kernels ATen dispatches to, e.g. ``AVX512``) and ``env:NAME`` for each
        :data:`NUMERIC_ENV` variable that is set. Unknown parts are left out.
    """
    import os

    import torch

    facts: dict[str, str] = {}
    first = first_processor(cpuinfo)
    if first:
        ident = [first.get(k, "?") for k in ("vendor_id", "model name")]
        numbers = "/".join(first.get(k, "?") for k in ("cpu family", "model", "stepping"))
        facts["cpu"] = f"{' '.join(ident)} ({numbers})"
        present = set(first.get("flags", "").split())
        facts["cpu_isa"] = " ".join(f for f in ISA_FLAGS if f in present) or "none"
    facts["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    facts.update({f"env:{name}": os.environ[name] for name in NUMERIC_ENV if name in os.environ})
    return facts


__all__ = ["ISA_FLAGS", "NUMERIC_ENV", "cpu_facts"]
