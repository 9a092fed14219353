"""The exercises' core: what a check returns, its cases, the runner, and the helpers its hints use.

A check (one per exercise, in the module of its notebook) builds a list of :class:`Case` from its own
seeded generator, each holding the library's answer, and hands them to :func:`run_cases` with a
``judge(case, result) -> hint | None``. The runner calls the student's function on every case and
prints ONE line: ``correct``, ``not implemented yet`` (the first case raised ``NotImplementedError``,
as the student edition's stub does) or the first wrong case with one hint. A check never raises.

Helpers for a new check (the per-notebook modules show each in use):

- :func:`as_array`, :func:`shape_hint`, :func:`close`, :func:`first_difference`: compare a result
  (array, tensor or list) with the library's and name the first entry that differs.
- :func:`type_hint`: the result must be the type the notebook asks for (a tensor ``ConvTranspose2d``
  can load, a float...), not merely something that converts to the right numbers.
- :func:`gradient_hint`: a torch function's output must carry the library's gradient back to its
  inputs: ``torch.autograd.grad`` of both outputs on the same seeded inputs, compared input by input
  (a detached copy, ``torch.tensor(x.item(), requires_grad=True)`` or a NumPy detour is caught even
  when the value is right). Give the case ``call=traced(args, wrt=(0,))`` so the judge receives a
  :class:`Traced` (the output and the very leaves it came from); ``parts`` names which term's gradient
  is missing (``hashing.py``'s ``check_dsh_loss`` is the example).
- :func:`trajectory`: apply a student's one-step update ``iterations`` times from a start, so an
  iterative algorithm (mean field, a training step...) is judged on where its steps lead.
- :func:`without_grad`: call a student's function with autograd off (for layers holding parameters).
- :func:`first_match`: the first hint of ``{hint: candidate}`` whose candidate equals the result
  while differing from the library's answer (how a known mistake gets its own hint).
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

CORRECT, WRONG, NOT_IMPLEMENTED = "correct", "wrong", "not implemented yet"
_SYMBOLS = {CORRECT: "✓", WRONG: "✗", NOT_IMPLEMENTED: "…"}


@dataclass(frozen=True)
class Outcome:
    """What a check found: ``status`` is ``"correct"``, ``"wrong"`` or ``"not implemented yet"``;
    ``message`` the line it printed (for ``"wrong"``: the case and the one hint)."""

    check: str
    status: str
    message: str

    def __bool__(self) -> bool:
        return self.status == CORRECT

    def _ipython_display_(self) -> None:
        """Show nothing when a cell ends with a check: its line is already printed, once."""


@dataclass(frozen=True)
class Raises:
    """A case whose right answer is an exception of type ``error``; ``hint`` says so when it is missing."""

    error: type
    hint: str


@dataclass(frozen=True)
class Case:
    """One input of a check. ``call(student_fn)`` runs the student's function on it (by default on a
    deep copy of ``args``, so a function that changes its input in place cannot spoil the reference);
    ``expected`` is the library's answer (or a :class:`Raises`); ``data`` what the hints need."""

    name: str
    args: tuple
    expected: Any
    data: dict = field(default_factory=dict)
    call: Callable[[Callable], Any] | None = None

    def run(self, student_fn: Callable) -> Any:
        if self.call is not None:
            return self.call(student_fn)
        return student_fn(*copy.deepcopy(self.args))


def one_line(message: str) -> str:
    """A hint on one line: a library's multi-line error (torch's, say) is joined, its blank lines dropped."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def _finish(check: str, status: str, message: str) -> Outcome:
    outcome = Outcome(check, status, one_line(message))
    print(f"{_SYMBOLS[status]} {check}: {outcome.message}")
    return outcome


def _error_hint(case: Case, error: Exception, passed: int,
                explain: Callable[[Case, Exception], str | None] | None) -> str:
    """The hint for an exception the student's code raised on ``case`` after ``passed`` cases passed."""
    raised = f"it raised {type(error).__name__}: {one_line(error)}".rstrip(": ")
    if isinstance(error, NotImplementedError):  # a partial solution: say which case it does not handle
        todo = case.expected.hint if isinstance(case.expected, Raises) else "handle this case too"
        return f"{todo} ({raised}; the {passed} case(s) before this one pass)"
    if isinstance(case.expected, Raises):
        return f"{case.expected.hint} ({raised})"
    return (explain and explain(case, error)) or raised


