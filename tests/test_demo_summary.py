"""`infagenc demo` at reduced length: the summary it prints ends in a verdict a user can read, and
its warnings say what the numbers say (a class without samples, accuracy at chance)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from infagenc.cli import main
from infagenc.data.motionset import MotionSet
from infagenc.loop.config import RunConfig, demo_config
from infagenc.config import merge_dicts

# the demo's configuration, every length cut (not its results: a few epochs learn little)
SHORT = {"critic": {"epochs": 2}, "pretrain_generator_epochs": 8, "loop": {"epochs": 2, "window": 1},
         "final": {"recognizer": {"epochs": 1}}, "evaluation": {"repeats": 2}}


def test_the_demo_config_is_the_demo_s_and_short_is_only_shorter():
    cfg = RunConfig.from_dict(demo_config())
    assert cfg.data.path is None and len(cfg.final.seeds) >= 2  # a t-interval needs two seeds
    short = merge_dicts(demo_config(), SHORT)
    assert {k for k in short if short[k] != demo_config().get(k)} == set(SHORT)


@pytest.mark.slow
def test_a_short_demo_prints_tables_verdict_and_the_warnings_its_numbers_call_for(tmp_path, capsys):
    cfg = tmp_path / "short.json"
    cfg.write_text(json.dumps(SHORT))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--config", str(cfg), "--no-progress", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].startswith("Test accuracy (%) on the held-out subjects, stgcn (slim)")
    for label in ("Real ", "Syn ", "Real+Syn "):
        assert any(ln.strip().startswith(label) for ln in lines), label
    v = lines.index("Verdict:")
    metrics = json.loads((out / "evaluation" / "metrics.json").read_text())
    acc = metrics["vs_test"]["generated"]["accuracy"]
    assert lines[v + 1] == (f"  generated samples are recognised as their class {100 * acc['mean']:.0f}% of the time "
                            f"(chance 25%), by a recognizer trained on real data only")
    pool = MotionSet.load(out / "synthetic.npz") if (out / "synthetic.npz").exists() else None
    counts = {c: int((pool.labels == k).sum()) if pool is not None else 0
              for k, c in enumerate(("kick", "wave_arms", "roll", "reach"))}
    if pool is not None:
        assert lines[v + 2] == (f"  recycled pool: {len(pool)} samples, {sum(n > 0 for n in counts.values())} of 4 "
                                f"classes ({', '.join(f'{c} {n}' for c, n in counts.items())})")
    rec = json.loads((out / "recognition" / "summary.json").read_text())
    gain = [ln for ln in lines if ln.startswith("  Real+Syn vs Real: ")]
    if "skipped" in rec["real_syn"]:  # nothing was recycled in so few epochs
        assert gain == [] and "warning: Real+Syn was not trained: no synthetic samples were selected" in lines
    else:
        diff = np.array([b["overall"] - a["overall"]
                         for a, b in zip(rec["real"]["per_seed"], rec["real_syn"]["per_seed"])])
        assert f"{100 * diff.mean():+.1f} points" in gain[0] and "n=2" in gain[0]
    # the warnings are exactly those the numbers call for
    warnings = [ln for ln in lines if ln.startswith("warning: ")]
    for c, n in counts.items():
        assert (f"warning: class {c} got no synthetic samples" in warnings) == (n == 0)
    low = acc["mean"] - acc["ci95"]
    assert any("generated accuracy at chance" in w for w in warnings) == (low <= 0.25)
    at_chance = [s for s in ("real", "syn", "real_syn") if "overall" in rec[s] and rec[s]["overall"]["mean"] <= 0.27]
    assert any(w.startswith("warning: the recognizer is at chance on") for w in warnings) == bool(at_chance)
    assert lines[-1].startswith("Wall time: ") and any(re.match(r"Report: .*report\.md$", ln) for ln in lines)
