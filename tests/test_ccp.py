import shutil

import numpy as np
import pytest
import scipy.io
from PIL import Image

from clothlib.data import (
    CCPParsing,
    CorruptFileError,
    DatasetMissingError,
    check_dataset,
    class_lookup,
    eval_transform,
    label_names,
    read_class_mask,
    read_groundtruth,
    read_photo,
    read_tags,
    tagged_ids,
    train_transform,
)
from clothlib.data.classes import IGNORE_INDEX


@pytest.fixture()
def small_copy(tmp_path, ccp_root):
    """A three-photo copy of CCP that tests may damage."""
    for sub in ("photos", "annotations/pixel-level", "annotations/image-level"):
        (tmp_path / sub).mkdir(parents=True)
    shutil.copy(ccp_root / "label_list.mat", tmp_path)
    for photo_id in ("0001", "0002"):
        shutil.copy(ccp_root / "photos" / f"{photo_id}.jpg", tmp_path / "photos")
        shutil.copy(ccp_root / "annotations/pixel-level" / f"{photo_id}.mat", tmp_path / "annotations/pixel-level")
    shutil.copy(ccp_root / "photos" / "1005.jpg", tmp_path / "photos")
    shutil.copy(ccp_root / "annotations/image-level/1005.mat", tmp_path / "annotations/image-level")
    return tmp_path


@pytest.mark.parametrize("photo_id", ["0001", "0500", "1004"])
def test_readers_return_the_raw_files(ccp_root, photo_id):
    raw_photo = np.asarray(Image.open(ccp_root / "photos" / f"{photo_id}.jpg").convert("RGB"))
    raw_mask = scipy.io.loadmat(ccp_root / "annotations/pixel-level" / f"{photo_id}.mat")["groundtruth"]
    np.testing.assert_array_equal(read_photo(photo_id), raw_photo)
    np.testing.assert_array_equal(read_groundtruth(photo_id), raw_mask)
    np.testing.assert_array_equal(read_groundtruth(photo_id), raw_mask)  # second read: from the cache
    assert raw_photo.shape[:2] == raw_mask.shape
    classes = read_class_mask(photo_id)
    np.testing.assert_array_equal(classes, class_lookup()[raw_mask])
    assert classes.max() < 13


def test_tags_and_label_names(ccp_root):
    raw = scipy.io.loadmat(ccp_root / "annotations/image-level/1005.mat")["tags"]
    np.testing.assert_array_equal(read_tags("1005"), np.unique(raw))
    assert label_names()[:3] == ["null", "accessories", "bag"]
    assert tagged_ids()[0] == "1005" and len(tagged_ids()) == 1094


def test_missing_dataset_names_the_command(tmp_path):
    with pytest.raises(DatasetMissingError, match="download_ccp.py"):
        check_dataset(tmp_path / "nowhere")
    with pytest.raises(DatasetMissingError, match="CLOTHLIB_DATA"):
        read_photo("0001", tmp_path)


def test_missing_photo_names_the_file(small_copy):
    with pytest.raises(DatasetMissingError, match="0003.jpg"):
        read_photo("0003", small_copy)


def test_corrupt_jpeg_names_the_file(small_copy):
    (small_copy / "photos/0001.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(CorruptFileError, match="0001.jpg"):
        read_photo("0001", small_copy)


def test_truncated_jpeg_names_the_file(small_copy):
    path = small_copy / "photos/0002.jpg"
    path.write_bytes(path.read_bytes()[: 5000])
    with pytest.raises(CorruptFileError, match="0002.jpg"):
        read_photo("0002", small_copy)


def test_truncated_mat_names_the_file(small_copy):
    path = small_copy / "annotations/pixel-level/0001.mat"
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CorruptFileError, match="0001.mat"):
        read_groundtruth("0001", small_copy)


def test_mat_with_wrong_content_names_the_file(small_copy):
    scipy.io.savemat(small_copy / "annotations/pixel-level/0001.mat", {"groundtruth": np.full((4, 4), 77, np.uint8)})
    with pytest.raises(CorruptFileError, match="0001.mat.*0..58"):
        read_groundtruth("0001", small_copy)
    scipy.io.savemat(small_copy / "annotations/pixel-level/0002.mat", {"labels": np.zeros((4, 4), np.uint8)})
    with pytest.raises(CorruptFileError, match="0002.mat.*'groundtruth'"):
        read_groundtruth("0002", small_copy)


def test_train_transform_moves_image_and_mask_together(ccp_root):
    dataset = CCPParsing("train", train_transform(crop_size=(256, 192)))
    image, mask = dataset[0]
    assert image.shape == (3, 256, 192) and image.dtype.is_floating_point
    assert mask.shape == (256, 192) and mask.dtype.is_floating_point is False
    assert set(mask.unique().tolist()) <= set(range(13)) | {IGNORE_INDEX}
    plain = CCPParsing("train", eval_transform(None))
    image, mask = plain[0]
    assert image.shape[1:] == mask.shape == read_photo(plain.ids[0]).shape[:2]


def test_augmentation_keeps_labels_aligned_under_flip(ccp_root):
    import torch
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    photo = read_photo("0001")
    mask = read_class_mask("0001")
    image_t = tv_tensors.Image(torch.from_numpy(photo).permute(2, 0, 1))
    mask_t = tv_tensors.Mask(torch.from_numpy(mask))
    flipped_image, flipped_mask = v2.RandomHorizontalFlip(p=1.0)(image_t, mask_t)
    np.testing.assert_array_equal(flipped_mask.numpy(), mask[:, ::-1])
    np.testing.assert_array_equal(flipped_image.permute(1, 2, 0).numpy(), photo[:, ::-1])
