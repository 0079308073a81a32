"""A grader's logits on a split, and the temperature that calibrates them (fitted on val)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from kneeai.grading.model import FORWARD_CHUNK, network_input
from kneeai.imaging.preprocess import normalize_intensity

__all__ = ["predict_logits", "fit_temperature", "calibrate"]


@torch.no_grad()
def predict_logits(model: torch.nn.Module, images_u8: torch.Tensor, device: str, flip: bool = False,
                   batch: int = FORWARD_CHUNK, size: int | None = None) -> torch.Tensor:
    model.eval()
    out = []
    for i in range(0, len(images_u8), batch):
        x = normalize_intensity(images_u8[i : i + batch].to(device).float().unsqueeze(1) / 255.0)
        if flip:
            x = torch.flip(x, dims=[3])
        out.append(model(network_input(x, size)).float().cpu())
    return torch.cat(out)


def fit_temperature(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Temperature scaling (Guo et al. 2017): one scalar T minimising validation NLL."""
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())


def calibrate(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, np.ndarray]:
    """Fit the temperature on (logits, y) and return it with the calibrated probabilities."""
    temperature = fit_temperature(logits, y)
    return temperature, torch.softmax(logits / temperature, 1).numpy()
