"""Small, cacheable transfers: pages compressed per response (Flask-Compress), static
files under names that carry a digest of their content, compressed once and served by
WhiteNoise with `Cache-Control: public, max-age=31536000, immutable`. A repeat view then
fetches only the page; a changed file gets a new name, so no browser keeps a stale copy.

Templates keep writing `url_for('static', filename='css/app.css')`: the URL they get
names the digested copy. The digested copies are written at start-up under
`instance/static/` (content-addressed, so an unchanged file is not written again and
several workers starting together write the same bytes). Scripts and stylesheets are
served minified (rjsmin, rcssmin: whitespace and comments only, names untouched), so the
sources keep the comments that explain them.
"""

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import rcssmin
import rjsmin
from flask import Flask
from flask_compress import Compress
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

DIGEST_CHARS = 12
ONE_YEAR = 365 * 24 * 60 * 60

compress = Compress()
MINIFIERS = {".js": rjsmin.jsmin, ".css": rcssmin.cssmin}


class StaticFiles(WhiteNoise):
    # WhiteNoise's "forever" is ten years; a year is what browsers and RFC 9111 expect.
    FOREVER = ONE_YEAR


def init_app(app: Flask) -> None:
    static_folder = Path(app.static_folder or "")
    digested_folder = Path(app.instance_path) / "static"
    names = fingerprint(static_folder, digested_folder)
    prefix = app.static_url_path or "/static"
    immutable_urls = frozenset(f"{prefix}/{name}" for name in names.values())

    static_files = StaticFiles(
        app.wsgi_app,
        root=digested_folder,
        prefix=prefix,
        # A file under its plain name can change, so browsers revalidate it each time.
        max_age=0,
        allow_all_origins=False,
        add_headers_function=_no_sniffing,
        immutable_file_test=lambda path, url: url in immutable_urls,
    )
    static_files.add_files(static_folder, prefix=prefix)
    app.wsgi_app = static_files

    @app.url_defaults
    def digested_static_name(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and "filename" in values:
            values["filename"] = names.get(values["filename"], values["filename"])

    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip"])
    # Pages are compressed on every request, so the fastest levels: on the incident page
    # brotli 1 sends 5.2 KB for 0.07 ms of CPU where Flask-Compress's default (4) sends
    # 4.4 KB for 0.3 ms; static files are compressed once, at the highest level.
    app.config.setdefault("COMPRESS_BR_LEVEL", 1)
    app.config.setdefault("COMPRESS_LEVEL", 1)
    # Streamed responses (the CSV export) go out as they are produced, uncompressed.
    app.config.setdefault("COMPRESS_STREAMS", False)
    compress.init_app(app)


def fingerprint(static_folder: Path, digested_folder: Path) -> dict[str, str]:
    """Copy every file of `static_folder` to `digested_folder` as `name.<digest>.ext`,
    with its brotli and gzip versions beside it, unless the copy is already there.
    Returns {plain name: digested name}, both relative to the folder."""
    names: dict[str, str] = {}
    for source in sorted(static_folder.rglob("*")):
        if not source.is_file():
            continue
        data = served_bytes(source)
        plain = source.relative_to(static_folder).as_posix()
        digested = digested_name(plain, hashlib.sha256(data).hexdigest()[:DIGEST_CHARS])
        target = digested_folder / digested
        if not target.is_file():
            _write_with_compressed_versions(target, data, scratch_in=digested_folder.parent)
        names[plain] = digested
    return names


def served_bytes(source: Path) -> bytes:
    """What is served for a static file: scripts and stylesheets minified, the rest as is."""
    minify = MINIFIERS.get(source.suffix)
    if minify is None:
        return source.read_bytes()
    return minify(source.read_text(encoding="utf-8")).encode()


def digested_name(plain: str, digest: str) -> str:
    """'css/app.css' -> 'css/app.<digest>.css'."""
    folder, _, filename = plain.rpartition("/")
    stem, dot, extension = filename.rpartition(".")
    filename = f"{stem}.{digest}.{extension}" if dot and stem else f"{filename}.{digest}"
    return f"{folder}/{filename}" if folder else filename


def _write_with_compressed_versions(target: Path, data: bytes, *, scratch_in: Path) -> None:
    """Compressed versions first and the file itself last, each by an atomic rename: a
    worker that sees the file also sees its compressed versions. The files are staged in
    `scratch_in`, on the same file system but outside the folder WhiteNoise scans, so a
    worker starting meanwhile never lists a scratch folder that vanishes under it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_in, prefix=".static-") as scratch:
        staged = Path(scratch) / target.name
        staged.write_bytes(data)
        compressor = Compressor(quiet=True)
        if compressor.should_compress(target.name):
            for version in compressor.compress(str(staged)):
                os.replace(version, target.parent / Path(version).name)
        os.replace(staged, target)


def _no_sniffing(headers, path: str, url: str) -> None:
    headers["X-Content-Type-Options"] = "nosniff"
