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


# ------------------------------------------------------------- the loop protocols' variants and tables
def test_loop_variants_configure_what_their_names_say(tmp_path):
    from benchmarks.protocols.loop_bench import ALL_MODES, MODES, config, loop_jobs
    from benchmarks.protocols.utkinect_loop import PROTOCOL

    (tmp_path / "utkinect" / "joints").mkdir(parents=True)
    cfg = {m: config(PROTOCOL, m, 1, tmp_path, final_sets=["real", "real_syn"]) for m in ALL_MODES}
    assert [cfg[m].loop.selection for m in MODES] == list(MODES)
    assert cfg["exemplar"].loop.sampling == "exemplar" and cfg["exemplar"].loop.selection == "none"
    assert cfg["exemplar_refine"].generator.lambda_cls > 0 and cfg["exemplar"].generator.lambda_cls == 0
    assert cfg["mdm"].generator.model == "mdm" and cfg["none"].generator.model == "cvae"
    assert cfg["distance_bounded"].loop.steps_per_epoch == 13 and cfg["distance"].loop.steps_per_epoch is None
    assert cfg["distance_per_class"].loop.filter == "per_class" and cfg["distance"].loop.filter == "global"
    assert cfg["distance_per_class"].loop.selection == "distance"
    assert cfg["distance_independent"].loop.critic_mode == "independent" and cfg["distance"].loop.critic_mode == "updated"
    # the distance variants differ from the plain distance run only in their loop field
    field_of = {"distance_bounded": ["steps_per_epoch"], "distance_per_class": ["filter"],
                "distance_independent": ["critic_mode"], "distance_balanced": ["filter", "pool_cap"]}
    for m, f in field_of.items():
        a, b = cfg[m].to_dict()["loop"], cfg["distance"].to_dict()["loop"]
        assert [k for k in a if a[k] != b[k]] == f
    assert all(c.final.train_sets == ("real", "real_syn") and c.seed == 1 for c in cfg.values())
    # apart from what a variant sets, every run of a seed is the same run (pairs by seed)
    base = cfg["none"].to_dict()
    for m in ("exemplar", "mdm"):
        d = cfg[m].to_dict()
        assert {k: v for k, v in d.items() if k not in ("name", "loop", "generator")} == \
               {k: v for k, v in base.items() if k not in ("name", "loop", "generator")}
    keys = [j.key for j in loop_jobs(PROTOCOL, ["mdm", "none", "distance", "exemplar"], [0, 1], tmp_path, False)]
    assert keys == ["none_s0", "distance_s0", "none_s1", "distance_s1", "exemplar_s0", "mdm_s0", "exemplar_s1",
                    "mdm_s1"]  # the loop modes first, seed by seed, then the variants


def _row(mode, seed, fid, mm, real_syn, selected=None):
    gen = {"fid": fid, "accuracy": 0.5, "diversity": 10.0, "multimodality": mm}
    return {"mode": mode, "seed": seed, "test_accuracy": {"real": 0.9, "real_syn": real_syn},
            "per_class": {"real": {"a": 1.0, "b": 0.8}}, "generation_vs_test": gen, "generation_vs_train": gen,
            "real_test_reference": {"accuracy": 0.9, "diversity": 12.0, "multimodality": 8.0,
                                    "fid_real_train_vs_real_test": 3.0},
            "real_train_reference": {"accuracy": 1.0, "diversity": 12.0, "multimodality": 7.0},
            "selected_per_class": selected}


def test_the_generation_table_and_the_recycled_counts_per_class():
    from benchmarks.protocols.loop_bench import (generation_differences, generation_table, mode_differences,
                                                 pool_counts_table)

    res = {"rows": [_row("none", 0, 10.0, 4.0, 0.92), _row("none", 1, 14.0, 6.0, 0.94),
                    _row("distance", 0, 8.0, 5.0, 0.95, [[3, 0], [2, 0]]),
                    _row("distance", 1, 8.0, 5.0, 0.96, [[1, 1], [0, 2]]),
                    _row("mdm", 0, 30.0, 2.0, 0.90), _row("mdm", 1, 20.0, 2.0, 0.91)]}
    lines = generation_table(res).splitlines()
    none = next(x for x in lines if x.startswith("| baseline VAE"))
    # mean ± t95 over 2 seeds: 12.0 ± 12.706 * 2 / sqrt(2) = 25.4
    assert "| 0, 1 | 12.0 ± 25.4 | 50.0 ± 0.0 | 10.00 ± 0.00 | 5.00 ± 12.71 |" in none
    assert any(x.startswith("| MDM-style diffusion") and "| 25.0 ± 63.5 |" in x for x in lines)
    assert lines[-1].startswith("| real test set (reference) | 6 runs | 3.0 ± 0.0 (real train vs test)")
    counts = pool_counts_table(res).splitlines()
    # class a: 3+2 and 1+0 recycled (mean 3.0), 1 of 4 rounds without; class b: 0+0 and 1+2 (mean 1.5), 2 of 4
    assert counts[2] == "| a | 3.0 | 1 of 4 |" and counts[3] == "| b | 1.5 | 2 of 4 |"
    assert "mdm − none: -2.5" in mode_differences(res)
    # FID mdm - none per seed: 30 - 10 = +20, 20 - 14 = +6: mean +13.0 ± 12.706 * 9.899 / sqrt(2) = 88.9
    gd = generation_differences(res)
    assert "mdm − none: FID +13.0 ± 88.9 (+20.0, +6.0), multimodality -3.00 ± 12.71" in gd
    assert "distance − none: FID -4.0 ± " in gd and "(-2.0, -6.0)" in gd


