"""Training: optimizers and clipping (optim), the weight average of --ema (ema), BPTT drivers, the training
loop, checkpoints."""
