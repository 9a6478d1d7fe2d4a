"""The image-quality measure: Frechet distance against analytic Gaussians, and scores of real and broken digits."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from amdcgan.errors import UserError
from amdcgan.gan.classifier import WEIGHTS_PATH, accuracy, load_classifier
from amdcgan.gan.data import held_out_split, load_mnist
from amdcgan.gan.quality import CLASS_PRESENCE_FRACTION, QualityScorer, feature_statistics, frechet_distance

ROOT = Path(__file__).resolve().parents[1]


def random_rotation(size: int, seed: int) -> np.ndarray:
    orthogonal, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(size, size)))
    return orthogonal


def random_covariance(size: int, seed: int, rank: int | None = None) -> np.ndarray:
    factor = np.random.default_rng(seed).normal(size=(size, rank or size))
    return factor @ factor.T / size


def test_frechet_distance_of_1d_gaussians_is_mean_and_std_gaps_squared():
    # W2^2 between N(m1, s1^2) and N(m2, s2^2) is (m1 - m2)^2 + (s1 - s2)^2.
    distance = frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[0.25]]))
    assert distance == pytest.approx(3.0**2 + (2.0 - 0.5) ** 2)


def test_frechet_distance_of_commuting_covariances():
    # Same eigenvectors: tr sqrt(A B) = sum sqrt(a_i b_i), so the covariance term is sum (sqrt a_i - sqrt b_i)^2.
    rotation = random_rotation(6, seed=1)
    eigen_a, eigen_b = np.array([1.0, 2.0, 3.0, 4.0, 0.5, 9.0]), np.array([4.0, 2.0, 0.1, 1.0, 0.5, 0.0])
    mean_a, mean_b = np.arange(6.0), np.arange(6.0) + 0.5
    distance = frechet_distance(
        mean_a, rotation @ np.diag(eigen_a) @ rotation.T, mean_b, rotation @ np.diag(eigen_b) @ rotation.T
    )
    assert distance == pytest.approx(6 * 0.25 + np.sum((np.sqrt(eigen_a) - np.sqrt(eigen_b)) ** 2))


def test_frechet_distance_of_non_commuting_2x2_covariances():
    # For a 2x2 product M with eigenvalues l1, l2 >= 0: (sqrt l1 + sqrt l2)^2 = tr M + 2 sqrt(det M).
    covariance_a = np.array([[2.0, 0.0], [0.0, 0.5]])
    covariance_b = np.array([[1.0, 0.8], [0.8, 1.0]])
    product = covariance_a @ covariance_b
    trace_sqrt = math.sqrt(np.trace(product) + 2.0 * math.sqrt(np.linalg.det(product)))
    expected = np.trace(covariance_a) + np.trace(covariance_b) - 2.0 * trace_sqrt
    assert frechet_distance(np.zeros(2), covariance_a, np.zeros(2), covariance_b) == pytest.approx(expected)


def test_frechet_distance_matches_scipy_matrix_square_root():
    linalg = pytest.importorskip("scipy.linalg")
    covariance_a, covariance_b = random_covariance(64, seed=2), random_covariance(64, seed=3)
    mean_a, mean_b = np.random.default_rng(4).normal(size=(2, 64))
    trace_sqrt = np.trace(linalg.sqrtm(covariance_a @ covariance_b)).real
    expected = np.sum((mean_a - mean_b) ** 2) + np.trace(covariance_a) + np.trace(covariance_b) - 2 * trace_sqrt
    distance = frechet_distance(mean_a, covariance_a, mean_b, covariance_b)
    assert distance == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(mean_b, covariance_b, mean_a, covariance_a) == pytest.approx(distance, rel=1e-8)


def test_frechet_distance_of_a_singular_gaussian_to_itself_is_zero():
    covariance = random_covariance(64, seed=5, rank=10)
    mean = np.ones(64)
    assert frechet_distance(mean, covariance, mean, covariance) == pytest.approx(0.0, abs=1e-9 * np.trace(covariance))


def test_feature_statistics_are_sample_mean_and_unbiased_covariance():
    features = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 1.0]])
    mean, covariance = feature_statistics(features)
    assert mean.tolist() == [3.0, 1.0]
    assert covariance.tolist() == [[4.0, 1.0], [1.0, 1.0]]


@pytest.fixture(scope="module")
def digits():
    """(train, held-out) parts of the embedded digits; the classifier never trained on the held-out part."""
    return held_out_split(*load_mnist())


@pytest.fixture(scope="module")
def scorer(digits):
    (train_images, _), _ = digits
    return QualityScorer(reference=train_images)


def test_shipped_classifier_is_small_and_accurate_on_unseen_digits(digits):
    _, (held_images, held_labels) = digits
    model = load_classifier()
    assert WEIGHTS_PATH.stat().st_size < 200_000
    assert sum(parameter.numel() for parameter in model.parameters()) < 50_000
    assert accuracy(model, held_images, held_labels) > 0.95


def test_real_digits_are_close_to_other_real_digits_and_far_from_noise(scorer, digits):
    _, (held_images, _) = digits
    generator = torch.Generator().manual_seed(0)
    real = scorer.score(held_images)["fid"]
    noise = scorer.score(torch.rand(1000, 1, 28, 28, generator=generator) * 2 - 1)["fid"]
    black = scorer.score(-torch.ones(1000, 1, 28, 28))["fid"]
    assert real < noise / 20 and real < black / 20


def test_corrupting_real_digits_raises_the_distance_step_by_step(scorer, digits):
    _, (held_images, _) = digits
    generator = torch.Generator().manual_seed(0)
    perturbation = torch.randn(held_images.shape, generator=generator)
    distances = [scorer.score(held_images + level * perturbation)["fid"] for level in (0.0, 0.2, 0.5, 1.0)]
    assert distances == sorted(distances) and distances[0] < distances[1]


def test_a_set_scored_against_itself_is_at_distance_zero(digits):
    (train_images, _), _ = digits
    own_scorer = QualityScorer(reference=train_images[:1000])
    assert own_scorer.score(train_images[:1000])["fid"] == pytest.approx(0.0, abs=1e-6)


def test_real_digits_cover_all_ten_classes_evenly_and_confidently(scorer, digits):
    _, (held_images, _) = digits
    result = scorer.score(held_images)  # exactly 100 digits of each class
    assert result["classes"] == 10
    assert result["confidence"] > 0.9
    assert np.allclose(result["class_histogram"], 0.1, atol=0.02)
    assert sum(result["class_histogram"]) == pytest.approx(1.0)


def test_one_digit_class_counts_as_one(scorer, digits):
    _, (held_images, held_labels) = digits
    threes = scorer.score(held_images[held_labels == 3])
    assert threes["classes"] == 1 and threes["class_histogram"][3] > 0.9
    copies = scorer.score(held_images[:1].repeat(50, 1, 1, 1))
    assert copies["classes"] == 1 and max(copies["class_histogram"]) == 1.0


def test_a_class_counts_from_the_presence_fraction(scorer, digits):
    _, (held_images, held_labels) = digits
    model = load_classifier()
    with torch.no_grad():
        recognised = model(held_images).argmax(dim=1) == held_labels
    zero = held_images[recognised & (held_labels == 0)][:1]
    one = held_images[recognised & (held_labels == 1)][:1]
    # 1 image of 21 (4.8%) is below the 5% rule, 1 of 20 reaches it.
    assert CLASS_PRESENCE_FRACTION == 0.05
    assert scorer.score(torch.cat([zero.repeat(20, 1, 1, 1), one]))["classes"] == 1
    assert scorer.score(torch.cat([zero.repeat(19, 1, 1, 1), one]))["classes"] == 2


def test_default_reference_is_the_embedded_digits(digits):
    (train_images, _), (held_images, _) = digits
    explicit = QualityScorer(reference=torch.cat([train_images, held_images]))
    assert QualityScorer().score(held_images)["fid"] == pytest.approx(explicit.score(held_images)["fid"], rel=1e-4)


def test_score_is_plain_json_data(scorer, digits):
    _, (held_images, _) = digits
    result = json.loads(json.dumps(scorer.score(held_images[:100])))
    assert set(result) == {"fid", "classes", "confidence", "class_histogram"}
    assert len(result["class_histogram"]) == 10


def test_pixels_beyond_the_range_are_clipped(scorer, digits):
    _, (held_images, _) = digits
    assert scorer.score(held_images * 3.0) == scorer.score((held_images * 3.0).clamp(-1.0, 1.0))


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (torch.zeros(10, 28, 28), "shape"),
        (torch.zeros(10, 3, 28, 28), "shape"),
        (np.zeros((10, 1, 28, 28)), "tensor"),
        (torch.zeros(1, 1, 28, 28), "at least 2"),
        (torch.full((4, 1, 28, 28), float("nan")), "NaN"),
    ],
)
def test_bad_images_are_rejected(scorer, images, message):
    with pytest.raises(UserError, match=message):
        scorer.score(images)


@pytest.mark.slow
def test_training_script_regenerates_the_shipped_weights(tmp_path):
    output = tmp_path / "classifier.pt"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "train_classifier.py"), "--output", str(output)], check=True)
    retrained = torch.load(output, weights_only=True)
    shipped = torch.load(WEIGHTS_PATH, weights_only=True)
    assert retrained.keys() == shipped.keys()
    assert all(torch.equal(retrained[name], shipped[name]) for name in shipped)
