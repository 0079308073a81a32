"""The training recipe's fixed ranges, torch-free: the trainer uses them and the model card prints them."""
from __future__ import annotations

__all__ = ["AUGMENTATION", "CONSISTENCY_VIEW", "augmentation_text"]

# The augmentation's ranges (the model card prints them from here). Scale > 1 zooms out: the joint
# looks smaller, as on a looser crop.
AUGMENTATION = {
    "rotation_deg": 10.0,
    "scale": (0.87, 1.15),
    "shift": 0.08,
    "log_gamma": 0.35,
    "contrast": (0.75, 1.3),
    "brightness": 0.1,
    "blur_p": 0.2,
    "noise_sd": 0.03,
    "lowres_factor": (0.35, 0.7),
    "border_width": (0.02, 0.1),
}

# With ``--consistency-weight`` each knee is seen twice a step: once as above and once with these
# (higher) chances of another site's acquisition, and the two predictions are pulled together, so
# that the grade does not move when only the film's resolution or border changes.
CONSISTENCY_VIEW = {"lowres_p": 0.6, "border_p": 0.3}


def augmentation_text(cfg: dict) -> str:
    """The augmentation in one line of the model card, with the run's probabilities from ``cfg``."""
    a = AUGMENTATION
    parts = [f"zoom {a['scale'][0]}–{a['scale'][1]}", f"shift ±{a['shift']:.0%}", f"rotation ±{a['rotation_deg']:g}°",
             "horizontal flip", f"gamma e^±{a['log_gamma']}", f"contrast {a['contrast'][0]}–{a['contrast'][1]}",
             f"brightness ±{a['brightness']}", f"blur (p {a['blur_p']})",
             f"noise σ ≤ {a['noise_sd']} (p {cfg.get('noise_p', 0)})"]
    if cfg.get("lowres_p"):
        parts.append(f"resampled from {a['lowres_factor'][0]}–{a['lowres_factor'][1]}× resolution (p {cfg['lowres_p']})")
    if cfg.get("border_p"):
        parts.append(f"black border {a['border_width'][0]:.0%}–{a['border_width'][1]:.0%} on one edge (p {cfg['border_p']})")
    if cfg.get("consistency_weight"):
        v = CONSISTENCY_VIEW
        parts.append(f"each knee also seen as a second view (resampled p {v['lowres_p']}, border p {v['border_p']}) "
                     f"with a Jensen-Shannon consistency term (weight {cfg['consistency_weight']:g})")
    return ", ".join(parts)
