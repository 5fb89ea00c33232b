"""Turn the VCFs sequencing centres ship into inputs Hail reads in parallel.

``prepare_vcfs`` looks at each file's bytes (never its name) and

* passes plain and bgzipped VCFs through untouched (a symlink in ``work_dir`` when the name
  would mislead Hail: Hail picks the codec from the extension and expands glob characters);
* recompresses plain-gzip VCFs to BGZF (a gzip stream can only be read by one core);
* converts BCF (compressed or not) to bgzipped VCF.

Conversions are atomic (temporary name, then ``os.replace``) and skipped when a converted
file made from the same source (size and mtime, kept in a JSON sidecar) is already there.
Index files (.tbi/.csi) are irrelevant to Hail and are neither needed nor written.

It also decides the contig renaming Hail applies on import (``1`` -> ``chr1`` for GRCh38,
``chr1`` -> ``1`` for GRCh37) and lists the contigs Hail will skip (decoys, alts, …).
No Hail here: this runs before the JVM starts.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import re
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import lru_cache

from genomics.errors import InputDataError
from genomics.vcf_checks import check_vcf, file_kind, find_first_problem, read_header

# Main contigs of the two human builds (name, length), as in Hail's reference genomes.
_GRCH37 = [("1", 249250621), ("2", 243199373), ("3", 198022430), ("4", 191154276), ("5", 180915260),
           ("6", 171115067), ("7", 159138663), ("8", 146364022), ("9", 141213431), ("10", 135534747),
           ("11", 135006516), ("12", 133851895), ("13", 115169878), ("14", 107349540),
           ("15", 102531392), ("16", 90354753), ("17", 81195210), ("18", 78077248), ("19", 59128983),
           ("20", 63025520), ("21", 48129895), ("22", 51304566), ("X", 155270560), ("Y", 59373566),
           ("MT", 16569)]
_GRCH38 = [("chr1", 248956422), ("chr2", 242193529), ("chr3", 198295559), ("chr4", 190214555),
           ("chr5", 181538259), ("chr6", 170805979), ("chr7", 159345973), ("chr8", 145138636),
           ("chr9", 138394717), ("chr10", 133797422), ("chr11", 135086622), ("chr12", 133275309),
           ("chr13", 114364328), ("chr14", 107043718), ("chr15", 101991189), ("chr16", 90338345),
           ("chr17", 83257441), ("chr18", 80373285), ("chr19", 58617616), ("chr20", 64444167),
           ("chr21", 46709983), ("chr22", 50818468), ("chrX", 156040895), ("chrY", 57227415),
           ("chrM", 16569)]
MAIN_CONTIGS = {"GRCh37": dict(_GRCH37), "GRCh38": dict(_GRCH38)}
_MITO = {"GRCh37": "MT", "GRCh38": "chrM"}
# each build's chrX, chrY and mitochondrial contig (as Hail's reference genomes name them)
SEX_AND_MT_CONTIGS = {"GRCh37": {"x": "X", "y": "Y", "mt": "MT"},
                      "GRCh38": {"x": "chrX", "y": "chrY", "mt": "chrM"}}

# Files up to this size with neither ##contig lines nor an index are scanned for their CHROM
# values (for the report only; the recoding does not depend on it).
CONTIG_SCAN_LIMIT = 64 << 20

_SIDECAR_VERSION = 1
_GLOB_OR_URI = re.compile(r"[*?\[\]{}:\\#% ]")


@dataclass
class PreparedInputs:
    """Hail-ready inputs and what was done to make them.

    ``paths[i]`` is what Hail reads for ``sources[i]`` (the file as given); ``kinds[i]`` is
    one of ``vcf_checks.KINDS``; ``actions[i]`` is 'as-is', 'linked' (symlink with a name Hail
    reads right), 'recompressed' (gzip -> BGZF), 'converted' (BCF -> bgzipped VCF) or 'reused'
    (an up-to-date conversion from an earlier run).
    """

    paths: list[str]
    sources: list[str]
    kinds: list[str]
    actions: list[str]
    reference_genome: str
    contig_recoding: dict[str, str]          # pass to hl.import_vcf(contig_recoding=...)
    samples: list[str]                       # all files' samples: first file's, then other (disjoint) sets'
    contigs: list[str]                       # contig names found in the inputs, as written there
    contigs_recoded: dict[str, str]          # the subset of the recoding these inputs use
    contigs_not_in_reference: list[str]      # after recoding: Hail skips their rows
    contigs_complete: bool                   # False if some file's contigs could not be listed
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)    # for the log: counts and contig names only
    build_check: str = "confirmed"   # or "not confirmed: no ##contig lines in N file(s)" / "lengths differ ..."
    sample_orders: list[list[int]] | None = None   # per file: its columns in the order of the first file with its samples

    def contig_lengths(self) -> dict[str, int]:
        """Contig name as written in the files -> its length in ``reference_genome``."""
        ref = reference_contigs(self.reference_genome) or {}
        return {c: ref[self.contig_recoding.get(c, c)] for c in self.contigs
                if self.contig_recoding.get(c, c) in ref}

    @property
    def source_of(self) -> dict[str, str]:
        """Hail path -> the file as given (to name it in errors)."""
        return dict(zip(self.paths, self.sources))

    def summary(self) -> str:
        """One log line: counts only, no names."""
        c = self.counts
        return (f"{c['n_files']} VCF input(s), {c['n_samples']} samples: {c['n_as_is']} read as-is, "
                f"{c['n_linked']} linked, {c['n_converted']} converted/recompressed, {c['n_reused']} "
                f"reused; {c['n_contigs']} contigs ({c['n_contigs_recoded']} renamed, "
                f"{c['n_contigs_not_in_reference']} not in {self.reference_genome}: their rows are skipped)")


def contig_recoding_for(reference_genome: str) -> dict[str, str]:
    """The renaming from the other naming style to ``reference_genome``'s, for its main contigs.

    GRCh38: ``1``..``22``, ``X``, ``Y`` -> ``chr…``; ``MT``, ``M``, ``chrMT`` -> ``chrM``.
    GRCh37: ``chr1``..``chr22``, ``chrX``, ``chrY`` -> bare; ``chrM``, ``chrMT``, ``M`` -> ``MT``.
    Other references: no renaming. Keys absent from a file cost nothing in Hail.
    """
    if reference_genome == "GRCh38":
        rec = {name[3:]: name for name in MAIN_CONTIGS["GRCh38"] if name != "chrM"}
        rec.update({"MT": "chrM", "M": "chrM", "chrMT": "chrM"})
        return rec
    if reference_genome == "GRCh37":
        rec = {f"chr{name}": name for name in MAIN_CONTIGS["GRCh37"] if name != "MT"}
        rec.update({"chrM": "MT", "chrMT": "MT", "M": "MT"})
        return rec
    return {}


@lru_cache(maxsize=None)
def reference_contigs(reference_genome: str) -> dict[str, int] | None:
    """All contigs of a Hail reference genome with their lengths, read from the JSON Hail ships in
    its jar (no JVM needed). Falls back to the main contigs for GRCh37/38; None if unknown."""
    try:
        spec = importlib.util.find_spec("hail")
        if spec and spec.origin:
            jar = os.path.join(os.path.dirname(spec.origin), "backend", "hail-all-spark.jar")
            with zipfile.ZipFile(jar) as z:
                data = json.loads(z.read(f"reference/{reference_genome.lower()}.json"))
            if data.get("name") == reference_genome:
                return {c["name"]: int(c["length"]) for c in data["contigs"]}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        pass
    return dict(MAIN_CONTIGS[reference_genome]) if reference_genome in MAIN_CONTIGS else None


def prepare_vcfs(paths: list[str], work_dir: str, reference_genome: str, *,
                 validate: bool = False) -> PreparedInputs:
    """Check every input cheaply, then make it Hail-readable and splittable.

    Up-front checks (each raises ``InputDataError`` naming the file, and the line where there
    is one): missing/empty file, other compressions (bzip2, xz, zstd), truncated BGZF (missing
    end-of-file block), unreadable or malformed header, duplicate sample IDs, samples without a
    (sites-only, 0 samples: "no samples"), sample sets that overlap without being equal (the
    same set in another order is fine: ``sample_orders`` maps each file to the order of the
    first file with its set; disjoint sets are merged by variant and ``samples`` lists them
    all, ``genotype_merge``), and two
    or more ##contig lengths equal to the other human build's (``_check_contig_lengths``). A
    file without a ##FORMAT GT line, or with other contig lengths, gives a ``warnings`` entry;
    ``build_check`` says whether the build was confirmed from ##contig lines. ``validate=True`` adds a full streaming pass over each file
    (``find_first_problem``); otherwise the caller relies on Hail plus ``hail_input_errors``.

    Writes only under ``work_dir`` (created when first needed): converted files, their JSON
    sidecars and symlinks.
    """
    if not paths:
        raise ValueError("prepare_vcfs needs at least one VCF path")
    kinds, headers = [], []
    sample_lists: list[list[str]] = []
    warnings: list[str] = []
    for p in paths:
        s = check_vcf(p, read_gzip=False)   # a gzip stream is read in full when recompressed
        kind = file_kind(p)
        header = read_header(p, kind)
        if not s:
            raise InputDataError(p, "no samples: the #CHROM line names no sample columns (a "
                                    "sites-only file has no genotypes to read)", line=header.chrom_line)
        if "GT" not in header.formats:
            warnings.append(f"{os.path.basename(p)}: no ##FORMAT=<ID=GT> header line; GT is read "
                            "from the records as bcftools does")
        sample_lists.append(s)
        kinds.append(kind)
        headers.append(header)

    # the same samples in any order, or disjoint sets (batch-split files, merged by variant)
    from genomics.genotype_merge import group_by_samples
    groups = group_by_samples(sample_lists, list(paths))
    samples = [x for g in groups for x in sample_lists[g[0]]]
    first_of = {i: g[0] for g in groups for i in g}
    orders = [_order_in(s, sample_lists[first_of[i]]) for i, s in enumerate(sample_lists)]

    recoding = contig_recoding_for(reference_genome)
    ref = reference_contigs(reference_genome)
    seen: dict[str, None] = {}
    complete = True
    no_contig_lines = 0
    for p, kind, header in zip(paths, kinds, headers):
        warnings += _check_contig_lengths(p, header, reference_genome, recoding)
        no_contig_lines += not header.contigs
        names = [c[0] for c in header.contigs] or _record_contigs(p, kind)
        if names is None:
            complete = False
            continue
        seen.update(dict.fromkeys(names))
    contigs = list(seen)
    recoded = {c: recoding[c] for c in contigs if c in recoding}
    not_in_ref = ([c for c in contigs if recoding.get(c, c) not in ref] if ref is not None else [])

    out_paths, actions = [], []
    for p, kind in zip(paths, kinds):
        path, action = _make_ready(p, kind, work_dir)
        out_paths.append(path)
        actions.append(action)
    if validate:
        for p, hp, kind in zip(paths, out_paths, kinds):
            found = find_first_problem(hp if kind.startswith("bcf") else p)
            if found is not None:
                raise InputDataError(p, _bcf_note(found[1], kind), line=found[0])

    counts = {
        "n_files": len(paths), "n_samples": len(samples or []),
        "n_as_is": actions.count("as-is"), "n_linked": actions.count("linked"),
        "n_converted": actions.count("converted") + actions.count("recompressed"),
        "n_reused": actions.count("reused"),
        "n_contigs": len(contigs), "n_contigs_recoded": len(recoded),
        "n_contigs_not_in_reference": len(not_in_ref),
    }
    for k in ("vcf", "vcf-gzip", "vcf-bgzf", "bcf", "bcf-uncompressed"):
        counts[f"n_kind_{k.replace('-', '_')}"] = kinds.count(k)
    return PreparedInputs(paths=out_paths, sources=list(paths), kinds=kinds, actions=actions,
                          reference_genome=reference_genome, contig_recoding=recoding,
                          samples=samples or [], contigs=contigs, contigs_recoded=recoded,
                          contigs_not_in_reference=not_in_ref, contigs_complete=complete,
                          counts=counts, warnings=warnings,
                          build_check=_build_check(no_contig_lines, warnings, reference_genome),
                          sample_orders=orders if any(o is not None for o in orders) else None)


def _order_in(s: list[str], first: list[str]) -> list[int] | None:
    """Column indices of ``s`` in the order of ``first`` (None when already in that order)."""
    if s == first:
        return None
    at = {x: i for i, x in enumerate(s)}
    return [at[x] for x in first]


def _build_check(no_contig_lines: int, warnings: list[str], reference_genome: str) -> str:
    if no_contig_lines:
        return (f"not confirmed: {no_contig_lines} file(s) without ##contig lines; "
                f"{reference_genome} assumed")
    if any("##contig" in w for w in warnings):
        return f"{reference_genome} assumed: some ##contig lengths differ (see the warnings)"
    return f"{reference_genome}: ##contig lengths agree"


def _bcf_note(problem: str, kind: str) -> str:
    if kind.startswith("bcf"):
        return f"{problem} (line numbers count the VCF text converted from this BCF)"
    return problem


def _check_contig_lengths(path, header, reference_genome: str, recoding: dict[str, str]) -> list[str]:
    """Warnings for ##contig lengths that differ from ``reference_genome`` (a header length is
    weak evidence: PLINK 1.9 writes the largest POS + 1, many tools their own assembly's). Refuses
    the file only when two or more contigs' lengths equal the OTHER human build's exactly; a POS
    beyond the build's length is refused when the records are read. A mitochondrial contig that
    differs (hg19 chrM as GRCh37 MT) is not renamed, so its rows are skipped."""
    main = MAIN_CONTIGS.get(reference_genome)
    if not main:
        return []
    other_build = {"GRCh37": "GRCh38", "GRCh38": "GRCh37"}[reference_genome]
    other = MAIN_CONTIGS[other_build]
    other_rec = contig_recoding_for(other_build)
    differ, as_other, first_line = [], 0, None
    for name, length, line in header.contigs:
        target = recoding.get(name, name)
        if length is None or target not in main or main[target] == length:
            continue
        if target == _MITO[reference_genome] and name in recoding:
            del recoding[name]          # its rows are then skipped as an unknown contig
            continue
        differ.append(name)
        first_line = first_line or line
        if other.get(other_rec.get(name, name)) == length:
            as_other += 1
    if as_other >= 2:
        raise InputDataError(path, f"{as_other} ##contig lengths equal {other_build}'s exactly, not "
                                   f"{reference_genome}'s: set reference_genome: {other_build} or "
                                   "use files aligned to " + reference_genome, line=first_line,
                             field="contig length")
    if differ:
        return [f"{os.path.basename(path)}: {len(differ)} ##contig length(s) differ from "
                f"{reference_genome} (e.g. {differ[0]}); positions are checked against "
                f"{reference_genome}'s lengths"]
    return []


def _record_contigs(path: str, kind: str) -> list[str] | None:
    """Contig names from the index (.tbi/.csi) or, for a small file, from the CHROM column."""
    if kind == "vcf-bgzf":
        import pysam
        for ext in (".tbi", ".csi"):
            if os.path.exists(path + ext):
                old = pysam.set_verbosity(0)
                try:
                    with pysam.TabixFile(path, index=path + ext) as tf:
                        return list(tf.contigs)
                except (OSError, ValueError):
                    pass
                finally:
                    pysam.set_verbosity(old)
    if os.path.getsize(path) > CONTIG_SCAN_LIMIT:
        return None
    if kind.startswith("bcf"):
        import pysam
        old = pysam.set_verbosity(0)
        try:
            with pysam.VariantFile(path) as vf:
                return list(vf.header.contigs) or list(dict.fromkeys(r.chrom for r in vf))
        except (OSError, ValueError):
            return None
        finally:
            pysam.set_verbosity(old)
    names: dict[str, None] = {}
    opener = open if kind == "vcf" else gzip.open
    try:
        with opener(path, "rb") as fh:
            for raw in fh:
                if raw[:1] != b"#" and raw.strip():
                    names[raw.split(b"\t", 1)[0].decode("utf-8", "replace")] = None
    except (EOFError, OSError, zlib.error):
        return None
    return list(names)


# -- making a file Hail-ready ------------------------------------------------------------------

def _make_ready(path: str, kind: str, work_dir: str) -> tuple[str, str]:
    name = os.path.basename(path)
    if kind == "vcf":
        if name.endswith(".vcf") and not _GLOB_OR_URI.search(os.path.abspath(path)):
            return path, "as-is"
        return _link(path, _work_path(work_dir, path, ".vcf")), "linked"
    if kind == "vcf-bgzf":
        if name.endswith((".gz", ".bgz")) and not _GLOB_OR_URI.search(os.path.abspath(path)):
            return path, "as-is"
        return _link(path, _work_path(work_dir, path, ".vcf.bgz")), "linked"
    out = _work_path(work_dir, path, ".vcf.bgz")
    if _up_to_date(path, out, kind):
        return out, "reused"
    if kind == "vcf-gzip":
        _atomic_write(path, out, kind, _recompress)
        return out, "recompressed"
    _atomic_write(path, out, kind, _bcf_to_vcf)
    return out, "converted"


def _work_path(work_dir: str, path: str, suffix: str) -> str:
    """A name in work_dir unique to the source's absolute path, safe for Hail (no glob chars)."""
    base = os.path.basename(path)
    for ext in (".vcf.gz", ".vcf.bgz", ".vcf", ".bcf", ".gz", ".bgz"):
        if base.endswith(ext):
            base = base[: -len(ext)]
            break
    base = re.sub(r"[^A-Za-z0-9._-]", "_", base)[:80] or "input"
    digest = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:12]
    os.makedirs(work_dir, exist_ok=True)
    return os.path.join(os.path.abspath(work_dir), f"{base}-{digest}{suffix}")


