"""Delete the Faker locales that mock-cotter never loads (build step of the
Docker image).

mock-cotter draws made-up data from ``Faker("en_US")``. Which locale modules
that loads depends on the Faker release (some en_US providers fall back to
en_GB, say), so the kept set is what building that Faker imports, not a list
written here. The rest is about a fifth of the image's own size.
"""

import shutil
import sys
from pathlib import Path

import faker

faker.Faker("en_US")
loaded = {name for name in sys.modules if name.startswith("faker.providers.")}
providers = Path(faker.__file__).parent / "providers"
removed = 0
for locale_dir in providers.glob("*/*/"):
    module = f"faker.providers.{locale_dir.parent.name}.{locale_dir.name}"
    if locale_dir.name != "__pycache__" and module not in loaded:
        shutil.rmtree(locale_dir)
        removed += 1
print(f"slim_faker: removed {removed} locale folders, kept {len(loaded)} modules")
