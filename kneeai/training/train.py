"""Train the KL grading network.

    python -m kneeai.training.train --data ../shared/data/knee-kl --out weights/runs/kl-lite0

Reproducible: seeded, with ``config.json`` and ``metrics.json`` written next to the weights.
Resumable: a checkpoint is written after every epoch and picked up on restart.

Design choices (see docs/MODEL_CARD.md):
- Ordinal-aware objective: cross-entropy against Gaussian soft labels centred on the true grade
  (neighbouring grades share a little mass), plus a small squared-error term on the expected
  grade. Mistakes by one grade cost less than mistakes by three.
- Class imbalance: per-grade loss weights proportional to 1/sqrt(frequency).
- Laterality: the model is trained with random horizontal flips, so it is invariant to which
  side is medial; the explainer uses the knee's laterality to name medial and lateral regions.
  The mirrored prediction is computed at inference for the flip-disagreement uncertainty;
  averaging it in is kept only if it pays on val (``finalize``).
- Robustness to other hospitals: random zoom, shift and rotation (cropping habits), gamma,
  contrast, blur and noise (exposure and processing), then per-image percentile normalisation.
- ``--freeze-blocks N`` keeps the stem and first N MBConv blocks at their ImageNet weights, which
  halves the cost of a CPU epoch; on a GPU everything is fine-tuned (``--freeze-blocks 0``).
- ``--cache-views K`` runs the frozen blocks once for each of K augmented views of the training set
  and trains the rest on the stored features (epoch e reads view e mod K): a 320 px epoch on the
  2-core CPU then costs the trained blocks only (:mod:`kneeai.training.trunk`).
- ``--turn-negatives`` turns back the knees the pipeline would turn back before grading (the OAI set
  files 84 of its train and val knees as negatives), in train and val alike.
- Runs on a GPU when there is one: the split sits in device memory and is augmented there, and the
  forward pass runs under bf16 autocast. ``scripts/train_gpu.sh`` runs several seeds side by side;
  ``kneeai.training.pack`` shrinks the dataset for a GPU machine that takes few megabytes.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from kneeai.grading.metrics import grading_metrics
from kneeai.grading.model import ARCHITECTURE, NUM_GRADES, build_model, network_input
from kneeai.training.augment import augment
from kneeai.training.calibration import calibrate, predict_logits
from kneeai.training.data import load_split, split_pack, turn_negatives
from kneeai.training.recipe import CONSISTENCY_VIEW
from kneeai.training.trunk import rest_logits, view_cache

__all__ = ["TrainConfig", "train", "main", "cpu_has_bf16", "loss_fn", "soft_targets", "js_divergence"]


@dataclass
class TrainConfig:
    data: str
    out: str
    epochs: int = 14
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    label_sigma: float = 0.5
    expected_grade_weight: float = 0.1
    class_weight_power: float = 0.5
    ema_decay: float = 0.998
    freeze_blocks: int = 3
    seed: int = 0
    threads: int = 2
    limit_per_grade: int = 0
    image_size: int = 224
    noise_p: float = 0.3
    lowres_p: float = 0.0
    border_p: float = 0.0
    # > 0: a second, degraded view of every knee and a Jensen-Shannon term pulling the two predictions
    # together (recipe.CONSISTENCY_VIEW).
    consistency_weight: float = 0.0
    # bfloat16 autocast on the CPU too (AVX512-BF16 halves a 288-320 px step); off = float32.
    bf16: bool = True
    # Seconds for the whole run; the epoch count is fitted to it during the warm-up epochs (0 = off).
    time_budget: float = 0.0
    init: str = ""
    # > 0: the frozen blocks' features of this many augmented views of the training set are computed
    # once and reused (epoch e reads view e mod K); needs freeze_blocks > 0 and no consistency term.
    cache_views: int = 0
    turn_negatives: bool = False


def soft_targets(y: torch.Tensor, sigma: float) -> torch.Tensor:
    k = torch.arange(NUM_GRADES, dtype=torch.float32, device=y.device)
    logits = -((k.view(1, -1) - y.view(-1, 1).float()) ** 2) / (2 * sigma**2)
    return torch.softmax(logits, 1)


def loss_fn(logits: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    logp = F.log_softmax(logits, 1)
    ce = -(soft_targets(y, cfg.label_sigma) * logp).sum(1)
    expected = (logp.exp() * torch.arange(NUM_GRADES, device=logits.device)).sum(1)
    se = (expected - y.float()) ** 2
    w = weights[y]
    return ((ce + cfg.expected_grade_weight * se) * w).sum() / w.sum()


def js_divergence(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean Jensen-Shannon divergence between the softmax of two logit batches (0 when they agree)."""
    pa, pb = torch.softmax(a, 1), torch.softmax(b, 1)
    m = ((pa + pb) / 2).clamp_min(1e-8).log()
    return 0.5 * (F.kl_div(m, pa, reduction="batchmean") + F.kl_div(m, pb, reduction="batchmean"))


