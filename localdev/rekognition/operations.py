"""DetectLabels and DetectFaces: request members in, Rekognition-shaped responses out."""

from collections.abc import Callable

from PIL import Image

from .classifier import ImageNetClassifier
from .errors import InvalidParameterException, UnknownOperationException
from .faces import LANDMARK_TYPES, Face, FaceDetector
from .image_properties import image_properties
from .images import MAX_LABELS_SIDE, decode, image_bytes
from .taxonomy import LabelInfo, ScoredLabel, Taxonomy, rank_key

LABEL_MODEL_VERSION = "local-efficientnet-lite0-1.0"
DEFAULT_MIN_CONFIDENCE = 55.0  # Rekognition's default
DEFAULT_MAX_DOMINANT_COLORS = 10
MAX_LABELS = 1000  # the most DetectLabels answers with MaxLabels (InvalidParameterException above)
# Rekognition's own smallest face is 40 x 40 px (in a 1920 x 1080 image; "Guidelines and
# quotas"). Skipping the finer pyramid scales is what keeps MTCNN fast: bench.labeler's
# face-size table measures the cost, on the face samples shrunk: 20 px finds the faces of
# about 22 px that 40 px misses (2/2 against 1/2 at a quarter of the size) at 1.6-2x the time.
MIN_FACE_SIZE = 40
FEATURES = {"GENERAL_LABELS", "IMAGE_PROPERTIES"}
# What this endpoint answers (operation -> method); the local stack refuses, at start-up, a
# setting that needs any other operation.
OPERATIONS = {"DetectLabels": "detect_labels", "DetectFaces": "detect_faces"}

# Labels that come from the face detector: ImageNet has no person class.
PERSON = LabelInfo("Person", ("Human",), (), ("Person Description",))
FACE = LabelInfo("Face", (), ("Head", "Person"), ("Person Description",))
HEAD = LabelInfo("Head", (), ("Person",), ("Person Description",))


def bounding_box(face: Face, image: Image.Image) -> dict[str, float]:
    """Rekognition's boxes are ratios of the image's width and height."""
    return {
        "Width": (face.right - face.left) / image.width,
        "Height": (face.bottom - face.top) / image.height,
        "Left": face.left / image.width,
        "Top": face.top / image.height,
    }


def label_json(label: ScoredLabel, instances: list[dict] | None = None) -> dict:
    info = label.info
    return {
        "Name": info.name,
        "Confidence": label.confidence,
        "Instances": instances or [],
        "Parents": [{"Name": name} for name in info.parents],
        "Aliases": [{"Name": name} for name in info.aliases],
        "Categories": [{"Name": name} for name in info.categories],
    }


def number(request: dict, member: str, default, low: float, high: float, integer: bool):
    if member not in request:
        return default
    value = request[member]
    # JSON true/false arrive as bool, a subclass of int.
    valid_type = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, valid_type) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        bounds = f"at least {low}" if high == float("inf") else f"from {low} to {high}"
        raise InvalidParameterException(f"{member} must be {kind} {bounds}")
    return value


def is_list_of(value, allowed: set[str]) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v in allowed for v in value)


def names_filter(settings: dict, member: str) -> set[str] | None:
    names = settings.get(member)
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise InvalidParameterException(f"Settings.GeneralLabels.{member} must list names")
    return set(names)


class LabelFilters:
    """Settings.GeneralLabels: keep or drop labels by name or by category."""

    def __init__(self, settings: dict):
        self.include = names_filter(settings, "LabelInclusionFilters")
        self.exclude = names_filter(settings, "LabelExclusionFilters") or set()
        self.include_categories = names_filter(settings, "LabelCategoryInclusionFilters")
        self.exclude_categories = names_filter(settings, "LabelCategoryExclusionFilters") or set()

    def __call__(self, info: LabelInfo) -> bool:
        categories = set(info.categories)
        return (
            (self.include is None or info.name in self.include)
            and info.name not in self.exclude
            and (self.include_categories is None or bool(categories & self.include_categories))
            and not categories & self.exclude_categories
        )


