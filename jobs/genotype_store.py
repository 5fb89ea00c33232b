"""The genotype store in the lake: a ``GenotypeArrays`` written as blocks of variants (all
samples per block) under ``<lake>/genotypes/<name>/``, that any process (a Spark executor) reads
on its own from the lake root.

Why PLINK 2 ``.pgen`` per block: ``bench/genotype_store_layout.py`` on a simulated 5,000 x
100,000 cohort (int8, ~1 % missing), blocks of 10,000 variants, 2 shared cores (seconds; one run)::

    layout      write  bytes on disk  block cold  block warm  block, 10 % samples  compaction
    .bed        3.38   129,205,632    0.43        0.33        0.34                 14.2
    .pgen       1.08   108,290,608    0.15        0.12        0.021                 2.1
    Delta       4.22   118,217,743    0.57        0.36        0.071                 9.4
    this store  2.48   108,440,939    0.11        0.094       0.028                 3.6

``.pgen`` is the fastest to write and read, the smallest, reads a sample subset without
decoding the other samples (10-15x faster than .bed there), holds dosages beside the hard
calls, and is read by PLINK 2 as it is (``--freq`` gives numpy's ALT counts). A withdrawal by
mask costs one manifest rewrite (< 10 ms) in every layout; the compaction that drops the sample
for good rewrites every block, cheapest with ``.pgen``. "this store" is ``write_store`` /
``read_block`` as built (manifest, sha256 of a block's files checked on first read, Parquet
variants), the raw ``.pgen`` row the layout alone.

Layout::

    <lake>/genotypes/<name>/
        manifest.json                 blocks, checksums, the withdrawn samples
        samples.psam                  the samples, once (#IID, SEX: 1 male, 2 female, NA)
        block_00000.pgen              PLINK 2 hard calls of the block (pgenlib)
        block_00000.pvar              its variants for PLINK 2 (#CHROM POS ID REF ALT)
        block_00000.variants.parquet  its rows of the variants table, every column
        block_00000.haploid.npz       rows with a haploid call + their packed bits (if any)

Any block is a standard PLINK 2 fileset:
``plink2 --pgen block_00000.pgen --pvar block_00000.pvar --psam samples.psam --freq``.
A withdrawal (``withdraw_samples``) only adds the samples to the manifest's ``withdrawn``
list; every read drops them, until a compaction rewrites the blocks without them
(``compact_store``). ``read_block`` checks each block file against the manifest's sha256 the
first time it opens it and refuses a mismatch naming the file.
"""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pandas as pd

from genomics import genotype_blocks as gb
from genomics.errors import InputDataError
from genomics.genotype_arrays import GenotypeArrays
from genomics.plink_bed import variant_ids
from jobs import atomic

FORMAT = "genolake-genotype-blocks"
VERSION = 1
MANIFEST = "manifest.json"
SAMPLES = "samples.psam"


def store_path(lake_root: str, name: str) -> str:
    """``<lake>/genotypes/<name>``."""
    return os.path.join(lake_root, "genotypes", name)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _psam_sex(ga: GenotypeArrays, sex) -> list[str]:
    """SEX per sample: ``sex`` (1/2/0 or 'M'/'F') if given, else 1 for samples with a haploid
    call (PLINK 2 then counts their chrX calls once) and NA for the others."""
    if sex is not None:
        if len(sex) != len(ga.samples):
            raise ValueError(f"write_store: {len(sex)} sex codes for {len(ga.samples)} samples")
        codes = {"M": "1", "F": "2", 1: "1", 2: "2", "1": "1", "2": "2"}
        return [codes.get(x, "NA") for x in sex]
    male = ga.haploid.any(0) if len(ga.haploid_rows) else np.zeros(len(ga.samples), bool)
    return ["1" if m else "NA" for m in male]


def write_block_files(folder: str, k: int, gt: np.ndarray, variants: pd.DataFrame,
                      haploid: np.ndarray | None) -> dict:
    """Write block ``k`` (``gt`` int8 rows x all samples, -1 missing) into ``folder``; returns
    {role: file name} of what it wrote."""
    import pgenlib
    stem = f"block_{k:05d}"
    names = {"pgen": stem + ".pgen", "pvar": stem + ".pvar", "variants": stem + ".variants.parquet"}
    raw = gb.encode_hardcalls(gt, haploid)
    with pgenlib.PgenWriter(os.path.join(folder, names["pgen"]).encode(), gt.shape[1],
                            variant_ct=gt.shape[0], nonref_flags=False) as w:
        w.append_biallelic_batch(raw)
    pd.DataFrame({"#CHROM": variants["contig"].astype(str).to_numpy(), "POS": variants["position"].to_numpy(),
                  "ID": variant_ids(variants).to_numpy(), "REF": variants["ref"].to_numpy(),
                  "ALT": variants["alt"].to_numpy()}).to_csv(os.path.join(folder, names["pvar"]), sep="\t",
                                                              index=False)
    variants.reset_index(drop=True).to_parquet(os.path.join(folder, names["variants"]), index=False)
    rows, packed = gb.pack_haploid(haploid)
    if len(rows):
        names["haploid"] = stem + ".haploid.npz"
        np.savez(os.path.join(folder, names["haploid"]), rows=rows, packed=packed)
    return names


