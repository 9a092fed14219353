"""The paper's two losses (eq. 4 and eq. 5) and the pair labels they are fed.

Eq. 4 is the DSH loss (Liu et al., CVPR 2016) for relaxed codes ``h`` in (-1, 1)^k:
similar pairs (label 0) are pulled together, ``1/2 ||h1 - h2||^2``; dissimilar pairs (label 1)
are pushed until their squared distance reaches the margin ``m``, ``1/2 max(m - ||h1 - h2||^2, 0)``;
and ``alpha * || |h| - 1 ||_1`` draws every output towards +-1, so that sign() at test time loses
little, without sign()'s zero gradient. For codes at +-1, ``||h1 - h2||^2 = 4 x Hamming distance``,
so DSH's ``m = 2k`` asks dissimilar pairs to differ in at least k/2 bits — what two random codes
do — and the loss stops pushing there instead of spreading codes without end. ``alpha = 0.01``
is DSH's value: large enough to saturate the tanh units over training, small enough not to fight
the pair terms early on.

One addition to the paper. The pair rule leaves pairs of one category with different IDs out
(two pairs of black jeans may look alike). Trained that way, the codes collapse: every garment of
a category drifts to one code word, and instance retrieval among look-alikes becomes a lottery of
ties. ``same_category_margin`` pushes such pairs apart too, but only to a smaller margin (by
default half of m: k/4 bits for codes at +-1, chosen by validation top-20 among 1/4, 1/2, 3/4 and
all of m), so different garments of one kind get different codes without being treated as
opposites.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SIMILAR, DISSIMILAR, IGNORED = 0, 1, -1
DEFAULT_ALPHA = 0.01
MU = 0.05  # paper eq. 5: weight of each attribute task beside the category task


def default_margin(bits: int) -> float:
    """DSH's margin: 2k, i.e. dissimilar codes at least k/2 bits apart."""
    return 2.0 * bits


def pair_labels(ids: np.ndarray, categories: np.ndarray) -> torch.Tensor:
    """The consumer-to-shop pair rule (``clothlib.data.pairs.pair_label``) for every pair of a batch,
    vectorised: SIMILAR for one ID, DISSIMILAR for different IDs of different categories, IGNORED
    for different IDs of one category (left out of the loss; see notebook 04)."""
    same_id = ids[:, None] == ids[None, :]
    same_category = categories[:, None] == categories[None, :]
    labels = np.where(same_id, SIMILAR, np.where(same_category, IGNORED, DISSIMILAR))
    return torch.from_numpy(labels.astype(np.int64))


def dsh_pair_terms(h1: torch.Tensor, h2: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Eq. 4's pair terms for aligned pairs of codes (no regulariser): one value per pair."""
    squared = (h1 - h2).pow(2).sum(-1)
    return torch.where(labels == SIMILAR, 0.5 * squared, 0.5 * F.relu(margin - squared))


def quantisation_regulariser(codes: torch.Tensor) -> torch.Tensor:
    """``|| |h| - 1 ||_1`` per code: zero at +-1, a gradient of size 1 everywhere else but at 0."""
    return (codes.abs() - 1).abs().sum(-1)


def dsh_loss(codes: torch.Tensor, labels: torch.Tensor, margin: float, alpha: float = DEFAULT_ALPHA,
             same_category_margin: float | None = None) -> dict:
    """Eq. 4 over all pairs of a batch of N codes (``labels``: N x N). Similar and dissimilar pairs
    are averaged separately and summed: a batch holds about one similar pair per item against
    hundreds of dissimilar ones, and a plain mean would let the pushing drown the pulling.
    ``same_category_margin`` (None: the pair rule leaves these pairs out) pushes pairs of one
    category with different IDs apart too, but only up to this smaller margin."""
    n = len(codes)
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=codes.device)
    left, right = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    terms = dsh_pair_terms(codes[left], codes[right], labels, margin)
    similar = (labels == SIMILAR) & off_diagonal
    dissimilar = labels == DISSIMILAR
    zero = codes.sum() * 0
    pull = terms[similar].mean() if similar.any() else zero
    push = terms[dissimilar].mean() if dissimilar.any() else zero
    regulariser = alpha * quantisation_regulariser(codes).mean()
    result = {"loss": pull + push + regulariser, "pull": pull, "push": push, "regulariser": regulariser}
    same_category = labels == IGNORED
    if same_category_margin is not None and same_category.any():
        near = dsh_pair_terms(codes[left], codes[right], torch.full_like(labels, DISSIMILAR), same_category_margin)
        result["push_same_category"] = near[same_category].mean()
        result["loss"] = result["loss"] + result["push_same_category"]
    return result


def multitask_loss(logits: dict[str, torch.Tensor], targets: dict[str, torch.Tensor], mu: float = MU) -> dict:
    """Eq. 5: ``L_category + mu * sum(L_task)`` over the other tasks. Targets of -1 ("n/a": the task
    does not apply to the item) contribute nothing; a task with no valid target in the batch adds 0."""
    losses = {}
    for task, scores in logits.items():
        target = targets[task]
        valid = target >= 0
        losses[task] = F.cross_entropy(scores[valid], target[valid]) if valid.any() else scores.sum() * 0
    total = sum(loss if task == "category" else mu * loss for task, loss in losses.items())
    return {"loss": total, **losses}


def instance_contrastive_loss(consumer: torch.Tensor, shop: torch.Tensor, ids: np.ndarray,
                              temperature: float) -> torch.Tensor:
    """Supervised contrastive loss (InfoNCE with several positives; Khosla et al. 2020) between the
    consumer and shop views of a batch: each consumer embedding is scored against every shop embedding
    (cosine / ``temperature``), the positives being the shop views with its ID, and the loss is minus
    the log of the softmax mass on them; the same from each shop view, and the two averaged. Unlike
    eq. 4 it compares a pair with the whole batch at once, which is what tuning a backbone for
    retrieval needs; it sees IDs only (no category, no attribute). Embeddings are L2-normalised here."""
    consumer, shop = F.normalize(consumer, dim=1), F.normalize(shop, dim=1)
    logits = consumer @ shop.T / temperature
    ids = np.asarray(ids)
    positive = torch.from_numpy(ids[:, None] == ids[None, :]).to(logits.device)

    def one_way(scores: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        on_positives = torch.logsumexp(scores.masked_fill(~positives, float("-inf")), 1)
        return (torch.logsumexp(scores, 1) - on_positives).mean()

    return (one_way(logits, positive) + one_way(logits.T, positive.T)) / 2
