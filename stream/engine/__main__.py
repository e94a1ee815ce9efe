"""`python -m stream.engine`: compile the engine for the configured `WINDOW_SIZE` (or load it
from its cache) before a service or the tests need it; prints the seconds it took."""

from stream.config import Settings
from stream.engine import cache_dir
from stream.engine.core import warm

if __name__ == "__main__":
    settings = Settings()
    seconds = warm(settings.window_size)
    print(f"engine ready in {seconds:.1f} s (window {settings.window_size}; cache {cache_dir()})")
