"""ImageNet-1k classification with EfficientNet-Lite0, exported to ONNX by
scripts/export_classifier.py."""

import numpy as np
from PIL import Image

from .sessions import DEFAULT_THREADS, LazySession

MODEL_FILE = "efficientnet-lite0-imagenet.onnx"
RESIZE_TO = 256  # short side, then a centre crop: the evaluation transform the weights expect
CROP_TO = 224


def preprocess(image: Image.Image) -> np.ndarray:
    """RGB image -> (1, 3, 224, 224) float32, as torchvision's Resize(256) + CenterCrop(224)
    and EfficientNet-Lite's (x - 127) / 128 scaling."""
    width, height = image.size
    if width <= height:
        size = (RESIZE_TO, int(RESIZE_TO * height / width))
    else:
        size = (int(RESIZE_TO * width / height), RESIZE_TO)
    # Pillow's bilinear filter widens its support when shrinking (antialiasing), as
    # torchvision's PIL-backed Resize does.
    resized = image.convert("RGB").resize(size, Image.Resampling.BILINEAR)
    left = round((size[0] - CROP_TO) / 2.0)
    top = round((size[1] - CROP_TO) / 2.0)
    cropped = resized.crop((left, top, left + CROP_TO, top + CROP_TO))
    pixels = (np.asarray(cropped, dtype=np.float32) - 127.0) / 128.0
    return pixels.transpose(2, 0, 1)[np.newaxis]


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
