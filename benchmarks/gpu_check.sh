#!/usr/bin/env bash
# The prepared GPU check: one command for a bare H100 / H200 machine, done in about 8 minutes.
#
#   benchmarks/gpu_check.sh             # install, then measure on the GPU (the CPU if there is none)
#   benchmarks/gpu_check.sh --no-install  # the environment is ready (infagenc and a CUDA torch importable)
#   benchmarks/gpu_check.sh --dry-run   # the CPU path at tiny size, no install (under a minute): a syntax check
#
# 1. Install from the repository: pip install -c constraints.txt -e . The constraints pin torch's
#    version and, on this project's machines, its CPU build; when nvidia-smi is present and the
#    installed torch has no CUDA, the CUDA build of the SAME version is installed over it from
#    PyTorch's index (TORCH_CUDA_INDEX, default https://download.pytorch.org/whl/cu128). When
#    infagenc and a CUDA torch already import, nothing is installed (an offline machine).
# 2. Measure, writing one JSON to $OUT/gpu_check.json (benchmarks/results/gpu_check.json when OUT
#    is unset):
#    * the machine's matmul throughput in fp32 (TF32 off), TF32 and bf16, and the speed suite at
#      paper size in each of the three modes: CVAE and MDM generator training (ms a batch of 16,
#      60-frame smpl24 rot6d, forward-kinematics losses), generation, critic (ST-GCN) scoring at
#      its inference batch and critic training, each with its FLOPs (torch's FLOP counter) and
#      their fraction of that mode's matmul throughput;
#    * a fraction of the paper-size protocol (1100 generator pre-training epochs + the 200-epoch
#      loop, paper model sizes, fabricated 310 x 60-frame smpl24 rot6d data): PRETRAIN_EPOCHS
#      pre-training epochs and one loop window measured, the whole protocol projected (generator
#      and critic-update cost grown with X_train as the measured round's selection grows it).
#    GPU_CHECK_BUDGET_S (default 300) bounds the measuring; what was cut is recorded.
set -euo pipefail
cd "$(dirname "$0")/.."

DRY=0
INSTALL=1
for a in "$@"; do
  case "$a" in
    --dry-run) DRY=1; INSTALL=0 ;;
    --no-install) INSTALL=0 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown option $a (use --dry-run, --no-install)" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-python}
RESULT=${OUT:+$OUT/gpu_check.json}
RESULT=${RESULT:-benchmarks/results/gpu_check.json}
mkdir -p "$(dirname "$RESULT")"
T0=$(date +%s)

has_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }
torch_cuda() { "$PY" -c 'import torch, sys; sys.exit(0 if torch.version.cuda and torch.cuda.is_available() else 1)' 2>/dev/null; }
ready() { "$PY" -c 'import infagenc' 2>/dev/null && { ! has_gpu || torch_cuda; }; }

