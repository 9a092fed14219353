"""Notebook 05's exercises: DSH's pair terms and the loss over a batch."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .core import (
    Case,
    Outcome,
    Traced,
    as_array,
    close,
    first_difference,
    first_match,
    gradient_hint,
    run_cases,
    shape_hint,
    traced,
)


def _relaxed_codes(rng: np.random.Generator, count: int, bits: int):
    import torch

    return torch.from_numpy(np.tanh(rng.normal(0, 1.5, (count, bits))).astype(np.float32))


def check_dsh_pair_terms(pair_terms: Callable) -> Outcome:
    """Notebook 05. ``pair_terms(h1, h2, labels, margin)`` returns eq. 4's pair term for each of P aligned
    pairs of relaxed codes (h1, h2: P x k tensors; labels: P, 0 = SIMILAR, 1 = DISSIMILAR), without the
    regulariser: 1/2 ||h1 - h2||^2 for a similar pair, 1/2 max(m - ||h1 - h2||^2, 0) for a dissimilar one,
    as ``hashing.losses.dsh_pair_terms``."""
    import torch

    from ..hashing import losses

    rng = np.random.default_rng(6)

    def case(name: str, h1, h2, labels, margin: float) -> Case:
        labels = torch.as_tensor(labels, dtype=torch.int64)
        args = (h1, h2, labels, margin)
        return Case(name, args, losses.dsh_pair_terms(*args).numpy(), call=traced(args, wrt=(0, 1)))

    random_a, random_b = _relaxed_codes(rng, 40, 16), _relaxed_codes(rng, 40, 16)
    signs = torch.from_numpy(np.where(rng.random((20, 16)) < 0.5, -1.0, 1.0).astype(np.float32))
    flipped = signs * torch.from_numpy(np.where(rng.random((20, 16)) < 0.3, -1.0, 1.0).astype(np.float32))
    far = _relaxed_codes(rng, 10, 16).sign()
    cases = [case("40 random pairs of 16-bit relaxed codes, margin 2k = 32", random_a, random_b,
                  rng.integers(0, 2, 40), 32.0),
             case("codes at exactly +-1 (squared distance = 4 x Hamming distance), margin 32", signs, flipped,
                  rng.integers(0, 2, 20), 32.0),
             case("dissimilar pairs already farther apart than the margin (their term is 0)", far, -far,
                  np.ones(10, dtype=np.int64), 32.0),
             case("a similar pair of identical codes (term 0)", random_a[:1], random_a[:1].clone(), [0], 32.0),
             case("1-bit codes, margin 2", random_a[:8, :1], random_b[:8, :1], rng.integers(0, 2, 8), 2.0)]

    return run_cases("check_dsh_pair_terms", pair_terms, cases, _judge_pair_terms, _explain_numpy)


def check_dsh_loss(dsh: Callable) -> Outcome:
    """Notebook 05. ``dsh(codes, labels, margin, alpha)`` returns eq. 4 over a batch as a torch scalar
    that autograd can differentiate: ``codes`` N x k relaxed codes, ``labels`` the N x N pair labels of
    ``hashing.pair_labels`` (0 similar, 1 dissimilar, -1 left out). The mean pair term over the similar
    pairs (a code with itself is not a pair) plus the mean over the dissimilar pairs, plus ``alpha``
    times the mean over the codes of || |h| - 1 ||_1: ``hashing.dsh_loss(...)["loss"]``."""
    import torch

    from ..hashing import losses

    rng = np.random.default_rng(7)

    def case(name: str, codes, ids, categories, margin: float, alpha: float) -> Case:
        labels = losses.pair_labels(np.asarray(ids), np.asarray(categories))
        with torch.no_grad():
            parts = {key: float(value) for key, value in losses.dsh_loss(codes, labels, margin, alpha).items()}
        args = (codes, labels, margin, alpha)
        return Case(name, args, parts["loss"], data=parts, call=traced(args, wrt=(0,)))

    ids = [0, 0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 7]  # four items with two views each, four with one
    categories = [0, 0, 1, 1, 0, 0, 2, 2, 1, 2, 0, 1]
    cases = [case("a batch of 12 codes of 16 bits: 4 similar pairs, dissimilar and left-out pairs",
                  _relaxed_codes(rng, 12, 16), ids, categories, 32.0, 0.01),
             case("codes at exactly +-1 (the regulariser is 0)", _relaxed_codes(rng, 12, 16).sign(), ids,
                  categories, 32.0, 0.01),
             case("no similar pair in the batch (the pull is 0, not NaN)", _relaxed_codes(rng, 6, 8),
                  list(range(6)), [0, 1, 2, 0, 1, 2], 16.0, 0.01),
             case("alpha = 0.5 (a strong regulariser)", _relaxed_codes(rng, 12, 16), ids, categories, 32.0, 0.5),
             case("one category, every ID different: every pair left out (only the regulariser remains)",
                  _relaxed_codes(rng, 5, 8), list(range(5)), [3] * 5, 16.0, 0.01)]

    return run_cases("check_dsh_loss", dsh, cases, _judge_dsh_loss, _explain_numpy)


def _same_number(got, value) -> bool:
    return bool(np.isclose(float(got), float(value), rtol=1e-4, atol=1e-6))


def _explain_numpy(case: Case, error: Exception) -> str | None:
    if "requires grad" in str(error):
        return ("use torch operations, not NumPy: the codes require grad (training back-propagates through them), "
                f"so .numpy() is refused ({type(error).__name__}: {str(error).splitlines()[0]})")
    return None


def _pair_terms_value_hint(case: Case, result) -> str | None:
    got, expected = as_array(result).astype(float), case.expected
    h1, h2, labels, margin = (as_array(value) for value in case.args)
    if got.ndim == 0:
        return f"return one value per pair, shape ({len(expected)},): no mean or sum over the pairs here"
    hint = shape_hint(got, expected, "one value per pair")
    if hint:
        return hint
    if close(got, expected):
        return None
    squared = ((h1 - h2) ** 2).sum(-1)
    distance = np.sqrt(squared)
    similar = labels == 0
    variants = {
        "a dissimilar pair already farther apart than the margin costs 0: 1/2 max(m - ||h1 - h2||^2, 0)":
            np.where(similar, 0.5 * squared, 0.5 * (margin - squared)),
        "use the squared distance ||h1 - h2||^2 (the sum of squares), not its square root":
            np.where(similar, 0.5 * distance, 0.5 * np.maximum(margin - distance, 0)),
        "both terms carry a factor 1/2": 2 * expected,
        "label 0 (SIMILAR) pulls the codes together, label 1 (DISSIMILAR) pushes them apart":
            np.where(~similar, 0.5 * squared, 0.5 * np.maximum(margin - squared, 0)),
    }
    for hint, variant in variants.items():
        if close(got, variant):
            return hint
    (pair,) = first_difference(got, expected)
    kind = "similar" if similar[pair] else "dissimilar"
    return (f"pair {pair} ({kind}, squared distance {squared[pair]:.4f}): term {got[pair]:.4f}, "
            f"expected {expected[pair]:.4f}")



def _judge_pair_terms(case: Case, result: Traced) -> str | None:
    from ..hashing import losses

    return (_pair_terms_value_hint(case, result.output)
            or gradient_hint(result, losses.dsh_pair_terms, wrt={0: "h1", 1: "h2"}))


def _judge_dsh_loss(case: Case, result: Traced) -> str | None:
    import torch

    from ..hashing import losses

    output = result.output
    if not isinstance(output, torch.Tensor):
        return ("return a torch scalar computed from `codes` with torch operations, so that the loss can be "
                f"back-propagated (got {type(output).__name__})")
    if output.numel() != 1:
        return f"return one number for the whole batch, got shape {tuple(output.shape)}"
    if not output.requires_grad:
        return ("the loss does not reach `codes` through autograd (.item(), .numpy() or torch.tensor(...) "
                "cut the graph): keep torch operations from codes to the loss")
    got = float(output.detach())
    if not _same_number(got, case.expected):
        return _dsh_value_hint(case, got)
    parts = {
        "only the regulariser's gradient reaches `codes`: the pull and push are computed from a detached copy "
        "(codes.detach() or NumPy), so training would never move similar codes together; compute them from "
        "`codes` itself": lambda *args: losses.dsh_loss(*args)["regulariser"],
        "the regulariser's gradient is missing (computed in NumPy or as a float, it is a constant to autograd): "
        "compute alpha x the mean of || |h| - 1 ||_1 with torch operations on `codes`":
            lambda *args: losses.dsh_loss(*args)["pull"] + losses.dsh_loss(*args)["push"],
    }
    return gradient_hint(result, lambda *args: losses.dsh_loss(*args)["loss"], wrt={0: "codes"}, parts=parts)


def _dsh_value_hint(case: Case, got: float) -> str | None:
    import torch

    from ..hashing import losses

    parts, expected = case.data, case.expected
    if np.isnan(got):
        return ("a batch without similar (or dissimilar) pairs must give a pull (or push) of 0, not NaN: the mean "
                "of an empty selection is NaN" if parts["pull"] == 0 or parts["push"] == 0 else "the loss is NaN")
    codes, labels, margin, alpha = case.args
    with torch.no_grad():
        n = len(codes)
        left, right = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        terms = losses.dsh_pair_terms(codes[left], codes[right], labels, margin)
        as_dissimilar = losses.dsh_pair_terms(codes[left], codes[right], torch.ones_like(labels), margin)
        off_diagonal = ~torch.eye(n, dtype=torch.bool)
        similar, dissimilar = (labels == losses.SIMILAR) & off_diagonal, labels == losses.DISSIMILAR
        ignored = labels == losses.IGNORED
        per_code = losses.quantisation_regulariser(codes)

        def mean(values):
            return float(values.mean()) if len(values) else 0.0

        variants = {
            "add the regulariser: alpha x the mean over the codes of || |h| - 1 ||_1":
                parts["pull"] + parts["push"],
            "average the regulariser over the batch's codes (a mean, not a sum)":
                parts["pull"] + parts["push"] + alpha * float(per_code.sum()),
            "average the similar and the dissimilar pairs separately, then add the two means: a batch holds "
            "about one similar pair per item against many dissimilar ones, and one mean would let the "
            "pushing drown the pulling": mean(terms[similar | dissimilar]) + parts["regulariser"],
            "leave the diagonal out: a code paired with itself is not a similar pair":
                mean(terms[labels == losses.SIMILAR]) + parts["push"] + parts["regulariser"],
            "pairs labelled -1 (IGNORED: one category, different IDs) are left out of the loss":
                parts["pull"] + mean(as_dissimilar[dissimilar | ignored]) + parts["regulariser"],
        }
    hint = first_match(np.array(got), expected, variants, same=_same_number)
    return hint or (f"loss {got:.6f}, expected {expected:.6f} = pull {parts['pull']:.6f} + push {parts['push']:.6f} "
            f"+ regulariser {parts['regulariser']:.6f}")


# --- Exercises C and D: catt3_net's layers as a module, and one DSH + multi-task training step -------------

HEAD_SIZES = {"in_features": 24, "bits": 16, "hidden": 32, "dropout": 0.2}  # small: the check takes a second
_HEAD_KEYS = ("codes", "relaxed", "features", "logits")
_HEAD_SEED = 11  # the seed both networks' forward passes start from (dropout's masks)


def _head_reference():
    """The library's catt3_net (sign_ste) at :data:`HEAD_SIZES`, its BatchNorm statistics moved off 0 and 1
    by a few training-mode batches, so that eval mode differs from train mode."""
    import torch

    from ..hashing import models

    torch.manual_seed(5)
    reference = models.HashingNet("catt3_net", quantiser="sign_ste", **HEAD_SIZES)
    with torch.no_grad():
        for _ in range(3):
            reference(torch.randn(32, HEAD_SIZES["in_features"]) * 2 + 0.5)
    return reference


def _reference_forward(net, x, *, relu: bool = True, dropout: bool | None = None, softmax: bool = True) -> dict:
    """``net``'s forward (a deep copy's, so its BatchNorm statistics stay), or the same with one known
    mistake: no ReLU in the trunk, dropout always on or off (None: as the module's mode says), the
    attribute heads fed the category's raw logits instead of its softmax."""
    import copy

    import torch
    import torch.nn.functional as F

    from ..hashing import models

    net = copy.deepcopy(net)
    linear1, norm1, _, drop, linear2, norm2, _ = net.trunk
    act = F.relu if relu else (lambda value: value)
    hidden = act(norm1(linear1(x)))
    hidden = F.dropout(hidden, drop.p, training=net.training if dropout is None else dropout)
    features = act(norm2(linear2(hidden)))
    codes, relaxed = net.quantiser.outputs(net.hash, features)
    logits = {models.CATEGORY_TASK: net.heads[models.CATEGORY_TASK](features)}
    category = logits[models.CATEGORY_TASK]
    conditioned = torch.cat([features, category.softmax(1) if softmax else category], 1)
    logits.update({task: net.heads[task](conditioned) for task in net.tasks[1:]})
    return {"codes": codes, "relaxed": relaxed, "features": features, "logits": logits}


def _flat(out: dict, tasks):
    """Every output of a forward pass side by side (one tensor to differentiate)."""
    import torch

    return torch.cat([out["codes"], out["relaxed"], out["features"], *(out["logits"][task] for task in tasks)], 1)


def _shape_hint_of_head(key: str, got: tuple, expected: tuple) -> str:
    from ..hashing import models

    bits, hidden = HEAD_SIZES["bits"], HEAD_SIZES["hidden"]
    categories = len(models.task_values(models.CATEGORY_TASK))
    where = f"{key} has shape {got}, the library's {expected}"
    if key.startswith("heads."):
        task = key.split(".")[1]
        if got[0] != expected[0]:
            return (f"{where}: the {task} head has one output per value of models.task_values({task!r}) "
                    f"({expected[0]}; n/a is not a class)")
        if len(got) > 1 and got[1] in (bits, bits + categories):
            return (f"{where}: the heads read the trunk's features (hidden = {hidden} numbers), not the codes "
                    f"({bits} bits); the code and the heads are two branches on the trunk")
        if len(got) > 1 and task != models.CATEGORY_TASK and got[1] == hidden:
            return (f"{where}: in catt2_net and catt3_net every head but the category's sees the category "
                    f"head's softmax beside the trunk's features: hidden + {categories} inputs")
        return f"{where}: the category head reads the trunk's {hidden} features, the others hidden + {categories}"
    if key.startswith("hash."):
        return f"{where}: the code layer maps the trunk's {hidden} features to `bits` = {bits} outputs"
    return (f"{where}: the trunk is Linear(in_features, hidden), BatchNorm1d(hidden), ReLU, Dropout(dropout), "
            "Linear(hidden, hidden), BatchNorm1d(hidden), ReLU")


def _load_head_weights(student, reference) -> str | None:
    """Copy the library network's parameters and buffers into the student's, by name (``trunk``, ``hash``,
    ``heads``) or else in order; the hint when neither fits."""
    from ..hashing import models

    theirs, mine = reference.state_dict(), student.state_dict()
    if set(theirs) == set(mine):
        for key, value in theirs.items():
            if mine[key].shape != value.shape:
                return _shape_hint_of_head(key, tuple(mine[key].shape), tuple(value.shape))
        student.load_state_dict(theirs)
        return None
    shapes = [(a.shape, b.shape) for a, b in zip(theirs.values(), mine.values(), strict=False)]
    if len(theirs) == len(mine) and all(a == b for a, b in shapes):
        student.load_state_dict(dict(zip(mine, theirs.values(), strict=True)))
        return None
    norms = [tuple(value.shape) for key, value in mine.items() if key.endswith("running_mean")]
    if (HEAD_SIZES["bits"],) not in norms:
        return ("the code layer has no BatchNorm1d(bits): the shipped sign_ste quantiser batch-normalises the code "
                "layer before the sign (each bit then splits the items about in half), hash = "
                "nn.Sequential(nn.Linear(hidden, bits), nn.BatchNorm1d(bits), quantisers.StraightThroughSign())")
    if norms.count((HEAD_SIZES["hidden"],)) < 2:
        return "the trunk has a BatchNorm1d(hidden) after each of its two Linear layers"
    heads = [key for key in mine if key.endswith("weight") and len(mine[key].shape) == 2]
    if len(heads) != len(models.variant_tasks(models.VARIANTS["catt3_net"])) + 3:
        return (f"catt3_net has a head per task of models.variant_tasks(models.VARIANTS['catt3_net']) "
                f"({len(heads) - 3} found): heads = nn.ModuleDict({{task: nn.Linear(...)}})")
    return (f"your module's parameters and buffers ({', '.join(list(mine)[:3])}, ...) do not match the library's "
            f"({', '.join(list(theirs)[:3])}, ...): name its parts trunk, hash and heads (a ModuleDict by task) as "
            "models.HashingNet does, so the library's weights load")


def _head_case(name: str, reference, x, train: bool, gradient: bool = False) -> Case:
    import copy

    import torch

    expected_net = copy.deepcopy(reference).train(train)
    torch.manual_seed(_HEAD_SEED)
    expected = _reference_forward(expected_net, x)

    def call(head_class):
        student = head_class(**HEAD_SIZES)
        hint = _load_head_weights(student, reference)
        if hint:
            return _Unloadable(hint)
        student.train(train)
        inputs = (x.clone().requires_grad_(True),) if gradient else (x.clone(),)
        torch.manual_seed(_HEAD_SEED)
        return Traced(student(*inputs), inputs)

    return Case(name, (x,), expected, data={"net": expected_net, "gradient": gradient}, call=call)


@dataclass(frozen=True)
class _Unloadable:
    """The library's weights do not fit the student's module: ``hint`` says why."""

    hint: str


def check_hashing_head(head_class: Callable) -> Outcome:
    """Notebook 05. ``head_class(in_features, bits, hidden, dropout)`` is an ``nn.Module`` with catt3_net's
    layers on the frozen backbone's features, the shipped ``sign_ste`` hash layer included, whose forward
    returns what ``models.HashingNet.forward`` does: ``codes`` (+-1, a straight-through sign), ``relaxed``
    (the batch-normalised code layer clipped to [-1, 1]), ``features`` (the trunk's) and ``logits`` (a dict
    by task). The library's seeded network's weights are copied in (by name, else in order); outputs are
    compared in eval and in train mode (same seed, so the same dropout masks), and so are the gradients
    reaching the input features."""
    import torch

    with torch.random.fork_rng(devices=[]):
        reference = _head_reference()
        rng = np.random.default_rng(8)

        def features(count: int):
            return torch.from_numpy(rng.normal(0.5, 2.0, (count, HEAD_SIZES["in_features"])).astype(np.float32))

        cases = [_head_case("12 feature vectors in eval mode (BatchNorm's running statistics, no dropout)",
                            reference, features(12), train=False),
                 _head_case("16 feature vectors in train mode (the batch's statistics, seeded dropout)",
                            reference, features(16), train=True),
                 _head_case("the gradients reaching the input features, train mode", reference, features(10),
                            train=True, gradient=True)]
        return run_cases("check_hashing_head", head_class, cases, _judge_head)


def _judge_head(case: Case, result) -> str | None:
    if isinstance(result, _Unloadable):
        return result.hint
    output, expected = result.output, case.expected
    if not isinstance(output, dict) or not set(_HEAD_KEYS) <= set(output):
        got = sorted(output) if isinstance(output, dict) else type(output).__name__
        return (f"return a dict with {', '.join(map(repr, _HEAD_KEYS))} (the logits a dict by task), as "
                f"models.HashingNet.forward does (got {got})")
    if not isinstance(output["logits"], dict) or set(output["logits"]) != set(expected["logits"]):
        return (f"logits is a dict by task with the tasks of models.variant_tasks(models.VARIANTS['catt3_net']): "
                f"{list(expected['logits'])}")
    hint = _head_value_hint(case, output)
    if hint or not case.data["gradient"]:
        return hint
    net, tasks = case.data["net"], list(expected["logits"])

    def library(x):
        import torch

        torch.manual_seed(_HEAD_SEED)
        return _flat(_reference_forward(net, x), tasks)

    def without_codes(x):
        import torch

        torch.manual_seed(_HEAD_SEED)
        out = _reference_forward(net, x)
        return _flat({**out, "codes": out["codes"].detach()}, tasks)

    sign = ("the codes pass no gradient back: sign() has a zero gradient almost everywhere, so the pair loss could "
            "not train the code layer; use the straight-through sign (quantisers.StraightThroughSign: the sign "
            "forward, hardtanh's gradient backward)")
    return gradient_hint(Traced(_flat(output, tasks), result.inputs), library, wrt={0: "x"},
                         parts={sign: without_codes})


def _head_shape_hint(output: dict, expected: dict) -> str | None:
    for key in ("features", "relaxed", "codes"):
        hint = shape_hint(as_array(output[key]), as_array(expected[key]), f"{key}: one row per input")
        if hint:
            return hint
    for task, scores in expected["logits"].items():
        hint = shape_hint(as_array(output["logits"][task]), as_array(scores), f"the {task} logits")
        if hint:
            return hint
    return None


def _head_value_hint(case: Case, output: dict) -> str | None:
    import torch

    expected, net, (x,) = case.expected, case.data["net"], case.args
    hint = _head_shape_hint(output, expected)
    if hint:
        return hint

    def variant(**mistake):
        torch.manual_seed(_HEAD_SEED)
        with torch.no_grad():
            return _reference_forward(net, x, **mistake)

    got = as_array(output["features"])
    if not close(got, expected["features"]):
        mode = "train" if net.training else "eval"
        hint = first_match(got, expected["features"], [
            ("the trunk has lost its nonlinearity: a ReLU follows each BatchNorm1d (without it the two Linear "
             "layers are one linear map)", variant(relu=False)["features"]),
            ("dropout is still on in eval mode: use nn.Dropout (or F.dropout(x, p, training=self.training)) so "
             "that model.eval() switches it off", variant(dropout=True)["features"]),
            ("dropout is missing in train mode: the trunk drops units (Dropout(dropout)) after its first ReLU",
             variant(dropout=False)["features"])])
        (row, column) = first_difference(got, as_array(expected["features"]))
        return hint or (f"the trunk's features differ from the library's in {mode} mode (row {row}, column "
                        f"{column}): Linear, BatchNorm1d, ReLU, Dropout, Linear, BatchNorm1d, ReLU")
    got = as_array(output["relaxed"])
    if not close(got, expected["relaxed"]):
        normalised = net.hash[:-1](expected["features"]).detach()
        return first_match(got, expected["relaxed"], [
            ("relaxed is the batch-normalised code layer's output clipped to [-1, 1] (clamp), not a tanh of it",
             normalised.tanh()),
            ("clip the relaxed output to [-1, 1] (clamp): what asymmetric re-ranking compares", normalised),
            ("the code layer is batch-normalised before the sign (the shipped sign_ste quantiser): each bit then "
             "splits the items about in half", net.hash[0](expected["features"]).detach().clamp(-1, 1)),
            ("relaxed is the output before the sign, not the +-1 codes", expected["codes"])]) or \
            "relaxed differs from the library's: the code layer (Linear, BatchNorm1d) clipped to [-1, 1]"
    got = as_array(output["codes"])
    if not close(got, expected["codes"]):
        if close(got, expected["relaxed"]):
            return "codes are the signs (+-1) of the normalised code layer, not its clipped output"
        return "codes are +-1: the sign of the batch-normalised code layer's output (0 counts as +1)"
    for task, scores in expected["logits"].items():
        got = as_array(output["logits"][task])
        if not close(got, scores):
            return first_match(got, scores, [
                ("feed the category head's softmax to the other heads, not its raw logits",
                 variant(softmax=False)["logits"][task])]) or \
                f"the {task} logits differ from the library's"
    return None


# No dropout in the step's check: the library's step draws its views' mirror variants from the global
# generator, which would shift the dropout masks against a student's step that draws none.
STEP_SIZES = {"in_features": 24, "bits": 16, "hidden": 32, "dropout": 0.0}
STEP_LR = 0.01  # large enough that a wrong step lands visibly elsewhere within a few steps


class _DetachedCodes:
    """A network whose codes reach the loss detached (a known mistake, replayed through the library's step)."""

    def __init__(self, net):
        self.net = net

    def __call__(self, x):
        out = self.net(x)
        return {**out, "codes": out["codes"].detach()}


class _NoTasks(_DetachedCodes):
    """A network whose logits never reach the loss (another known mistake)."""

    def __call__(self, x):
        return {**self.net(x), "logits": {}}


def library_train_step(model, batch: dict, optimiser, margin: float, weights: dict, mistake: str | None = None) -> dict:
    """The library's training step (``hashing.training``'s, as ``engine.fit`` runs it) in exercise D's
    signature: ``batch`` holds N items' ``consumer`` and ``shop`` features (N x dim), their pair ``ids``
    and ``categories`` (NumPy) and a target per task (``targets``); ``weights`` the ``alpha``, ``mu`` and
    ``same_category_margin`` of eq. 4 and 5. ``mistake`` replays one known error (the check's hints)."""
    import torch

    from ..hashing import HashingConfig, SplitData, training

    same = weights.get("same_category_margin")
    config = HashingConfig(model="catt3_net", bits=model.hash[0].out_features, margin=margin,
                           alpha=weights.get("alpha", 0.0), mu=1.0 if mistake == "mu" else weights["mu"],
                           same_category_push=None if same is None or mistake == "same" else same / margin,
                           quantiser=model.quantiser.name)
    items = len(batch["ids"])
    data = SplitData([str(i) for i in range(items)], batch["consumer"][:, None], batch["shop"][:, None],
                     np.asarray(batch["ids"]), np.asarray(batch["categories"]), batch["targets"])
    if mistake != "eval":
        model.train()
    net = {"detached": _DetachedCodes, "tasks": _NoTasks}.get(mistake, lambda net: net)(model)
    loss, numbers = training.training_step(config, data)(net, (torch.arange(items),))
    if mistake == "step first":
        optimiser.zero_grad()
        optimiser.step()
        loss.backward()
    else:
        if mistake != "zero_grad":
            optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return {"loss": loss.item(), **numbers}


_STEP_MISTAKES = {
    "zero_grad": "the gradients add up from step to step: call optimiser.zero_grad() before loss.backward()",
    "step first": "optimiser.step() runs before loss.backward(), so it applies no gradient (or the last step's): "
                  "zero_grad(), backward(), then step()",
    "eval": "the model stays in eval mode (as a validation leaves it): call model.train() first, so BatchNorm uses "
            "the batch's statistics (and dropout is on)",
    "detached": "no gradient of the DSH term reaches the codes (computed from out['codes'].detach() or NumPy): "
                "compute eq. 4 from the network's codes themselves, or the pairs never train the code layer",
    "tasks": "the task losses are missing: add eq. 5 (losses.multitask_loss(out['logits'], targets, weights['mu']))"
             " to the DSH loss",
    "mu": "the tasks are weighted wrongly: eq. 5 weighs the category by 1 and every other task by mu "
          "(weights['mu'])",
    "same": "pass weights['same_category_margin'] to losses.dsh_loss: same-category pairs of different items are "
            "pushed apart up to that smaller margin",
}


def _step_batches(rng: np.random.Generator, count: int, items: int) -> list[dict]:
    import torch

    from ..hashing import models
    from ..hashing.splitdata import ALL_TASKS

    dim = STEP_SIZES["in_features"]
    batches = []
    for _ in range(count):
        categories = rng.integers(0, 4, items)
        targets = {task: torch.from_numpy(rng.integers(-1, len(models.task_values(task)), items)) for task in ALL_TASKS}
        targets[models.CATEGORY_TASK] = torch.from_numpy(categories)
        shop = rng.normal(0.5, 2.0, (items, dim))
        batches.append({"consumer": torch.from_numpy((shop + rng.normal(0, 1.0, (items, dim))).astype(np.float32)),
                        "shop": torch.from_numpy(shop.astype(np.float32)), "ids": rng.permutation(100)[:items],
                        "categories": categories, "targets": targets})
    return batches


def _run_steps(step: Callable, start, batches: list[dict], margin: float, weights: dict):
    """``step`` applied to a copy of ``start`` (handed over in eval mode, as a validation leaves it) once per
    batch with a fresh AdamW: the numbers each step returned and the final weights."""
    import copy

    import torch

    model = copy.deepcopy(start).eval()
    optimiser = torch.optim.AdamW(model.parameters(), lr=STEP_LR, weight_decay=1e-4)
    returned = []
    for number, batch in enumerate(batches):
        torch.manual_seed(number)
        returned.append(step(model, copy.deepcopy(batch), optimiser, margin, dict(weights)))
    return returned, {key: value.detach().clone() for key, value in model.state_dict().items()}


def check_train_step(train_step: Callable) -> Outcome:
    """Notebook 05. ``train_step(model, batch, optimiser, margin, weights)`` trains ``model`` (a
    ``HashingNet``, perhaps left in eval mode) one step on ``batch`` (see :func:`library_train_step`): the
    network on the consumer views then the shop views (one batch of 2N), eq. 4 over all their pairs
    (``losses.pair_labels`` of the ids and categories, twice over) plus eq. 5 on every view, zero_grad,
    backward, step; it returns the step's losses (``"loss"``: the total, a number). Judged on where its steps
    lead: the losses and the final weights after a few steps from the same seed, against the library's."""
    import torch

    from ..hashing import models

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        start = models.HashingNet("catt3_net", quantiser="sign_ste", **STEP_SIZES)
        rng = np.random.default_rng(9)

        def case(name: str, batches: list[dict], margin: float, weights: dict) -> Case:
            expected = _run_steps(library_train_step, start, batches, margin, weights)
            return Case(name, (start, batches, margin, weights), expected, data={"start": start.state_dict()},
                        call=lambda student: _run_steps(student, start, batches, margin, weights))

        margin = 2.0 * STEP_SIZES["bits"]
        cases = [case("4 steps of catt3_net (16 bits, sign_ste) on seeded batches of 12 items",
                      _step_batches(rng, 4, 12), margin,
                      {"alpha": 0.0, "mu": 0.05, "same_category_margin": margin / 2}),
                 case("3 steps with mu = 0.3 and no same-category push", _step_batches(rng, 3, 10), margin,
                      {"alpha": 0.0, "mu": 0.3, "same_category_margin": None})]
        return run_cases("check_train_step", train_step, cases, _judge_train_step)


def _same_weights(a: dict, b: dict) -> bool:
    import torch

    return all(torch.allclose(a[key].float(), b[key].float(), rtol=1e-4, atol=1e-5) for key in a)


def _judge_train_step(case: Case, result) -> str | None:
    returned, final = result
    expected_numbers, expected_final = case.expected
    start, batches, margin, weights = case.args
    for number, numbers in enumerate(returned):
        if not isinstance(numbers, dict) or "loss" not in numbers:
            return (f"return a dict of the step's losses with the total under 'loss' (got "
                    f"{type(numbers).__name__} at step {number + 1})")
        try:
            float(numbers["loss"])
        except (TypeError, ValueError, RuntimeError):
            return f"'loss' must be a number (loss.item()), got {type(numbers['loss']).__name__}"
    if not _same_weights(final, expected_final):
        if _same_weights(final, case.data["start"]):
            return _STEP_MISTAKES["step first"] + " (the weights never moved)"
        for mistake, hint in _STEP_MISTAKES.items():
            if _same_weights(final, _run_steps(lambda *args, m=mistake: library_train_step(*args, mistake=m), start,
                                               batches, margin, weights)[1]):
                return hint
        key = next(key for key in final if not _same_weights({key: final[key]}, {key: expected_final[key]}))
        return (f"after {len(batches)} steps the weights differ from the library's (first {key}): one batch of the "
                "consumer views then the shop views, eq. 4 + eq. 5, zero_grad, backward, step")
    for number, (numbers, right) in enumerate(zip(returned, expected_numbers, strict=True)):
        if not _same_number(float(numbers["loss"]), right["loss"]):
            return (f"the weights follow the library's, but the 'loss' of step {number + 1} is "
                    f"{float(numbers['loss']):.5f}, expected {right['loss']:.5f}: return the step's total, "
                    "eq. 4 + eq. 5, computed before the update")
    return None
