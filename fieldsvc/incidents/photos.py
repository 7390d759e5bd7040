"""Incident photos: accepted by what the bytes are, never by file name or declared type,
and re-encoded so that what we keep is plain pixels — a phone's GPS position and camera
details stay behind, and a crafted file never reaches a browser as it was uploaded."""

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import PurePosixPath

from PIL import Image, ImageOps, UnidentifiedImageError
from werkzeug.utils import secure_filename

from fieldsvc.errors import DomainError
from fieldsvc.sizes import megabytes

FORMATS = ("JPEG", "PNG", "WEBP")
JPEG_QUALITY = 88
THUMBNAIL_SIDE = 320


class PhotoRejected(DomainError):
    """An upload that cannot be attached; the message names the file and says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ProcessedPhoto:
    data: bytes
    thumbnail: bytes
    content_type: str
    extension: str
    width: int
    height: int
    size: int
    sha256: str
    filename: str


def process_photo(data: bytes, filename: str, *, max_bytes: int, max_pixels: int) -> ProcessedPhoto:
    """Check that an upload is a photo of acceptable size and re-encode it without metadata."""
    name = _shown_name(filename)
    if not data:
        raise PhotoRejected(f"{name} is an empty file: choose the photo again.")
    if len(data) > max_bytes:
        raise PhotoRejected(
            f"{name} is {megabytes(len(data))}; photos can be at most {megabytes(max_bytes)}."
        )
    image, source_format = _decode(data, name, max_pixels)
    # PNG keeps drawings and screenshots sharp; everything else is a photo, best as JPEG.
    extension = "png" if source_format == "PNG" else "jpg"
    image = _normalise(image)
    thumbnail = image.copy()
    thumbnail.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    encoded = _encode(image, extension)
    return ProcessedPhoto(
        data=encoded,
        thumbnail=_encode(thumbnail, "jpg"),
        content_type="image/png" if extension == "png" else "image/jpeg",
        extension=extension,
        width=image.width,
        height=image.height,
        size=len(encoded),
        sha256=hashlib.sha256(encoded).hexdigest(),
        filename=_safe_filename(filename, extension),
    )


def _safe_filename(filename: str, extension: str) -> str:
    """Safe in a Content-Disposition header, ending in what the file now is, and short
    enough for its column however long a name the request sent."""
    stem = secure_filename(PurePosixPath(_basename(filename)).stem)[:100]
    return f"{stem or 'photo'}.{extension}"


def _shown_name(filename: str) -> str:
    # Messages travel in the session cookie (flash), so a long name is cut short.
    return _basename(filename)[:80] or "The file"


def _basename(filename: str) -> str:
    # Some browsers send the client's full path, Windows ones with backslashes.
    return filename.replace("\\", "/").rsplit("/", 1)[-1].strip()


def _decode(data: bytes, name: str, max_pixels: int) -> tuple[Image.Image, str | None]:
    """Count the pixels from the header before decoding any, so a small file that
    expands to gigabytes of memory is refused while it is still small."""
    limit = f"photos can be at most {max_pixels / 1_000_000:g} megapixels"
    with warnings.catch_warnings():
        # Pillow's own guard only warns up to twice its global limit; here that refuses too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=FORMATS) as probe:
                pixels = probe.width * probe.height
                if pixels > max_pixels:
                    raise PhotoRejected(
                        f"{name} is {round(pixels / 1_000_000, 1):g} megapixels; {limit}."
                    )
                probe.verify()
            # verify() leaves the image unusable, hence a second open to decode it.
            with Image.open(io.BytesIO(data), formats=FORMATS) as image:
                image.load()
                return ImageOps.exif_transpose(image), image.format
        except PhotoRejected:
            raise
        except UnidentifiedImageError as error:
            raise PhotoRejected(
                f"{name} is not a photo: only JPEG, PNG or WebP images can be attached."
            ) from error
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise PhotoRejected(f"{name} has too many pixels; {limit}.") from error
        except Exception as error:
            # Decoders report damage as OSError, SyntaxError, struct.error, ValueError...
            raise PhotoRejected(
                f"{name} could not be read: the file is damaged or incomplete."
            ) from error


def _normalise(image: Image.Image) -> Image.Image:
    """Reduce every mode to L, RGB or RGBA, and drop all metadata (EXIF, XMP, ICC, text)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        result = image.convert("RGBA")
    elif image.mode in ("L", "RGB"):
        result = image
    elif image.mode == "1":
        result = image.convert("L")
    elif image.mode.startswith("I"):
        # 16-bit greyscale: scale to 8 bits rather than clip everything bright to white.
        result = image.convert("I").point(lambda value: value / 256).convert("L")
    else:
        result = image.convert("RGB")
    # Encoders copy some of these from `info` unasked (JPEG comments, PNG ICC profiles).
    result.info.clear()
    return result


def _encode(image: Image.Image, extension: str) -> bytes:
    out = io.BytesIO()
    if extension == "png":
        image.save(out, "PNG")
    else:
        image = _flatten(image) if image.mode == "RGBA" else image
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def _flatten(image: Image.Image) -> Image.Image:
    """JPEG has no transparency: show the image on white, as it looks on a page."""
    background = Image.new("RGB", image.size, "white")
    background.paste(image, mask=image.getchannel("A"))
    return background