if [ "$INSTALL" = 1 ]; then
  if ready; then
    echo "gpu_check: infagenc and torch already import$(has_gpu && echo ' (CUDA build)'); nothing installed"
  else
    "$PY" -m pip install -q -c constraints.txt -e .
    if has_gpu && ! torch_cuda; then
      TV=$(sed -n 's/^torch==\([0-9.]*\).*/\1/p' constraints.txt | head -1)
      IDX=${TORCH_CUDA_INDEX:-https://download.pytorch.org/whl/cu128}
      echo "gpu_check: nvidia-smi found and the constraints' torch has no CUDA: installing the CUDA build of" \
           "torch $TV from $IDX over it (same version, so the constraints still hold)"
      "$PY" -m pip install -q --force-reinstall --no-deps --index-url "$IDX" "torch==$TV"
      "$PY" -m pip install -q --index-url "$IDX" --extra-index-url https://pypi.org/simple "torch==$TV"
    fi
  fi
fi
INSTALL_S=$(( $(date +%s) - T0 ))

PYTHONUNBUFFERED=1 "$PY" - "$RESULT" "$DRY" "$INSTALL_S" <<'PYEOF'
import json, os, platform, sys, tempfile, time, statistics
from dataclasses import replace

import torch

result_path, dry, install_s = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
BUDGET = float(os.environ.get("GPU_CHECK_BUDGET_S", "300"))
T_START = time.perf_counter()

from infagenc.data.demo import make_demo
from infagenc.data.preprocess import Preprocess
from infagenc.loop.config import RunConfig
from infagenc.loop.data import data_phase
from infagenc.loop.pretrain import pretrain_critic, pretrain_generator
from infagenc.loop.rounds import Stopped, loop_phase
from infagenc.models.cvae import CVAEConfig
from infagenc.models.mdm import MDMConfig
from infagenc.runfolder import RunFolder, environment
from infagenc.train.batching import to_tensors
from infagenc.train.device import bf16_native, resolve_device
from infagenc.train.diffusion import DiffusionConfig
from infagenc.train.generative import new_trainer
from infagenc.train.generator import GeneratorConfig
from infagenc.train.inference import predict
from infagenc.train.recognizer import RecognizerConfig, RecognizerTrainer, new_recognizer

dev = torch.device("cpu") if dry else resolve_device("auto")
cuda = dev.type == "cuda"
size = "slim" if dry else "paper"
FRAMES = 16 if dry else 60
out = {"device": str(dev), "dry_run": dry, "install_s": install_s, "size": size, "frames": FRAMES,
       "environment": environment(dev), "torch": torch.__version__, "cuda": torch.version.cuda,
       "gpu": torch.cuda.get_device_name(dev) if cuda else None, "notes": []}
if not cuda and not dry:
    out["notes"].append("no CUDA device: measured on the CPU")
print(f"gpu_check: measuring on {dev} ({out['gpu'] or platform.processor() or 'cpu'}), size {size}", flush=True)


def sync():
    if cuda:
        torch.cuda.synchronize(dev)


def timed(fn, reps, warm=2):
    for _ in range(warm):
        fn()
    sync()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def flops_of(fn):
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        fn()
    return int(fc.get_total_flops())


def set_mode(mode):
    """fp32 (TF32 off) | tf32 (fp32 model, TF32 matmuls) | bf16 (autocast; TF32 for the fp32 rest)."""
    tf32 = cuda and mode in ("tf32", "bf16")
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    return "bf16" if mode == "bf16" else "fp32"


MODES = ["fp32", "tf32", "bf16"] if cuda else ["fp32", "bf16"]
if cuda and not bf16_native(dev):
    MODES.remove("bf16")
    out["notes"].append("bf16 is not native here (compute capability < 8.0): not measured")

# ---------------------------------------------------------------- matmul limit
n = 256 if dry else 8192
matmul = {}
for mode in MODES:
    prec = set_mode(mode)
    dt = torch.bfloat16 if prec == "bf16" else torch.float32
    a, b = torch.randn(n, n, device=dev, dtype=dt), torch.randn(n, n, device=dev, dtype=dt)
    s = timed(lambda: a @ b, 5 if dry else 20)
    matmul[mode] = 2 * n ** 3 / s
    print(f"  matmul {mode}: {matmul[mode] / 1e12:.2f} TFLOP/s", flush=True)
out["matmul_flops_per_s"] = matmul

# ---------------------------------------------------------------- speed suite
demo = make_demo(num_subjects=2 if dry else 4, per_class=2 if dry else 4, seed=0)
ms = Preprocess(frames=FRAMES)(demo)  # rot6d smpl24
B = 16
suite = {}
for mode in MODES:
    prec = set_mode(mode)
    rows = {}
    for model in ("cvae", "mdm"):
        if model == "cvae":
            cfg = GeneratorConfig(cvae=CVAEConfig.of_size(size), batch_size=B, device=str(dev), precision=prec)
        else:
            cfg = DiffusionConfig(mdm=MDMConfig.of_size(size), batch_size=B, device=str(dev), precision=prec,
                                  sampling_steps=2 if dry else 50)
        tr = new_trainer(ms, cfg)
        ts = tr.tensors(ms.subset(range(B)))  # one batch an epoch

        def train_step():
            tr.train_epoch(ts)

        s = timed(train_step, 3 if dry else 10)
        fl = flops_of(train_step)
        gen_s = timed(lambda: tr.sample(per_class=B // ms.num_classes, length=FRAMES, seed=0, precision=prec),
                      1 if dry else 3, warm=1)
        rows[f"{model}_train"] = {"ms_per_batch": 1e3 * s, "gflop_per_batch": fl / 1e9,
                                  "fraction_of_matmul": fl / s / matmul[mode]}
        rows[f"{model}_generate"] = {"ms_per_batch": 1e3 * gen_s}
    rc = RecognizerConfig(model="stgcn", size=size, batch_size=B, device=str(dev), precision=prec)
    critic = RecognizerTrainer(new_recognizer(rc, ms.layout, ms.channels, ms.num_classes), rc)
    cts = to_tensors(ms, dev)
    score_s = timed(lambda: predict(critic.model, cts, batch_size=rc.eval_batch_size, precision=prec),
                    2 if dry else 5)
    critic.model.eval()
    with torch.inference_mode():
        fl_score = flops_of(lambda: critic.model(cts.x, cts.lengths))
    critic.model.train()
    crit_s = timed(lambda: critic.train_epoch(cts), 1 if dry else 3, warm=1)
    rows["critic_score"] = {"ms_per_sample": 1e3 * score_s / len(cts), "eval_batch_size": rc.eval_batch_size,
                            "fraction_of_matmul": fl_score / score_s / matmul[mode]}
    rows["critic_train"] = {"ms_per_sample": 1e3 * crit_s / len(cts)}
    suite[mode] = rows
    print(f"  {mode}: " + ", ".join(f"{k} {v.get('ms_per_batch', v.get('ms_per_sample')):.1f} ms" for k, v in rows.items()),
          flush=True)
out["speed_suite"] = suite

# ---------------------------------------------------------------- paper protocol, a fraction
left = BUDGET - (time.perf_counter() - T_START)
mode = "bf16" if cuda and "bf16" in MODES else ("tf32" if cuda else "fp32")  # the choice for the hardware
prec = set_mode(mode)
PRE_EPOCHS = int(os.environ.get("PRETRAIN_EPOCHS", 2 if dry else 20))
WINDOW = 2 if dry else 10
d = {"name": "gpu-check", "data": {"frames": FRAMES, "test_fraction": 0.2},
     "demo": {"subjects": 3 if dry else 20, "per_class": 2 if dry else 5},
     "execution": {"device": str(dev), "precision": prec},
     "critic": {"size": size, "epochs": 1, "target_accuracy": None},
     "generator": {"cvae": CVAEConfig.of_size(size).to_dict(), "batch_size": 16},
     "pretrain_generator_epochs": PRE_EPOCHS,
     "loop": {"epochs": 200, "window": WINDOW, "theta": 0.0}, "evaluation": {"enabled": False}}
if dry:
    d["loop"]["epochs"] = 4
cfg = RunConfig.from_dict(d).effective(str(dev))
proto = {"precision_mode": mode, "measured_pretrain_epochs": PRE_EPOCHS, "measured_loop_epochs": WINDOW,
         "paper_pretrain_epochs": 1100, "paper_loop_epochs": 200, "budget_left_s": left}
with tempfile.TemporaryDirectory() as tmp:
    f = RunFolder(tmp)
    sp = data_phase(f, cfg, False)
    if not dry:
        sp.train = sp.train.subset(range(min(310, len(sp.train))))
    proto["train_samples"] = n_real = len(sp.train)
    t0 = time.perf_counter()
    critic = pretrain_critic(f, cfg, sp, dev, False)
    proto["critic_epoch_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    gen = pretrain_generator(f, cfg, sp, dev, False, chunk=10 ** 6)
    pre_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        loop_phase(f, cfg, sp, gen, critic, dev, False, stop_after_rounds=1)
    except Stopped:
        pass
    loop_s = time.perf_counter() - t0
    epochs = json.loads(f.epochs_path.read_text())
    rnd = json.loads(f.rounds_path.read_text())[0]
sel = int(rnd["pool_size"])
g = statistics.mean(e["time_gen_train"] for e in epochs)
gs = statistics.mean(e["time_generate"] + e["time_score"] for e in epochs)
t_sel, t_cu = rnd["time_select"], rnd["time_critic_update"]
rounds = 200 // WINDOW if not dry else cfg.loop.rounds
proj_loop = 0.0
for r in range(rounds):  # X_train grows by the measured round's selection each round
    x_r, x_next = n_real + r * sel, n_real + (r + 1) * sel
    proj_loop += WINDOW * (g * x_r / n_real + gs) + t_sel + t_cu * x_next / (n_real + sel)
pre_epoch = pre_s / max(1, PRE_EPOCHS)
proto.update({"pretrain_measured_s": pre_s, "pretrain_epoch_s": pre_epoch, "loop_window_measured_s": loop_s,
              "loop_epoch_gen_train_s": g, "loop_epoch_generate_score_s": gs, "round_select_s": t_sel,
              "round_critic_update_s": t_cu, "selected_per_round": sel,
              "projected_pretrain_s": pre_epoch * 1100, "projected_loop_s": proj_loop,
              "projected_protocol_s": pre_epoch * 1100 + proj_loop,
              "fraction_measured": (PRE_EPOCHS + WINDOW) / 1300,
              "projection": "pre-training: measured epochs x 1100; loop: per window, generator training scaled by "
                            "|X_train| (real + the measured round's selection per round so far), generation + "
                            "scoring as measured, selection as measured, critic update scaled by |X_train|; "
                            "critic pre-training and the final recognition phase are not part of it"})
out["paper_protocol"] = proto
print(f"  protocol ({mode}): pre-training {pre_epoch:.2f} s/epoch, loop window {loop_s:.1f} s; projected "
      f"{proto['projected_protocol_s'] / 60:.1f} min for 1100 + 200 epochs", flush=True)
out["wall_s"] = time.perf_counter() - T_START + install_s
with open(result_path, "w") as fh:
    json.dump(out, fh, indent=1)
print(f"gpu_check: wrote {result_path} ({out['wall_s']:.0f} s)")
PYEOF
