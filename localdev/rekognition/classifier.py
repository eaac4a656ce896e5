"""ImageNet-1k classification with EfficientNet-Lite0, exported to ONNX by
scripts/export_classifier.py."""

from functools import lru_cache

import numpy as np
from PIL import Image

from .sessions import DEFAULT_THREADS, LazySession

MODEL_FILE = "efficientnet-lite0-imagenet.onnx"
INPUT_SIDE = 224
# EfficientNet's eval crop: the centred square of 224 / (224 + 32) of the short side
# (CROP_PADDING in tensorflow/tpu models/official/efficientnet/preprocessing.py).
CROP_PADDING = 32
# EfficientNet-Lite's normalisation, (x - 127) / 128 (lite/efficientnet_lite_builder.py).
MEAN, STDDEV = 127.0, 128.0
# TF1's tf.image.resize_bicubic, which that preprocessing uses: Keys' cubic with a = -0.75,
# looked up in a table of 1024 steps per pixel.
CUBIC_A = -0.75
CUBIC_TABLE_STEPS = 1024


@lru_cache(maxsize=64)
def bicubic_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The four source indices and weights of each output pixel along one axis, as
    tf.image.resize_bicubic computes them: source position ``out * in_size / out_size`` (no
    half-pixel centres), edge indices clamped, no antialiasing when shrinking."""
    scale = np.float32(in_size) / np.float32(out_size)
    position = np.arange(out_size, dtype=np.float32) * scale
    base = np.floor(position).astype(np.int64)
    delta = np.rint((position - base) * CUBIC_TABLE_STEPS) / CUBIC_TABLE_STEPS
    distance = np.abs(np.arange(-1, 3)[np.newaxis, :] - delta[:, np.newaxis])
    a = CUBIC_A
    near = ((a + 2) * distance - (a + 3)) * distance**2 + 1
    far = ((a * distance - 5 * a) * distance + 8 * a) * distance - 4 * a
    weights = np.where(distance <= 1, near, far).astype(np.float32)
    indices = np.clip(base[:, np.newaxis] + np.arange(-1, 3), 0, in_size - 1)
    return indices, weights


def preprocess(image: Image.Image) -> np.ndarray:
    """RGB image -> (1, 3, 224, 224) float32, as EfficientNet's reference eval preprocessing
    (tests/fixtures/classifier_reference.json pins it): centred crop, bicubic resize in float
    (no rounding to 8 bits, which alone moves a class by up to 0.8 points), (x - 127) / 128."""
    pixels = np.asarray(image.convert("RGB"))
    height, width = pixels.shape[:2]
    crop = int(
        np.float32(INPUT_SIDE / (INPUT_SIDE + CROP_PADDING)) * np.float32(min(height, width))
    )
    top, left = (height - crop + 1) // 2, (width - crop + 1) // 2
    square = pixels[top : top + crop, left : left + crop]
    indices, weights = bicubic_taps(crop, INPUT_SIDE)
    # Separable, rows then columns: each output pixel reads 4 x 4 source pixels.
    rows = np.einsum("otwc,ot->owc", square[indices].astype(np.float32), weights)
    resized = np.einsum("hwtc,wt->chw", rows[:, indices], weights)
    return ((resized - MEAN) / STDDEV)[np.newaxis]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max())
    return shifted / shifted.sum()


class ImageNetClassifier:
    def __init__(self, threads: int = DEFAULT_THREADS):
        self.session = LazySession(MODEL_FILE, threads)

    def probabilities(self, image: Image.Image) -> np.ndarray:
        """The 1000 class probabilities (summing to 1) in ImageNet class index order."""
        (logits,) = self.session.run(["logits"], {"input": preprocess(image)})
        return softmax(logits[0].astype(np.float64))