def _judge(case: Case, result, judge: Callable[[Case, Any], str | None]) -> str | None:
    if isinstance(case.expected, Raises):
        return f"{case.expected.hint} (it returned {result!r})"
    try:
        return judge(case, result)
    except Exception as error:  # a result too odd to compare (a string, a ragged list...)
        return f"could not compare your result ({type(result).__name__}) with the library's: {error}"


def run_cases(check: str, student_fn: Callable, cases: list[Case], judge: Callable[[Case, Any], str | None],
              explain: Callable[[Case, Exception], str | None] | None = None) -> Outcome:
    """Run every case until the first failure; ``judge(case, result)`` returns a hint or None,
    ``explain(case, error)`` may turn an exception the student's code raised into a hint.
    ``not implemented yet`` only when the very first case raises ``NotImplementedError`` (nothing of the
    function has run); a partial solution that raises later gets the hint of the case it fails on."""
    name = getattr(student_fn, "__name__", "your function")
    for number, case in enumerate(cases):
        try:
            result = case.run(student_fn)
        except Exception as error:  # the student's code: any exception becomes a hint, never a crash
            if isinstance(case.expected, Raises) and isinstance(error, case.expected.error):
                continue
            if number == 0 and isinstance(error, NotImplementedError):
                return _finish(check, NOT_IMPLEMENTED, f"not implemented yet ({name} raises NotImplementedError): "
                               "write it in the cell above, then run this cell again")
            return _finish(check, WRONG, f"on {case.name}: {_error_hint(case, error, number, explain)}")
        hint = _judge(case, result, judge)
        if hint:
            return _finish(check, WRONG, f"on {case.name}: {hint}")
    return _finish(check, CORRECT, f"correct, {len(cases)} cases pass ({'; '.join(case.name for case in cases)})")


# --- helpers for the hints --------------------------------------------------------------------------

