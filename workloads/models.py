"""The small models of the FP8 experiments, with the non-smooth parts the paper names.

- ``DigitsCNN``: conv 3x3 (1 -> 16) + ReLU + max-pool 2, conv 3x3 (16 -> 32) + ReLU + max-pool 2,
  linear 128 -> 64 + ReLU, linear 64 -> 10. 13,706 parameters.
- ``MoETransformer``: a byte-level decoder-only transformer: token and position embeddings
  (256 bytes, context 64, width 64), 2 pre-norm blocks of causal self-attention (4 heads) and a
  top-1 routed mixture of 4 expert MLPs (64 -> 128 -> 64, GELU; a Switch-transformer router: each
  token goes to the expert of largest router logit, its output scaled by that expert's softmax
  probability, plus the load-balancing loss ``0.01 * E * sum_e f_e P_e``), final layer norm,
  untied output head (204,160 parameters). The routing is the discontinuity: a token switches expert when two logits cross.
  Any other size is a ``TransformerSize`` (width, layers, heads, experts, hidden); ``experts=0`` is the
  dense twin, one GELU MLP of the same hidden width in each block (the compute of one expert, the
  parameters of one).

``build(name, seed, size=None)`` makes either with its weights drawn from ``torch.manual_seed(seed)``;
``ROUTER`` is the name part ``convert_to_fp8`` skips (routers stay in fp32, as FP8 MoE recipes keep them).
"""
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

ROUTER = "router"
VOCAB, CONTEXT, WIDTH, HEADS, LAYERS, EXPERTS, HIDDEN = 256, 64, 64, 4, 2, 4, 128
BALANCE = 0.01


@dataclass(frozen=True)
class TransformerSize:
    """The shape of a ``MoETransformer``; ``experts=0``: a dense MLP in each block instead of the mixture."""
    width: int = WIDTH
    layers: int = LAYERS
    heads: int = HEADS
    experts: int = EXPERTS
    hidden: int = HIDDEN
    context: int = CONTEXT

    def __post_init__(self):
        for name, v in asdict(self).items():
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "experts" else 1):
                raise ValueError(f"TransformerSize.{name} must be an int >= {0 if name == 'experts' else 1}, got {v!r}")
        if self.width % self.heads:
            raise ValueError(f"TransformerSize: width {self.width} is not a multiple of heads {self.heads}; "
                             "choose a width divisible by the number of heads")

    def parameters(self):
        """The number of parameters of a model of this size (every expert counted)."""
        w, h = self.width, self.hidden
        mlp = 2 * w * h + h + w
        block = 4 * w + 4 * w * w + 4 * w + (self.experts * (mlp + w) if self.experts else mlp)
        return (VOCAB + self.context) * w + self.layers * block + 2 * w + w * VOCAB + VOCAB

    def active_parameters(self):
        """The parameters one token goes through (one expert of a mixture)."""
        return TransformerSize(**{**asdict(self), "experts": 0}).parameters() + \
            (self.layers * self.width * self.experts)


class DigitsCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(128, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))

    def loss(self, x, y):
        return F.cross_entropy(self(x), y)


class SwitchMoE(nn.Module):
    """Top-1 routed experts; ``aux`` holds the load-balancing loss of the last forward."""

    def __init__(self, width, hidden, experts):
        super().__init__()
        self.router = nn.Linear(width, experts, bias=False)
        self.up = nn.ModuleList(nn.Linear(width, hidden) for _ in range(experts))
        self.down = nn.ModuleList(nn.Linear(hidden, width) for _ in range(experts))
        self.aux = torch.zeros(())

    def forward(self, x):
        flat = x.reshape(-1, x.shape[-1])
        probs = F.softmax(self.router(flat), dim=-1)
        gate, choice = probs.max(dim=-1)
        out = torch.zeros_like(flat)
        for e in range(len(self.up)):
            idx = torch.nonzero(choice == e, as_tuple=True)[0]
            if idx.numel():
                h = self.down[e](F.gelu(self.up[e](flat[idx])))
                out = out.index_add(0, idx, h * gate[idx, None])
        share = torch.bincount(choice, minlength=len(self.up)).to(flat.dtype) / flat.shape[0]
        self.aux = len(self.up) * (share * probs.mean(0)).sum()
        return out.reshape(x.shape)


class MLP(nn.Module):
    """The dense twin's feed-forward part: one expert's shape, every token through it."""

    def __init__(self, width, hidden):
        super().__init__()
        self.up, self.down = nn.Linear(width, hidden), nn.Linear(hidden, width)

    def forward(self, x):
        return self.down(F.gelu(self.up(x)))


class Block(nn.Module):
    def __init__(self, size):
        super().__init__()
        w = size.width
        self.heads = size.heads
        self.ln1, self.ln2 = nn.LayerNorm(w), nn.LayerNorm(w)
        self.qkv = nn.Linear(w, 3 * w)
        self.proj = nn.Linear(w, w)
        if size.experts:
            self.moe = SwitchMoE(w, size.hidden, size.experts)
        else:
            self.mlp = MLP(w, size.hidden)

    def forward(self, x):
        b, n, w = x.shape
        q, k, v = self.qkv(self.ln1(x)).reshape(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, n, w))
        return x + (self.moe if hasattr(self, "moe") else self.mlp)(self.ln2(x))


class MoETransformer(nn.Module):
    """The byte-level decoder; ``size`` (a ``TransformerSize``) defaults to the fp8 experiment's."""

    def __init__(self, size=None):
        super().__init__()
        self.size = size = size or TransformerSize()
        self.tok = nn.Embedding(VOCAB, size.width)
        self.pos = nn.Embedding(size.context, size.width)
        self.blocks = nn.ModuleList(Block(size) for _ in range(size.layers))
        self.ln = nn.LayerNorm(size.width)
        self.head = nn.Linear(size.width, VOCAB)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x))

    def loss(self, x, y, balance=True):
        """Cross-entropy in nats per byte, plus the routers' load-balancing loss when ``balance``."""
        ce = F.cross_entropy(self(x).reshape(-1, VOCAB), y.reshape(-1))
        if not (balance and self.size.experts):
            return ce
        return ce + BALANCE * sum(b.moe.aux for b in self.blocks)


MODELS = {"cnn": DigitsCNN, "transformer": MoETransformer}


def build(name, seed, size=None):
    """``name``'s model with weights from ``torch.manual_seed(seed)``; ``size`` (a ``TransformerSize`` or
    its dict) only for the transformer."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; use one of {', '.join(map(repr, MODELS))}")
    if size is not None and name != "transformer":
        raise ValueError(f"size= is for the transformer; the {name} has one size, got size={size!r}")
    torch.manual_seed(int(seed))
    if name == "transformer":
        return MoETransformer(TransformerSize(**size) if isinstance(size, dict) else size)
    return MODELS[name]()
