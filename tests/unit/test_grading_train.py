"""Training machinery: the dataset pack, augmentation on any device, starting weights, the time budget."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from kneeai.training import augment, pack, train
from kneeai.training.data import load_split
from kneeai.grading.model import build_model


def _dataset(root, per_grade=2, size=32):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for g in range(5):
            d = root / split / str(g)
            d.mkdir(parents=True)
            for i in range(per_grade):
                # A smooth gradient whose level encodes the grade, plus mild noise.
                yy, xx = np.mgrid[0:size, 0:size]
                img = 40 * g + 2 * xx + rng.normal(0, 3, (size, size))
                Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(d / f"9{g}{i:05d}{'LR'[i % 2]}.png")
    return root


def test_pack_round_trip_keeps_labels_names_and_pixels(tmp_path):
    data = _dataset(tmp_path / "data")
    out = tmp_path / "pack"
    assert pack.main(["--data", str(data), "--out", str(out), "--quality", "95", "--threads", "1"]) == 0
    from_folder = load_split(data / "train")
    from_pack = load_split(out / "train")  # no such folder: the sibling train.pack.npz is read
    assert from_pack[2] == from_folder[2]
    assert torch.equal(from_pack[1], from_folder[1])
    assert from_pack[0].shape == from_folder[0].shape
    err = (from_pack[0].float() - from_folder[0].float()).abs().mean()
    assert 0 < err < 3  # lossy, but close


def test_pack_limit_per_grade(tmp_path):
    data = _dataset(tmp_path / "data", per_grade=3)
    pack.main(["--data", str(data), "--out", str(tmp_path / "p"), "--splits", "val", "--threads", "1"])
    x, y, names = load_split(tmp_path / "p" / "val", limit_per_grade=1)
    assert y.tolist() == [0, 1, 2, 3, 4] and len(names) == 5 and x.shape[0] == 5


def test_augment_is_seeded_bounded_and_varied():
    batch = torch.randint(0, 256, (6, 48, 48), dtype=torch.uint8)
    a = augment.augment(batch, torch.Generator().manual_seed(3))
    b = augment.augment(batch, torch.Generator().manual_seed(3))
    c = augment.augment(batch, torch.Generator().manual_seed(4))
    assert a.shape == (6, 1, 48, 48)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert a.min() >= 0 and a.max() <= 1


def test_soft_targets_follow_the_labels_device_and_order():
    y = torch.tensor([0, 2, 4])
    t = train.soft_targets(y, 0.5)
    assert t.device == y.device
    assert torch.allclose(t.sum(1), torch.ones(3))
    assert t.argmax(1).tolist() == [0, 2, 4]
    assert t[1, 1] == t[1, 3] and t[1, 1] > t[1, 0]  # neighbours share mass symmetrically


def test_init_from_a_headless_fp16_copy_matches_the_package_weights(tmp_path):
    reference = build_model(pretrained=True).state_dict()
    half = {k: v.half() if v.dtype.is_floating_point else v for k, v in reference.items() if not k.startswith("_fc.")}
    torch.save(half, tmp_path / "init.pt")
    model = train._initial_model(train.TrainConfig(data="", out="", init=str(tmp_path / "init.pt")))
    got = model.state_dict()
    key = "_conv_stem.weight"
    assert torch.allclose(got[key], reference[key], atol=1e-3)
    # A grader's own weights keep their 5-way head, so a shipped model can be trained further.
    torch.manual_seed(1)
    grader = build_model().state_dict()
    torch.save(grader, tmp_path / "grader.pt")
    again = train._initial_model(train.TrainConfig(data="", out="", init=str(tmp_path / "grader.pt"))).state_dict()
    assert torch.equal(again["_fc.weight"], grader["_fc.weight"])
    torch.save({"not_a_layer": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError):
        train._initial_model(train.TrainConfig(data="", out="", init=str(tmp_path / "bad.pt")))


@pytest.mark.parametrize("budget, expected_epochs", [(0.0, 3), (1e-3, 2)])
def test_time_budget_cuts_the_schedule_and_records_it(tmp_path, budget, expected_epochs):
    data = _dataset(tmp_path / "data", per_grade=2)
    cfg = train.TrainConfig(data=str(data), out=str(tmp_path / "run"), epochs=3, batch_size=4, warmup_epochs=1,
                            freeze_blocks=0, time_budget=budget, threads=1)
    metrics = train.train(cfg, log=lambda *_: None)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["epochs"] == expected_epochs
    assert len(metrics["history"]) == expected_epochs
    assert config["device"].startswith("CPU")
    for f in ("model.pt", "metrics.json", "val_predictions.npz", "checkpoint.pt"):
        assert (tmp_path / "run" / f).exists()


def test_compare_ranks_candidates_and_scores_fixed_rule_ensembles():
    from kneeai.training import compare

    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 400)
    onehot = np.eye(5)[y] * 4.0

    def logits(noise):
        plain = onehot + rng.normal(0, noise, onehot.shape)
        return np.stack([plain, plain + rng.normal(0, noise, onehot.shape)])

    cands = {"good": logits(1.5), "fair": logits(3.0), "poor": logits(8.0)}
    result = compare.compare(cands, y)
    singles = {r["candidate"]: r["single"] for r in result["candidates"]}
    assert result["best_single"] == "good"
    assert singles["good"]["accuracy"] > singles["fair"]["accuracy"] > singles["poor"]["accuracy"]
    assert list(result["ensembles"]) == ["top-2 singles (good, fair)", "all 3"]
    assert all(set(m) == set(compare.REPORTED) for m in result["ensembles"].values())
    for name in result["ensembles_beating_best_single"]:
        m = result["ensembles"][name]
        assert m["accuracy"] + m["qwk"] > singles["good"]["accuracy"] + singles["good"]["qwk"]

    # The card reports the candidates' spread: the winner sits at the top of it, above their mean.
    from kneeai.grading.card import selection_spread

    spread = selection_spread(result)
    assert spread["n"] == 3
    assert spread["accuracy_max"] == singles["good"]["accuracy"] > spread["accuracy"] > spread["accuracy_min"]
    assert spread["accuracy_min"] == singles["poor"]["accuracy"]
    assert selection_spread({**result, "candidates": result["candidates"][:1]}) is None


def test_compare_command_line_on_real_weights(tmp_path):
    from kneeai.training import compare

    data = _dataset(tmp_path / "data", per_grade=2)
    for seed in (0, 1):
        torch.manual_seed(seed)
        torch.save(build_model().state_dict(), tmp_path / f"m{seed}.pt")
    out = tmp_path / "sel.json"
    assert compare.main(["--data", str(data), "--out", str(out), "--threads", "1",
                         f"a={tmp_path / 'm0.pt'}", f"b={tmp_path / 'm1.pt'}"]) == 0
    sel = json.loads(out.read_text())
    assert [r["candidate"] for r in sel["candidates"]] == ["a", "b"]
    assert "all 2" in sel["ensembles"]


def test_ship_copies_weights_and_config_and_says_when_the_train_images_were_packed(tmp_path):
    from kneeai.training import ship
    from kneeai.manifest import verified_path

    data = _dataset(tmp_path / "data", per_grade=2)
    assert pack.main(["--data", str(data), "--out", str(tmp_path / "pack"), "--quality", "90", "--threads", "1"]) == 0
    notes = {}
    for source in ("data", "pack"):
        run = tmp_path / f"run-{source}"
        cfg = train.TrainConfig(data=str(tmp_path / source), out=str(run), epochs=1, batch_size=4, warmup_epochs=0,
                                freeze_blocks=0, threads=1)
        train.train(cfg, log=lambda *_: None)
        wdir = tmp_path / f"weights-{source}"
        wdir.mkdir()
        entry = ship.ship(run, weights_dir=wdir)
        # Every shipped file passes the manifest check, and the config is the run's own.
        for name in ("kl_grader.pt", ship.METRICS_FILE, ship.CONFIG_FILE):
            verified_path(name, wdir)
        assert (wdir / ship.CONFIG_FILE).read_bytes() == (run / "config.json").read_bytes()
        card = json.loads((wdir / ship.METRICS_FILE).read_text())
        assert card["train_config"] == json.loads((run / "config.json").read_text())
        assert entry["model_id"] == card["model_id"]
        notes[source] = entry["training_data"]
    assert ship.PACK_NOTE not in notes["data"]
    assert notes["pack"].endswith(ship.PACK_NOTE)


def test_shipping_over_a_model_keeps_its_row_and_the_runs_input_size(tmp_path):
    from kneeai.training import card as card_mod
    from kneeai.training import ship

    data = _dataset(tmp_path / "data", per_grade=2)
    wdir = tmp_path / "weights"
    wdir.mkdir()
    ids = []
    for seed, size in ((0, 224), (1, 256)):
        run = tmp_path / f"run{seed}"
        cfg = train.TrainConfig(data=str(data), out=str(run), epochs=1, batch_size=4, warmup_epochs=0,
                                freeze_blocks=0, threads=1, seed=seed, image_size=size)
        train.train(cfg, log=lambda *_: None)
        ids.append(ship.ship(run, weights_dir=wdir)["model_id"])
    card = json.loads((wdir / ship.METRICS_FILE).read_text())
    # The new model's own input size, and the replaced model side by side on the card.
    assert card["input_size"] == 256 and card["model_id"] == ids[1]
    assert [r["model_id"] for r in card["previous"]] == [ids[0]] and card["previous"][0]["input_size"] == 224
    text = "\n".join(card_mod._previous_lines(card))
    assert ids[0] in text and ids[1] in text and "256 px" in text


def test_a_candidate_names_its_input_size_after_an_at_sign():
    from pathlib import Path

    from kneeai.training.compare import parse_candidate

    assert parse_candidate("cpu-288=/runs/r288/model.pt@288") == ("cpu-288", Path("/runs/r288/model.pt"), 288)
    assert parse_candidate("gpu=runs/s5/model.pt") == ("gpu", Path("runs/s5/model.pt"), None)


def test_bfloat16_only_where_the_cpu_has_the_instructions():
    # A CPU without them emulates bfloat16 (65 s a 288 px step instead of 9 s in float32).
    assert train.cpu_has_bf16("flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile")
    assert train.cpu_has_bf16("flags : fpu avx2 amx_bf16")
    assert not train.cpu_has_bf16("flags\t\t: fpu sse2 avx2 fma")
    assert not train.cpu_has_bf16("flags : avx512_bf16x")  # a whole flag, not a prefix


def test_js_divergence_is_zero_for_agreeing_views_and_grows_with_disagreement():
    a = torch.randn(6, 5)
    assert float(train.js_divergence(a, a)) == pytest.approx(0.0, abs=1e-6)
    near = float(train.js_divergence(a, a + 0.1 * torch.randn(6, 5)))
    far = float(train.js_divergence(a, -3 * a))
    assert 0 < near < far <= np.log(2) + 1e-6  # bounded by ln 2 in nats
    assert float(train.js_divergence(a, -3 * a)) == pytest.approx(float(train.js_divergence(-3 * a, a)), rel=1e-5)


def test_consistency_view_trains_and_pulls_the_two_views_together(tmp_path):
    """A run with a consistency weight trains end to end and records the weight in its config."""
    data = _dataset(tmp_path / "data", per_grade=2)
    cfg = train.TrainConfig(data=str(data), out=str(tmp_path / "run"), epochs=1, batch_size=4, warmup_epochs=0,
                            freeze_blocks=0, threads=1, consistency_weight=1.0)
    metrics = train.train(cfg, log=lambda *_: None)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["consistency_weight"] == 1.0 and len(metrics["history"]) == 1
    assert np.isfinite(metrics["history"][0]["loss"])
    # The degraded view's gradient flows: one step on a batch of disagreeing views lowers their JS term.
    model = build_model(pretrained=False)
    x = torch.rand(4, 64, 64, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    from kneeai.grading.model import network_input
    from kneeai.training.recipe import CONSISTENCY_VIEW
    views = torch.cat([augment.augment((x * 255).byte(), gen, 0.0), augment.augment((x * 255).byte(), gen, 0.0, **CONSISTENCY_VIEW)])
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    model.train()
    before = []
    for _ in range(5):
        a, b = model(network_input(views, 64)).chunk(2)
        js = train.js_divergence(a, b)
        before.append(float(js.detach()))
        opt.zero_grad()
        js.backward()
        opt.step()
    assert before[-1] < before[0]


@pytest.mark.parametrize("n_blocks", [0, 3, 5])
def test_the_trunk_and_the_rest_together_are_the_network(n_blocks):
    from kneeai.training.trunk import rest_logits, trunk_features

    model = build_model(pretrained=False).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        split = rest_logits(model, trunk_features(model, x, n_blocks), n_blocks)
        assert torch.allclose(split, model(x), atol=1e-5)


def test_the_view_cache_holds_the_trunks_features_of_each_image_in_order_and_keeps_the_mode():
    from kneeai.training.trunk import view_cache, trunk_features

    model = build_model(pretrained=False).train()
    x = torch.randn(7, 3, 64, 64)
    calls = []

    def view(idx):
        calls.append(idx.tolist())
        return x[idx]

    feats = view_cache(model, 7, view, 3, batch=3)
    assert calls == [[0, 1, 2], [3, 4, 5], [6]]
    assert feats.dtype == torch.bfloat16 and feats.shape[0] == 7
    assert model.training and model._bn0.training
    model.eval()
    with torch.no_grad():
        want = trunk_features(model, x, 3)
    assert torch.allclose(feats.float(), want, atol=0.05 * float(want.abs().max()))


def test_a_cached_run_trains_only_the_rest_computes_each_view_once_and_reuses_them_on_resume(tmp_path, monkeypatch):
    from kneeai.training import trunk

    built = []
    real = trunk.view_cache

    def counting(*a, **k):
        built.append(1)
        return real(*a, **k)

    monkeypatch.setattr(train, "view_cache", counting)
    data = _dataset(tmp_path / "data", per_grade=2)
    cfg = train.TrainConfig(data=str(data), out=str(tmp_path / "run"), epochs=3, batch_size=4, warmup_epochs=0,
                            freeze_blocks=3, threads=1, cache_views=2, image_size=64)
    metrics = train.train(cfg, log=lambda *_: None)
    assert len(built) == 2 and len(metrics["history"]) == 3
    assert (tmp_path / "run" / "view0.pt").exists() and (tmp_path / "run" / "view1.pt").exists()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["cache_views"] == 2
    trained = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["model"]
    start = build_model(pretrained=True).state_dict()
    assert torch.equal(trained["_blocks.2._depthwise_conv.weight"], start["_blocks.2._depthwise_conv.weight"])
    assert not torch.equal(trained["_blocks.3._depthwise_conv.weight"], start["_blocks.3._depthwise_conv.weight"])
    # A run started again without its checkpoint reads the views from disk.
    (tmp_path / "run" / "checkpoint.pt").unlink()
    train.train(cfg, log=lambda *_: None)
    assert len(built) == 2


def test_a_cached_run_needs_frozen_blocks_and_no_consistency_term(tmp_path):
    for bad in ({"freeze_blocks": 0}, {"consistency_weight": 1.0}):
        cfg = train.TrainConfig(data=str(tmp_path), out=str(tmp_path / "run"), cache_views=2, **bad)
        with pytest.raises(ValueError, match="cache-views"):
            train.train(cfg, log=lambda *_: None)


def test_turn_negatives_turns_back_the_knees_the_pipeline_would_turn(examples_dir):
    from kneeai.training.data import turn_negatives

    knees = sorted((examples_dir / "knees").glob("*.webp"))[:3]
    x = torch.from_numpy(np.stack([np.asarray(Image.open(p).convert("L").resize((224, 224))) for p in knees]))
    mixed = x.clone()
    mixed[1] = 255 - mixed[1]
    out, turned = turn_negatives(mixed)
    assert turned == [1]
    assert torch.equal(out, x)
