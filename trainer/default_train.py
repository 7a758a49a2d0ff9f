"""train.py: a small byte-level GPT, trained for a fixed budget. This is the file that agents edit.

The locked values (budget, device, seed, data, evaluation) come from ``swarm_harness`` and are never redefined here.
The harness serves training batches until the budget is spent; ``submit_model`` hands the model to the locked
evaluator, which scores val_bpb on held-out text. Everything else is fair game: change the knobs below, or the code.
"""

import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from swarm_harness import BUDGET, DEVICE, EVAL_CONTEXT, SEED, VOCAB_SIZE, budget_fraction, elapsed, submit_model, \
    train_batches

# --------------------------------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------------------------------


class RMSNorm(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


def make_norm(dim: int) -> nn.Module:
    return RMSNorm(dim) if NORM == "rmsnorm" else nn.LayerNorm(dim)


def rotary_tables(length: int, head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    inv_freq = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))
    angles = torch.outer(torch.arange(length).float(), inv_freq)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(N_EMBD, 3 * N_EMBD, bias=False)
        self.proj = nn.Linear(N_EMBD, N_EMBD, bias=False)
        self.drop = nn.Dropout(DROPOUT)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, N_HEAD, c // N_HEAD).transpose(1, 2) for z in (q, k, v))
        if POSITIONS == "rotary":
            q, k = apply_rotary(q, cos[:t], sin[:t]), apply_rotary(k, cos[:t], sin[:t])
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.drop(self.proj(y.transpose(1, 2).reshape(b, t, c)))


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        hidden = MLP_RATIO * N_EMBD
        if ACTIVATION == "swiglu":
            hidden = 2 * hidden // 3
            self.gate = nn.Linear(N_EMBD, hidden, bias=False)
        self.up = nn.Linear(N_EMBD, hidden, bias=False)
        self.down = nn.Linear(hidden, N_EMBD, bias=False)
        self.drop = nn.Dropout(DROPOUT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if ACTIVATION == "swiglu":
            h = F.silu(self.gate(x)) * self.up(x)
        elif ACTIVATION == "relu2":
            h = F.relu(self.up(x)).square()
        else:
            h = F.gelu(self.up(x))
        return self.drop(self.down(h))


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm1, self.attn = make_norm(N_EMBD), Attention()
        self.norm2, self.mlp = make_norm(N_EMBD), MLP()

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), cos, sin)
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.max_len = max(CONTEXT, EVAL_CONTEXT)
        self.tok = nn.Embedding(VOCAB_SIZE, N_EMBD)
        self.prev = nn.Embedding(VOCAB_SIZE + 1, N_EMBD) if PREV_BYTE_EMBEDDING else None  # id 256 = "no byte"
        self.pos = nn.Embedding(self.max_len, N_EMBD) if POSITIONS == "learned" else None
        self.blocks = nn.ModuleList(Block() for _ in range(N_LAYER))
        self.norm = make_norm(N_EMBD)
        self.head = None if TIED_EMBEDDINGS else nn.Linear(N_EMBD, VOCAB_SIZE, bias=False)
        cos, sin = rotary_tables(self.max_len, N_EMBD // N_HEAD)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.apply(self._init)

    def _init(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        b, t = idx.shape
        x = self.tok(idx)
        if self.prev is not None:
            prev = F.pad(idx[:, :-1], (1, 0), value=VOCAB_SIZE)
            x = x + self.prev(prev)
        if self.pos is not None:
            x = x + self.pos(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x, self.cos, self.sin)
        x = self.norm(x)
        return x @ self.tok.weight.T if self.head is None else self.head(x)


# --------------------------------------------------------------------------------------------------------------------
# Optimizer
# --------------------------------------------------------------------------------------------------------------------


def make_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "tok" not in n and "prev" not in n
             and "pos" not in n]
    rest = [p for n, p in model.named_parameters() if not any(p is q for q in decay)]
    groups = [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=LEARNING_RATE, betas=(BETA1, BETA2))


def learning_rate(step: int, fraction: float) -> float:
    """Linear warmup over WARMUP_STEPS, then cosine decay to MIN_LR_RATIO over the budget fraction spent."""
    if step < WARMUP_STEPS:
        return LEARNING_RATE * (step + 1) / WARMUP_STEPS
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(fraction, 1.0)))
    return LEARNING_RATE * (MIN_LR_RATIO + (1.0 - MIN_LR_RATIO) * cosine)