def cpu_has_bf16(flags: str | None = None) -> bool:
    """Whether the CPU has bfloat16 instructions (``flags``: a /proc/cpuinfo text; default this CPU's)."""
    if flags is None:
        try:
            flags = Path("/proc/cpuinfo").read_text()
        except OSError:  # not Linux: let PyTorch decide
            return True
    words = set(flags.split())
    return bool(words & {"avx512_bf16", "amx_bf16"})


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _freeze(model: torch.nn.Module, n_blocks: int) -> None:
    frozen = [model._conv_stem, model._bn0, *model._blocks[:n_blocks]]
    for module in frozen:
        for p in module.parameters():
            p.requires_grad = False


def _set_train_mode(model: torch.nn.Module, n_blocks: int) -> None:
    model.train()
    # Frozen layers keep their ImageNet batch-norm statistics.
    if n_blocks:
        for module in [model._bn0, *model._blocks[:n_blocks]]:
            module.eval()


def _initial_model(cfg: TrainConfig) -> torch.nn.Module:
    """ImageNet weights from the pip package, or ``cfg.init``: the same weights saved elsewhere
    (the GPU machine has no pip package; its copy may be fp16 and may lack the 1000-way head),
    or a grader's own weights to train further."""
    if not cfg.init:
        return build_model(pretrained=True)
    model = build_model(pretrained=False)
    own = model.state_dict()
    state = torch.load(cfg.init, map_location="cpu", weights_only=True)
    # An ImageNet file's 1000-way head is dropped; a grader's own 5-way head is kept, so a
    # shipped model can be trained further.
    state = {k: v.float() for k, v in state.items() if not (k.startswith("_fc.") and k in own and v.shape != own[k].shape)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("_fc.") for k in missing):
        raise ValueError(f"--init does not match {ARCHITECTURE}: missing {missing}, unexpected {unexpected}")
    return model