def _link(src: str, dst: str) -> str:
    target = os.path.abspath(src)
    if os.path.islink(dst) and os.readlink(dst) == target:
        return dst
    tmp = f"{dst}.tmp-{uuid.uuid4().hex}"
    try:
        os.symlink(target, tmp)
    except OSError:                      # no symlinks here: copy instead
        import shutil
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)
    return dst


def _sidecar(out: str) -> str:
    return out + ".json"


def _up_to_date(src: str, out: str, kind: str) -> bool:
    try:
        with open(_sidecar(out)) as fh:
            meta = json.load(fh)
        st = os.stat(src)
        return (meta.get("version") == _SIDECAR_VERSION and meta.get("source") == os.path.abspath(src)
                and meta.get("kind") == kind and meta.get("size") == st.st_size
                and meta.get("mtime_ns") == st.st_mtime_ns
                and os.path.getsize(out) == meta.get("output_size"))
    except (OSError, ValueError, AttributeError):
        return False


def _atomic_write(src: str, out: str, kind: str, convert) -> None:
    st = os.stat(src)
    tmp = f"{out}.tmp-{uuid.uuid4().hex}"
    try:
        convert(src, tmp)
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    meta = {"version": _SIDECAR_VERSION, "source": os.path.abspath(src), "kind": kind,
            "size": st.st_size, "mtime_ns": st.st_mtime_ns, "output_size": os.path.getsize(out)}
    tmp_meta = f"{_sidecar(out)}.tmp-{uuid.uuid4().hex}"
    with open(tmp_meta, "w") as fh:
        json.dump(meta, fh)
    os.replace(tmp_meta, _sidecar(out))


