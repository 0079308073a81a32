"""Run an archive: every knee of every file, locally or as Ray tasks, into an :class:`ArchiveOutput`.

Both modes grade through :func:`kneeai.pipeline.iter_graded` and build rows with
:func:`kneeai.archive.rows.file_rows`, and both commit the same chunks of :data:`COMMIT_FILES`
files in input order, so their CSV and Parquet outputs are the same bytes; only
``summary.json``'s timing differs. Each chunk's gradings are noted in the audit trail (subject
"archive") by the process that commits it, just before the commit: a Ray worker needs no
registry, and a run stopped between the two notes a chunk twice rather than never.

Ray: ``ray_address="local"`` starts a Ray for the run on this machine (``workers`` CPUs, one
task per CPU, each grading on one thread); any other address joins that cluster, whose workers
need KneeAI installed (``pip install -e .`` with the same ``weights/``).
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kneeai.archive.output import ArchiveOutput
from kneeai.archive.rows import file_rows

__all__ = ["ArchiveSummary", "run_archive", "COMMIT_FILES", "grade_chunk"]

# Files per committed chunk (and per Ray task): about 2 s of grading on 2 cores, so a crash
# loses little and a Ray task amortises its scheduling.
COMMIT_FILES = 64


@dataclass(frozen=True)
class ArchiveSummary:
    files: int  # in the input list
    skipped: int  # already done by an earlier run
    graded_files: int  # this run
    knees: int  # rows with a knee, this run
    graded_knees: int
    refusals: dict[str, int] = field(default_factory=dict)  # reason key -> knees or files, this run
    seconds: float = 0.0
    mode: str = "local"

    @property
    def knees_per_second(self) -> float:
        return self.knees / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"files": self.files, "skipped": self.skipped, "graded_files": self.graded_files, "knees": self.knees,
                "graded_knees": self.graded_knees, "refusals": dict(sorted(self.refusals.items())), "mode": self.mode,
                "timing": {"seconds": round(self.seconds, 3), "knees_per_second": round(self.knees_per_second, 2)}}


Reader = Callable[[str], Any]  # an archive source -> its Radiograph


# What a chunk carries per file: its path, item and rows, and the audit trail's (grade, sha256) pairs.
Done = tuple[str, int, list[dict], list]


def _graded_rows(pairs: Sequence[tuple[int, str]], options: dict[str, Any], workers: int,
                 reader: Reader | None = None) -> Iterator[Done]:
    """``(path, item, rows, gradings)`` per ``(item, path)`` pair, streamed in input order."""
    from kneeai.pipeline import gradings, iter_graded

    items = [p for _, p in pairs] if reader is not None else [Path(p) for _, p in pairs]
    stream = iter_graded(items, kind=options["kind"], allow_outside_use=options["allow_outside_use"],
                         workers=workers, reader=reader)
    # iter_graded keeps the input order, so each result pairs with its (item, path).
    for (item, path), graded in zip(pairs, stream):
        yield (path, item, file_rows(graded, item, options["lang"], path if options["include_file_names"] else None),
               gradings(graded.knees, graded.sha256))


def grade_chunk(chunk: Sequence[tuple[int, str]], options: dict[str, Any], workers: int = 2,
                reader: Reader | None = None) -> list[Done]:
    """Grade ``(item, path)`` pairs; ``(path, item, rows, gradings)`` per file, in the same order (a Ray task)."""
    return list(_graded_rows(chunk, options, workers, reader))


def _chunks(todo: list[tuple[int, str]]) -> Iterator[list[tuple[int, str]]]:
    for i in range(0, len(todo), COMMIT_FILES):
        yield todo[i : i + COMMIT_FILES]


def _local(todo, options, reader) -> Iterator[list[Done]]:
    # One stream over the whole list, so decoding runs ahead across chunk boundaries.
    pending: list[Done] = []
    for done in _graded_rows(todo, options, 2, reader):
        pending.append(done)
        if len(pending) == COMMIT_FILES:
            yield pending
            pending = []
    if pending:
        yield pending


def _ray(todo, options, address: str, workers: int | None, reader) -> Iterator[list[Done]]:
    import ray

    started = not ray.is_initialized()
    if started:
        if address == "local":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        task = ray.remote(num_cpus=1)(grade_chunk)
        in_flight_max = 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
        chunks = _chunks(todo)
        futures: list = []
        for c in chunks:
            futures.append(task.remote(c, options, 1, reader))
            if len(futures) >= in_flight_max:
                break
        while futures:
            # In input order: the first submitted chunk is committed first (bounded look-ahead).
            yield ray.get(futures.pop(0))
            nxt = next(chunks, None)
            if nxt is not None:
                futures.append(task.remote(nxt, options, 1, reader))
    finally:
        if started:
            ray.shutdown()


def run_archive(paths: Sequence[str | Path], out: Path, *, lang: str = "en", kind: str = "auto",
                allow_outside_use: bool = False, include_file_names: bool = False, restart: bool = False,
                ray_address: str | None = None, workers: int | None = None,
                progress: Callable[[int], None] | None = None, reader: Reader | None = None) -> ArchiveSummary:
    """Grade ``paths`` (in this order; ``item`` is the 1-based position) into the folder ``out``.

    A re-run with the same options skips the files an earlier run finished. ``progress`` is told
    how many files each committed chunk held. ``reader`` turns each path (any string: a PACS
    instance with :func:`kneeai.pacs.query.read_source`) into a Radiograph; by default each is
    read as a file. On Ray it must be a module-level function, which Ray sends by name.
    """
    from kneeai.grading.weights import load_grader
    from kneeai.pipeline import Audit

    grader = load_grader()
    audit = Audit(subject="archive")
    paths = [str(p) for p in paths]
    options = {"kind": kind, "allow_outside_use": bool(allow_outside_use), "include_file_names": bool(include_file_names),
               "lang": lang, "grader_sha256": grader.info.sha256}
    output = ArchiveOutput.open(out, options, restart=restart)
    todo = [(i, p) for i, p in enumerate(paths, start=1) if p not in output.done]
    skipped = len(paths) - len(todo)
    t0 = time.perf_counter()
    chunks = _ray(todo, options, ray_address, workers, reader) if ray_address else _local(todo, options, reader)
    n_files = n_knees = n_graded = 0
    refusals: Counter[str] = Counter()
    for chunk in chunks:
        audit.record(pair for *_, pairs in chunk for pair in pairs)
        output.commit([(path, item, rows) for path, item, rows, _ in chunk])
        for _, _, rows, _ in chunk:
            n_files += 1
            for r in rows:
                n_knees += r["knee"] is not None
                n_graded += r["kl_grade"] is not None
                if r["refusal_reason"]:
                    refusals[r["refusal_reason"]] += 1
        if progress is not None:
            progress(len(chunk))
    summary = ArchiveSummary(len(paths), skipped, n_files, n_knees, n_graded, dict(refusals),
                             time.perf_counter() - t0, "ray" if ray_address else "local")
    output.write_summary(summary.to_json())
    return summary
