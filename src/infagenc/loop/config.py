"""The resolved configuration of an InfAGenC run. Defaults are the paper's values.

A run's config is one :class:`RunConfig`; ``infagenc run --config FILE`` reads a partial
TOML/JSON file over these defaults, and every run writes the fully resolved config to
``config.json`` in its run folder.

Paper values (InfAGenC, WACV 2025): generator pre-training 1100 epochs, loop 200 epochs
in windows of 10, one synthetic sample per real training sample per epoch (classes
balanced), confidence threshold 0.75, distance weights 0.6 / 0.4, the central 50% of
each class kept, critic updated 3 epochs per round, critic pre-training stopped at 85%
accuracy.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..config import ConfigError, config_from_dict, config_to_dict
from ..train.generator import GeneratorConfig
from ..train.recognizer import RecognizerConfig

__all__ = ["DataConfig", "LoopConfig", "FinalConfig", "EvalConfig", "RunConfig", "demo_config"]

SELECTION_MODES = ("distance", "random", "none")


@dataclass
class DataConfig:
    """Where the real data comes from and how it is prepared and split.

    ``path`` None means the built-in made-up demo set (``demo_*`` options).
    Test subjects are given explicitly (``test_subjects``) or drawn by ``split_seed``
    (``test_fraction`` of the subjects); or the test set is a file of its own
    (``test_path``, e.g. SyRIP's ``validate500.json``, read with the same format and options),
    and all of ``path`` is for training. Validation subjects (``val_fraction`` of the
    training subjects) are used for the critic's target-accuracy stop and for choosing
    settings; the test subjects are only ever used for the final numbers.
    """

    path: str | None = None
    format: str | None = None
    options: dict = field(default_factory=dict)  # reader options, e.g. {"bodies": "main"}
    rep: str | None = None  # convert rotation data, e.g. axis_angle -> rot6d; None keeps the data's
    frames: int = 60
    resample: str = "resample"  # or "crop"
    root: str = "per_frame"  # per_frame | first_frame | none
    normalize_scale: bool = False  # positions only: each sequence's mean bone length -> 1
    test_subjects: tuple[str, ...] | None = None
    test_path: str | None = None  # a fixed test set; excludes test_subjects
    test_fraction: float = 0.3
    val_fraction: float = 0.0
    split_seed: int = 0
    on_bad: str = "skip"
    unlabelled: str = "keep"  # keep | fill | error (keypoints with confidence 0)
    demo_subjects: int = 6
    demo_per_class: int = 6
    demo_seed: int = 0

    def __post_init__(self):
        if self.root not in ("per_frame", "first_frame", "none"):
            raise ValueError(f"data.root must be per_frame, first_frame or none, got {self.root!r}")
        if self.resample not in ("resample", "crop"):
            raise ValueError(f"data.resample must be 'resample' or 'crop', got {self.resample!r}")
        if self.unlabelled not in ("keep", "fill", "error"):
            raise ValueError(f"data.unlabelled must be keep, fill or error, got {self.unlabelled!r}")
        if self.test_path is not None and (self.path is None or self.test_subjects is not None):
            raise ValueError("data.test_path needs data.path and excludes data.test_subjects")
        if not 0.0 < self.test_fraction < 1.0 and self.test_subjects is None:
            raise ValueError("data.test_fraction must lie in (0, 1)")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError("data.val_fraction must lie in [0, 1)")


@dataclass
class LoopConfig:
    """Steps 1-7 of the loop (SPEC §4)."""

    epochs: int = 200
    window: int = 10
    samples_per_epoch: int | None = None  # None: one per real training sample, classes balanced
    theta: float = 0.75
    w_within: float = 0.6
    w_between: float = 0.4
    score_form: str = "ratio"  # ratio (the paper's) | difference (see loop/selection.py)
    keep_fraction: float = 0.5
    selection: str = "distance"  # distance | random | none (the baseline VAE: no recycling)
    critic_update_epochs: int = 3
    # sampling-time dropout in the decoder for the loop's samples, the baseline's synthetic set
    # and the evaluation's samples ("Generative Data Augmentation for Skeleton Action
    # Recognition": diversity for fidelity); 0 = off, as in the paper
    sample_dropout: float = 0.0
    # fraction of the N_t samples generated and scored every epoch to find the window's
    # best-CAS epoch (classes balanced, at least one per class); below 1 the full N_t samples
    # of the best epoch are generated (same sampling seed) from a copy of the generator kept
    # at that epoch, and scored once, for the selection. 1 = the paper (all N_t every epoch).
    # It cuts the scoring cost per window from `window` to `window * fraction + 1` full sets.
    score_fraction: float = 1.0

    def __post_init__(self):
        if not 0.0 < self.score_fraction <= 1.0:
            raise ValueError(f"loop.score_fraction must lie in (0, 1], got {self.score_fraction}")
        if not 0.0 <= self.sample_dropout < 1.0:
            raise ValueError(f"loop.sample_dropout must lie in [0, 1), got {self.sample_dropout}")
        if self.selection not in SELECTION_MODES:
            raise ValueError(f"loop.selection must be one of {SELECTION_MODES}, got {self.selection!r}")
        if self.window < 1 or self.epochs < 1:
            raise ValueError("loop.epochs and loop.window must be >= 1")
        if self.epochs % self.window:
            raise ValueError(f"loop.epochs ({self.epochs}) must be a multiple of loop.window ({self.window})")
        if self.score_form not in ("ratio", "difference"):
            raise ValueError("loop.score_form must be 'ratio' or 'difference'")

    @property
    def rounds(self) -> int:
        return self.epochs // self.window


@dataclass
class FinalConfig:
    """The final recognition experiment: fresh recognizers trained on Real, Syn and
    Real+Syn, tested on the held-out real subjects, one run per seed."""

    recognizer: RecognizerConfig = field(default_factory=RecognizerConfig)
    seeds: tuple[int, ...] = (0, 1, 2)
    train_sets: tuple[str, ...] = ("real", "syn", "real_syn")
    syn_per_class: int | None = None  # baseline only: samples per class; None = as many as the real set, balanced

    def __post_init__(self):
        bad = set(self.train_sets) - {"real", "syn", "real_syn"}
        if bad:
            raise ValueError(f"final.train_sets: unknown {sorted(bad)}")
        if not self.seeds:
            raise ValueError("final.seeds must not be empty")


@dataclass
class EvalConfig:
    """Generation metrics (SPEC §5) with an evaluation recognizer trained on real data only."""

    enabled: bool = True
    repeats: int = 20
    diversity_pairs: int = 200
    multimodality_pairs: int = 20
    seed: int = 0


@dataclass
class RunConfig:
    name: str = "infagenc"
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    threads: int | None = None  # CPU threads for torch (None: torch's default, one per core)
    data: DataConfig = field(default_factory=DataConfig)
    critic: RecognizerConfig = field(default_factory=lambda: RecognizerConfig(target_accuracy=0.85))
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    pretrain_generator_epochs: int = 1100
    loop: LoopConfig = field(default_factory=LoopConfig)
    final: FinalConfig = field(default_factory=FinalConfig)
    evaluation: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        return config_from_dict(cls, d, "run config")


def demo_config() -> dict:
    """Overrides that make a CPU-friendly run on the built-in demo data (<= 10 min on 2 cores)."""
    return {
        "name": "demo",
        "data": {"frames": 32, "demo_subjects": 6, "demo_per_class": 5, "test_fraction": 0.34},
        "critic": {"model": "stgcn", "size": "slim", "epochs": 30, "target_accuracy": 0.85, "batch_size": 16},
        "generator": {"cvae": {"num_layers": 2, "d_model": 64, "num_heads": 4, "ff_size": 128}, "batch_size": 16,
                      "lr": 1e-3},
        "pretrain_generator_epochs": 300,
        "loop": {"epochs": 20, "window": 5, "critic_update_epochs": 2},
        "final": {"recognizer": {"model": "stgcn", "size": "slim", "epochs": 15, "batch_size": 16},
                  "seeds": [0, 1]},
        "evaluation": {"repeats": 10},
    }


__all__ += ["ConfigError"]