def write_store(ga: GenotypeArrays, lake_root: str, name: str, *, target_variants: int = 10_000,
                sex=None) -> str:
    """Write ``ga`` as the store ``<lake>/genotypes/<name>`` (module docstring), replacing a
    previous one whole (built beside it, then moved in). ``target_variants``: the largest block
    (``genotype_blocks.plan_blocks``); ``sex``: per sample 1/2/0 or 'M'/'F' for ``samples.psam``
    (default: 1 for samples with a haploid call, else NA). Returns the store's path."""
    for s in ga.samples:
        if not s or any(ch.isspace() for ch in s):
            raise ValueError("write_store: sample IDs cannot be empty or contain whitespace (PLINK .psam)")
    final = store_path(lake_root, name)
    os.makedirs(os.path.dirname(final), exist_ok=True)
    new = atomic.fresh_dir(final)
    pd.DataFrame({"#IID": ga.samples, "SEX": _psam_sex(ga, sex)}).to_csv(os.path.join(new, SAMPLES), sep="\t",
                                                                         index=False)
    plan = gb.plan_blocks(ga.variants, target_variants)
    blocks = []
    for b in plan.itertuples(index=False):
        names = write_block_files(new, b.block, ga.gt[b.start:b.stop], ga.variants.iloc[b.start:b.stop],
                                  ga.haploid_block(b.start, b.stop))
        blocks.append({"block": int(b.block), "contig": str(b.contig), "start": int(b.start), "stop": int(b.stop),
                       "n_variants": int(b.n_variants), "first_position": int(b.first_position),
                       "last_position": int(b.last_position), "files": names, "dosage_present": False,
                       "sha256": {role: _sha256(os.path.join(new, f)) for role, f in names.items()}})
    manifest = {"format": FORMAT, "version": VERSION, "layout": "pgen", "n_samples": len(ga.samples),
                "n_variants": int(ga.gt.shape[0]), "target_variants": int(target_variants),
                "samples": {"file": SAMPLES, "sha256": _sha256(os.path.join(new, SAMPLES))},
                "withdrawn": [], "blocks": blocks}
    atomic.write_text(os.path.join(new, MANIFEST), json.dumps(manifest, indent=1))
    atomic.replace_dir(new, final)
    return final


