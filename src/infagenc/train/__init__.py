"""Training loops for recognizers and the generator on one shared trainer base
(:mod:`.trainer`: model, Adam, seeded ``rng``, epochs, history, resumable state);
checkpoints; devices and precision. Run folders and reports: :mod:`infagenc.workflows`."""
