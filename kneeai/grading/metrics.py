"""Agreement and calibration metrics used by training, the benchmark and the model card."""
from __future__ import annotations

import numpy as np

__all__ = ["confusion", "quadratic_weighted_kappa", "grading_metrics", "expected_calibration_error",
           "reliability_bins", "CALIBRATION_BINS"]


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int = 5) -> np.ndarray:
    """Confusion matrix, shape = (n, n): rows are the reference grade, columns the prediction."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(np.asarray(y_true, int), np.asarray(y_pred, int), labels=np.arange(n))


def quadratic_weighted_kappa(y_true: np.ndarray, y_pred: np.ndarray, n: int = 5) -> float:
    """Cohen's kappa with quadratic weights (scikit-learn); 0 where it is undefined (one grade only)."""
    import warnings

    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.metrics import cohen_kappa_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        k = cohen_kappa_score(np.asarray(y_true, int), np.asarray(y_pred, int), labels=np.arange(n),
                              weights="quadratic", replace_undefined_by=0.0)
    return float(k)


# Equal-width confidence bins for both the ECE and the reliability diagram, so the two agree.
CALIBRATION_BINS = 15


def reliability_bins(probs: np.ndarray, y_true: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict]:
    """Top-label confidence vs accuracy per equal-width bin (the reliability diagram's points)."""
    conf = probs.max(1)
    correct = probs.argmax(1) == np.asarray(y_true)
    edges = np.linspace(0, 1, bins + 1)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        rows.append({"lo": float(lo), "hi": float(hi), "n": int(sel.sum()),
                     "confidence": float(conf[sel].mean()) if sel.any() else None,
                     "accuracy": float(correct[sel].mean()) if sel.any() else None})
    return rows


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Top-label ECE: the bins' gap between accuracy and confidence, weighted by their share of knees."""
    rows = reliability_bins(probs, y_true, bins)
    total = max(sum(r["n"] for r in rows), 1)
    return float(sum(r["n"] / total * abs(r["accuracy"] - r["confidence"]) for r in rows if r["n"]))


def grading_metrics(probs: np.ndarray, y_true: np.ndarray) -> dict:
    """Accuracy, QWK, MAE, per-grade sensitivity/specificity, confusion matrix and ECE.

    probs : ndarray, shape = (n_knees, 5)
    y_true : ndarray, shape = (n_knees,)
    """
    y_true = np.asarray(y_true, int)
    pred = probs.argmax(1)
    cm = confusion(y_true, pred)
    total = cm.sum()
    sens, spec = [], []
    for k in range(cm.shape[0]):
        tp = cm[k, k]
        fn = cm[k].sum() - tp
        fp = cm[:, k].sum() - tp
        tn = total - tp - fn - fp
        sens.append(float(tp / max(tp + fn, 1)))
        spec.append(float(tn / max(tn + fp, 1)))
    return {
        "n": int(total),
        "accuracy": float((pred == y_true).mean()),
        "qwk": quadratic_weighted_kappa(y_true, pred),
        "mae": float(np.abs(pred - y_true).mean()),
        "ece": expected_calibration_error(probs, y_true),
        "sensitivity": sens,
        "specificity": spec,
        "confusion": cm.tolist(),
    }
