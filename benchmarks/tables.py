"""Regenerate the pages made from several result files, and the result blocks of benchmarks/README.md.

    python benchmarks/tables.py

``results/speed.md`` is written from the speed JSONs (recognizers, generator, loop, whole pipeline: the
commands of ``benchmarks/speed/``), and ``results/generator_evidence.md`` from the frozen generator
study's summaries; neither has a command of its own that writes it. Then each block of README.md
between ``<!-- BEGIN results/NAME.md -->`` and ``<!-- END results/NAME.md -->`` (if any: the README
links the result pages rather than copying them) is replaced by the current content of that file
(its first heading dropped); everything else in README.md is left as written.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository root: benchmarks.* imports

from benchmarks.common import frozen_note  # noqa: E402

GENERATOR_EVIDENCE_AT = "49408b1"  # the commit of the frozen generator study's results
BLOCK = re.compile(r"(<!-- BEGIN (results/[\w.-]+\.md) -->\n)(.*?)(<!-- END \2 -->)", re.S)


def _body(path: Path) -> str:
    if not path.exists():
        return f"_{path.name} has not been produced yet (run its command)._\n"
    lines = path.read_text(encoding="utf-8").splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    body = "\n".join(lines).strip() + "\n"
    return re.sub(r"\]\((?!https?:|/|#|results/)", "](results/", body)  # links of results/*.md -> from README


def _load(name: str) -> dict | None:
    path = HERE / "results" / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def speed_markdown() -> str:
    """Tables of the speed benchmarks' JSONs (whichever exist)."""
    out = ["# Speed", ""]
    rec = _load("speed_recognizers.json")
    if rec:
        m = rec["machine"]
        out += ["## Recognizers", "", f"`{rec['command']}`: {rec['what']}. {m['processor']}, {m['cpu_count']} "
                f"cores, {m['torch_threads']} torch thread(s), torch {m['torch']}.", "",
                "| model | size | parameters | precision | device | train ms / batch | inference ms / batch |",
                "|---|---|---:|---|---|---:|---:|"]
        out += [f"| {r['model']} | {r['size']} | {r['params']:,} | {r['precision']} | {r['device']} | "
                f"{r['train_ms']:.0f} | {r['infer_ms']:.0f} |" for r in rec["rows"]]
        out.append("")
    gen = _load("speed_generator.json")
    if gen:
        out += ["## Generator", "", f"{gen['benchmark']}; {gen['device_name']} ({gen['device']}), "
                f"{gen['cpu_count']} cores, {gen['torch_threads']} torch thread(s), torch {gen['torch']}. "
                f"Forward kinematics (forward + backward) {gen['fk_forward_backward_ms_per_batch']:.0f} ms a "
                f"batch. The released code took {gen['reference']['released_code_s_per_batch']} s a batch "
                "(reported for the released InfAGenC code, which skins a full body mesh per frame).", "",
                "| size | parameters | precision | train ms / batch (median) | sampling ms / 16 samples |",
                "|---|---:|---|---:|---:|"]
        out += [f"| {r['size']} | {r['parameters']:,} | {r['precision']} | {r['train_ms_per_batch_median']:.0f} | "
                f"{r['sample_ms_per_batch16_median']:.0f} |" for r in gen["results"]]
        out.append("")
    loop = _load("loop_speed.json")
    if loop:
        env = loop["environment"]
        out += ["## Loop", "", f"`{loop['command']}` (last command; rows of earlier commands are kept); "
                f"{env.get('processor')}, {env.get('cpu_count')} cores, device {env.get('device') or 'cpu'}. "
                "Seconds per loop epoch; selection and critic "
                "update happen once a window and are spread over its epochs. Overhead = everything but "
                "generator training, over generator training (target <= 25%).", "",
                "Score fraction: `loop.score_fraction` (1 = the paper, every epoch's N_t samples scored; "
                "below 1 a class-balanced share is scored per epoch and the best epoch's full set once: "
                "'rescoring'); eval batch: the critic's inference batch.", "",
                "| config | data scale | training samples | precision | threads | critic | score fraction | eval batch | "
                "generator training | generation | scoring | rescoring | selection | critic update | wall / epoch | "
                "overhead | peak RSS (MB) |",
                "|---|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in loop["rows"]:
            e = r["per_epoch_s"]
            gen = r.get("generator", "cvae")
            out.append(f"| {r['config']}{'' if gen == 'cvae' else f' ({gen})'} | {r['scale']}x | {r['train_samples']} | {r['precision']} | "
                       f"{r.get('torch_threads', env.get('torch_threads'))} | "
                       f"{r.get('critic_size') or r['resolved_config']['critic']['size']} | {r.get('score_fraction', 1.0):g} | "
                       f"{r.get('eval_batch_size', 64)} | "
                       f"{e['gen_train']:.2f} | {e['generate']:.2f} | {e['score']:.2f} | {e.get('rescore', 0.0):.2f} | "
                       f"{e['select']:.2f} | "
                       f"{e['critic_update']:.2f} | {r['loop_wall_per_epoch_s']:.2f} | "
                       f"{100 * r['overhead_ratio']:.0f}% | {r['peak_rss_mb']:.0f} |")
        out.append("")
    pipe = _load("pipeline_speed.json")
    if pipe:
        env = pipe["environment"]
        phases = ["data", "pretrain_critic", "pretrain_generator", "loop", "final_recognition", "evaluation"]
        out += ["## Whole pipeline (`infagenc demo`)", "",
                f"`python benchmarks/speed/pipeline_speed.py`: the command a user types, `infagenc demo`, in a fresh "
                f"child process (last command `{pipe['command']}`; rows of earlier commands are kept); "
                f"{env.get('processor')}, {env.get('cpu_count')} cores. Wall and CPU minutes of the child, its "
                "peak resident memory, and the phase split (minutes) from the run's `timing.json`; 'other' = "
                "report, start-up and writing. Data scale k = k x the demo's subjects. Target: <= 10 min on "
                "2 CPU cores.", "",
                "| data scale | train / test sequences | threads | precision | device | "
                + " | ".join(p.replace("_", " ") for p in phases)
                + " | other | wall (min) | CPU (min) | peak RSS (MB) | Real / Syn / Real+Syn (%) |",
                "|---:|---|---:|---|---|" + "---:|" * (len(phases) + 4) + "---|"]
        for r in sorted(pipe["rows"], key=lambda r: (r["device"] or "", r["scale"], r["threads"] or 0)):
            acc = r["test_accuracy"]
            out.append(f"| {r['scale']}x | {r['train_sequences']} / {r['test_sequences']} | "
                       f"{r['torch_threads']} | {r['precision']} | {r['gpu'] or r['device']} | "
                       + " | ".join(f"{r['phases_s'].get(p, 0.0) / 60:.1f}" for p in phases)
                       + f" | {r['report_and_startup_s'] / 60:.1f} | {r['wall_s'] / 60:.1f} | "
                       f"{r['cpu_s'] / 60:.1f} | {r['peak_rss_mb']:.0f} | "
                       + " / ".join(f"{100 * acc[k]:.1f}" for k in ("real", "syn", "real_syn") if k in acc) + " |")
        out.append("")
    return "\n".join(out)


def generator_markdown() -> str:
    """One row per ``results/generator_evidence/<name>/summary.json``."""
    rows = []
    for path in sorted((HERE / "results" / "generator_evidence").glob("*/summary.json")):
        d = json.loads(path.read_text(encoding="utf-8"))
        c, name = d["config"], path.parent.name
        raw = d["raw_position_check"]
        pics = " ".join(f"[{p}](generator_evidence/{name}/{p}.png)" for p in ("real_vs_generated", "curves", "eval_curves"))
        rows.append(f"| {name} | {d['rep']}, {d['samples']} sequences x {d['frames']} frames | "
                    f"{c['lambda_kl']:g} ({c['kl_reduction']}) | {d['epochs']} | {d['first']['rec']:.4f} -> "
                    f"{d['last']['rec']:.4f} | {d['eval_rec_first_last'][0]:.4f} -> {d['eval_rec_first_last'][1]:.4f} | "
                    f"{raw['real']['diversity']:.2f} / {raw['generated']['diversity']:.2f} | "
                    f"{raw['real']['multimodality']:.2f} / {raw['generated']['multimodality']:.2f} | "
                    f"{d['train_seconds'] / 60:.0f} | {pics} |")
    if not rows:
        return ""
    return "\n".join([
        frozen_note(GENERATOR_EVIDENCE_AT, "generated samples keep the data's root constraint since 4641eaa"), "",
        "# Generator evidence", "",
        "`python benchmarks/studies/generator_evidence.py --epochs 300 --lr 1e-3` (and `--kl-reduction sum --kl-weight "
        "1e-5 --tag releasedkl --only demo`): small pre-norm CVAE (2 layers, d 64), batch 16, CPU, 1 thread. "
        "Reconstruction error (MSE of the representation) on the training sequences, per training epoch and "
        "with z = mu (eval, first evaluation after 10 epochs -> last). Diversity and multimodality here are "
        "computed on raw joint positions (flattened sequences), real / generated: a crude collapse check, "
        "not the recognizer-feature metrics of the paper (those are in the loop results). This is evidence that "
        "the generator trains, not a recognition experiment: the UTKinect generator sees all 199 segments.", "",
        "| run | data | KL weight (reduction) | epochs | train rec | eval rec (z = mu) | diversity real / gen | "
        "multimodality real / gen | minutes | pictures |",
        "|---|---|---|---:|---|---|---|---|---:|---|", *rows, ""])


def regenerate(readme: Path = HERE / "README.md") -> str:
    speed = speed_markdown()
    if speed.strip() != "# Speed":
        (HERE / "results" / "speed.md").write_text(speed, encoding="utf-8")
    gen = generator_markdown()
    if gen:
        (HERE / "results" / "generator_evidence.md").write_text(gen, encoding="utf-8")
    text = readme.read_text(encoding="utf-8")
    new = BLOCK.sub(lambda m: m.group(1) + _body(HERE / m.group(2)) + m.group(4), text)
    readme.write_text(new, encoding="utf-8")
    return new


if __name__ == "__main__":
    regenerate()
    sys.exit(0)