# --------------------------------------------------------------------------------------------------------------------
# Hyperparameters
# --------------------------------------------------------------------------------------------------------------------

N_LAYER = 2               # transformer blocks
N_EMBD = 128              # model width
N_HEAD = 4                # attention heads (N_EMBD must divide by it)
MLP_RATIO = 4             # hidden width of the MLP / N_EMBD
CONTEXT = 128             # training sequence length (the evaluator feeds EVAL_CONTEXT tokens)
BATCH_SIZE = 8            # sequences per step
DROPOUT = 0.0             # dropout in attention output and MLP
NORM = "layernorm"        # "layernorm" | "rmsnorm"
ACTIVATION = "gelu"       # "gelu" | "relu2" | "swiglu"
POSITIONS = "rotary"      # "rotary" | "learned"
TIED_EMBEDDINGS = True    # output head shares the input embedding matrix
PREV_BYTE_EMBEDDING = True  # add an embedding of the previous byte (a cheap bigram feature)
LEARNING_RATE = 4e-3      # peak AdamW learning rate
MIN_LR_RATIO = 0.1        # cosine decays to LEARNING_RATE * MIN_LR_RATIO at the end of the budget
WARMUP_STEPS = 100        # linear warmup steps (long warmup keeps seeds from stalling on a plateau)
WEIGHT_DECAY = 0.1        # AdamW weight decay on matrices (not on norms, biases, embeddings)
BETA1 = 0.9               # AdamW beta1
BETA2 = 0.95              # AdamW beta2
GRAD_CLIP = 1.0           # max gradient norm (0 disables)
INIT_STD = 0.02           # std of the weight initialisation
LOG_EVERY = 50            # print a progress line every this many steps

# --------------------------------------------------------------------------------------------------------------------
# Setup
# --------------------------------------------------------------------------------------------------------------------

torch.manual_seed(SEED)
model = GPT().to(DEVICE)
optimizer = make_optimizer(model)
n_params = sum(p.numel() for p in model.parameters())
print(f"model: {N_LAYER} layers x {N_EMBD} wide, {n_params / 1e6:.2f}M parameters, device {DEVICE}, budget {BUDGET}")

# --------------------------------------------------------------------------------------------------------------------
# Training loop
# --------------------------------------------------------------------------------------------------------------------

model.train()
step, loss_sum, loss_count = 0, 0.0, 0
train_start = time.time()
for x, y in train_batches(BATCH_SIZE, CONTEXT):
    lr = learning_rate(step, budget_fraction())
    for group in optimizer.param_groups:
        group["lr"] = lr
    logits = model(x)
    loss = F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), y.reshape(-1))
    loss_value = loss.item()
    if not math.isfinite(loss_value):
        raise SystemExit(f"loss is {loss_value} at step {step}: stopping (NaN/inf)")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if GRAD_CLIP > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
    optimizer.step()
    step += 1
    loss_sum, loss_count = loss_sum + loss_value, loss_count + 1
    if step % LOG_EVERY == 0:
        print(f"step {step:6d} | loss {loss_sum / loss_count:.4f} | lr {lr:.2e} | {elapsed():.1f}s")
        loss_sum, loss_count = 0.0, 0

train_seconds = time.time() - train_start
submit_model(model)

print("---")
print(f"steps:            {step}")
print(f"train_seconds:    {train_seconds:.1f}")
print(f"params_M:         {n_params / 1e6:.3f}")
print(f"layers:           {N_LAYER}")
print(f"width:            {N_EMBD}")
print(f"context:          {CONTEXT}")
print(f"batch_size:       {BATCH_SIZE}")
print(f"learning_rate:    {LEARNING_RATE}")
