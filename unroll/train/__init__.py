"""Training: optimizers and clipping (optim), BPTT drivers, the training loop, checkpoints."""
