"""A simulated knee cohort for the TKR demo models: covariates, true hazard and censored follow-up.

No real TKR cohort is available here, so the demo models are fitted on knees drawn from the
data-generating process below. Every number in :class:`CohortParameters` is traced in
``docs/simulated_cohort.md`` to a published figure or marked there as an assumption.

The process, per knee (one knee per person):

1. age from a normal truncated to the OAI's 45-79 enrolment range, with mean 61.3 and SD 9.2; sex ~ Bernoulli(0.58 F);
   BMI ~ log-normal with mean 28.7 and SD 4.8, truncated to 16-55.
2. KL grade from an ordered probit on a latent score that loads on age and BMI, with thresholds set
   so the marginal KL shares match the OAI baseline (Ferket 2017, Table 1).
3. WOMAC pain (0-20) ~ negative binomial whose mean rises with KL, BMI and female sex, capped at 20.
4. Time to TKR from a Weibull proportional-hazards model,
   ``H(t | x) = (t / 9) ** shape * exp(eta(x))`` with
   ``eta = a[KL] + g[KL] * pain + b_bmi * (BMI - 28.7) / 5 + b_age * (age - 61.3) / 10 + b_f * female``.
   The pain slope ``g`` grows with KL: pain matters more in a knee with more structural damage.
   That interaction is the non-linearity a linear Cox model cannot express and DeepSurv can.
5. Drop-out censoring at a constant rate, and administrative censoring at 9 years.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "CohortParameters",
    "PARAMETERS",
    "COLUMNS",
    "simulate",
    "true_log_hazard",
    "true_survival",
    "calibrate_kl_log_hazard",
    "simulate_pumps",
]

# Column order of a simulated cohort (and of ``survival simulate``'s CSV).
COLUMNS: tuple[str, ...] = ("age", "sex", "bmi", "womac_pain", "kl", "time", "event")


@dataclass(frozen=True)
class CohortParameters:
    """Parameters of the simulated cohort; sources in ``docs/simulated_cohort.md``."""

    age_mean: float = 61.3
    age_sd: float = 9.2
    # A normal truncated to 45-79 whose own mean and SD are 61.3 and 9.2 (solved numerically; it
    # also gives quartiles 54 / 61 / 69, as Ferket 2017 reports).
    age_latent_mean: float = 59.446
    age_latent_sd: float = 17.593
    age_min: float = 45.0
    age_max: float = 79.0
    female_share: float = 0.58
    bmi_mean: float = 28.7
    bmi_sd: float = 4.8
    bmi_min: float = 16.0
    bmi_max: float = 55.0
    # OAI baseline KL shares (Ferket 2017 Table 1, both sub-cohorts pooled, missing excluded).
    kl_shares: tuple[float, ...] = (0.266, 0.156, 0.309, 0.202, 0.068)
    kl_age_loading: float = 0.30
    kl_bmi_loading: float = 0.25
    pain_mean_by_kl: tuple[float, ...] = (1.55, 1.8, 2.25, 3.1, 4.7)
    pain_bmi_log_slope: float = 0.03
    pain_female_ratio: float = 1.1
    pain_dispersion: float = 0.9
    weibull_shape: float = 1.3
    pain_log_hr_by_kl: tuple[float, ...] = (0.0, 0.03, 0.12, 0.17, 0.21)
    bmi_log_hr_per_5: float = 0.262364  # log(1.30)
    age_log_hr_per_10: float = 0.40
    female_log_hr: float = 0.10
    # Intercepts a[KL], found by calibrate_kl_log_hazard() so that the 9-year TKR incidence by KL
    # (no censoring) matches ``target_9y_by_kl``; a unit test checks they still do.
    kl_log_hazard: tuple[float, ...] = (-5.224, -4.842, -3.522, -3.170, -3.050)
    target_9y_by_kl: tuple[float, ...] = (0.005, 0.009, 0.05, 0.12, 0.26)
    dropout_per_year: float = 0.02
    follow_up_years: float = 9.0


PARAMETERS = CohortParameters()


def _covariates(n: int, rng: np.random.Generator, p: CohortParameters) -> pd.DataFrame:
    a, b = (p.age_min - p.age_latent_mean) / p.age_latent_sd, (p.age_max - p.age_latent_mean) / p.age_latent_sd
    age_dist = stats.truncnorm(a, b, loc=p.age_latent_mean, scale=p.age_latent_sd)
    age = np.round(age_dist.ppf(rng.random(n)))
    female = rng.random(n) < p.female_share
    s2 = np.log1p((p.bmi_sd / p.bmi_mean) ** 2)
    mu = np.log(p.bmi_mean) - s2 / 2
    z_bmi = rng.standard_normal(n)
    bmi = np.round(np.clip(np.exp(mu + np.sqrt(s2) * z_bmi), p.bmi_min, p.bmi_max), 1)
    # Ordered probit: the latent score is standard normal whatever the loadings, so the thresholds
    # taken from the marginal shares give those shares.
    z_age = stats.norm.ppf(np.clip(age_dist.cdf(age), 1e-6, 1 - 1e-6))
    load = np.sqrt(max(0.0, 1 - p.kl_age_loading**2 - p.kl_bmi_loading**2))
    latent = p.kl_age_loading * z_age + p.kl_bmi_loading * z_bmi + load * rng.standard_normal(n)
    shares = np.asarray(p.kl_shares) / np.sum(p.kl_shares)
    kl = np.searchsorted(stats.norm.ppf(np.cumsum(shares)[:-1]), latent)
    pain_mu = np.asarray(p.pain_mean_by_kl)[kl] * np.exp(p.pain_bmi_log_slope * (bmi - p.bmi_mean))
    pain_mu = pain_mu * np.where(female, p.pain_female_ratio, 1.0)
    r = p.pain_dispersion
    pain = np.minimum(rng.negative_binomial(r, r / (r + pain_mu)), 20)
    return pd.DataFrame({"age": age, "sex": np.where(female, "F", "M"), "bmi": bmi,
                         "womac_pain": pain.astype(int), "kl": kl.astype(int)})


def true_log_hazard(df: pd.DataFrame, params: CohortParameters = PARAMETERS) -> np.ndarray:
    """The simulator's log relative hazard ``eta(x)``, shape = (n,), for columns age, sex, bmi, womac_pain, kl."""
    p = params
    kl = df["kl"].to_numpy(dtype=int)
    pain = df["womac_pain"].to_numpy(dtype=float)
    female = (df["sex"].to_numpy() == "F").astype(float)
    return (np.asarray(p.kl_log_hazard)[kl] + np.asarray(p.pain_log_hr_by_kl)[kl] * pain
            + p.bmi_log_hr_per_5 * (df["bmi"].to_numpy(dtype=float) - p.bmi_mean) / 5
            + p.age_log_hr_per_10 * (df["age"].to_numpy(dtype=float) - p.age_mean) / 10
            + p.female_log_hr * female)