def train(cfg: TrainConfig, log=print) -> dict:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    _seed_everything(cfg.seed)
    torch.set_num_threads(cfg.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
    where = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {cfg.threads} threads"

    pack = split_pack(Path(cfg.data) / "train")

    def write_config(epochs: int) -> None:
        (out / "config.json").write_text(json.dumps(
            {**asdict(cfg), "epochs": epochs, "device": where, "train_pack": str(pack) if pack else None}, indent=2))

    write_config(cfg.epochs)

    if cfg.cache_views and (not cfg.freeze_blocks or cfg.consistency_weight):
        raise ValueError("--cache-views needs --freeze-blocks > 0 and no --consistency-weight")
    t0 = time.time()
    xtr, ytr, _ = load_split(Path(cfg.data) / "train", cfg.limit_per_grade)
    xva, yva, va_names = _val_split(cfg, log)
    if cfg.turn_negatives:
        xtr, turned = turn_negatives(xtr)
        log(f"turned back {len(turned)} negative train knees")
    # On a GPU the whole split lives in device memory and is augmented there; on the CPU the
    # same code runs batch by batch.
    xtr, ytr = xtr.to(device), ytr.to(device)
    log(f"loaded {len(xtr)} train / {len(xva)} val knees in {time.time() - t0:.0f}s on {device}")

    counts = torch.bincount(ytr, minlength=NUM_GRADES).float().clamp_min(1)
    class_w = counts.pow(-cfg.class_weight_power)
    class_w = class_w / (class_w[ytr].mean())

    model = _initial_model(cfg).to(device).to(memory_format=torch.channels_last)
    _freeze(model, cfg.freeze_blocks)
    ema = build_model(pretrained=False).to(device).to(memory_format=torch.channels_last)
    ema.load_state_dict(model.state_dict())
    for p in ema.parameters():
        p.requires_grad = False
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = len(xtr) // cfg.batch_size  # full batches only: batch norm dislikes a batch of 3
    schedule = {"epochs": cfg.epochs}
    warm = int(cfg.warmup_epochs * steps_per_epoch)

    def lr_at(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        total = steps_per_epoch * schedule["epochs"]
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(total - warm, 1))))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    bf16 = cfg.bf16 and (device == "cuda" or cpu_has_bf16())
    if cfg.bf16 and not bf16:
        # Without AVX512-BF16 or AMX the CPU emulates bfloat16: a 288 px step took 65 s instead of 9 s
        # in float32 on such a machine (2026-12-06), so the run falls back to float32.
        log("this CPU has no bfloat16 instructions (avx512_bf16, amx_bf16): training in float32")
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=bf16)
    history: list[dict] = []
    start_epoch, step, best = 0, 0, -1.0
    ckpt_path = out / "checkpoint.pt"
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)  # our own file
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        gen.set_state(ck["gen"].cpu())
        schedule["epochs"] = ck.get("epochs", cfg.epochs)
        start_epoch, step, best, history = ck["epoch"] + 1, ck["step"], ck["best"], ck["history"]
        log(f"resumed after epoch {start_epoch}")
    ema_float = [v for v in ema.state_dict().values() if v.dtype.is_floating_point]
    model_float = [v for v in model.state_dict().values() if v.dtype.is_floating_point]
    ema_other = [v for v in ema.state_dict().values() if not v.dtype.is_floating_point]
    model_other = [v for v in model.state_dict().values() if not v.dtype.is_floating_point]

    cached: dict[int, torch.Tensor] = {}

    def view_features(epoch: int) -> torch.Tensor:
        """The trunk features of the augmented view that ``epoch`` reads: kept in memory, and on
        disk next to the checkpoint, so a resumed run does not compute them again."""
        k = epoch % cfg.cache_views
        if k not in cached:
            path = out / f"view{k}.pt"
            if path.exists():
                cached[k] = torch.load(path, weights_only=True)
            else:
                t = time.time()
                cached[k] = view_cache(model, len(xtr), lambda idx: network_input(
                    augment(xtr[idx], gen, cfg.noise_p, cfg.lowres_p, cfg.border_p), cfg.image_size),
                    cfg.freeze_blocks)
                torch.save(cached[k], path)
                log(f"view {k}: trunk features of {len(xtr)} knees in {time.time() - t:.0f}s")
        return cached[k]

    epoch = start_epoch
    while epoch < schedule["epochs"]:
        features = view_features(epoch) if cfg.cache_views else None
        _set_train_mode(model, cfg.freeze_blocks)
        perm = torch.randperm(len(xtr), generator=gen, device=device)
        t_ep, running = time.time(), torch.zeros((), device=device)
        for i in range(steps_per_epoch):
            idx = perm[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            if features is not None:
                h = features[idx.cpu()].to(device).float().contiguous(memory_format=torch.channels_last)
                with autocast:
                    logits = rest_logits(model, h, cfg.freeze_blocks).float()
                views = [h]
            else:
                views = [augment(xtr[idx], gen, cfg.noise_p, cfg.lowres_p, cfg.border_p)]
                if cfg.consistency_weight:
                    views.append(augment(xtr[idx], gen, cfg.noise_p, **CONSISTENCY_VIEW))
                with autocast:
                    logits = model(network_input(torch.cat(views), cfg.image_size)).float()
            parts = logits.chunk(len(views))
            loss = sum(loss_fn(part, ytr[idx], class_w, cfg) for part in parts) / len(parts)
            if cfg.consistency_weight:
                loss = loss + cfg.consistency_weight * js_divergence(*parts)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            d = min(cfg.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                torch._foreach_mul_(ema_float, d)
                torch._foreach_add_(ema_float, model_float, alpha=1 - d)
                for pe, pm in zip(ema_other, model_other):
                    pe.copy_(pm)
            running += loss.detach()
            if device == "cpu" and i % 50 == 0:
                log(f"epoch {epoch + 1} step {i}/{steps_per_epoch} loss {float(running) / (i + 1):.4f}")
        probs = torch.softmax(predict_logits(ema, xva, device, size=cfg.image_size), 1).numpy()
        m = grading_metrics(probs, yva.numpy())
        score = m["qwk"] + m["accuracy"]
        seconds = time.time() - t_ep
        rec = {"epoch": epoch + 1, "loss": float(running) / steps_per_epoch, "seconds": seconds,
               **{k: m[k] for k in ("accuracy", "qwk", "mae", "sensitivity")}}
        history.append(rec)
        log(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rec.items() if k != "sensitivity"}))
        if cfg.time_budget and epoch + 1 <= max(1, math.ceil(cfg.warmup_epochs)):
            # Fit the schedule to the time left while the learning rate is still warming up (the
            # cosine part is not yet under way), from the latest epoch: the first one is slow on a
            # GPU (cuDNN tries its algorithms). The epoch count used goes into config.json.
            fit = epoch + 1 + int((cfg.time_budget - (time.time() - t0)) / seconds)
            schedule["epochs"] = max(epoch + 2, min(cfg.epochs, fit))
            write_config(schedule["epochs"])
            log(f"{seconds:.1f}s per epoch: training {schedule['epochs']} epochs")
        if score > best:
            best = score
            torch.save(ema.state_dict(), out / "best_ema.pt")
        torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                    "sched": sched.state_dict(), "gen": gen.get_state(), "epoch": epoch, "step": step,
                    "epochs": schedule["epochs"], "best": best, "history": history}, ckpt_path)
        epoch += 1

    return finalize(out, xva, yva, va_names, history, cfg, device, log)


