"""Training loops for recognizers and the generator; checkpoints; devices and precision."""
