import numpy as np
import pytest
import torch
from PIL import Image

from clothlib.data.images import IMAGENET_MEAN, IMAGENET_STD, normalise, read_view


def test_normalise_maps_pixels_to_imagenet_z_scores_in_nchw():
    photo = np.zeros((4, 5, 3), dtype=np.uint8)
    photo[..., 0] = 255  # red channel full, the others empty
    x = normalise(photo)
    assert x.dtype == torch.float32 and x.shape == (1, 3, 4, 5)
    expected = [(1 - IMAGENET_MEAN[0]) / IMAGENET_STD[0], -IMAGENET_MEAN[1] / IMAGENET_STD[1],
                -IMAGENET_MEAN[2] / IMAGENET_STD[2]]
    assert torch.allclose(x[0, :, 2, 3], torch.tensor(expected))


def test_normalise_takes_a_batch_as_numpy_or_torch_alike():
    batch = np.random.default_rng(0).integers(0, 256, (3, 6, 7, 3), dtype=np.uint8)
    x = normalise(batch)
    assert x.shape == (3, 3, 6, 7)
    assert torch.equal(x, normalise(torch.from_numpy(batch)))
    assert torch.equal(x[1:2], normalise(batch[1]))


@pytest.mark.parametrize("bad", [np.zeros((4, 5, 3), dtype=np.float32), np.zeros((3, 4, 5), dtype=np.uint8),
                                 np.zeros((4, 5), dtype=np.uint8)])
def test_normalise_rejects_what_is_not_uint8_channels_last(bad):
    with pytest.raises(ValueError, match="uint8 images shaped"):
        normalise(bad)


def test_read_view_reads_rgb_and_names_an_unreadable_file(tmp_path):
    Image.new("L", (6, 4), 200).save(tmp_path / "grey.png")
    view = read_view(tmp_path / "grey.png")
    assert view.shape == (4, 6, 3) and view.dtype == np.uint8 and (view == 200).all()
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="broken.jpg.*build_c2s"):
        read_view(tmp_path / "broken.jpg")
