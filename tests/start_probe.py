"""An augment for start_child.py that records, once per process, which heavy modules that process holds."""

import json
import os
import sys

HEAVY = ("keras", "tensorflow", "jax", "torch")
SCRIPT = "start_child.py"


class ModuleProbe:
    """Leaves the image as it is; on its first call in a process, writes `FOLDER/<pid>.json`.

    The file lists the heavy modules loaded, and "start_child.py" if the
    script was imported (as `__mp_main__`, or as `__main__` in the parent).
    """

    def __init__(self, folder):
        self.folder = folder

    def __call__(self, image):
        path = os.path.join(self.folder, f"{os.getpid()}.json")
        if not os.path.exists(path):
            found = [name for name in HEAVY if name in sys.modules]
            files = [str(getattr(module, "__file__", None)) for module in list(sys.modules.values())]
            found += [SCRIPT] if any(f.endswith(SCRIPT) for f in files) else []
            with open(path + ".tmp", "w") as f:
                json.dump(found, f)
            os.replace(path + ".tmp", path)
        return image