class LocalRekognitionService:
    """The operations; ``s3_client`` reads the images that requests name by ``S3Object``."""

    def __init__(self, s3_client, threads: int = 2):
        self.s3_client = s3_client
        self.classifier = ImageNetClassifier(threads)
        self.taxonomy = Taxonomy()
        self.face_detector = FaceDetector(min_face_size=MIN_FACE_SIZE, threads=threads)
        self.operations: dict[str, Callable[[dict], dict]] = {
            operation: getattr(self, method) for operation, method in OPERATIONS.items()
        }

    def call(self, operation: str, request: dict) -> dict:
        if operation not in self.operations:
            raise UnknownOperationException(
                f"{operation} is not supported by the local Rekognition endpoint "
                f"(supported: {', '.join(sorted(self.operations))})"
            )
        if not isinstance(request, dict):
            raise InvalidParameterException("The request body must be a JSON object")
        return self.operations[operation](request)

    def image(self, request: dict, max_side: int | None = None) -> Image.Image:
        if "Image" not in request:
            raise InvalidParameterException("Image is required")
        return decode(image_bytes(request["Image"], self.s3_client), max_side)

    def detect_labels(self, request: dict) -> dict:
        max_labels = number(request, "MaxLabels", MAX_LABELS, 0, MAX_LABELS, integer=True)
        min_confidence = number(
            request, "MinConfidence", DEFAULT_MIN_CONFIDENCE, 0, 100, integer=False
        )
        features = request.get("Features") or ["GENERAL_LABELS"]
        if not is_list_of(features, FEATURES):
            raise InvalidParameterException(f"Features must be a list of {sorted(FEATURES)}")
        settings = request.get("Settings") or {}
        if not isinstance(settings, dict):
            raise InvalidParameterException("Settings must be an object")
        label_filter = LabelFilters(settings.get("GeneralLabels") or {})
        max_colors = number(
            settings.get("ImageProperties") or {},
            "MaxDominantColors",
            DEFAULT_MAX_DOMINANT_COLORS,
            0,
            20,
            integer=True,
        )
        image = self.image(request, MAX_LABELS_SIDE)

        response: dict = {}
        if "GENERAL_LABELS" in features:
            labels = [
                label_json(label, instances)
                for label, instances in self.labels(image)
                if label.confidence >= min_confidence and label_filter(label.info)
            ]
            response["Labels"] = labels[:max_labels]
        if "IMAGE_PROPERTIES" in features:
            response["ImageProperties"] = image_properties(image, max_colors)
        response["LabelModelVersion"] = LABEL_MODEL_VERSION
        return response

    def labels(self, image: Image.Image) -> list[tuple[ScoredLabel, list[dict]]]:
        """Every detected label with its confidence and instances, ranked (taxonomy.rank_key):
        the classifier's classes and their coarse ancestors, and Person, Face and Head for
        faces."""
        scored = self.taxonomy.score(self.classifier.probabilities(image))
        labels: list[tuple[ScoredLabel, list[dict]]] = [(label, []) for label in scored]
        faces = self.face_detector.detect(image)
        if faces:
            confidence = faces[0].confidence * 100.0
            # The boxes are faces, so they are Face's instances: Rekognition's Person
            # instances cover the whole body, which no shipped model here can find, so
            # Person comes without instances rather than with face boxes posing as bodies.
            boxes = [
                {"BoundingBox": bounding_box(face, image), "Confidence": face.confidence * 100.0}
                for face in faces
            ]
            labels.append((ScoredLabel(PERSON, confidence), []))
            labels.append((ScoredLabel(FACE, confidence), boxes))
            labels.append((ScoredLabel(HEAD, confidence), []))
            labels.sort(key=lambda pair: rank_key(pair[0]))
        return labels

    def detect_faces(self, request: dict) -> dict:
        attributes = request.get("Attributes", ["DEFAULT"])
        # Only the DEFAULT attributes are computed; ALL answers with those too.
        if not is_list_of(attributes, {"DEFAULT", "ALL"}):
            raise InvalidParameterException("Attributes must be a list of DEFAULT or ALL")
        image = self.image(request)
        return {
            "FaceDetails": [
                {
                    "BoundingBox": bounding_box(face, image),
                    "Confidence": face.confidence * 100.0,
                    "Landmarks": [
                        {
                            "Type": kind,
                            "X": face.landmarks[kind][0] / image.width,
                            "Y": face.landmarks[kind][1] / image.height,
                        }
                        for kind in LANDMARK_TYPES
                    ],
                }
                for face in self.face_detector.detect(image)
            ]
        }
