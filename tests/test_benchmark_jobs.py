"""The benchmark commands' shared ``--jobs`` implementation (``benchmarks/common.py``) on a tiny fake
protocol, and the loop protocols' configs against the strong recipe they take their final
recognizers from (``benchmarks/results/recipe/``)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import Job, JobsFailed, run_jobs  # noqa: E402


def fake_run(seed: int, variant: str, calls: str, progress: bool = False) -> dict:
    """A seeded 'training run': a few random draws, and the thread count it ran on."""
    import torch

    with open(calls, "a") as f:
        f.write(f"{variant}-{seed}\n")
    if variant == "broken":
        raise ValueError("this variant does not train")
    g = torch.Generator().manual_seed(seed * 100 + len(variant))
    x = torch.randn(64, 8, generator=g)
    return {"loss": float((x @ x.T).mean()), "first": x[0].tolist(), "threads": torch.get_num_threads()}


def fake_jobs(tmp: Path, variants=("plain", "recipe"), seeds=(0, 1, 2)) -> list[Job]:
    return [Job(f"{v}_s{s}", fake_run, {"seed": s, "variant": v, "calls": str(tmp / "calls.txt")})
            for s in seeds for v in variants]


def calls(tmp: Path) -> list[str]:
    p = tmp / "calls.txt"
    return p.read_text().split() if p.exists() else []


def test_one_job_at_a_time_resumes_and_reruns_only_what_changed(tmp_path):
    merged = []
    res = run_jobs(fake_jobs(tmp_path), tmp_path / "work", 1, merge=lambda j, r: merged.append(j.key))
    assert list(res) == [f"{v}_s{s}" for s in (0, 1, 2) for v in ("plain", "recipe")]
    assert all(r["threads"] == 1 for r in res.values())
    assert len(calls(tmp_path)) == 6 and sorted(merged) == sorted(res)
    stored = json.loads((tmp_path / "work" / "plain_s1.json").read_text())
    assert stored["result"] == res["plain_s1"] and stored["kwargs"]["seed"] == 1
    # again: every result is read back (and merged), nothing is run
    again = run_jobs(fake_jobs(tmp_path), tmp_path / "work", 1)
    assert again == res and len(calls(tmp_path)) == 6
    # a job whose arguments changed is run again, the others are not
    jobs = fake_jobs(tmp_path)
    jobs[0] = Job(jobs[0].key, fake_run, {**jobs[0].kwargs, "seed": 7})
    changed = run_jobs(jobs, tmp_path / "work", 1)
    assert calls(tmp_path)[6:] == ["plain-7"] and changed["plain_s0"] != res["plain_s0"]


def test_a_failing_job_is_named_and_the_others_are_kept(tmp_path):
    jobs = fake_jobs(tmp_path, variants=("plain", "broken"), seeds=(0,))
    with pytest.raises(JobsFailed, match=r"1 of 2 runs failed.*broken_s0: ValueError: this variant does not train"):
        run_jobs(jobs, tmp_path / "work", 1, log=lambda m: None)
    assert (tmp_path / "work" / "plain_s0.json").exists() and not (tmp_path / "work" / "broken_s0.json").exists()
    with pytest.raises(ValueError, match="repeat"):
        run_jobs(jobs + jobs[:1], tmp_path / "other", 1)


@pytest.mark.slow
def test_parallel_jobs_give_the_results_of_one_at_a_time(tmp_path):
    """Two worker processes (spawned, one thread each) against the same jobs in this process;
    the parent merges every result, as the results files' one writer."""
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
    one = run_jobs(fake_jobs(tmp_path / "a"), tmp_path / "a" / "work", 1)
    merged = {}
    two = run_jobs(fake_jobs(tmp_path / "b"), tmp_path / "b" / "work", 2, merge=lambda j, r: merged.update({j.key: r}))
    assert two == one and merged == one
    assert list(two) == list(one)  # the listed order, whatever order they finished in
    assert sorted(calls(tmp_path / "b")) == sorted(calls(tmp_path / "a"))


# ------------------------------------------------------------- the protocols' configs and the recipe
def _recipe(protocol: str, model: str) -> dict:
    path = REPO / "benchmarks" / "results" / "recipe" / protocol / f"{model}.json"
    return json.loads(path.read_text())["recipe"]


def _comparable(d: dict) -> dict:
    # execution settings: the inference batch is chosen for the device now (64 when the recipe ran)
    return {k: v for k, v in d.items() if k not in ("seed", "device", "precision", "eval_batch_size")}


@pytest.mark.parametrize("protocol", ["utkinect", "syrip"])
def test_loop_configs_take_the_recipe_and_the_epochs_chosen_on_validation(protocol):
    from infagenc.config import read_config_file
    from infagenc.loop.config import RunConfig
    from infagenc.train.recognizer import RecognizerConfig

    raw = read_config_file(REPO / "benchmarks" / "configs" / f"{protocol}.toml")
    cfg = RunConfig.from_dict(raw)
    chosen = _recipe(protocol, "stgcn-slim")
    want = RecognizerConfig.from_dict({**chosen["config"], "epochs": chosen["chosen_epochs"]})
    assert _comparable(cfg.final.recognizer.to_dict()) == _comparable(want.to_dict())
    prep = cfg.data.preprocess().to_dict()
    assert {k: prep[k] for k in chosen["preprocess"] if k != "frames"} == \
           {k: v for k, v in chosen["preprocess"].items() if k != "frames"}
    assert "keep_root" not in raw.get("generator", {}) and cfg.generator.keep_root


def test_the_utkinect_protocols_msg3d_is_the_recipes():
    from benchmarks.protocols.utkinect_loop import PROTOCOL
    from infagenc.train.recognizer import RecognizerConfig

    chosen = _recipe("utkinect", "msg3d-slim")
    want = RecognizerConfig.from_dict({**chosen["config"], "epochs": chosen["chosen_epochs"]})
    assert _comparable(PROTOCOL.other("msg3d").to_dict()) == _comparable(want.to_dict())
