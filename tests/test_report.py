"""Run reports: every linked picture exists and opens, the tables hold the run folder's numbers,
the sample pictures come from the evaluation phase's ``evaluation/samples.npz`` (and the
report says so when it is missing, never sampling a generator), missing pieces are named,
the CLI works; the pure table renderers on hand-made results."""
from __future__ import annotations

import base64
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import infagenc
from infagenc.cli import main
from infagenc.data import MotionSet
from infagenc.loop.config import RunConfig
from infagenc.loop.evaluation import PICTURE_SAMPLES_PER_CLASS
from infagenc.loop.runner import run
from infagenc.loop.seeds import derive_seed
from infagenc.runfolder import RunFolder
from infagenc.metrics.recognition import RecognitionReport, per_group_class_accuracy
from infagenc.viz.report import build_report
from infagenc.viz.confusion import display_title
from infagenc.viz.runinfo import preprocessing_line
from infagenc.viz.tables import (display_sets, format_pm, format_seeds, generation_markdown, left_out_notes,
                                 no_interval_note, table_generation, table_per_class, table_recognition,
                                 table_rounds, table_subject_class)
from test_loop_run import TINY
from timeouts import scaled

IMAGE_LINK = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")
NO_SAMPLES = "the snapshot grid and animations: no generated samples to draw (`evaluation/samples.npz`; "


def _cfg(**over) -> RunConfig:
    d = json.loads(json.dumps(TINY))
    for section, values in over.items():
        d[section].update(values)
    return RunConfig.from_dict(d)


@pytest.fixture(scope="module")
def distance_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "distance"
    run(_cfg(), out, progress=False)
    return out


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory) -> Path:
    """The baseline (no recycling) with the generation metrics switched off."""
    out = tmp_path_factory.mktemp("report") / "baseline"
    run(_cfg(loop={"selection": "none"}, evaluation={"enabled": False}), out, progress=False)
    return out


