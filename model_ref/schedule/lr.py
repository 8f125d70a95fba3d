"""Learning rate per step: linear warm-up, then the stage's shape.

`cosine` decays to a tenth of the peak; `step` is DeepSeek LLM's multi-step schedule (the peak
until 80% of the steps, then 31.6%, then 10% from 90%).
"""

from __future__ import annotations

import math

from model_ref.schedule.stages import Stage


def warmup_steps(stage: Stage, steps: int) -> int:
    """The report's warm-up for the stage, capped at a tenth of a short run (at least one step)."""
    return max(1, min(stage.warmup_steps, steps // 10))


def lr_at(stage: Stage, step: int, steps: int, peak: float) -> float:
    """The learning rate of stage-local step `step` (0-based) of `steps`."""
    warm = warmup_steps(stage, steps)
    if step < warm:
        return peak * (step + 1) / warm
    progress = (step - warm) / max(1, steps - warm)
    if stage.lr_shape == "step":
        return peak * (1.0 if progress < 0.8 else 0.316 if progress < 0.9 else 0.1)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))
