import hashlib
import io
import random

import pytest
from PIL import ExifTags, Image, ImageCms, ImageFile, PngImagePlugin

from fieldsvc.incidents.photos import PhotoRejected, process_photo
from fieldsvc.sizes import MB

NOT_A_PHOTO = "{} is not a photo: only JPEG, PNG or WebP images can be attached."


def encode(image: Image.Image, format: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, format, **params)
    return out.getvalue()


def two_halves(size=(640, 480)) -> Image.Image:
    """Red on the left, blue on the right: shows which way an image was turned."""
    image = Image.new("RGB", size, "blue")
    image.paste("red", (0, 0, size[0] // 2, size[1]))
    return image


def process(data: bytes, filename: str = "site.jpg", **limits):
    limits = {"max_bytes": 15 * MB, "max_pixels": 50_000_000, **limits}
    return process_photo(data, filename, **limits)


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def is_close(pixel, colour, tolerance=16) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


@pytest.fixture(scope="module")
def phone_photo() -> bytes:
    """A JPEG as a phone writes it: taken sideways, with GPS, camera, ICC, XMP, comment."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "Phonemaker"
    exif[ExifTags.Base.Model] = "Phone 15"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (48.0, 51.0, 29.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (2.0, 17.0, 40.0)
    data = encode(
        two_halves(),
        "JPEG",
        exif=exif.tobytes(),
        icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">exif:GPSLatitude 48,51.48N</x:xmpmeta>',
        comment=b"Technician's phone",
    )
    assert opened(data).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the test means something
    return data


def test_a_phone_photo_comes_out_upright(phone_photo):
    photo = process(phone_photo)

    assert (photo.width, photo.height) == (480, 640)
    image = opened(photo.data)
    assert image.size == (480, 640)
    # Orientation 6 means "turn 90° clockwise to view": the left half is now on top.
    assert is_close(image.getpixel((240, 10)), (255, 0, 0))
    assert is_close(image.getpixel((240, 630)), (0, 0, 255))


def test_a_phone_photo_loses_its_location_camera_and_every_other_metadata(phone_photo):
    photo = process(phone_photo)

    image = opened(photo.data)
    assert not image.getexif()
    assert b"Exif" not in photo.data
    assert b"GPS" not in photo.data
    assert b"Phonemaker" not in photo.data
    assert b"Technician" not in photo.data
    assert not {"exif", "xmp", "icc_profile", "comment"} & image.info.keys()
    assert b"Exif" not in photo.thumbnail
    assert b"GPS" not in photo.thumbnail


def test_a_jpeg_stays_jpeg_and_describes_itself_truthfully(phone_photo):
    photo = process(phone_photo, "IMG 0042.JPG")

    assert opened(photo.data).format == "JPEG"
    assert (photo.content_type, photo.extension) == ("image/jpeg", "jpg")
    assert photo.size == len(photo.data)
    assert photo.sha256 == hashlib.sha256(photo.data).hexdigest()
    assert photo.filename == "IMG_0042.jpg"


def test_a_png_stays_png_keeps_its_transparency_and_loses_its_text_chunks():
    image = Image.new("RGBA", (300, 200), (0, 128, 0, 255))
    image.paste((0, 0, 0, 0), (0, 0, 100, 200))
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "GPS 48.85N 2.29E")
    data = encode(image, "PNG", pnginfo=text)

    photo = process(data, "diagram.png")

    result = opened(photo.data)
    assert result.format == "PNG"
    assert (photo.content_type, photo.extension, photo.filename) == (
        "image/png",
        "png",
        "diagram.png",
    )
    assert result.getpixel((10, 10))[3] == 0
    assert result.getpixel((200, 10)) == (0, 128, 0, 255)
    assert b"GPS" not in photo.data
    assert "Comment" not in result.info


def test_a_webp_becomes_a_jpeg_named_for_what_it_now_is():
    photo = process(encode(two_halves(), "WEBP"), "site.webp")

    assert opened(photo.data).format == "JPEG"
    assert (photo.content_type, photo.extension, photo.filename) == (
        "image/jpeg",
        "jpg",
        "site.jpg",
    )


def test_a_transparent_webp_is_laid_on_white_not_black():
    photo = process(encode(Image.new("RGBA", (100, 100), (0, 0, 0, 0)), "WEBP"), "logo.webp")

    assert is_close(opened(photo.data).getpixel((50, 50)), (255, 255, 255))


def test_a_cmyk_jpeg_becomes_rgb():
    photo = process(encode(Image.new("CMYK", (100, 100), (0, 255, 255, 0)), "JPEG"))

    image = opened(photo.data)
    assert image.mode == "RGB"
    assert is_close(image.getpixel((50, 50)), (255, 0, 0))


def test_the_thumbnail_is_a_jpeg_at_most_320_pixels_on_its_longest_side():
    photo = process(encode(two_halves((4000, 1000)), "PNG"), "panorama.png")

    thumbnail = opened(photo.thumbnail)
    assert thumbnail.format == "JPEG"
    assert thumbnail.size == (320, 80)
    assert (photo.width, photo.height) == (4000, 1000)


def test_an_unsafe_or_unusable_name_is_made_safe():
    data = encode(two_halves(), "JPEG")

    assert process(data, "../../etc/Site photo.jpg").filename == "Site_photo.jpg"
    assert process(data, "C:\\Users\\tech\\pump.jpg").filename == "pump.jpg"
    assert process(data, "ポンプ.jpg").filename == "photo.jpg"
    assert process(data, "").filename == "photo.jpg"


def test_a_pdf_renamed_to_jpg_is_refused_naming_the_file():
    pdf = encode(two_halves(), "PDF")

    with pytest.raises(PhotoRejected) as rejected:
        process(pdf, "site.jpg")
    assert rejected.value.message == NOT_A_PHOTO.format("site.jpg")


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        (
            "drawing.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b"<script>alert(1)</script></svg>",
        ),
        ("page.jpg", b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"),
        ("noise.jpg", random.Random(0).randbytes(4096)),
    ],
)
def test_files_that_are_not_images_are_refused(filename, data):
    with pytest.raises(PhotoRejected) as rejected:
        process(data, filename)
    assert rejected.value.message == NOT_A_PHOTO.format(filename)


def test_a_gif_is_refused():
    with pytest.raises(PhotoRejected) as rejected:
        process(encode(two_halves(), "GIF"), "animation.gif")
    assert rejected.value.message == NOT_A_PHOTO.format("animation.gif")


@pytest.mark.parametrize("format", ["JPEG", "PNG", "WEBP"])
def test_a_truncated_image_is_refused_as_damaged(format):
    data = encode(Image.effect_noise((400, 300), 64).convert("RGB"), format)

    with pytest.raises(PhotoRejected) as rejected:
        process(data[: len(data) // 2], "cut.jpg")
    assert rejected.value.message == "cut.jpg could not be read: the file is damaged or incomplete."


def test_an_empty_file_is_refused():
    with pytest.raises(PhotoRejected) as rejected:
        process(b"", "site.jpg")
    assert rejected.value.message == "site.jpg is an empty file: choose the photo again."


def test_a_file_over_the_size_limit_is_refused_before_it_is_decoded():
    # Not an image at all: only the size can have been looked at.
    with pytest.raises(PhotoRejected) as rejected:
        process(b"\0" * (20 * MB), "big.jpg", max_bytes=15 * MB)
    assert rejected.value.message == "big.jpg is 20 MB; photos can be at most 15 MB."


def test_pixels_are_counted_before_any_are_decoded(monkeypatch):
    data = encode(Image.new("RGB", (2000, 1500), "grey"), "PNG")

    def no_decoding(self):
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(PhotoRejected) as rejected:
        process(data, "wide.png", max_pixels=2_000_000)
    assert rejected.value.message == "wide.png is 3 megapixels; photos can be at most 2 megapixels."


def test_a_decompression_bomb_is_refused():
    # 144 million pixels of one colour: 17 KB on disk, 144 MB once decoded.
    bomb = encode(Image.new("1", (12_000, 12_000)), "PNG")
    assert len(bomb) < 100_000

    with pytest.raises(PhotoRejected) as rejected:
        process(bomb, "huge.png", max_pixels=50_000_000)
    assert rejected.value.message == (
        "huge.png has too many pixels; photos can be at most 50 megapixels."
    )


def test_a_photo_just_over_the_limit_reads_as_over_it_in_megabytes_of_a_million_bytes():
    with pytest.raises(PhotoRejected) as rejected:
        process(b"\0" * 15_040_000, "big.jpg", max_bytes=15_000_000)
    assert rejected.value.message == "big.jpg is 15.1 MB; photos can be at most 15 MB."