def _recompress(src: str, dst: str) -> None:
    """gzip -> BGZF, streamed; a truncated or corrupt stream stops with the line it breaks in."""
    import pysam
    try:
        with gzip.open(src, "rb") as fin, pysam.BGZFile(dst, "wb") as fout:
            while True:
                chunk = fin.read(1 << 22)
                if not chunk:
                    break
                fout.write(chunk)
    except (EOFError, OSError, zlib.error):
        found = find_first_problem(src)
        if found is not None:
            raise InputDataError(src, found[1], line=found[0]) from None
        raise InputDataError(src, "truncated or corrupt gzip stream") from None


def _bcf_to_vcf(src: str, dst: str) -> None:
    """BCF -> bgzipped VCF with pysam. The output header gains an INFO/END definition if it has
    none: htslib writes END for symbolic alleles and refuses a tag missing from the header."""
    import pysam
    old = pysam.set_verbosity(0)
    try:
        with pysam.VariantFile(src) as vin:
            header = vin.header.copy()
            if "END" not in header.info:
                header.add_meta("INFO", items=[("ID", "END"), ("Number", "1"), ("Type", "Integer"),
                                               ("Description", "End position of the variant")])
            with pysam.VariantFile(dst, "wz", header=header) as vout:
                for rec in vin:
                    vout.write(rec)
    except (OSError, ValueError):
        found = find_first_problem(src)
        raise InputDataError(src, found[1] if found else "BCF could not be converted (htslib "
                             "refused a record)", line=found[0] if found else None) from None
    finally:
        pysam.set_verbosity(old)
