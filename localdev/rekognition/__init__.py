"""A local, Rekognition-compatible labeling endpoint for running the project without AWS.
Local tooling only: never part of the Lambda bundle.

    from localdev.rekognition import LocalRekognition

    with LocalRekognition(s3_endpoint_url="http://127.0.0.1:5000") as rekognition:
        boto3.client("rekognition", endpoint_url=rekognition.url, ...)

or ``python -m localdev.rekognition --s3-endpoint URL --port N`` and
``AWS_ENDPOINT_URL_REKOGNITION=<its url>`` for any boto3 client.

What it answers, in Rekognition's JSON 1.1 protocol and error codes:

- DetectLabels: ImageNet classes from EfficientNet-Lite0 with readable names, aliases,
  WordNet-derived parents and Rekognition's label categories; coarse labels (Cat, Animal,
  Vehicle, ...) whose confidence is the sum of their *detected* classes' (taxonomy.py), so
  every returned label comes with all its parents, each at least as confident; Person, Face
  and Head from the face detector, the face boxes being Face's instances (Person has none:
  no body detector ships here). MaxLabels (0-1000), MinConfidence (default 55), Features, and
  the Settings.GeneralLabels filters are honoured; images over 10,000 px on a side are
  ImageTooLargeException. IMAGE_PROPERTIES gives brightness, sharpness, contrast and
  dominant colours computed from simple statistics (plausible, not Rekognition's).
- DetectFaces: MTCNN boxes, confidences and the five landmarks. Attributes ALL answers like
  DEFAULT, without Pose and Quality.
- Any other operation: UnknownOperationException. Unsigned requests (no ``Authorization``)
  get MissingAuthenticationTokenException; signatures are not verified. Malformed bodies get
  SerializationException; error bodies carry ``__type``, ``Code``, ``Message``, ``Logref``.
"""

from .operations import LABEL_MODEL_VERSION
from .server import LocalRekognition

__all__ = ["LABEL_MODEL_VERSION", "LocalRekognition"]
