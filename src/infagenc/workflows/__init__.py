"""What the single-model commands do, as library functions: run folders with a resolved
config, checkpoints, histories and reports.

* :mod:`.recognizer` - ``infagenc recognizer train|eval``: :func:`~.recognizer.train_run`,
  :func:`~.recognizer.eval_run`;
* :mod:`.generator` - ``infagenc generator train|sample``: :func:`~.generator.train_run`
  (with resume), :func:`~.generator.sample_run`.

The command-line modules parse arguments and call these; the training itself is in
:mod:`infagenc.train`. Every run records its :class:`~infagenc.data.preprocess.Preprocess`
in the checkpoint, and whatever later meets new data with that checkpoint re-applies it.
"""
