"""train.py for a rank task: a small byte-level pair scorer, trained for a fixed budget. Agents edit this.

The locked values come from ``swarm_harness``: ``train_batches`` serves (x, y) from the training rows (x int64
[B, 2, T]: per pair the query's UTF-8 bytes and the candidate's, each right-padded with 0; y float [B]: 1.0 when the
candidate is relevant, half of them are) until the budget is spent; ``submit_model`` hands the model to the locked
evaluator, which feeds int64 [B, 2, EVAL_CONTEXT] for every (query, candidate) pair of held-out rows and ranks each
row's candidates by the scores [B] (NDCG@10, MRR). Each pair's score must depend on that pair alone.
"""

import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from swarm_harness import BUDGET, DEVICE, EVAL_CONTEXT, SEED, VOCAB_SIZE, budget_fraction, elapsed, submit_model, \
    train_batches

# --------------------------------------------------------------------------------------------------------------------
# Hyperparameters
# --------------------------------------------------------------------------------------------------------------------

EMBED = 64                # width of the byte and n-gram embeddings (a text's vector: their mean)
HIDDEN = 128              # width of the interaction MLP
BIGRAM_BUCKETS = 8192     # hashed byte-bigram embedding rows (0 disables the bigram feature)
TRIGRAM_BUCKETS = 16384   # hashed byte-trigram embedding rows (0 disables the trigram feature)
OVERLAP_NGRAM = 4         # byte n-grams (lower-cased) of the candidate looked up in the query: a learned overlap
OVERLAP_BUCKETS = 16384   # hashed n-gram rows of the overlap's learned weights (an idf the model learns; 0: off)
ENCODER = True            # add the byte n-gram encoders' score to the learned overlap (False: the overlap alone)
SHARED_ENCODER = True     # the query and the candidate go through the same encoder
INTERACTION = "dot"       # "dot": score = q . c (measured better at 10-20 s); "mlp": an MLP over [q, c, q * c, |q - c|]
CONTEXT = EVAL_CONTEXT    # training length of a query and of a candidate in bytes (the evaluator feeds EVAL_CONTEXT)
BATCH_SIZE = 32           # pairs per step
LEARNING_RATE = 3e-3      # peak AdamW learning rate
MIN_LR_RATIO = 0.1        # cosine decays to LEARNING_RATE * MIN_LR_RATIO at the end of the budget
WARMUP_STEPS = 20         # linear warmup steps
WEIGHT_DECAY = 0.01       # AdamW weight decay
GRAD_CLIP = 1.0           # max gradient norm (0 disables)
LOG_EVERY = 50            # print a progress line every this many steps

# --------------------------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------------------------


class Encoder(nn.Module):
    """A text's vector: the mean over its bytes of byte + hashed bigram + hashed trigram embeddings."""

    def __init__(self) -> None:
        super().__init__()
        self.byte = nn.Embedding(VOCAB_SIZE, EMBED)
        self.bigram = nn.Embedding(BIGRAM_BUCKETS, EMBED) if BIGRAM_BUCKETS > 0 else None
        self.trigram = nn.Embedding(TRIGRAM_BUCKETS, EMBED) if TRIGRAM_BUCKETS > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = (x != 0).float().unsqueeze(-1)  # 0 is the padding byte
        h = self.byte(x)
        prev = F.pad(x[:, :-1], (1, 0))
        if self.bigram is not None:
            h = h + self.bigram((prev * 257 + x) % BIGRAM_BUCKETS)
        if self.trigram is not None:
            prev2 = F.pad(x[:, :-2], (2, 0))
            h = h + self.trigram((prev2 * 65537 + prev * 257 + x) % TRIGRAM_BUCKETS)
        return (h * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def ngram_hashes(x: torch.Tensor) -> torch.Tensor:
    """A hash of the lower-cased OVERLAP_NGRAM bytes ending at each position (-1 where any of them is padding)."""
    low = x + 32 * ((x >= 65) & (x <= 90)).long()
    h = torch.zeros_like(x)
    valid = torch.ones_like(x, dtype=torch.bool)
    for k in range(OVERLAP_NGRAM):
        shifted = F.pad(low[:, : low.shape[1] - k], (k, 0))
        h = h * 263 + shifted
        valid = valid & (shifted != 0)
    return torch.where(valid, h % OVERLAP_BUCKETS, torch.full_like(h, -1))


class PairScorer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.query = Encoder()
        self.candidate = self.query if SHARED_ENCODER else Encoder()
        self.mlp = nn.Sequential(nn.Linear(4 * EMBED, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 1))
        self.overlap = nn.Embedding(OVERLAP_BUCKETS, 1) if OVERLAP_BUCKETS > 0 else None
        if self.overlap is not None:
            nn.init.constant_(self.overlap.weight, 0.1)

    def lexical(self, x: torch.Tensor) -> torch.Tensor:
        """Sum of the learned weights of the candidate's n-grams that also occur in the query."""
        hq, hc = ngram_hashes(x[:, 0]), ngram_hashes(x[:, 1])
        found = ((hc[:, :, None] == hq[:, None, :]) & (hq[:, None, :] >= 0)).float().amax(-1)  # [B, Tc]
        weights = self.overlap(hc.clamp(min=0)).squeeze(-1) if self.overlap is not None else (hc >= 0).float()
        return (found * weights * (hc >= 0).float()).sum(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = torch.zeros(x.shape[0], device=x.device)
        if ENCODER:
            q, c = self.query(x[:, 0]), self.candidate(x[:, 1])
            score = (q * c).sum(-1) if INTERACTION == "dot" else \
                self.mlp(torch.cat([q, c, q * c, (q - c).abs()], dim=-1)).squeeze(-1)
        return score + self.lexical(x) if self.overlap is not None else score


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
model = PairScorer().to(DEVICE)
optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
n_params = sum(p.numel() for p in model.parameters())
print(f"pair scorer: {n_params / 1e6:.2f}M parameters, device {DEVICE}, budget {BUDGET}")

model.train()
step, loss_sum = 0, 0.0
train_start = time.time()
for x, y in train_batches(BATCH_SIZE, CONTEXT):
    lr = learning_rate(step, budget_fraction())
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss = F.binary_cross_entropy_with_logits(model(x), y)
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
    if step % LOG_EVERY == 0:
        print(f"step {step:6d} | loss {loss_sum / LOG_EVERY:.4f} | lr {lr:.2e} | {elapsed():.1f}s")
        loss_sum = 0.0

train_seconds = time.time() - train_start
submit_model(model)

print("---")
print(f"steps:            {step}")
print(f"train_seconds:    {train_seconds:.1f}")
print(f"params_M:         {n_params / 1e6:.3f}")
