"""kamcore.models: the analyst's three-line path, model identity and the template check."""

import numpy as np
import pytest

import kamcore
from kamcore.errors import ConfigError, ModelFileError, RateWarning
from kamcore.fit import Templates
from kamcore.io import read_scores, write_events
from kamcore.models import Model, Scores, load_model
from kamcore.runs import RunSimConfig
from kamcore.runs.simulate import simulate_run


@pytest.fixture(scope="module")
def run_file(tmp_path_factory, pmts):
    events, truth = simulate_run(17, seed=5, config=RunSimConfig(events_per_run=150.0, run_duration_s=3600.0),
                                 pmts=pmts)
    path = tmp_path_factory.mktemp("run") / "run_000017.parquet"
    write_events(events, path)
    return path, truth


def test_three_line_analyst_path_on_a_shipped_model(run_file):
    path, truth = run_file
    scores = kamcore.load_model("cnn_cpu").score(kamcore.open_events(path))
    with pytest.warns(RateWarning, match="run 17: .* events in 3600 s"):  # 150/h, the templates assume 16.7/h
        fit = kamcore.fit_run(scores, kamcore.load_templates("templates_cnn_cpu.json"))
    assert isinstance(scores, Scores) and len(scores) == sum(truth["counts"].values())
    assert scores.livetime_s == 3600.0 and scores.run_info["run"] == 17
    assert fit.run == 17 and fit.status == "ok" and np.isfinite(fit.bkg_fraction)
    # the live time came from the scores: the same numbers without it need it given
    with pytest.warns(RateWarning):
        again = kamcore.fit_run(scores.score, kamcore.load_templates("templates_cnn_cpu.json"), livetime_s=3600.0, run=17)
    assert again.yields == fit.yields


def test_model_knows_its_identity_and_input(run_file):
    model = load_model("cnn_cpu")
    assert isinstance(model, Model) and model.kind == "cnn" and not model.has_attention
    assert model.identity == kamcore.models.model_identity(model.path)
    assert model.input.vertex == "centroid"  # a checkpoint of before the record: the chain it was trained on
    assert "cnn_cpu" in repr(model)


def test_templates_refuse_scores_of_another_model(run_file, tmp_path):
    path, _ = run_file
    scores = load_model("cnn_cpu").score(kamcore.open_events(path))
    templates = kamcore.load_templates("templates_kamnet_cpu.json")
    with pytest.raises(ConfigError, match="templates were made with model kamnet_cpu@.*the scores come from cnn_cpu@"):
        kamcore.fit_run(scores, templates)
    with pytest.raises(ConfigError, match="x.json: templates were made"):
        templates.check_model(scores, "x.json")
    assert isinstance(templates, Templates)


def test_scores_write_a_score_file_with_model_and_run(run_file, tmp_path):
    path, _ = run_file
    scores = load_model("cnn_cpu").score(kamcore.open_events(path))
    out = scores.write(tmp_path / "s.parquet")
    back = read_scores(out)
    np.testing.assert_array_equal(back["score"], scores.score)
    assert back["meta"]["identity"] == scores.identity and back["meta"]["run_info"]["livetime_s"] == 3600.0


def test_load_model_errors_are_one_line(tmp_path):
    with pytest.raises(ModelFileError) as exc:
        load_model(tmp_path / "nothing")
    assert "\n" not in str(exc.value) and "nothing" in str(exc.value)
    with pytest.raises(ModelFileError, match="event generator|cnn|kamnet"):
        load_model("vae_xe136")


def test_checkpoint_info_knows_the_input_without_building_the_network(tmp_path):
    """CheckpointInfo.input == Model.input: what a display needs to show events as the model reads them."""
    import torch

    from kamcore.models import checkpoint_info
    from kamcore.nn.kamnet import KamNet, KamNetConfig
    from kamcore.preprocess import HitMapConfig
    from kamcore.train import save_model

    for name in ("cnn_cpu", "cnn_bi214"):  # the legacy chain, a recorded fitted-vertex chain
        assert checkpoint_info(name).input.to_dict() == load_model(name).input.to_dict()
    assert checkpoint_info("cnn_bi214").input.vertex == "fit" and checkpoint_info("cnn_cpu").input.vertex == "centroid"
    torch.manual_seed(0)
    recorded = HitMapConfig(n_time_bins=4, bandwidth=4, bin_width_ns=10.5, vertex="fit")
    save_model(tmp_path / "k", KamNet(KamNetConfig.from_preset("tiny")), "kamnet", preset="tiny",
               hitmap_config=recorded.to_dict())
    info = checkpoint_info(tmp_path / "k")
    assert info.input.to_dict() == load_model(tmp_path / "k").input.to_dict() == recorded.to_dict()
    assert checkpoint_info("vae_xe136", what="generator").input is None


def test_three_line_path_of_the_readme_with_the_dashboards_kamnet(tmp_path, pmts):
    """The README's lines on the shipped new-chain KamNet and a run at the templates' own rates (6 h of a
    default RunSimConfig): no rate warning, a valid fit, the background fraction near the run's truth."""
    import warnings

    from kamcore.fit.config import DEFAULT_BACKGROUND

    events, truth = simulate_run(17, seed=8, config=RunSimConfig(run_duration_s=6 * 3600.0,
                                                                  events_per_run=100.0), pmts=pmts)
    write_events(events, tmp_path / "run_000017.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RateWarning)
        scores = kamcore.load_model("kamnet_bi214").score(kamcore.open_events(tmp_path / "run_000017.parquet"))
        fit = kamcore.fit_run(scores, kamcore.load_templates("templates_kamnet_bi214.json"))
    assert scores.attention is not None and scores.attention.shape == (len(scores), 28)
    assert fit.status == "ok" and fit.valid
    f_true = sum(truth["counts"][s] for s in DEFAULT_BACKGROUND) / sum(truth["counts"].values())
    assert abs(fit.bkg_fraction - f_true) < 4 * fit.bkg_fraction_err, (fit.bkg_fraction, fit.bkg_fraction_err, f_true)
