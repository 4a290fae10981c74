"""Cost of a model: floating-point operations counted by PyTorch's own flop counter, and parameters."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode


def count_flops(module: torch.nn.Module, *inputs: torch.Tensor) -> int:
    """FLOPs of one forward pass of ``module(*inputs)`` as :class:`torch.utils.flop_counter.FlopCounterMode`
    counts them (a multiply-add is two; matrix products and convolutions are counted, element-wise ops are not).

    Example:
        >>> count_flops(torch.nn.Conv1d(4, 8, 3, padding=1), torch.zeros(1, 4, 10))
        1920
    """
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            module(*inputs)
    finally:
        module.train(was_training)
    return int(counter.get_total_flops())


def count_parameters(module: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