def _val_split(cfg: TrainConfig, log=print) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    xva, yva, names = load_split(Path(cfg.data) / "val", cfg.limit_per_grade)
    if cfg.turn_negatives:
        xva, turned = turn_negatives(xva)
        log(f"turned back {len(turned)} negative val knees")
    return xva, yva, names


def finalize(out: Path, xva: torch.Tensor, yva: torch.Tensor, names: list[str], history: list[dict],
             cfg: TrainConfig, device: str, log=print) -> dict:
    """Pick the best EMA weights, fit temperature on val with flip averaging, write metrics."""
    model = build_model(pretrained=False).to(device).to(memory_format=torch.channels_last)
    model.load_state_dict(torch.load(out / "best_ema.pt", map_location=device, weights_only=True))
    plain = predict_logits(model, xva, device, size=cfg.image_size)
    flipped = predict_logits(model, xva, device, flip=True, size=cfg.image_size)
    y = yva.numpy()
    raw_plain = grading_metrics(torch.softmax(plain, 1).numpy(), y)
    raw_tta = grading_metrics(torch.softmax((plain + flipped) / 2, 1).numpy(), y)
    # Flip averaging is kept only if it pays on val (accuracy + QWK); the mirrored prediction is
    # computed either way, for the flip-disagreement uncertainty.
    flip_average = raw_tta["accuracy"] + raw_tta["qwk"] > raw_plain["accuracy"] + raw_plain["qwk"]
    chosen = (plain + flipped) / 2 if flip_average else plain
    temperature, cal_probs = calibrate(chosen, yva)
    final = grading_metrics(cal_probs, y)
    state = {k: v.contiguous().cpu() for k, v in model.state_dict().items()}
    torch.save(state, out / "model.pt")
    np.savez_compressed(out / "val_predictions.npz", probs=cal_probs, y=y, names=np.array(names))
    metrics = {"architecture": ARCHITECTURE, "temperature": temperature, "flip_average": flip_average,
               "train_config": json.loads((out / "config.json").read_text()),
               "val_plain_uncalibrated": raw_plain,
               "val_flip_tta_uncalibrated": raw_tta, "val": final, "history": history,
               "ece_before_calibration": (raw_tta if flip_average else raw_plain)["ece"],
               "ece_after_calibration": final["ece"]}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    log(f"final val: acc {final['accuracy']:.3f} qwk {final['qwk']:.3f} mae {final['mae']:.3f} "
        f"ece {final['ece']:.3f} T={temperature:.2f} flip_average={flip_average}")
    return metrics


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kneeai.training.train", description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    for f in ("epochs", "batch_size", "seed", "threads", "limit_per_grade", "freeze_blocks", "image_size", "cache_views"):
        ap.add_argument("--" + f.replace("_", "-"), type=int, default=getattr(TrainConfig, f))
    ap.add_argument("--init", default="", help="starting weights (default: the pip package's ImageNet file)")
    for f in ("lr", "label_sigma", "weight_decay", "warmup_epochs", "noise_p", "lowres_p", "border_p", "time_budget",
              "ema_decay", "consistency_weight"):
        ap.add_argument("--" + f.replace("_", "-"), type=float, default=getattr(TrainConfig, f))
    ap.add_argument("--turn-negatives", action="store_true", help="turn back negative knees, as the pipeline does")
    ap.add_argument("--no-bf16", dest="bf16", action="store_false", help="train in float32")
    ap.add_argument("--finalize-only", action="store_true", help="redo the calibration step of a finished run")
    a = ap.parse_args(argv)
    only = a.finalize_only
    cfg = TrainConfig(**{k: v for k, v in vars(a).items() if k != "finalize_only"})
    if only:
        out = Path(cfg.out)
        torch.set_num_threads(cfg.threads)
        xva, yva, names = _val_split(cfg)
        if (out / "checkpoint.pt").exists():
            history = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=False)["history"]
        else:  # a run fetched from a GPU machine brings its weights and metrics.json only
            history = json.loads((out / "metrics.json").read_text())["history"]
        finalize(out, xva, yva, names, history, cfg, "cpu")
    else:
        train(cfg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
