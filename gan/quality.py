"""How good are generated digits: a Frechet distance in the shipped classifier's feature space, plus class counts.

The Frechet distance (FID when the features come from an Inception network; here they come from a small MNIST
classifier, so its numbers are on this project's own scale, not comparable with published Inception FIDs) fits a
Gaussian to the 64 penultimate features of the generated images and one to those of real digits, and measures

    |mu_g - mu_r|^2 + tr(S_g) + tr(S_r) - 2 tr sqrt(S_g S_r).

The estimate carries a finite-sample bias that grows as fewer images are scored, so compare scores of equal
sample counts. Measured against the default reference: 1,000 held-out real digits score 3.4 (256 of them about
20), uniform noise about 1,480, all-black images about 2,060.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from amdcgan.errors import UserError
from amdcgan.gan.classifier import DigitClassifier, load_classifier
from amdcgan.gan.data import IMAGE_SIDE, NUM_CLASSES, as_images, load_mnist

# A digit class counts as generated when at least 5% of the images (half its fair share) are predicted as it.
# Not less: the classifier files up to 2% of one real digit class under another, and a set of real threes must
# still count as one class.
CLASS_PRESENCE_FRACTION = 0.05
BATCH_SIZE = 1000


class QualityScorer:
    """Scores batches of generated images against real digits: the embedded MNIST digits unless `reference`
    (real images (N, 1, 28, 28) in [-1, 1]) is given. The default reference statistics are computed once per
    process and device."""

    def __init__(self, device: str = "cpu", reference: torch.Tensor | None = None) -> None:
        self.device = device
        self.classifier = load_classifier(device)
        if reference is None:
            self.reference_mean, self.reference_covariance = _embedded_reference_statistics(device)
        else:
            features, _ = _classify(self.classifier, _checked_images(reference, "reference"), device)
            self.reference_mean, self.reference_covariance = feature_statistics(features)

    def score(self, images: torch.Tensor) -> dict:
        """{"fid": Frechet distance to the reference, "classes": how many digit classes reach
        CLASS_PRESENCE_FRACTION of the predictions, "confidence": mean top softmax probability,
        "class_histogram": fraction of images predicted as each digit 0-9}. Pixels are clipped to [-1, 1]."""
        features, probabilities = _classify(self.classifier, _checked_images(images, "generated"), self.device)
        mean, covariance = feature_statistics(features)
        histogram = np.bincount(probabilities.argmax(axis=1), minlength=NUM_CLASSES) / len(probabilities)
        return {
            "fid": frechet_distance(mean, covariance, self.reference_mean, self.reference_covariance),
            "classes": int(np.count_nonzero(histogram >= CLASS_PRESENCE_FRACTION)),
            "confidence": float(probabilities.max(axis=1).mean()),
            "class_histogram": histogram.tolist(),
        }


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of feature rows, in float64."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(
    mean_a: np.ndarray, covariance_a: np.ndarray, mean_b: np.ndarray, covariance_b: np.ndarray
) -> float:
    """Frechet (Wasserstein-2 squared) distance between two Gaussians.

    tr sqrt(A B) is taken as the sum of square roots of the eigenvalues of sqrt(A) B sqrt(A): that matrix is
    symmetric positive semi-definite and has the same eigenvalues as A B, so the result stays real and exact even
    when a covariance is singular (dead features), where a general matrix square root of A B drifts complex.
    """
    root_a = _symmetric_sqrt(covariance_a)
    sandwich = root_a @ covariance_b @ root_a
    trace_sqrt_product = np.sqrt(np.clip(np.linalg.eigvalsh((sandwich + sandwich.T) / 2), 0.0, None)).sum()
    difference = mean_a - mean_b
    distance = difference @ difference + np.trace(covariance_a) + np.trace(covariance_b) - 2.0 * trace_sqrt_product
    return max(float(distance), 0.0)


def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def _checked_images(images: torch.Tensor, role: str) -> torch.Tensor:
    expected_item = (1, IMAGE_SIDE, IMAGE_SIDE)
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or tuple(images.shape[1:]) != expected_item:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise UserError(f"{role} images must be a tensor of shape (N, 1, {IMAGE_SIDE}, {IMAGE_SIDE}), got {shape}")
    if len(images) < 2:
        raise UserError(f"scoring needs at least 2 {role} images to estimate a covariance, got {len(images)}")
    if not torch.isfinite(images).all():
        raise UserError(f"{role} images contain NaN or infinite pixels (did training diverge?)")
    return as_images(images.float())


@torch.inference_mode()
def _classify(classifier: DigitClassifier, images: torch.Tensor, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features and class probabilities of `images`, as numpy arrays."""
    features = torch.cat([classifier.features(batch.to(device)) for batch in images.split(BATCH_SIZE)])
    probabilities = classifier.head(features).softmax(dim=1)
    return features.cpu().numpy(), probabilities.cpu().numpy()


@functools.lru_cache(maxsize=None)
def _embedded_reference_statistics(device: str) -> tuple[np.ndarray, np.ndarray]:
    images, _ = load_mnist()
    features, _ = _classify(load_classifier(device), images, device)
    mean, covariance = feature_statistics(features)
    mean.setflags(write=False)
    covariance.setflags(write=False)
    return mean, covariance
