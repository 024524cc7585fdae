"""``infagenc evaluate``: the same numbers as a run's own evaluation for the same inputs and seed."""
from __future__ import annotations

import json

import pytest

from infagenc.cli import main
from infagenc.data import MotionSet
from infagenc.loop.config import RunConfig
from infagenc.loop.runner import run
from infagenc.runfolder import RunFolder
from test_loop_run import TINY

pytestmark = pytest.mark.slow  # every test reads a tiny run made by the module fixture (a few seconds)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluate") / "run"
    run(RunConfig.from_dict(json.loads(json.dumps(TINY))), out, progress=False)
    return out


def _args(run_dir, real="test", *extra) -> list[str]:
    """``real``: the run's split (train / val / test) given as ``--real``."""
    ev = TINY["evaluation"]
    f = RunFolder(run_dir, create=False)
    return ["evaluate", "--real", str(f.split_path(real)), "--synthetic", str(f.synthetic_path),
            "--evaluator", str(f.checkpoint("evaluator")), "--repeats", str(ev["repeats"]),
            "--seed", "0", "--diversity-pairs", str(ev["diversity_pairs"]),
            "--multimodality-pairs", str(ev["multimodality_pairs"]), "--device", "cpu", *extra]


def _approx(a, b, where=""):
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for k in a:
            _approx(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _approx(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-6, abs=1e-12, nan_ok=True), where
    else:
        assert a == b, where


def test_same_numbers_as_the_runs_evaluation(tiny_run, tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(_args(tiny_run, "test", "--out", str(out))) == 0
    got = json.loads(out.read_text())
    assert got.pop("inputs")["evaluator"].endswith("evaluator.pt")
    # the run evaluated its recycled pool (synthetic.npz) against data/test.npz with the same evaluator and seed
    expected = json.loads(RunFolder(tiny_run, create=False).metrics_path.read_text())["recycled_pool_vs_test"]
    _approx(got, expected)
    printed = capsys.readouterr().out
    assert "Against the real test set" in printed and "| Generated |" in printed
    cell = printed.split("| Generated |")[1].split("|")[0]  # the FID column
    assert float(cell.split("±")[0]) == pytest.approx(got["generated"]["fid"]["mean"], rel=1e-2)


def test_reference_train_and_documented_keys(tiny_run, tmp_path, capsys):
    out = tmp_path / "train.json"
    assert main(_args(tiny_run, "train", "--reference", "train", "--out", str(out))) == 0
    got = json.loads(out.read_text())
    assert got["reference"] == "train" and got["n_real"] == len(
        MotionSet.load(RunFolder(tiny_run, create=False).split_path("train")))
    assert set(got["generated"]) == {"fid", "accuracy", "diversity", "multimodality"}
    assert set(got["real"]) == {"accuracy", "diversity", "multimodality"}
    for s in got["generated"].values():
        assert len(s["values"]) == TINY["evaluation"]["repeats"] and s["mean"] == pytest.approx(
            sum(s["values"]) / len(s["values"]))
    assert "Against the real train set" in capsys.readouterr().out


def test_real_set_unlike_the_evaluators_data_is_refused(tiny_run, tmp_path, capsys):
    test = RunFolder(tiny_run, create=False).split_path("test")
    other = MotionSet.load(test).to_rep("axis_angle").save(tmp_path / "aa.npz")
    args = _args(tiny_run)
    args[args.index("--real") + 1] = str(other)
    assert main(args) == 2
    assert "axis_angle" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "preprocessed like" in capsys.readouterr().out


def test_run_folder_gives_every_input_and_the_runs_settings(tiny_run, tmp_path, capsys):
    out = tmp_path / "run.json"
    assert main(["evaluate", "--run", str(tiny_run), "--device", "cpu", "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    f = RunFolder(tiny_run, create=False)
    assert got.pop("inputs") == {"real": str(f.split_path("test")), "synthetic": str(f.synthetic_path),
                                 "evaluator": str(f.checkpoint("evaluator"))}
    # the run's own evaluation settings (config.json), so the numbers are the run's
    _approx(got, json.loads(f.metrics_path.read_text())["recycled_pool_vs_test"])
    assert got["R"] == TINY["evaluation"]["repeats"] and "Against the real test set" in capsys.readouterr().out
    assert main(["evaluate", "--run", str(tiny_run), "--reference", "train", "--repeats", "3", "--device", "cpu",
                 "--out", str(out)]) == 0
    got = json.loads(out.read_text())
    assert got["R"] == 3 and got["inputs"]["real"] == str(f.split_path("train"))  # flags override the run's
