"""kamcore.studies.generators: the generator results study as a function, and ``kamcore gen-results`` as its thin
command line (a tiny VAE trained on 40 events, seconds)."""

import json

import pytest

from kamcore.cli import main
from kamcore.errors import ConfigError
from kamcore.studies.generators import GeneratorResultsConfig, run_generator_results
from kamcore.train.generative import GenTrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def vae(tmp_path_factory):
    d = tmp_path_factory.mktemp("gen_study")
    assert main(["simulate", "--source", "Xe136_0vbb", "--events", "40", "--seed", "1", "--no-progress",
                 "--out", str(d / "mc.parquet")]) == 0
    assert main(["train", "vae", "--events", str(d / "mc.parquet"), "--out", str(d / "vae"), "--preset", "tiny",
                 "--epochs", "1", "--batch-size", "16", "--seed", "0", "--device", "cpu", "--no-progress"]) == 0
    return d / "vae"


def _without_timing(doc):
    return {k: v for k, v in doc.items() if k not in ("seconds", "command")}


def test_the_command_line_gives_the_study_functions_document(vae, tmp_path, capsys):
    cfg = GeneratorResultsConfig(vae=str(vae), events=8, bootstrap=0, classifier=False)
    doc = run_generator_results(cfg, GenTrainConfig(threads=1), tmp_path / "lib.json", command="x")
    assert json.loads((tmp_path / "lib.json").read_text()) == doc and doc["command"] == "x"
    assert set(doc["table"]["rows"]) == {"vae"} and doc["reference"]["events"] == 8
    assert set(doc["checks"]) == {"time", "charge", "nhit", "total_charge"} and "few_shot" not in doc
    assert main(["gen-results", "--vae", str(vae), "--events", "8", "--bootstrap", "0", "--no-classifier",
                 "--threads", "1", "--out", str(tmp_path / "cli.json")]) == 0
    assert "NHIT IoU" in capsys.readouterr().out
    cli = json.loads((tmp_path / "cli.json").read_text())
    assert cli["command"].startswith("kamcore gen-results --vae")
    assert _without_timing(cli) == _without_timing(doc)


def test_config_round_trips_and_refuses_inconsistent_settings(tmp_path):
    cfg = GeneratorResultsConfig(vae="v", arch={"bce_weight": 3}, few_shot=True, pretrain="p", shot_events="s")
    assert GeneratorResultsConfig.from_json(cfg.to_json()).to_dict() == cfg.to_dict()
    for values, pattern in [({}, "give --vae and/or --gan"), ({"vae": "v", "events": 3}, "--events must be >= 4"),
                            ({"vae": "v", "bootstrap": 1}, "--bootstrap must be 0 or >= 2"),
                            ({"vae": "v", "skip_table": True}, "--skip-table only makes sense"),
                            ({"vae": "v", "few_shot": True}, "--few-shot needs --pretrain"),
                            ({"vae": "v", "few_shot": True, "keep_few_shot": True}, "cannot be combined")]:
        with pytest.raises(ConfigError, match=pattern):
            run_generator_results(GeneratorResultsConfig(**values), GenTrainConfig(), tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()
