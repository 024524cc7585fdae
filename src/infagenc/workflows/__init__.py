"""What the single-model commands do, as library functions: run folders with a resolved
config, checkpoints, histories and reports.

* :mod:`.recognizer` - ``infagenc recognizer train|eval``: :func:`~.recognizer.train_run`,
  :func:`~.recognizer.eval_run` (deep recognizers and the classical floor, ``linear`` /
  ``knn`` of :mod:`infagenc.train.classical`), :func:`~.recognizer.config_with_overrides`
  (``--config FILE`` with flags over it);
* :mod:`.tune` - ``infagenc recognizer tune``: :func:`~.tune.tune_run`, a declared grid of
  recognizer settings scored by subject folds of the training subjects only;
* :mod:`.generator` - ``infagenc generator train|sample``: :func:`~.generator.train_run`
  (with resume), :func:`~.generator.sample_run`.

The command-line modules parse arguments and call these; the training itself is in
:mod:`infagenc.train`. Every run records its :class:`~infagenc.data.preprocess.Preprocess`
in the checkpoint, and whatever later meets new data with that checkpoint re-applies it.
"""