def as_array(value) -> np.ndarray:
    """A NumPy copy of a result, whether the student returned an array, a tensor or a list."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.array(value)


def shape_hint(got: np.ndarray, expected: np.ndarray, rule: str) -> str | None:
    if got.shape == expected.shape:
        return None
    if got.ndim == 2 and got.shape == expected.shape[::-1]:
        return f"the result is transposed: shape {got.shape}, expected {expected.shape} ({rule})"
    return f"shape {got.shape}, expected {expected.shape}: {rule}"


def close(got: np.ndarray, candidate, atol: float = 1e-5, rtol: float = 1e-4) -> bool:
    candidate = as_array(candidate)
    return got.shape == candidate.shape and bool(np.allclose(got, candidate, atol=atol, rtol=rtol, equal_nan=True))


def first_difference(got: np.ndarray, expected: np.ndarray, atol: float = 1e-5, rtol: float = 1e-4) -> tuple:
    wrong = ~np.isclose(got.astype(float), expected.astype(float), atol=atol, rtol=rtol, equal_nan=True)
    return tuple(int(i) for i in np.argwhere(wrong)[0])


def without_grad(student: Callable, args: tuple):
    """Call ``student`` on a copy of ``args`` with autograd off (the decoder's layers hold parameters)."""
    import torch

    with torch.no_grad():
        return student(*copy.deepcopy(args))



def first_match(got, expected, candidates: dict[str, Any] | Iterable[tuple[str, Any]],
                same: Callable[[Any, Any], bool] = close) -> str | None:
    """The first hint of ``{hint: candidate}`` (or of ``(hint, candidate)`` pairs, where two mistakes share a
    hint) whose candidate ``same``-equals ``got`` while differing from ``expected``: how a known mistake (a
    flipped sign, a missing term...) gets its own hint."""
    pairs = candidates.items() if isinstance(candidates, dict) else candidates
    for hint, candidate in pairs:
        if not same(as_array(expected), candidate) and same(got, candidate):
            return hint
    return None


def type_hint(result, kind: type, why: str) -> str | None:
    """None when ``result`` is a ``kind``; otherwise say which type the notebook asks for and why (a result
    that merely converts to the right numbers, an ndarray for a tensor, is still the wrong answer)."""
    if isinstance(result, kind):
        return None
    return f"return a {kind.__module__}.{kind.__name__} ({why}), not a {type(result).__name__}"


def trajectory(step: Callable, start, iterations: int):
    """Where ``step`` leads from ``start`` after ``iterations`` applications: an iterative algorithm's
    student step and the library's are judged on the same path (each step starts from the last state)."""
    state = start
    for _ in range(iterations):
        state = step(state)
    return state


@dataclass(frozen=True)
class Traced:
    """A student's output and the very inputs it was computed from, so a judge can differentiate it
    (what a :func:`traced` call hands the judge)."""

    output: Any
    inputs: tuple


def traced(args: tuple, wrt: Iterable[int]) -> Callable[[Callable], Traced]:
    """A :attr:`Case.call` for :func:`gradient_hint`: runs the student on a deep copy of ``args`` whose
    tensors at positions ``wrt`` are fresh leaves that require grad, and keeps those inputs."""
    wrt = frozenset(wrt)

    def call(student: Callable) -> Traced:
        inputs = tuple(value.detach().clone().requires_grad_(True) if position in wrt else copy.deepcopy(value)
                       for position, value in enumerate(args))
        return Traced(student(*inputs), inputs)

    return call


def _gradients(output, weights, inputs: list) -> list:
    """d(sum(weights * output)) / d(inputs), zeros (not None) for an input the output does not reach."""
    import torch

    grads = torch.autograd.grad((output * weights).sum(), inputs, allow_unused=True, retain_graph=True)
    return [torch.zeros_like(value) if grad is None else grad for grad, value in zip(grads, inputs, strict=True)]


def gradient_hint(result: Traced, reference: Callable, wrt: dict[int, str],
                  parts: dict[str, Callable] | None = None, seed: int = 0) -> str | None:
    """None when ``result.output`` sends back the same gradient as ``reference(*result.inputs)`` to every
    input of ``wrt`` (position -> name, as the notebook calls it); otherwise the hint. A value can be
    right while its gradient is wrong or gone (``torch.tensor(loss.item(), requires_grad=True)``, a term
    from ``codes.detach()`` or NumPy), so checks of functions that training back-propagates through call
    this after the value matches. A non-scalar output is weighted by a seeded random cotangent, so every
    entry's gradient counts. ``parts`` maps a hint to a partial reference (one term of a sum): when the
    student's gradient equals a part's, only that part reaches the input and its hint names what is cut."""
    import torch

    output = result.output
    names = ", ".join(f"`{name}`" for name in wrt.values())
    hint = type_hint(output, torch.Tensor, f"computed from {names} with torch operations, so that training can "
                                           "back-propagate through it")
    if hint:
        return hint
    if not output.requires_grad:
        return (f"your result does not reach {names} through autograd (.item(), .numpy(), .detach() or "
                "torch.tensor(...) cut the graph): keep torch operations all the way")
    inputs = [result.inputs[position] for position in wrt]
    weights = torch.randn(output.shape, generator=torch.Generator().manual_seed(seed), dtype=output.dtype)
    raw = torch.autograd.grad((output * weights).sum(), inputs, allow_unused=True, retain_graph=True)
    expected = _gradients(reference(*result.inputs), weights, inputs)
    for index, (name, got, right) in enumerate(zip(wrt.values(), raw, expected, strict=True)):
        if got is None:
            return (f"no gradient reaches `{name}`: your result is a new leaf (torch.tensor(x.item(), "
                    f"requires_grad=True), or built from .detach() or NumPy), so backward() stops there; compute it "
                    f"from `{name}` with torch operations")
        if torch.allclose(got, right, rtol=1e-4, atol=1e-6):
            continue
        for part_hint, part in (parts or {}).items():
            if torch.allclose(got, _gradients(part(*result.inputs), weights, inputs)[index], rtol=1e-4, atol=1e-6):
                return part_hint
        return (f"the value is right but the gradient with respect to `{name}` is not the library's: some term is "
                "computed outside autograd (NumPy, float(), .detach()); compute every term with torch operations")
    return None
