"""The ``qa`` command: a thin layer over the public API.

    qa build [--force]
    qa ask "question" [--k 5] [--json]
    qa eval FILE.jsonl [--k 10] [--json] [--misses]   (dev.jsonl, or a pool-style file)
    qa eval --cv [--save] [--json]
    qa eval --recalibrate
    qa add PATH... [--json] [--quiet]
    qa remove NAME [--json]
    qa list [--json]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .errors import QAError
from .settings import Settings


def _engine():
    from .pipeline import Engine

    return Engine(Settings.from_env())


def cmd_build(args) -> int:
    engine = _engine()
    report = engine.build(force=args.force)
    if report is None:
        print(f"index is up to date ({engine.store.current()})")
    else:
        print(f"built {report.generation}: {report.documents} documents, {report.chunks} chunks "
              f"({report.embedded} embedded, {report.rows_written} rows written) in {report.seconds:.1f}s")
    return 0


def cmd_ask(args) -> int:
    where = {key: getattr(args, key) for key in ("doc", "city", "year") if getattr(args, key)}
    answer = _engine().ask(args.question, k=args.k, where=where)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return 0
    if answer.status == "not_found":
        print(f"Not found in these documents. {answer.reason}".strip())
    else:
        if answer.status == "answer":
            print(f"Answer: {answer.answer}   (confidence {answer.confidence:.2f})")
        else:  # not confident enough to state a span
            print("Most relevant sentence" + (f" (possible answer {answer.span}, confidence "
                                              f"{answer.confidence:.2f})" if answer.span else "") + ":")
        print(f"  {answer.sentence}")
        p = answer.passage
        print(f"  — {p.title} · {p.section or '(no section)'} · {p.source}")
    print()
    for p in answer.passages:
        print(f"[{p.rank}] {p.score:.3f}  {p.source} · {p.section or p.title}")
        print("    " + p.text.replace("\n", " ")[:300])
    return 0


def cmd_eval(args) -> int:
    from .evaluation import evaluate, format_report

    if args.recalibrate:
        if args.cv or args.save or args.file:
            raise SystemExit("qa eval: --recalibrate refits on the question pool; give it no FILE, --cv or --save")
        from . import cv
        from .ranker import MODEL_PATH
        model = cv.recalibrate(progress=not args.json)
        print(json.dumps({"written": str(MODEL_PATH), "threshold": model.threshold}) if args.json
              else f"answer model recalibrated on the pool (display threshold {model.threshold:.3f}); "
                   f"written to {MODEL_PATH}")
        return 0
    if args.cv:
        return cmd_cv(args)
    if not args.file:
        raise SystemExit("qa eval: give a gold FILE.jsonl, or --cv for the question pool")
    rows, engine = _gold_and_engine(Path(args.file))
    engine.warm_up()
    report = evaluate(engine, rows, k=args.k)
    if args.json:
        if not args.misses:
            report = {key: v for key, v in report.items() if key != "misses"}
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(format_report(report, show_misses=args.misses))
    return 0


def _gold_and_engine(path: Path):
    """dev.jsonl-style rows over the served index; pool-style rows (``eval/pool``, ``eval/unseen``:
    third-party questions stored as offsets) resolved and asked over the evaluation index, which
    holds the third-party documents beside the seeds."""
    from .evaluation import load_gold
    from .pool import is_pool_file, load_pool

    if not is_pool_file(path):
        return load_gold(path), _engine()
    from .cv import eval_engine

    return load_pool([path]), eval_engine()


def cmd_cv(args) -> int:
    from . import cv
    from .ranker import MODEL_PATH

    report = cv.run(save=args.save, progress=not args.json)
    if args.json:
        out = {"train": report.train, "held_out": report.held, "ece": report.ece,
               "reliability": report.reliability, "folds": report.folds,
               "per_fold": [{k: ({m: v for m, v in d.items() if not m.startswith("_")} if isinstance(d, dict)
                                 else d) for k, d in f.items()} for f in report.per_fold]}
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        print(cv.format_cv(report))
        if args.save:
            print(f"\nanswer model fitted on the whole pool and written to {MODEL_PATH}")
    return 0


def cmd_add(args) -> int:
    from .ingest import add_files

    if not args.verbose:  # pypdf reports every repaired glitch; the result line says what matters
        logging.getLogger("pypdf").setLevel(logging.ERROR)
    engine = _engine()
    results = add_files(engine, args.paths, progress=not args.quiet)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], ensure_ascii=False, indent=2))
    else:
        for r in results:
            print(f"{'added ' if r.ok else 'FAILED'}  {r.name}: {r.message}")
        ok = sum(r.ok for r in results)
        print(f"{ok} of {len(results)} file(s) added")
    return 0 if results and all(r.ok for r in results) else 1


def cmd_remove(args) -> int:
    from .ingest import remove_document

    result = remove_document(_engine(), args.name)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(result.message if result.ok else f"error: {result.message}",
              file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1


def cmd_list(args) -> int:
    from .ingest import list_documents

    docs = list_documents(_engine())
    if args.json:
        print(json.dumps(docs, ensure_ascii=False, indent=2))
        return 0
    rows = [("NAME", "CHUNKS", "CHARS", "CITY", "YEAR", "TITLE")]
    rows += [(d["name"], str(d["chunks"]), str(d["chars"]), d["city"], d["year"], d["title"]) for d in docs]
    widths = [max(_width(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(_pad(c, w, right=i in (1, 2)) for i, (c, w) in enumerate(zip(r, widths))) + "  " + r[5])
    print(f"{len(docs)} documents, {sum(d['chunks'] for d in docs)} chunks")
    return 0


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    fill = " " * (width - _width(text))
    return fill + text if right else text + fill


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qa", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="build or refresh the index from corpus/")
    p.add_argument("--force", action="store_true", help="re-embed everything")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("ask", help="answer a question")
    p.add_argument("question")
    p.add_argument("--k", type=int, default=5, help="passages to return (1-20)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--doc", help="search only this document (its corpus file name, see qa list)")
    p.add_argument("--city", help="search only documents about this city (as qa list shows it)")
    p.add_argument("--year", help="search only documents about this year")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", help="recall, answer quality and latency over a gold JSONL file, "
                                    "or --cv: cross-validation over the question pool")
    p.add_argument("file", nargs="?")
    p.add_argument("--cv", action="store_true", help="fit on training folds of eval/pool, report held-out folds")
    p.add_argument("--save", action="store_true", help="with --cv: then fit on the whole pool and save the model")
    p.add_argument("--recalibrate", action="store_true",
                   help="refit the served answer model's confidence, display threshold and answerability on the "
                        "pool, keeping its ranker")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.add_argument("--misses", action="store_true", help="list the questions that failed")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("add", help="add files or folders (.txt .md .pdf .docx .html) to the corpus")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("remove", help="remove a document (its corpus file name or stem)")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("list", help="the documents in the corpus, with chunk counts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; a reader that stops early (``qa ask ... | head -1``) ends it quietly."""
    try:
        try:
            return _main(argv)
        finally:  # output to a pipe is buffered: flush here, where a closed pipe can be caught
            sys.stdout.flush()
    except BrokenPipeError:
        # Python would flush stdout again at exit and print another error: point it at /dev/null
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests)
            pass
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by a closed pipe


def _main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (QAError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