def true_survival(df: pd.DataFrame, times: np.ndarray, params: CohortParameters = PARAMETERS) -> np.ndarray:
    """True S(t | x), shape = (n, len(times)); ``times`` in years."""
    t = np.asarray(times, dtype=float)
    h0 = (t / params.follow_up_years) ** params.weibull_shape
    return np.exp(-np.exp(true_log_hazard(df, params))[:, None] * h0[None, :])


def simulate(n: int, seed: int = 0, params: CohortParameters = PARAMETERS, truth: bool = False) -> pd.DataFrame:
    """Draw ``n`` knees with follow-up.

    Returns a DataFrame with :data:`COLUMNS`: age (years), sex ("F"/"M"), bmi (kg/m²),
    womac_pain (0-20), kl (0-4), time (years, at most 9), event (1 = TKR, 0 = censored).
    With ``truth=True`` it adds ``true_log_hazard`` and ``true_risk_5y`` (the simulator's own
    5-year TKR probability) for validation. The same ``n`` and ``seed`` give the same cohort.
    """
    if n < 1:
        raise ValueError("n must be positive")
    rng = np.random.default_rng(seed)
    df = _covariates(n, rng, params)
    eta = true_log_hazard(df, params)
    # Invert H(t) = (t / 9)^shape * exp(eta) at an Exp(1) draw.
    e = rng.exponential(size=n)
    t_event = params.follow_up_years * (e * np.exp(-eta)) ** (1 / params.weibull_shape)
    t_drop = rng.exponential(1 / params.dropout_per_year, size=n) if params.dropout_per_year > 0 else np.full(n, np.inf)
    t_cens = np.minimum(t_drop, params.follow_up_years)
    df["time"] = np.round(np.maximum(np.minimum(t_event, t_cens), 1e-3), 3)
    df["event"] = (t_event <= t_cens).astype(int)
    if truth:
        df["true_log_hazard"] = eta
        df["true_risk_5y"] = 1 - true_survival(df, np.array([5.0]), params)[:, 0]
    return df


def calibrate_kl_log_hazard(params: CohortParameters = PARAMETERS, n: int = 400_000, seed: int = 12345) -> tuple[float, ...]:
    """Intercepts a[KL] that give ``target_9y_by_kl`` as the mean 9-year TKR probability per KL.

    Used once to set :attr:`CohortParameters.kl_log_hazard`; kept so the derivation can be re-run.
    """
    from scipy.optimize import brentq

    df = _covariates(n, np.random.default_rng(seed), params)
    zero = CohortParameters(**{**{f.name: getattr(params, f.name) for f in fields(params)}, "kl_log_hazard": (0.0,) * 5})
    rest = true_log_hazard(df, zero)
    kl = df["kl"].to_numpy()
    out = []
    for k, target in enumerate(params.target_9y_by_kl):
        r = rest[kl == k]
        out.append(round(brentq(lambda a: 1 - np.exp(-np.exp(a + r)).mean() - target, -20, 5), 3))
    return tuple(out)


def simulate_pumps(n: int, seed: int = 0) -> pd.DataFrame:
    """A right-censored table that has nothing to do with knees, for exercising the refit path.

    Columns: ``hours`` until failure or end of observation, ``failed`` ("yes"/"no"), ``load_kw``
    (numeric), ``supplier`` (text: "acme", "bolt", "crane") and ``site`` (integer code 1-3 that
    should be treated as a category). Higher load and supplier "bolt" shorten the life.
    """
    rng = np.random.default_rng(seed)
    load = np.round(rng.normal(7.5, 2.0, n).clip(1, 15), 2)
    supplier = rng.choice(["acme", "bolt", "crane"], size=n, p=[0.5, 0.3, 0.2])
    site = rng.integers(1, 4, size=n)
    log_hazard = 0.25 * (load - 7.5) + np.where(supplier == "bolt", 0.8, 0.0) + np.where(site == 3, -0.4, 0.0)
    t_fail = 4000 * (rng.exponential(size=n) * np.exp(-log_hazard)) ** (1 / 1.5)
    t_obs = rng.uniform(500, 6000, size=n)
    return pd.DataFrame({"hours": np.round(np.minimum(t_fail, t_obs), 1).clip(0.1), "failed": np.where(t_fail <= t_obs, "yes", "no"),
                         "load_kw": load, "supplier": supplier, "site": site})
