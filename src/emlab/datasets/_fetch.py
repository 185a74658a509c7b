"""Read one of the paper's files from a folder or a URL base (datasets.upstream_dir)."""

from __future__ import annotations

from pathlib import Path

from emlab.errors import EmlabError


def is_url(base: str | Path) -> bool:
    return str(base).startswith(("http://", "https://"))


def fetch(base: str | Path, filename: str) -> tuple[str, bytes]:
    """(location, bytes) of one upstream file."""
    if is_url(base):
        import urllib.error
        import urllib.request

        url = f"{str(base).rstrip('/')}/{filename}"
        try:
            with urllib.request.urlopen(url, timeout=60) as resp:  # scheme checked by is_url
                return url, resp.read()
        except urllib.error.HTTPError as e:
            raise EmlabError(f"{url}: HTTP {e.code}") from None
        except (urllib.error.URLError, OSError) as e:
            raise EmlabError(f"{url}: download failed ({e})") from None
    path = Path(base) / filename
    if not path.exists():
        raise EmlabError(f"{path}: file not found (datasets.upstream_dir must hold the paper's {filename})")
    return str(path), path.read_bytes()
