"""Published TKR-prediction figures: the one home for the numbers the validation page stands next to.

``verified`` is True where the figure was checked against the paper's abstract while building this
panel; the rest are recalled and shown as such. These are different cohorts, outcomes and
designs from our simulated one: context, not a league table.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PublishedTKR", "PUBLISHED_TKR"]


@dataclass(frozen=True)
class PublishedTKR:
    study: str
    model: str
    data: str
    metric: str
    value: str
    verified: bool


PUBLISHED_TKR: tuple[PublishedTKR, ...] = (
    PublishedTKR("Jamshidi et al. 2021 (Arthritis Care Res 73:1518)", "Cox, DeepSurv, linear SVM (10 features)",
                 "OAI, time to TKR", "C-index / AUC / Brier", "0.85 / 0.87 / 0.02", True),
    PublishedTKR("Jamshidi et al. 2021", "DeepSurv, 3 features (BML, KL grade, symptoms)", "OAI, time to TKR",
                 "C-index / AUC", "0.85 / 0.86", True),
    PublishedTKR("Leung et al. 2020 (Radiology)", "ResNet34 on radiographs vs KL grade", "OAI case-control (TKR within 9 y)",
                 "AUC", "0.87 vs 0.74 (KL grade)", True),
    PublishedTKR("Li et al. 2025 (Osteoarthr Cartil Open 7:100688)", "DeepSurv, clinical variables",
                 "OAI -> MOST Centre 1 (end-stage KOA or knee replacement)", "C-index", "0.75 -> 0.61", True),
    PublishedTKR("Riddle et al. 2009 (Knee 16:494)", "incidence", "OAI, symptomatic knee OA (n = 778)",
                 "2-year knee arthroplasty", "3.7% (95% CI 2.6-5.3%)", True),
)
