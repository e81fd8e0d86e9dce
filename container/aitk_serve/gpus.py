"""GPU facts, one table: the GPUs Azure Container Apps offers and the workload profiles that carry
them, plus what the visible GPU really has at run time (which wins over the table).

Sources:
- Profile names, GPUs per replica/node: Microsoft Learn, "Workload profiles in Azure Container
  Apps" (https://learn.microsoft.com/azure/container-apps/workload-profiles-overview: Consumption-
  GPU-NC24-A100 and Consumption-GPU-NC8as-T4 per replica; Dedicated NC24-A100, NC48-A100,
  NC96-A100 with 1, 2 and 4 GPUs per node) and "Using serverless GPUs in Azure Container Apps"
  (https://learn.microsoft.com/azure/container-apps/gpu-serverless-overview: "Multi and
  fractional GPU replicas aren't supported", so a serverless replica has exactly one GPU).
- GPU memory: Microsoft Learn, "Comparing GPU types in Azure Container Apps"
  (https://learn.microsoft.com/azure/container-apps/gpu-types: T4 16 GB, A100 80 GB). vLLM
  budgets from the total CUDA reports (torch.cuda.mem_get_info; vllm/v1/worker/utils.py,
  request_memory), which is smaller than nvidia-smi's (T4 15,360 MiB, A100 80 GB 81,920 MiB):
  the table holds the CUDA totals vLLM logged for these boards in published start-up logs
  (benchmarks/data/vllm_startup_logs.json: T4 14.74 GiB, A100 80 GB 79.22 GiB). Not measured on
  Azure's GPUs by this project.
- Compute capability: NVIDIA, "CUDA GPUs" (https://developer.nvidia.com/cuda-gpus: T4 7.5,
  A100 8.0). vLLM 0.32 serves bfloat16 only from 8.0 (vllm/platforms/cuda.py,
  check_if_supports_dtype: "Bfloat16 is only supported on GPUs with compute capability of at
  least 8.0").
"""

import shutil
import subprocess
from dataclasses import dataclass, replace

MIB = 1024**2
GIB = 1024**3
BF16_MIN_CAPABILITY = (8, 0)


@dataclass(frozen=True)
class GpuSpec:
    """One replica's GPUs: `count` identical boards of `memory_bytes` each."""

    name: str
    memory_bytes: int
    compute_capability: tuple[int, int]
    count: int = 1
    source: str = "table"  # "table", "nvidia-smi", "torch" or "--gpu-memory"

    @property
    def has_bf16(self) -> bool:
        return self.compute_capability >= BF16_MIN_CAPABILITY

    def describe(self) -> str:
        count = f"{self.count} x " if self.count > 1 else ""
        cc = ".".join(map(str, self.compute_capability))
        return f"{count}{self.name} ({self.memory_bytes / GIB:.1f} GiB, compute {cc})"


@dataclass(frozen=True)
class WorkloadProfile:
    """An Azure Container Apps workload profile type that has GPUs."""

    name: str
    gpu: GpuSpec
    serverless: bool


GPUS: dict[str, GpuSpec] = {
    "T4": GpuSpec("T4", round(14.74 * GIB), (7, 5)),
    "A100": GpuSpec("A100", round(79.22 * GIB), (8, 0)),
}
# nvidia-smi's total less CUDA's for a board the table does not know: the T4 loses 1.7 %, the
# A100 80 GB 1.0 % (15,360 MiB -> 14.74 GiB, 81,920 MiB -> 79.22 GiB); 2 % covers both.
SMI_TO_CUDA = 0.98

# Cheapest first: smallest_fitting_profile (aitk_serve.fit) picks the first one that fits.
PROFILES: tuple[WorkloadProfile, ...] = (
    WorkloadProfile("Consumption-GPU-NC8as-T4", GPUS["T4"], serverless=True),
    WorkloadProfile("Consumption-GPU-NC24-A100", GPUS["A100"], serverless=True),
    WorkloadProfile("NC24-A100", GPUS["A100"], serverless=False),
    WorkloadProfile("NC48-A100", replace(GPUS["A100"], count=2), serverless=False),
    WorkloadProfile("NC96-A100", replace(GPUS["A100"], count=4), serverless=False),
)


def lookup(name: str) -> GpuSpec | None:
    """A GPU (T4, A100) or a workload profile type name, case-insensitive."""
    key = name.strip().lower()
    for gpu_name, gpu in GPUS.items():
        if gpu_name.lower() == key:
            return gpu
    for profile in PROFILES:
        if profile.name.lower() == key:
            return profile.gpu
    return None


def known_names() -> list[str]:
    return [*GPUS, *(p.name for p in PROFILES)]


def _capability_for(board: str) -> tuple[int, int] | None:
    """Compute capability from the table by the board's name (older drivers lack compute_cap)."""
    upper = board.upper()
    for name, gpu in GPUS.items():
        if name in upper:
            return gpu.compute_capability
    return None


def parse_nvidia_smi(text: str) -> list[tuple[str, int, tuple[int, int] | None]]:
    """Rows of `nvidia-smi --query-gpu=name,memory.total,compute_cap --format=csv,noheader,
    nounits`: (name, total bytes, compute capability or None)."""
    rows = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 2 or not parts[1].isdigit():
            continue
        cap = None
        if len(parts) > 2 and "." in parts[2]:
            major, _, minor = parts[2].partition(".")
            if major.isdigit() and minor.isdigit():
                cap = (int(major), int(minor))
        rows.append((parts[0], int(parts[1]) * MIB, cap or _capability_for(parts[0])))
    return rows


def cuda_total(board: str, smi_bytes: int) -> int:
    """The total CUDA reports (what vLLM budgets from) for a board nvidia-smi reports `smi_bytes`
    for: the table's figure for a board it knows, else nvidia-smi's less SMI_TO_CUDA."""
    upper = board.upper()
    for name, gpu in GPUS.items():
        if name in upper and gpu.memory_bytes <= smi_bytes:
            return gpu.memory_bytes
    return int(smi_bytes * SMI_TO_CUDA)


def detect(count: int, nvidia_smi: str | None = None) -> GpuSpec | None:
    """The visible GPUs as a GpuSpec (the smallest board decides), from nvidia-smi, else torch;
    None when neither can tell. `count` is how many GPUs this process may use."""
    smi = nvidia_smi if nvidia_smi is not None else shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run(
                [smi, "--query-gpu=name,memory.total,compute_cap", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        rows = parse_nvidia_smi(out)[: max(count, 1)]
        if rows:
            name, memory, cap = min(rows, key=lambda r: r[1])
            return GpuSpec(name, cuda_total(name, memory), cap or (0, 0), count=len(rows), source="nvidia-smi")
    try:  # only when nvidia-smi is missing: torch is heavy to import
        import torch

        if torch.cuda.is_available():
            _, total = torch.cuda.mem_get_info(0)
            cap = torch.cuda.get_device_capability(0)
            return GpuSpec(
                torch.cuda.get_device_name(0),
                int(total),
                (int(cap[0]), int(cap[1])),
                count=max(count, 1),
                source="torch",
            )
    except Exception:  # noqa: BLE001  # pylint: disable=broad-exception-caught
        # no usable torch/CUDA means "unknown", not an error
        return None
    return None
