"""The Lovász-softmax loss, cross-checked against the confusion matrix's IoU, and its use in training."""
import numpy as np
import pytest
import torch

from clothlib.metrics import ConfusionMatrix
from clothlib.parsing.losses import cross_entropy, lovasz_softmax, pixel_loss

IGNORE = 255


def _one_hot_scores(predicted: torch.Tensor, classes: int) -> torch.Tensor:
    """Scores whose softmax is one-hot (to float precision) at ``predicted`` (N x H x W)."""
    return 60.0 * torch.nn.functional.one_hot(predicted, classes).permute(0, 3, 1, 2).float()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lovasz_softmax_at_one_hot_probabilities_is_one_minus_the_mean_iou_of_present_classes(seed):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (2, 9, 7), generator=generator)   # classes 0-3 present, 4 never labelled
    predicted = torch.randint(0, 5, (2, 9, 7), generator=generator)
    labels[0, :2] = IGNORE                                         # ignored pixels count in neither
    matrix = ConfusionMatrix(5)
    keep = labels != IGNORE
    matrix.update(labels[keep].numpy(), predicted[keep].numpy())
    _, _, iou = matrix.compute()
    expected = 1 - np.mean(iou[:4])  # the mean over the classes present in the labels
    assert lovasz_softmax(_one_hot_scores(predicted, 5), labels, IGNORE).item() == pytest.approx(expected, abs=1e-5)


def test_lovasz_softmax_is_zero_for_a_perfect_parse_and_its_gradient_favours_the_right_class():
    labels = torch.tensor([[[0, 0, 1], [2, 2, 1]]])
    assert lovasz_softmax(_one_hot_scores(labels, 3), labels, IGNORE).item() == pytest.approx(0, abs=1e-6)
    scores = torch.zeros(1, 3, 2, 3, requires_grad=True)
    lovasz_softmax(scores, labels, IGNORE).backward()
    grad = scores.grad[0]
    for (i, j), c in np.ndenumerate(labels[0].numpy()):
        assert grad[c, i, j] < 0, "raising the true class's score must lower the loss"


def test_a_batch_without_labelled_pixels_gives_zero_with_a_gradient():
    scores = torch.randn(1, 3, 2, 2, requires_grad=True)
    loss = lovasz_softmax(scores, torch.full((1, 2, 2), IGNORE), IGNORE)
    loss.backward()
    assert loss.item() == 0 and scores.grad is not None


def test_pixel_loss_names_its_choices():
    assert pixel_loss("cross_entropy") is cross_entropy
    with pytest.raises(ValueError, match="lovasz_softmax"):
        pixel_loss("dice")
