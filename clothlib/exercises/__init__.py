"""Implement-then-check exercises: a student writes a core algorithm, a check compares it with the library.

One module per notebook holds its checks; :mod:`.core` holds what they share (the outcome, the cases,
the runner and the hint helpers, the gradient comparison among them): a new exercise goes into its
notebook's module and is re-exported here, so notebooks keep calling ``exercises.check_<name>(...)``.

Each ``check_<name>(student_fn)`` calls the student's function and the library's own version on the
same seeded inputs, edge cases included, and prints ONE line: ``correct``, ``not implemented yet``
(the function still raises ``NotImplementedError``, as in the student edition), or the first thing
that is wrong, named precisely (a shape, a dtype, a tie broken the wrong way, a missing term...).
A check never raises, so a notebook runs top to bottom whether or not its exercises are solved; the
:class:`Outcome` it returns is truthy only when the function is correct. The references are the
functions the rest of the course uses, so a solution that passes could stand in for them.

| notebook | module | check | the student writes |
|---|---|---|---|
| 01 | relabeling | :func:`check_relabel` | ``relabel_mask(mask, label_names)``: the 59 -> 13 class table |
| 02 | parsing | :func:`check_bilinear_kernel` | ``bilinear_kernel(channels, size)``: an upsampler's first weight |
| 02 | parsing | :func:`check_skip_fusion` | ``fuse(deep, skip, up)``: one step of the decoder's skip fusion |
| 02 | parsing | :func:`check_decoder` | ``MyDecoder(tap_channels, classes, stride)``: the whole fusion decoder |
| 02 | parsing | :func:`check_train_epoch` | ``train_one_epoch(model, batches, optimiser, ...)``: one poly-SGD epoch |
| 02 | parsing | :func:`check_lovasz_gradient` | ``lovasz_gradient(foreground_sorted)``: the Jaccard loss's increments |
| 03 | crf | :func:`check_mean_field_step` | ``mean_field_step(probs, q, weights)``: one mean-field update |
| 03 | crf | :func:`check_mean_field` | ``mean_field_inference(unary, kernels, weights, T)``: the whole loop |
| 04 | items | :func:`check_garment_box` | ``garment_box(mask)``: a garment's box, end-exclusive |
| 04 | items | :func:`check_consumer_crop` | ``consumer_crop(photo, box, margin)``: the square consumer crop |
| 05 | hashing | :func:`check_dsh_pair_terms` | ``pair_terms(h1, h2, labels, margin)``: eq. 4's pull and push |
| 05 | hashing | :func:`check_dsh_loss` | ``dsh(codes, labels, margin, alpha)``: eq. 4 over a batch |
| 05 | hashing | :func:`check_hashing_head` | ``MyHashingHead(in_features, bits, ...)``: catt3_net's layers |
| 05 | hashing | :func:`check_train_step` | ``train_step(model, batch, optimiser, ...)``: one DSH + eq. 5 step |
| 06 | retrieval | :func:`check_hamming_distances` | ``hamming(query_packed, gallery_packed)``: XOR + popcount |
| 06 | retrieval | :func:`check_top_k` | ``top_k(distances, k)``: the k nearest, ties in gallery order |
| 06 | retrieval | :func:`check_topk_accuracy` | ``topk_accuracy(ranking, relevant, k)``: the paper's measure |
| 06 | retrieval | :func:`check_average_precision` | ``average_precision(order, relevant)``: one query's AP |
| 06 | retrieval | :func:`check_retrieval_evaluation` | ``evaluate(query_codes, ..., ks)``: the whole loop |

Checks draw their inputs from their own seeded generators and leave NumPy's and PyTorch's global
random state as they found it, so calling one does not change what later cells compute.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

from .core import CORRECT, NOT_IMPLEMENTED, WRONG, Case, Outcome, Raises
from .crf import check_mean_field, check_mean_field_step
from .hashing import check_dsh_loss, check_dsh_pair_terms, check_hashing_head, check_train_step
from .items import check_consumer_crop, check_garment_box
from .parsing import (
    check_bilinear_kernel,
    check_decoder,
    check_lovasz_gradient,
    check_skip_fusion,
    check_train_epoch,
)
from .relabeling import check_relabel
from .retrieval import (
    check_average_precision,
    check_hamming_distances,
    check_retrieval_evaluation,
    check_top_k,
    check_topk_accuracy,
)

__all__ = ["CORRECT", "NOT_IMPLEMENTED", "WRONG", "Case", "Outcome", "Raises", "check_average_precision",
           "check_retrieval_evaluation", "check_bilinear_kernel", "check_decoder",
           "check_consumer_crop", "check_dsh_loss", "check_dsh_pair_terms", "check_garment_box",
           "check_hamming_distances", "check_hashing_head",
           "check_lovasz_gradient", "check_mean_field", "check_mean_field_step",
           "check_relabel", "check_skip_fusion", "check_top_k", "check_topk_accuracy", "check_train_epoch",
           "check_train_step"]