def _read_manifest(path: str) -> dict:
    mpath = os.path.join(path, MANIFEST)
    try:
        with open(mpath, encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise InputDataError(mpath, "no genotype store manifest here") from None
    except json.JSONDecodeError as e:
        raise InputDataError(mpath, f"not valid JSON ({e.msg})", line=e.lineno) from None
    if manifest.get("format") != FORMAT:
        raise InputDataError(mpath, f"not a {FORMAT} manifest", field="format")
    if manifest.get("version") != VERSION:
        raise InputDataError(mpath, f"version {manifest.get('version')!r} is not {VERSION}", field="version")
    for key in ("samples", "withdrawn", "blocks"):
        if key not in manifest:
            raise InputDataError(mpath, "a genotype store manifest needs this field", field=key)
    for i, entry in enumerate(manifest["blocks"]):
        for key in ("block", "contig", "start", "stop", "n_variants", "files", "sha256"):
            if key not in entry:
                raise InputDataError(mpath, f"block entry {i} has no {key!r}", field="blocks")
        if entry["block"] != i:
            raise InputDataError(mpath, f"block entry {i} is numbered {entry['block']!r}", field="blocks")
    return manifest


def withdraw_samples(path: str, sample_ids) -> int:
    """Add ``sample_ids`` to the store's withdrawn samples (every read drops them from then on).
    Returns how many were newly withdrawn. An ID the store does not hold raises ValueError
    (without naming it: it may be a participant's)."""
    manifest = _read_manifest(path)
    samples = set(_read_samples(path, manifest)["#IID"])
    ids = [str(s) for s in sample_ids]
    unknown = sum(s not in samples for s in ids)
    if unknown:
        raise ValueError(f"withdraw_samples: {unknown} of the given IDs are not samples of the store at {path}")
    before = set(manifest["withdrawn"])
    manifest["withdrawn"] = sorted(before | set(ids))
    atomic.write_text(os.path.join(path, MANIFEST), json.dumps(manifest, indent=1))
    return len(manifest["withdrawn"]) - len(before)


def _read_samples(path: str, manifest: dict) -> pd.DataFrame:
    f = os.path.join(path, manifest["samples"]["file"])
    if _sha256(f) != manifest["samples"]["sha256"]:
        raise InputDataError(f, "checksum does not match the store manifest (sha256)", field="sha256")
    return pd.read_csv(f, sep="\t", dtype=str, keep_default_na=False)


class BlockSource:
    """Reads the blocks of a genotype store (``write_store``) from its path alone.

    ``samples``: the samples a read returns (withdrawn ones left out), in store order;
    ``blocks``: the block plan (``genotype_blocks.plan_blocks``'s columns); ``n_blocks``. The
    manifest is read once, when the source is opened: a withdrawal made later is seen by the
    sources opened after it (one per job or task)."""

    def __init__(self, path: str, *, verify: bool = True):
        self.path = path
        self.manifest = _read_manifest(path)
        psam = _read_samples(path, self.manifest)
        all_samples = psam["#IID"].tolist()
        self.n_raw = len(all_samples)
        withdrawn = set(self.manifest["withdrawn"])
        self._kept = np.array([i for i, s in enumerate(all_samples) if s not in withdrawn], np.uint32)
        self.samples = [all_samples[i] for i in self._kept]
        self.blocks = pd.DataFrame([{k: b[k] for k in ("block", "contig", "start", "stop", "n_variants",
                                                       "first_position", "last_position")}
                                    for b in self.manifest["blocks"]])
        self.n_blocks = len(self.manifest["blocks"])
        self._verify = verify
        self._verified: set[int] = set()

    def _file(self, k: int, role: str) -> str | None:
        name = self.manifest["blocks"][k]["files"].get(role)
        return None if name is None else os.path.join(self.path, name)

    def _check(self, k: int) -> None:
        if not self._verify or k in self._verified:
            return
        entry = self.manifest["blocks"][k]
        for role, name in entry["files"].items():
            f = os.path.join(self.path, name)
            if not os.path.exists(f):
                raise InputDataError(f, f"block {k}'s {role} file listed in the store manifest is missing")
            if _sha256(f) != entry["sha256"][role]:
                raise InputDataError(f, f"checksum does not match the store manifest (block {k}, {role})",
                                     field="sha256")
        self._verified.add(k)

    def read_block(self, k: int, cols=None) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
        """Block ``k``: (its rows of the variants table, int8 (n_variants, samples) ALT-allele
        counts with -1 missing and haploid calls counting 0/1, bool haploid mask of that shape
        or None when the block has no haploid call). ``cols``: indices into ``samples`` (any
        order), default all of them."""
        import pgenlib
        if not 0 <= k < self.n_blocks:
            raise IndexError(f"read_block: block {k} is not in 0..{self.n_blocks - 1} ({self.path})")
        self._check(k)
        entry = self.manifest["blocks"][k]
        nv = entry["n_variants"]
        raw_cols = self._kept if cols is None else self._kept[np.asarray(cols, np.int64)]
        uniq, inverse = np.unique(raw_cols, return_inverse=True)
        if len(uniq) == 0:
            raise ValueError(f"read_block: no samples to read ({self.path}: every sample withdrawn or cols empty)")
        subset = None if len(uniq) == self.n_raw else uniq.astype(np.uint32)
        out = np.empty((nv, len(uniq)), np.int8)
        with pgenlib.PgenReader(self._file(k, "pgen").encode(), raw_sample_ct=self.n_raw,
                                sample_subset=subset) as r:
            r.read_range(0, nv, out)
        if not np.array_equal(uniq, raw_cols):
            out = out[:, inverse]
        hap = None
        hfile = self._file(k, "haploid")
        if hfile is not None:
            with np.load(hfile) as z:
                hap = gb.unpack_haploid(z["rows"], z["packed"], nv, self.n_raw, raw_cols)
        gt = gb.decode_hardcalls(out, hap)
        variants = pd.read_parquet(self._file(k, "variants"))
        return variants, gt, hap


def compact_store(path: str) -> int:
    """Rewrite the store without its withdrawn samples (blocks, samples.psam, manifest with an
    empty ``withdrawn`` list), replacing it whole. Returns the number of samples dropped."""
    src = BlockSource(path)
    dropped = src.n_raw - len(src.samples)
    if dropped == 0:
        return 0
    psam = _read_samples(path, src.manifest).iloc[src._kept]
    new = atomic.fresh_dir(path)
    psam.to_csv(os.path.join(new, SAMPLES), sep="\t", index=False)
    blocks = []
    for entry in src.manifest["blocks"]:
        k = entry["block"]
        variants, gt, hap = src.read_block(k)
        names = write_block_files(new, k, gt, variants, hap)
        blocks.append({**entry, "files": names,
                       "sha256": {role: _sha256(os.path.join(new, f)) for role, f in names.items()}})
    manifest = {**src.manifest, "n_samples": len(src.samples), "withdrawn": [], "blocks": blocks,
                "samples": {"file": SAMPLES, "sha256": _sha256(os.path.join(new, SAMPLES))}}
    atomic.write_text(os.path.join(new, MANIFEST), json.dumps(manifest, indent=1))
    atomic.replace_dir(new, path)
    return dropped