def _read(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def _check_image(data: bytes, name: str) -> None:
    img = Image.open(io.BytesIO(data))
    img.load()
    assert img.width > 50 and img.height > 50, name
    if name.endswith(".gif") or img.format == "GIF":
        assert img.format == "GIF" and img.n_frames > 1, f"{name}: not an animation"
    else:
        assert img.format == "PNG", name


def _row(md: str, label: str, after: str = "") -> list[str]:
    """Cells of the first table row starting with ``label`` after the text ``after``."""
    start = md.index(after) if after else 0
    line = next(ln for ln in md[start:].splitlines() if ln.startswith(f"| {label} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def _close(cell: str, value: float, scale: float = 1.0) -> None:
    shown = cell.split("±")[0].strip()
    decimals = len(shown.split(".")[1]) if "." in shown and "e" not in shown else 2
    assert float(shown) == pytest.approx(value * scale, rel=1e-2 if "e" in shown else 0, abs=0.51 * 10 ** -decimals)


# ------------------------------------------------------------------ whole reports
@pytest.mark.slow
def test_markdown_report_links_valid_pictures_and_holds_the_numbers(distance_run):
    path = build_report(distance_run)
    assert path == distance_run / "report.md"
    md = path.read_text(encoding="utf-8")
    links = IMAGE_LINK.findall(md)
    classes = list(_read(distance_run / "data/summary.json")["train"]["class_counts"])
    for rel in links:
        assert not Path(rel).is_absolute()
        _check_image((path.parent / rel).read_bytes(), rel)
    names = {Path(rel).name for rel in links}
    assert {"snapshots.png", "tsne.png", "loop_curves.png", "pretrain_generator.png", "confusion.png"} <= names
    assert {f"{c}.gif" for c in classes} <= names  # one animation per class
    assert "### Pose statistics" in md and "generated vs real test" in md and "motion energy" in md
    gif = Image.open(distance_run / "figures" / "animations" / f"{classes[0]}.gif")
    assert gif.width >= 600 and gif.height >= 348  # twice the 300 x 174 pixels of before
    durations = []
    for k in range(gif.n_frames):
        gif.seek(k)
        durations.append(gif.info["duration"])
    assert durations[0] == 30 and durations[-1] >= 1000  # 30 fps (no frame rate recorded), then a pause
    assert "animated at 30 fps (the prepared data record no frame rate" in md
    assert "| Preprocessing | keypoints with confidence 0: keep → 8 frames (resample) → view alignment off → " \
           "root per_frame → scale normalisation off;" in md

    summary = _read(distance_run / "recognition/summary.json")
    for key, label in (("real", "Real"), ("syn", "Syn"), ("real_syn", "Real+Syn")):
        cells = _row(md, label, "(Table 3)")
        assert cells[1] == f"{100 * summary[key]['overall']['mean']:.1f} (n=1)"  # one seed: no interval
        assert cells[3] == f"0: {100 * summary[key]['per_seed'][0]['overall']:.1f}"
    for c in classes:
        cells = _row(md, c, "(Table 4)")
        assert cells[2] == f"{100 * summary['real']['per_class'][c]['mean']:.1f}"

    metrics = _read(distance_run / "evaluation/metrics.json")
    for ref, title in (("vs_test", "Against the real test set"), ("vs_train", "Against the real train set")):
        gen = _row(md, "Generated", title)
        g = metrics[ref]["generated"]
        _close(gen[1], g["fid"]["mean"])
        _close(gen[2], g["accuracy"]["mean"], 100)
        _close(gen[3], g["diversity"]["mean"])
        _close(gen[4], g["multimodality"]["mean"])
        assert _row(md, "Real", title)[1] == "–"  # no FID for the real row
        assert f"R = {metrics[ref]['R']} repeats" in md[md.index(title):]
    pool = _row(md, "Recycled pool", "Against the real test set")
    _close(pool[1], metrics["recycled_pool_vs_test"]["generated"]["fid"]["mean"])
    assert "(a floor for the generated rows)" in md

    rounds = _read(distance_run / "rounds.json")
    for r in rounds:
        cells = _row(md, str(r["round"]), "Selection per round")
        assert cells[1] == str(r["best_epoch"]) and cells[-1] == str(r["pool_size"])
        c = r["counts"]
        assert cells[3:3 + len(classes)] == [f"{a} / {b} / {s}" for a, b, s in
                                             zip(c["generated"], c["passed_filter"], c["selected"])]
    report = _read(distance_run / "recognition/real/seed_0/report.json")
    subject = report["per_subject_class"][0]
    cells = _row(md, subject["subject"], "(Tables 5/6)")
    assert cells[1] == f"{100 * subject['accuracy'][0]:.1f} ({subject['samples'][0]})"
    assert "Missing" not in md


@pytest.mark.slow
def test_evaluation_saves_the_samples_the_report_draws(distance_run):
    folder = RunFolder(distance_run, create=False)
    train = MotionSet.load(folder.split_path("train"))
    samples = MotionSet.load(folder.samples_path)
    assert samples.class_names == train.class_names and samples.layout == train.layout
    assert samples.class_counts() == {c: PICTURE_SAMPLES_PER_CLASS for c in train.class_names}
    assert (samples.source == "synthetic").all()
    assert set(samples.seed.tolist()) == {derive_seed(_cfg().evaluation.seed, "pictures")}
    md = build_report(distance_run).read_text(encoding="utf-8")
    assert f"(`evaluation/samples.npz`, {PICTURE_SAMPLES_PER_CLASS} per class, generator `generator.pt`" in md
    manifest = _read(folder.figures_dir / "manifest.json")
    for what in ("snapshot grid", "animations"):
        assert set(manifest[what]["stamp"]["sources"]) == {"data/train.npz", "evaluation/samples.npz"}


def _no_wrong_way_imports(run_dir: Path) -> str:
    """Build the report in a fresh interpreter; fail when it imports train, models, loop or cli."""
    code = (f"import sys\nfrom infagenc.viz.report import build_report\n"
            f"print(build_report({str(run_dir)!r}, redraw=True))\n"
            f"bad = sorted(m for m in sys.modules if m.split('.')[:2] in "
            f"(['infagenc', 'train'], ['infagenc', 'models'], ['infagenc', 'loop'], ['infagenc', 'cli']))\n"
            f"assert not bad, bad\n")
    src = str(Path(infagenc.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=scaled(300))
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip().splitlines()[-1]).read_text(encoding="utf-8")


@pytest.mark.slow
def test_report_draws_the_saved_samples_and_never_samples(distance_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(distance_run, copy)
    folder = RunFolder(copy, create=False)
    shutil.rmtree(folder.figures_dir, ignore_errors=True)
    build_report(copy)
    first = np.asarray(Image.open(folder.figures_dir / "snapshots.png").convert("RGB")).astype(int)
    # other "generated" samples (the real test subjects): the generated rows change, the real row stays
    MotionSet.load(folder.split_path("test")).save(folder.samples_path)
    md = build_report(copy).read_text(encoding="utf-8")
    second = np.asarray(Image.open(folder.figures_dir / "snapshots.png").convert("RGB")).astype(int)
    assert first.shape == second.shape
    changed = (np.abs(first - second).max(axis=-1) > 40)
    h = first.shape[0]
    assert changed[h // 3 + 5:].mean() > 0.005 and changed[: h // 3 - 5].mean() < 0.1 * changed[h // 3 + 5:].mean()
    assert "Missing" not in md
    # no samples.npz: one line where the pictures were, and no generator is loaded to make them
    folder.samples_path.unlink()
    md = _no_wrong_way_imports(copy)
    samples = md[md.index("## Samples"):md.index("## Feature space")]
    assert samples.count("> **Missing:**") == 1 and "snapshots.png" not in samples and ".gif" not in samples
    assert NO_SAMPLES + "the infagenc version that evaluated this run did not save them)" in samples
    assert "tsne.png" in md  # the evaluator features are still there


@pytest.mark.slow
def test_cli_html_report_is_self_contained(distance_run, tmp_path, capsys):
    build_report(distance_run)  # draws the pictures (a no-op when an earlier test did)
    fig = distance_run / "figures"
    before = {p.name: p.stat().st_mtime_ns for p in fig.rglob("*.*")}
    os.utime(distance_run / "epochs.json")  # a changed source: its picture is drawn again, the others reused
    out = tmp_path / "elsewhere" / "r.html"
    assert main(["report", str(distance_run), "--html", "--out", str(out), "--no-progress"]) == 0
    after = {p.name: p.stat().st_mtime_ns for p in fig.rglob("*.*")}
    assert after["loop_curves.png"] > before["loop_curves.png"]
    assert all(after[k] == before[k] for k in ("tsne.png", "snapshots.png", "kick.gif", "pretrain_critic.png"))
    assert capsys.readouterr().out.strip() == str(out)
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) >= 8 and all(s.startswith("data:image/") for s in sources)
    gifs = 0
    for s in sources:
        mime, data = re.fullmatch(r"data:(image/\w+);base64,(.+)", s).groups()
        _check_image(base64.b64decode(data), f"x.{mime.split('/')[1]}")
        gifs += mime == "image/gif"
    assert gifs == 4
    assert "<table>" in page and "Table 3" in page and "<script" not in page


@pytest.mark.slow
def test_baseline_without_evaluation_says_what_is_missing(baseline_run, distance_run, tmp_path):
    out = tmp_path / "sub" / "baseline.md"
    path = build_report(baseline_run, out, compare=[distance_run])
    md = path.read_text(encoding="utf-8")
    for rel in IMAGE_LINK.findall(md):  # links relative to the report's own folder
        _check_image((out.parent / rel).read_bytes(), rel)
    assert "Generation quality (Table 2)" in md
    assert "evaluation is disabled" in md and "t-SNE picture" in md.split("## Missing from this report")[1]
    assert "Recycled pool" not in md and "| Generated |" not in md
    assert "Baseline (`selection = none`)" in md
    # no evaluation, no saved samples: one line where the snapshot grid and animations would be
    samples = md[md.index("## Samples"):md.index("## Feature space")]
    assert samples.count("> **Missing:**") == 1 and NO_SAMPLES + "evaluation is disabled" in samples
    assert "snapshots.png" not in md and ".gif" not in md
    header = _row(md, "Class", "Ablations")
    assert header[-2:] == ["baseline (n=1)", "distance (n=1)"]  # each column says its number of seeds


@pytest.mark.slow
def test_unfinished_run_and_bad_folder(distance_run, tmp_path):
    part = tmp_path / "part"
    for rel in ("config.json", "data/summary.json", "data/train.npz", "pretrain_critic.json"):
        (part / rel).parent.mkdir(parents=True, exist_ok=True)
        (part / rel).write_bytes((distance_run / rel).read_bytes())
    (part / "state.json").write_text(json.dumps({"phases_done": ["data", "pretrain_critic"], "rounds_done": 0}))
    md = build_report(part).read_text(encoding="utf-8")
    assert "the run has not finished" in md and "`recognition/summary.json`" in md and "`epochs.json`" in md
    assert NO_SAMPLES + "they are saved by the evaluation phase, which has not run)" in md
    with pytest.raises(FileNotFoundError, match="no config.json"):
        build_report(tmp_path)
    with pytest.raises(ValueError, match="fmt"):
        build_report(distance_run, fmt="pdf")


def test_cli_report_errors_and_help(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope"), "--no-progress"]) == 2
    assert "no such run folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    assert "--compare" in capsys.readouterr().out


# ------------------------------------------------------------------ pure renderers
def _summary(values):
    v = np.asarray(values, dtype=float)
    std = v.std(ddof=1) if len(v) > 1 else math.nan
    return {"mean": v.mean(), "ci95": 1.96 * std / math.sqrt(len(v)), "std": std, "R": len(v), "values": list(v)}


def test_format_pm():
    assert format_pm({"mean": 0.5432, "ci95": 0.0123}) == "0.543 ± 0.012"
    assert format_pm({"mean": 12.5, "ci95": 3.0}) == "12.5 ± 3.0"
    assert format_pm({"mean": 0.25, "ci95": math.nan}, 100.0, 1) == "25.0"
    assert format_pm(None) == format_pm(float("nan")) == "–"
    assert format_pm(4.4e-6) == "4.40e-06"


def test_recognition_and_per_class_tables():
    summary = {"real": {"seeds": [0, 1], "overall": _summary([0.5, 0.7]),
                        "per_class": {"a": _summary([0.4, 0.6]), "b": _summary([1.0, 1.0])},
                        "per_seed": [{"seed": 0, "overall": 0.5}, {"seed": 1, "overall": 0.7}]},
               "syn": {"skipped": "no synthetic samples were selected"}}
    md = table_recognition(summary)
    # n = 2 seeds: Student's t, t(0.975, 1) = 12.706, not 1.96: 12.706 * 0.1414 / sqrt(2) = 1.271
    assert "| Real | 60.0 ± 127.1 (t, n=2) | 2 | 0: 50.0, 1: 70.0 |" in md
    assert "| Syn | skipped: no synthetic samples were selected | – | – |" in md
    assert "Real+Syn" not in md
    auto = table_recognition({**summary, "auto": summary["real"]})  # another set the summary holds
    assert auto.index("| Syn |") < auto.index("| Auto (the guard's choice) | 60.0 ± 127.1 (t, n=2) |")
    pc = table_per_class({"Real": summary["real"], "Syn": summary["syn"]}, test_counts={"a": 3, "b": 2})
    assert "| Class | Test samples | Real (n=2) | Syn |" in pc
    # identical seeds: no "± 0.0", the value and why
    assert "| a | 3 | 50.0 ± 127.1 | – |" in pc and "| b | 2 | 100.0 (all equal) | – |" in pc
    assert "| overall | 5 | 60.0 ± 127.1 | – |" in pc
    assert "±" not in pc.split("| b |")[1].split("\n")[0]


def test_seed_intervals_use_student_t_and_name_n():
    two = _summary([0.80, 0.90])
    t = 12.706204736 * two["std"] / math.sqrt(2)
    assert format_seeds(two) == f"{100 * two['mean']:.1f} ± {100 * t:.1f} (t, n=2)" == "85.0 ± 63.5 (t, n=2)"
    assert 100 * t == pytest.approx(63.531, abs=1e-3)  # the normal 1.96 would give 9.8
    three = _summary([0.5, 0.6, 0.7])  # t(0.975, 2) = 4.303
    assert format_seeds(three) == f"60.0 ± {100 * 4.302652730 * 0.1 / math.sqrt(3):.1f} (t, n=3)"
    assert format_seeds({**two, "ci95_t": None}) == format_seeds(two)  # an older summary: computed from std
    assert format_seeds(_summary([0.25])) == "25.0 (n=1)"
    assert format_seeds(_summary([0.5, 0.5, 0.5])) == "50.0 (n=3, all equal)"
    assert format_seeds(None) == "–"


def test_identical_repeats_show_the_value_and_why():
    same = {"mean": 0.25, "ci95": 0.0, "std": 0.0, "R": 5, "values": [0.25] * 5}
    spread = lambda m, ci: {"mean": m, "ci95": ci, "std": ci, "R": 5, "values": [m] * 5}  # noqa: E731
    res = {"reference": "test", "R": 5, "seed": 0, "n_real": 12, "n_generated": 12, "sample_size": 12,
           "num_pairs": 10, "pairs_per_class": 2,
           "real": {"accuracy": same, "diversity": spread(0.00399, 0.000077), "multimodality": spread(0.0029, 1.4e-4)},
           "generated": {"fid": {**same, "mean": 1.2345}, "accuracy": spread(0.5, 0.03),
                         "diversity": spread(0.0168, 0.000075), "multimodality": {**same, "mean": 0.0151}},
           "multimodality_left_out": {"real": [], "generated": []}}
    md = table_generation(res)
    assert not re.search(r"± 0\.0+ \|", md)
    # the column's decimals: accuracy 1 (as 50.0 ± 3.0), multimodality 5 (as 0.00290 ± 0.00014)
    assert "| Real | – | 25.0 | 0.003990 ± 0.000077 | 0.00290 ± 0.00014 |" in md
    assert "| Generated | 1.23 | 50.0 ± 3.0 | 0.016800 ± 0.000075 | 0.01510 |" in md
    note = no_interval_note(res)
    assert note.startswith("No interval for Real Accuracy (m = 12 is the whole real set") and "R = 5" in note
    assert "Generated FID and Generated Multimodality" in note
    assert no_interval_note({**res, "real": {}, "generated": {"fid": spread(1.0, 0.1)}}) is None


def test_notes_name_classes_and_list_empty_ones():
    res = {"multimodality_left_out": {"real": [], "generated": [1, 3]}}
    notes = left_out_notes(res, ["kick", "wave", "roll", "reach"],
                           {"generated": {"kick": 4, "wave": 1, "roll": 0, "reach": 1}}, "recycled pool, ")
    assert notes == ["Multimodality (recycled pool, generated) leaves out classes wave (1 sample), reach (1 sample) "
                     "and roll (no samples): a class needs 2 samples for a same-class pair."]
    assert left_out_notes(res) == ["Multimodality (generated) leaves out classes 1 (1 sample) and 3 (1 sample): a "
                                   "class needs 2 samples for a same-class pair."]
    assert display_sets("the syn set has samples of one class only") == "the Syn set has samples of one class only"
    assert display_sets("the real_syn set") == "the Real+Syn set" and display_sets("real data") == "real data"
    assert display_title("real_syn, seed 0") == "Real+Syn, seed 0"
    assert display_title("floor (linear) on syn") == "floor (linear) on Syn" and display_title("test") == "test"


def test_preprocessing_line_lists_every_step():
    line = preprocessing_line({"frames": 60, "resample": "crop", "root": "first_frame", "normalize_scale": True,
                               "align": True, "unlabelled": "fill", "rep": "rot6d"})
    assert line == ("keypoints with confidence 0: fill → 60 frames (crop) → view alignment on → root first_frame → "
                    "scale normalisation on (mean bone length 1 per sequence); representation rot6d")
    old = preprocessing_line({"frames": None, "root": "per_frame"})  # a config written before the options
    assert "lengths kept" in old and "view alignment off" in old and "scale normalisation off" in old


def test_generation_tables():
    one = lambda m: {"mean": m, "ci95": 0.01, "std": 0.0, "R": 2, "values": [m, m]}  # noqa: E731
    res = {"reference": "test", "R": 2, "seed": 0, "n_real": 10, "n_generated": 40, "sample_size": 10,
           "num_pairs": 200, "pairs_per_class": 20, "fid_full": 1.5,
           "real": {"accuracy": one(0.9), "diversity": one(6.2), "multimodality": one(2.1)},
           "generated": {"fid": one(1.75), "accuracy": one(0.8), "diversity": one(6.0), "multimodality": one(2.0)},
           "multimodality_left_out": {"real": [], "generated": [3]}}
    md = table_generation(res, pool=res)
    assert "| Real | – | 90.0 ± 1.0 | 6.200 ± 0.010 | 2.100 ± 0.010 |" in md
    assert "| Generated | 1.750 ± 0.010 | 80.0 ± 1.0 | 6.000 ± 0.010 | 2.000 ± 0.010 |" in md
    assert md.count("| Recycled pool |") == 1
    full = generation_markdown({"vs_test": res, "fid_real_train_vs_real_test": 0.25}, ["a", "b", "c", "d"])
    assert "Against the real test set" in full and "0.250" in full
    assert "leaves out class d (1 sample)" in full and "[3]" not in full  # named, not indexed
    assert "Missing" in full and "real train set" in full  # vs_train absent: said so


def test_subject_class_table_and_rounds():
    labels, pred = [0, 0, 1, 1, 0, 1], [0, 1, 1, 1, 0, 0]
    subjects = ["s1", "s1", "s1", "s2", "s2", "s2"]
    got = per_group_class_accuracy(labels, pred, subjects, 3)
    assert got["s1"][0].tolist()[:2] == [0.5, 1.0] and math.isnan(got["s1"][0][2])
    assert got["s2"][1].tolist() == [1, 2, 0]
    rep = RecognitionReport.from_arrays(labels, pred, ("a", "b", "c"), subjects)
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["per_subject_class"][1] == {"subject": "s2", "samples": [1, 2, 0], "accuracy": [1.0, 0.5, None]}
    back = RecognitionReport.from_dict(d)
    assert np.array_equal(back.per_subject_class["s1"][1], rep.per_subject_class["s1"][1])
    other = json.loads(json.dumps(RecognitionReport.from_arrays(labels, labels, ("a", "b", "c"), subjects).to_dict()))
    md = table_subject_class([d, other])  # mean over two seeds
    assert "| s1 | 75.0 (2) | 100.0 (1) | – | 83.3 (3) |" in md
    assert "| s2 | 100.0 (1) | 75.0 (2) | – | 83.3 (3) |" in md
    del other["per_subject_class"]
    with pytest.raises(ValueError, match="per-subject x class"):
        table_subject_class([d, other])
    rounds = [{"round": 1, "best_epoch": 2, "best_cas": 0.5, "selection": "distance", "pool_size": 3,
               "counts": {"generated": [4, 4], "passed_filter": [2, 4], "selected": [1, 2]}},
              {"round": 2, "best_epoch": 3, "best_cas": 0.25, "selection": "none"}]
    md = table_rounds(rounds, ["a", "b"])
    assert "| 1 | 2 | 0.500 | 4 / 2 / 1 | 4 / 4 / 2 | 3 | 3 |" in md
    assert "| 2 | 3 | 0.250 | – | – | – | – |" in md
