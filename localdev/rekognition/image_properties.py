"""DetectLabels' IMAGE_PROPERTIES feature, approximated with simple image statistics:
brightness, contrast and sharpness on Rekognition's 0-100 scale, and dominant colours.

The numbers are plausible and deterministic, not Rekognition's: use them to exercise code
paths, not to tune thresholds.
"""

import colorsys
from functools import cache
from typing import cast

import numpy as np
from PIL import Image, ImageColor

ANALYSIS_SIDE = 256  # statistics are computed on a thumbnail: fast, and stable across sizes
SHARPNESS_SCALE = 300.0  # the Laplacian variance that maps to 63 (1 - 1/e) sharpness

# Rekognition's simplified colour names.
HUE_NAMES = [(15, "red"), (45, "orange"), (70, "yellow"), (170, "green"), (260, "blue")]
HUE_NAMES += [(290, "purple"), (340, "pink"), (360, "red")]


def quality(image: Image.Image) -> dict[str, float]:
    luma = image.convert("L")
    luma.thumbnail((ANALYSIS_SIDE, ANALYSIS_SIDE))
    values = np.asarray(luma, dtype=np.float64)
    # A sharp image has strong local changes: the variance of its Laplacian is high.
    laplacian = (
        values[1:-1, :-2] + values[1:-1, 2:] + values[:-2, 1:-1] + values[2:, 1:-1]
    ) - 4 * values[1:-1, 1:-1]
    edge_variance = float(laplacian.var())
    return {
        "Brightness": float(values.mean() / 255.0 * 100.0),
        "Sharpness": float(100.0 * (1.0 - np.exp(-edge_variance / SHARPNESS_SCALE))),
        "Contrast": float(min(100.0, values.std() / 127.5 * 100.0)),
    }


@cache
def css_colors() -> list[tuple[str, tuple[int, int, int]]]:
    return [(name, ImageColor.getrgb(name)[:3]) for name in sorted(ImageColor.colormap)]


def css_color_name(rgb: tuple[int, int, int]) -> str:
    target = np.array(rgb, dtype=np.int64)
    return min(css_colors(), key=lambda item: int(np.sum((np.array(item[1]) - target) ** 2)))[0]


def simplified_color_name(rgb: tuple[int, int, int]) -> str:
    hue, saturation, value = colorsys.rgb_to_hsv(*(channel / 255.0 for channel in rgb))
    if value < 0.2:
        return "black"
    if saturation < 0.15:
        return "white" if value > 0.85 else "grey"
    hue_degrees = hue * 360.0
    if 15 <= hue_degrees < 45 and value < 0.6:
        return "brown"
    return next(name for upper, name in HUE_NAMES if hue_degrees < upper)


def dominant_colors(image: Image.Image, max_colors: int) -> list[dict]:
    """The most common colours after reducing the image to ``max_colors`` colours."""
    if max_colors == 0:
        return []
    thumbnail = image.convert("RGB")
    thumbnail.thumbnail((ANALYSIS_SIDE, ANALYSIS_SIDE))
    reduced = thumbnail.quantize(colors=max_colors, method=Image.Quantize.MEDIANCUT)
    # A quantized (palette) image has a palette and at most max_colors (count, index) pairs.
    palette = cast(list[int], reduced.getpalette())
    counts = cast(list[tuple[int, int]], reduced.getcolors(max_colors))
    total = thumbnail.width * thumbnail.height
    colors = []
    for count, index in sorted(counts, reverse=True):
        red, green, blue = palette[index * 3 : index * 3 + 3]
        colors.append(
            {
                "Red": red,
                "Green": green,
                "Blue": blue,
                "HexCode": f"#{red:02X}{green:02X}{blue:02X}",
                "CSSColor": css_color_name((red, green, blue)),
                "SimplifiedColor": simplified_color_name((red, green, blue)),
                "PixelPercent": 100.0 * count / total,
            }
        )
    return colors


def image_properties(image: Image.Image, max_colors: int = 10) -> dict:
    return {"Quality": quality(image), "DominantColors": dominant_colors(image, max_colors)}
