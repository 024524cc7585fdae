"""What `infagenc run` / `demo` print (a short summary, JSON behind --json), `evaluate --run`,
and output piped into a reader that stops early."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from infagenc.cli import main
from infagenc.data.demo import make_demo
from infagenc.viz.summary import format_run_summary
from timeouts import scaled


def _seeds(values) -> dict:
    v = np.asarray(values, dtype=float)
    std = float(v.std(ddof=1)) if len(v) > 1 else math.nan
    return {"mean": float(v.mean()), "ci95": 1.96 * std / math.sqrt(len(v)), "std": std, "R": len(v),
            "values": v.tolist()}


def _set(values) -> dict:
    return {"seeds": list(range(len(values))), "overall": _seeds(values), "per_class": {},
            "per_seed": [{"seed": s, "overall": x} for s, x in enumerate(values)]}


def _metric(mean, ci) -> dict:
    return {"mean": mean, "ci95": ci, "std": ci, "R": 20, "values": [mean] * 20}


SUMMARY = {
    "run_dir": "runs/x",
    "excluded": [],
    "recognition": {
        "real": _set([0.80, 0.90]),
        "syn": _set([0.40, 0.50]),
        "real_syn": _set([0.85, 0.95]),
        "floor": {"model": "linear", "real": {"overall": 0.75, "per_class": {}},
                  "syn": {"skipped": "the syn set has samples of one class only"},
                  "real_syn": {"overall": 0.8, "per_class": {}}},
    },
    "generation": {"vs_test": {"R": 20, "generated": {"fid": _metric(12.3, 0.41), "accuracy": _metric(0.62, 0.013),
                                                     "diversity": _metric(6.1, 0.05),
                                                     "multimodality": _metric(2.0, 0.04)}}},
    "wall_seconds": 125.0,
    "class_names": ["kick", "wave", "roll", "reach"],
    "synthetic_counts": {"kick": 4, "wave": 3, "roll": 5, "reach": 6},
    "recognizer": "stgcn (slim)",
}


def test_summary_is_a_few_lines_with_the_t_interval_and_n():
    text = format_run_summary(SUMMARY)
    lines = text.splitlines()
    assert len(lines) <= 14 and "{" not in text
    t = 12.706205 * _seeds([0.8, 0.9])["std"] / math.sqrt(2)  # n = 2 seeds: Student's t, not 1.96
    real = next(ln for ln in lines if ln.strip().startswith("Real "))
    assert f"85.0 ± {100 * t:.1f} (t, n=2)" in real and "85.0 ± 63.5 (t, n=2)" in real
    assert real.split()[-2:] == ["floor", "75.0"]
    assert any(ln.strip().startswith("Real+Syn") and "90.0 ± 63.5 (t, n=2)" in ln and ln.endswith("floor 80.0")
               for ln in lines)
    assert "floor skipped: the Syn set has samples of one class only" in text  # display names, not keys
    assert "real_syn" not in text and "stgcn (slim)" in text
    assert "FID 12.30 ± 0.41, accuracy 62.0 ± 1.3%, diversity 6.100 ± 0.050" in text
    assert "Run folder: runs/x" in text and "infagenc report runs/x" in text
    assert lines[-1] == "Wall time: 125.0 s (2.1 min)"
    assert "warning" not in text
    auto = format_run_summary({**SUMMARY, "recognition": {**SUMMARY["recognition"], "auto": _set([0.8, 0.9])}})
    assert any(ln.strip().startswith("Auto (the guard's choice)") for ln in auto.splitlines())


def test_summary_warns_of_missing_synthetic_classes_and_chance_accuracy():
    gen = {"vs_test": {"R": 20, "generated": {"fid": _metric(40.0, 2.0), "accuracy": _metric(0.26, 0.02)}}}
    text = format_run_summary({**SUMMARY, "generation": gen, "synthetic_counts": {"kick": 5, "wave": 0, "roll": 0,
                                                                                   "reach": 2}})
    assert "warning: class wave got no synthetic samples" in text
    assert "warning: class roll got no synthetic samples" in text and "class kick" not in text
    assert "warning: generated accuracy at chance" in text and "chance is 25.0% for 4 classes" in text
    clear = {"vs_test": {"R": 20, "generated": {"accuracy": _metric(0.40, 0.02)}}}
    assert "at chance" not in format_run_summary({**SUMMARY, "generation": clear})


def test_summary_of_untrained_sets_one_seed_and_a_stopped_run():
    rec = {"real": _set([0.25]), "syn": {"skipped": "no synthetic samples were selected"},
           "real_syn": {"skipped": "no synthetic samples were selected"},
           "floor": {"model": "linear", "real": {"overall": 0.5, "per_class": {}}}}
    text = format_run_summary({"run_dir": "r", "excluded": ["a.npz: sample 's1': NaN/Inf values"],
                               "recognition": rec, "generation": None, "wall_time": 3.0,
                               "class_names": ["kick", "wave", "roll", "reach"]})
    real = next(ln for ln in text.splitlines() if ln.strip().startswith("Real "))
    assert "25.0 (n=1)" in real and "±" not in real  # one seed: no interval
    assert "warning: Syn was not trained: no synthetic samples were selected" in text
    assert "below the floor (linear) on Real" in text
    assert ("warning: the recognizer is at chance on Real (chance 25.0% for 4 classes): it learned nothing that "
            "holds on the test subjects (too few epochs?)") in text
    assert "at chance on" not in format_run_summary(SUMMARY)
    assert text.startswith("left out 1 sample(s) of the input") and "a.npz: sample 's1'" in text
    stopped = format_run_summary({"run_dir": "r", "excluded": [], "stopped_after_rounds": 2, "wall_time": 1.0})
    assert "Stopped after 2 loop round(s)" in stopped and "Test accuracy" not in stopped


def test_piped_into_head_ends_quietly():
    """`infagenc ... | head`: the reader has gone; no BrokenPipeError traceback, exit 0 or 1."""
    p = subprocess.Popen([sys.executable, "-m", "infagenc", "data", "inspect", "--help"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.close()  # the reader stops before the command writes
    err = p.stderr.read().decode()
    p.stderr.close()
    assert p.wait(timeout=scaled(120)) in (0, 1) and "Traceback" not in err and "BrokenPipe" not in err


def test_output_into_a_closed_pipe_is_not_an_error(tmp_path):
    make_demo(num_subjects=2, per_class=1, seed=0, rep="xyz").save(tmp_path / "d.npz")
    shell = f"{sys.executable} -m infagenc data inspect --json {tmp_path / 'd.npz'} | head -c 10"
    out = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, timeout=scaled(120))
    assert out.stdout == "[\n  {\n    " and "Traceback" not in out.stderr and out.returncode in (0, 1)
    p = subprocess.Popen([sys.executable, "-m", "infagenc", "data", "inspect", str(tmp_path / "d.npz")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    err = p.stderr.read().decode()
    p.stderr.close()
    assert p.wait(timeout=scaled(120)) == 1 and err == ""


def test_evaluate_needs_a_run_or_every_input(tmp_path, capsys):
    assert main(["evaluate", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "give --run RUN_DIR" in err and "--real, --synthetic, --evaluator" in err
    assert main(["evaluate", "--run", str(tmp_path), "--device", "cpu"]) == 2
    assert "is not a run folder" in capsys.readouterr().err
    (tmp_path / "config.json").write_text(json.dumps({"evaluation": {"repeats": 3}}))
    assert main(["evaluate", "--run", str(tmp_path), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "synthetic.npz not found (the run has not finished its loop)" in err


@pytest.mark.slow
def test_run_prints_the_summary_and_json_behind_a_flag(tmp_path, capsys):
    from test_fault_injection import MINI

    make_demo(num_subjects=3, per_class=2, seed=0, rep="xyz").save(tmp_path / "d.npz")
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({k: v for k, v in MINI.items() if k not in ("data", "demo")}))
    argv = ["run", "--data", str(tmp_path / "d.npz"), "--config", str(cfg), "--out", str(tmp_path / "run"),
            "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert len(lines) < 20 and not text.lstrip().startswith("{")
    summary = json.loads((tmp_path / "run" / "recognition" / "summary.json").read_text())
    real = next(ln for ln in lines if ln.strip().startswith("Real "))
    assert f"{100 * summary['real']['overall']['mean']:.1f}" in real and "n=" in real
    assert f"Run folder: {tmp_path / 'run'}" in text and lines[-1].startswith("Wall time: ")
    assert main(argv + ["--json"]) == 0  # finished: resumes at once, prints JSON only
    got = json.loads(capsys.readouterr().out)
    assert got["test_accuracy"]["real"]["mean"] == summary["real"]["overall"]["mean"]
    assert got["run_dir"] == str(tmp_path / "run") and got["wall_seconds"] >= 0


def _per_seed(values) -> dict:
    return {**_set(values), "per_seed": [{"seed": s, "overall": x} for s, x in zip((0, 1, 2), values)]}


def test_the_verdict_names_generated_accuracy_against_chance_the_pool_and_the_paired_gain():
    rec = {**SUMMARY["recognition"], "real": _per_seed([0.80, 0.90, 0.70]), "real_syn": _per_seed([0.90, 0.95, 0.70])}
    text = format_run_summary({**SUMMARY, "recognition": rec, "selection": "distance"})
    lines = text.splitlines()
    v = lines.index("Verdict:")
    assert lines[v + 1] == ("  generated samples are recognised as their class 62% of the time (chance 25%), by a "
                            "recognizer trained on real data only")
    assert lines[v + 2] == "  recycled pool: 18 samples, 4 of 4 classes (kick 4, wave 3, roll 5, reach 6)"
    d = np.array([0.10, 0.05, 0.0])  # Real+Syn minus Real, paired by seed
    half = 4.302653 * d.std(ddof=1) / math.sqrt(3)
    assert lines[v + 3] == (f"  Real+Syn vs Real: +5.0 points (95% t-interval {100 * (d.mean() - half):+.1f} to "
                            f"{100 * (d.mean() + half):+.1f}, paired over n=3 seeds): no difference shown at this n")
    assert v < next(i for i, ln in enumerate(lines) if ln.startswith("Run folder"))


def test_the_verdict_says_better_worse_or_no_interval():
    def gain_line(real, real_syn):
        rec = {"real": _per_seed(real), "real_syn": _per_seed(real_syn)}
        text = format_run_summary({"run_dir": "r", "excluded": [], "recognition": rec, "generation": None})
        return next(ln for ln in text.splitlines() if ln.startswith("  Real+Syn vs Real"))

    assert gain_line([0.5, 0.6, 0.55], [0.7, 0.78, 0.76]).endswith(": Real+Syn is better")
    assert gain_line([0.7, 0.78, 0.76], [0.5, 0.6, 0.55]).endswith(": Real+Syn is worse")
    assert gain_line([0.5], [0.6]) == ("  Real+Syn vs Real: +10.0 points (n=1 seed: no interval; more final.seeds "
                                       "tell gain from noise)")
    assert gain_line([0.5, 0.6], [0.55, 0.65]) == ("  Real+Syn vs Real: +5.0 points (the same difference in each of "
                                                   "n=2 seeds: no spread to measure): Real+Syn is better in every seed")


def test_the_verdict_of_a_baseline_and_of_a_run_at_chance_warns():
    gen = {"vs_test": {"R": 20, "generated": {"accuracy": _metric(0.25, 0.02)}}}
    counts = {"kick": 9, "wave": 0, "roll": 3, "reach": 0}
    text = format_run_summary({**SUMMARY, "generation": gen, "synthetic_counts": counts, "selection": "none"})
    assert "  generated samples are recognised as their class 25% of the time (chance 25%)" in text
    assert ("  synthetic set (sampled from the final generator, no recycling): 12 samples, 2 of 4 classes (kick 9, "
            "wave 0, roll 3, reach 0)") in text
    warnings = [ln for ln in text.splitlines() if ln.startswith("warning: ")]
    assert warnings[:2] == ["warning: class wave got no synthetic samples", "warning: class reach got no synthetic samples"]
    assert any("generated accuracy at chance" in w for w in warnings)


def test_json_results_hold_the_paired_gain():
    from infagenc.cli.run import short_results

    rec = {"real": _per_seed([0.8, 0.9]), "real_syn": _per_seed([0.9, 0.9])}
    got = short_results({"run_dir": "r", "recognition": rec})["real_syn_minus_real"]
    assert got["n"] == 2 and got["mean"] == pytest.approx(0.05)
    assert got["ci95_t"] == pytest.approx(12.706205 * np.std([0.1, 0.0], ddof=1) / math.sqrt(2), rel=1e-5)