def test_loop_runs_with_the_guard_and_its_table(tmp_path):
    from benchmarks.protocols.loop_bench import config, guard_table
    from benchmarks.protocols.syrip_loop import PROTOCOL
    from infagenc.train.guard import GuardConfig

    (tmp_path / "syrip" / "2d_gt").mkdir(parents=True)
    for f in ("train200.json", "validate500.json"):
        (tmp_path / "syrip" / "2d_gt" / f).write_text("{}")
    plain = config(PROTOCOL, "distance_balanced", 0, tmp_path)
    some = config(PROTOCOL, "distance_balanced", 0, tmp_path, guard=("plain", "weight"))
    default = config(PROTOCOL, "distance_balanced", 0, tmp_path, guard=())
    assert plain.final.synthetic == "given" and some.final.synthetic == default.final.synthetic == "auto"
    assert some.final.guard.techniques == ("plain", "weight") and default.final.guard == GuardConfig()
    assert some.final.guard_generators == "per_fold"  # each fold's samples from a generator of its own part
    # apart from the guard the run is the run without it (its Real and Real+Syn pair with earlier runs)
    a, b = plain.to_dict(), some.to_dict()
    assert {k: v for k, v in a["final"].items() if k not in ("synthetic", "guard")} == \
        {k: v for k, v in b["final"].items() if k not in ("synthetic", "guard")}
    assert {k: v for k, v in a.items() if k != "final"} == {k: v for k, v in b.items() if k != "final"}

    def row(seed, real, auto, chosen):
        return {"mode": "distance_balanced", "seed": seed, "test_accuracy": {"real": real, "auto": auto},
                "guard": {"chosen": chosen, "candidates": ["real", "real_syn"]}}

    assert guard_table({"rows": [{"mode": "none", "seed": 0, "test_accuracy": {"real": 0.9}}]}) == ""
    t = guard_table({"rows": [row(0, 0.90, 0.92, "real_syn"), row(1, 0.90, 0.90, "real")]}).splitlines()
    # auto - Real: +2.0 and 0.0, mean +1.0, std 1.414: 1.96 x 1 = 2.0, t (1 df) 12.706 x 1 = 12.7
    assert t[2] == ("| distance selection, per-class filter, balanced pool (loop.pool_cap 1) | 0, 1 | 90.0 ± 0.0 "
                    "[t: ±0.0] | 91.0 ± 2.0 [t: ±12.7] | +1.0 ± 2.0 [t: ±12.7] (+2.0, +0.0) | 0: real_syn, 1: real |")


def test_rows_of_an_earlier_checkout_are_carried_when_the_config_is_the_same(capsys):
    from benchmarks.protocols.loop_bench import carried_note, carry_rows

    cfg = {"loop": {"epochs": 200}}
    here = [_row("distance", 3, 8.0, 5.0, 0.95), _row("none", 0, 9.0, 5.0, 0.93)]  # none s0 made again here
    before = {"config": cfg, "rows": [_row("none", 0, 10.0, 4.0, 0.92), _row("distance", 0, 8.0, 5.0, 0.96),
                                      _row("retired_mode", 0, 1.0, 1.0, 0.5)]}
    rows, n = carry_rows(before, here, cfg)
    assert n == 1 and [(r["mode"], r["seed"], r.get("carried", False)) for r in rows] == \
        [("none", 0, False), ("distance", 0, True), ("distance", 3, False)]  # a run made here wins
    assert rows[0]["test_accuracy"]["real_syn"] == 0.93
    assert "1 of the 3 runs were made in an earlier checkout" in carried_note({"rows": rows})
    assert carried_note({"rows": here}) == ""
    rows, n = carry_rows(before, here, {"loop": {"epochs": 100}})  # another config: nothing carried
    assert n == 0 and len(rows) == 2 and "not carried" in capsys.readouterr().err
    assert carry_rows({}, here, cfg) == (sorted(here, key=lambda r: r["mode"] != "none"), 0)


# ------------------------------------------------------------- the tests' own child-process time limits
def test_child_time_limits_grow_with_the_load_and_are_bounded():
    from timeouts import MAX_FACTOR, load_factor

    assert load_factor(0.3, 2) == 1.0  # idle: the stated limit
    assert load_factor(3.0, 2) == 1.5  # 1.5 busy tasks a core: half as long again
    assert load_factor(50.0, 2) == MAX_FACTOR == 4.0  # bounded, so a hung child still fails


