"""Reading and writing single images at the edge: PNG/PGM/other Pillow formats, or ``.npy`` arrays.

Inside the library an image is float32 ``[28, 28]`` in [0, 1] (white digit on black, as MNIST). A file must
already be that: 28×28 and single-channel (Pillow mode ``L``, or ``1``/``I;16``/``I``/``F`` grey scales; an RGB
or palette image is refused rather than silently converted, because a colour image is not from these datasets).
8-bit files map 0–255 to [0, 1]; 16-bit to 0–65535; ``.npy`` must hold finite values in [0, 1] already.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synthcheck.cache import atomic_write_bytes
from synthcheck.errors import BadInputError
from synthcheck.images.data import SIDE

#: Grey-scale Pillow modes and the value of white in each.
_GREY_MODES = {"1": 1.0, "L": 255.0, "I;16": 65535.0, "I;16B": 65535.0, "I": 65535.0, "F": 1.0}


def validate_image(data: np.ndarray, name: str = "image") -> np.ndarray:
    """``data`` as float32 ``[28, 28]`` if it is one image (``[28, 28]``, ``[784]`` or ``[1, 28, 28]``), finite and
    in [0, 1]; else a :class:`BadInputError` naming ``name``."""
    array = np.asarray(data)
    if array.dtype.kind not in "fiub":
        raise BadInputError(f"{name}: expected numbers, got an array of {array.dtype}")
    if array.size != SIDE * SIDE:
        raise BadInputError(f"{name}: expected a {SIDE}x{SIDE} image, got shape {array.shape}")
    array = array.astype(np.float32).reshape(SIDE, SIDE)
    if not np.all(np.isfinite(array)):
        raise BadInputError(f"{name}: contains NaN or infinite values")
    if array.min() < 0.0 or array.max() > 1.0:
        raise BadInputError(f"{name}: pixel values must be in [0, 1], got [{array.min():.3g}, {array.max():.3g}]")
    return array


def load_image(path: str | Path) -> np.ndarray:
    """The image in ``path`` as float32 ``[28, 28]`` in [0, 1].

    Raises
    ------
    BadInputError
        Missing or unreadable file, not an image, wrong size or a colour mode, NaN or out-of-range values.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: no such file")
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise BadInputError(f"{path}: not a readable .npy array ({exc})") from None
        return validate_image(array, name=str(path))
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            mode, size = image.mode, image.size
            if mode not in _GREY_MODES:
                raise BadInputError(f"{path}: a {mode} image; give a single-channel grey-scale image (mode L), "
                                    "white on black like MNIST")
            if size != (SIDE, SIDE):
                raise BadInputError(f"{path}: {size[0]}x{size[1]} pixels; give a {SIDE}x{SIDE} image")
            array = np.asarray(image, dtype=np.float64) / _GREY_MODES[mode]
    except UnidentifiedImageError:
        raise BadInputError(f"{path}: not an image file Pillow can read; give a PNG or a .npy array") from None
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read the image ({exc})") from None
    return validate_image(array, name=str(path))


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """Write one image (``[28, 28]`` in [0, 1]) as an 8-bit grey PNG, atomically."""
    import io

    from PIL import Image

    pixels = np.round(validate_image(image) * 255.0).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return atomic_write_bytes(path, buffer.getvalue())
