"""train.py for a classify task: a small byte-level text classifier, trained for a fixed budget. Agents edit this.

The locked values come from ``swarm_harness``: ``train_batches`` serves (x, y) from the training rows (x int64
[B, T]: a text's UTF-8 bytes, right-padded with 0; y int64 [B]: label ids into ``LABELS``) until the budget is spent;
``submit_model`` hands the model to the locked evaluator, which feeds int64 [B, EVAL_CONTEXT] and scores the logits
[B, N_LABELS] (accuracy, macro-F1, cross-entropy) on held-out rows. Each row's logits must depend on that row alone.
"""

import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from swarm_harness import BUDGET, DEVICE, EVAL_CONTEXT, LABELS, N_LABELS, SEED, VOCAB_SIZE, budget_fraction, \
    elapsed, submit_model, train_batches

# --------------------------------------------------------------------------------------------------------------------
# Hyperparameters
# --------------------------------------------------------------------------------------------------------------------

EMBED = 64                # width of the byte and n-gram embeddings
HIDDEN = 128              # width of the MLP over the pooled text vector
BIGRAM_BUCKETS = 8192     # hashed byte-bigram embedding rows (0 disables the bigram feature)
TRIGRAM_BUCKETS = 16384   # hashed byte-trigram embedding rows (0 disables the trigram feature)
POOL = "meanmax"          # "mean" | "max" | "meanmax": how the per-byte vectors are pooled over the text
DROPOUT = 0.1             # dropout before the classifier
CONTEXT = EVAL_CONTEXT    # training text length in bytes (the evaluator feeds EVAL_CONTEXT)
BATCH_SIZE = 32           # texts per step
LEARNING_RATE = 3e-3      # peak AdamW learning rate
MIN_LR_RATIO = 0.1        # cosine decays to LEARNING_RATE * MIN_LR_RATIO at the end of the budget
WARMUP_STEPS = 20         # linear warmup steps
WEIGHT_DECAY = 0.01       # AdamW weight decay
LABEL_SMOOTHING = 0.0     # cross-entropy label smoothing
GRAD_CLIP = 1.0           # max gradient norm (0 disables)
LOG_EVERY = 50            # print a progress line every this many steps

# --------------------------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------------------------


class Classifier(nn.Module):
    """Bag of hashed byte n-grams: per-byte vectors (byte + bigram + trigram ending there), pooled, then an MLP."""

    def __init__(self) -> None:
        super().__init__()
        self.byte = nn.Embedding(VOCAB_SIZE, EMBED)
        self.bigram = nn.Embedding(BIGRAM_BUCKETS, EMBED) if BIGRAM_BUCKETS > 0 else None
        self.trigram = nn.Embedding(TRIGRAM_BUCKETS, EMBED) if TRIGRAM_BUCKETS > 0 else None
        pooled = 2 * EMBED if POOL == "meanmax" else EMBED
        self.mlp = nn.Sequential(nn.Linear(pooled, HIDDEN), nn.ReLU(), nn.Dropout(DROPOUT), nn.Linear(HIDDEN, N_LABELS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = (x != 0).float().unsqueeze(-1)  # [B, T, 1]: 0 is the padding byte
        h = self.byte(x)
        prev = F.pad(x[:, :-1], (1, 0))
        if self.bigram is not None:
            h = h + self.bigram((prev * 257 + x) % BIGRAM_BUCKETS)
        if self.trigram is not None:
            prev2 = F.pad(x[:, :-2], (2, 0))
            h = h + self.trigram((prev2 * 65537 + prev * 257 + x) % TRIGRAM_BUCKETS)
        mean = (h * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        top = (h * mask - (1.0 - mask) * 1e4).amax(1)
        pooled = {"mean": mean, "max": top}.get(POOL, torch.cat([mean, top], dim=-1))
        return self.mlp(pooled)


def learning_rate(step: int, fraction: float) -> float:
    """Linear warmup over WARMUP_STEPS, then cosine decay to MIN_LR_RATIO over the budget fraction spent."""
    if step < WARMUP_STEPS:
        return LEARNING_RATE * (step + 1) / WARMUP_STEPS
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(fraction, 1.0)))
    return LEARNING_RATE * (MIN_LR_RATIO + (1.0 - MIN_LR_RATIO) * cosine)


# --------------------------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------------------------

torch.manual_seed(SEED)
model = Classifier().to(DEVICE)
optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
n_params = sum(p.numel() for p in model.parameters())
print(f"classifier: {N_LABELS} labels {list(LABELS)[:8]}, {n_params / 1e6:.2f}M parameters, device {DEVICE}, "
      f"budget {BUDGET}")

model.train()
step, loss_sum, correct, seen = 0, 0.0, 0, 0
train_start = time.time()
for x, y in train_batches(BATCH_SIZE, CONTEXT):
    lr = learning_rate(step, budget_fraction())
    for group in optimizer.param_groups:
        group["lr"] = lr
    logits = model(x)
    loss = F.cross_entropy(logits, y, label_smoothing=LABEL_SMOOTHING)
    loss_value = loss.item()
    if not math.isfinite(loss_value):
        raise SystemExit(f"loss is {loss_value} at step {step}: stopping (NaN/inf)")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if GRAD_CLIP > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
    optimizer.step()
    step += 1
    loss_sum += loss_value
    correct += int((logits.argmax(-1) == y).sum())
    seen += y.numel()
    if step % LOG_EVERY == 0:
        print(f"step {step:6d} | loss {loss_sum / LOG_EVERY:.4f} | train acc {correct / seen:.3f} | lr {lr:.2e} | "
              f"{elapsed():.1f}s")
        loss_sum, correct, seen = 0.0, 0, 0

train_seconds = time.time() - train_start
submit_model(model)

print("---")
print(f"steps:            {step}")
print(f"train_seconds:    {train_seconds:.1f}")
print(f"params_M:         {n_params / 1e6:.3f}")