def test_realsyn_fewshot_auto_row_takes_each_seeds_own_guard_choice():
    from benchmarks.protocols.realsyn import table

    def rec(acc):
        return {"accuracy": acc, "per_class": {}, "seconds": 1.0}

    guard = {"techniques": ["plain"]}
    res = {"generators": {"0": {"samples": 50, "seconds": 6.0}, "1": {"samples": 50, "seconds": 6.0}},
           "runs": {"real": {"0": rec(0.90), "1": rec(0.80)}, "real_syn": {"0": rec(0.85), "1": rec(0.84)}},
           "guards": {"0": {"chosen": "real", "reason": "kept Real", "seconds": 60.0, "guard_config": guard},
                      "1": {"chosen": "real_syn", "reason": "chose real_syn", "seconds": 60.0,
                            "guard_config": guard}},
           "superseded": {"real_syn:old": {"note": "an earlier code", "runs": {"0": rec(0.5)}}}}
    lines = table("fewshot5", "stgcn-slim", res)
    auto = [ln for ln in lines if ln.startswith("| auto")]
    # seed 0 kept Real (90.0), seed 1 chose Real+Syn (84.0): paired with Real 0 and +4
    assert auto == ["| auto (per seed: real, real_syn) | 90.0 84.0 | 87.0 ± 38.1 | 2.0 ± 25.4 |  |"]
    assert any("seed 0: kept Real; seed 1: chose real_syn" in ln for ln in lines)
    assert any(ln.startswith("| Real+Syn, old (superseded: an earlier code) | 50.0 |") for ln in lines)


def test_realsyn_a_remade_generator_is_kept_only_when_it_is_the_same_one():
    import pytest

    from benchmarks.protocols.realsyn import same_generator

    old = {"seconds": 20.0, "last": {"total": 0.48800017}, "samples": 50}
    again = {"seconds": 31.0, "last": {"total": 0.48800024}, "samples": 50, "cpu": "Xeon"}
    assert same_generator(None, again, "f") is again  # nothing recorded: the one made
    assert same_generator(old, old, "f") is old  # read back from its own folder: unchanged
    kept = same_generator(old, again, "f")  # same generator up to float order: the record stays
    assert kept["seconds"] == 20.0 and kept["remade"] == [{"seconds": 31.0, "last": again["last"], "cpu": "Xeon"}]
    assert same_generator(kept, again, "f")["remade"] == kept["remade"]  # re-read: not listed twice
    with pytest.raises(SystemExit, match=r"f, seed 1: the re-made generator is not the one .*0\.4328"):
        same_generator(old, {"seconds": 30.0, "last": {"total": 0.4328}}, "f, seed 1")


def test_realsyn_supersede_generator_keeps_real_and_moves_the_rest_once():
    from benchmarks.protocols.realsyn import supersede_generator

    res = {"generator": {"seconds": 89.0}, "guard": {"chosen": "real_syn"}, "floor": {"real_syn": 0.8},
           "config": {"epochs": 20},
           "runs": {"real": {"0": {"accuracy": 0.9}}, "real_syn": {"0": {"accuracy": 0.93}},
                    "real_syn:dann": {"0": {"accuracy": 0.91}}}}
    out = supersede_generator(res, "the generator before the noise moved")
    assert out["runs"] == {"real": {"0": {"accuracy": 0.9}}} and out["config"] == {"epochs": 20}
    assert not {"generator", "guard", "floor"} & set(out)
    old = out["superseded"]["real_syn, earlier generator"]
    assert old["runs"] == {"0": {"accuracy": 0.93}} and old["guard"] == {"chosen": "real_syn"}
    assert old["generator"] == {"seconds": 89.0} and set(out["superseded"]) == {
        "real_syn, earlier generator", "real_syn:dann, earlier generator"}
    # the same command again (after new rows were made): nothing moves
    out["runs"]["real_syn"] = {"0": {"accuracy": 0.95}}
    assert supersede_generator(out, "the generator before the noise moved") is out
    assert res["runs"]["real_syn"] == {"0": {"accuracy": 0.93}}  # the input is not changed


def test_realsyn_fewshot_guard_with_one_generator_for_every_fold_shows_as_superseded():
    from benchmarks.protocols.realsyn import table

    rec = lambda acc: {"accuracy": acc, "per_class": {}, "seconds": 1.0}  # noqa: E731
    g = {"techniques": ["plain"]}
    res = {"generators": {"0": {"samples": 50, "seconds": 6.0}},
           "runs": {"real": {"0": rec(0.90)}, "real_syn": {"0": rec(0.85)}},
           "guards_shared": {"0": {"chosen": "real_syn", "reason": "chose real_syn", "seconds": 60.0,
                                   "guard_config": g}}}
    lines = table("fewshot5", "stgcn-slim", res)
    assert any(ln.startswith("| auto with one generator for every fold (superseded") and "| 85.0 |" in ln
               and "-5.0" in ln for ln in lines)
    assert not any(ln.startswith("| auto (per seed") for ln in lines)
    assert any("not run yet; superseded, with one generator of the whole draw" in ln for ln in lines)
