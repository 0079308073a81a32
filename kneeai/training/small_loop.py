"""The training loop of the small networks trained from scratch here (the marker reader, the
negative-image check): AdamW under a one-cycle learning rate, one log line an epoch."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

__all__ = ["one_cycle"]

log = logging.getLogger(__name__)


def one_cycle(net, n: int, epochs: int, lr: float, order: Callable[[], Sequence[int]], loss_of: Callable,
              batch: int = 64, pct_start: float = 0.1):
    """Train ``net`` for ``epochs`` over ``n`` samples in batches of ``batch`` (the last partial one
    dropped) and return it in eval mode.

    order : called at the start of each epoch: the samples' order.
    loss_of : the loss of one batch, given its indices.
    """
    import torch

    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (n // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=pct_start)
    for epoch in range(epochs):
        net.train()
        perm, total, t0 = order(), 0.0, time.time()
        for i in range(n // batch):
            loss = loss_of(perm[i * batch:(i + 1) * batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        log.info("epoch %d/%d loss %.4f (%.0f s)", epoch + 1, epochs, total / (n // batch), time.time() - t0)
    return net.eval()
